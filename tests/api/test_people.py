"""People in the portal (issue 15): users of an organization, sign-in with argon2id
passwords, lock-out, browser sessions with CSRF tokens, and a user's commands checked,
approved and audited as its own key row's (api/people.py, api/routes/people.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from api.models import AuditEntry, Command
from api.models.people import User, WebSession
from api.people import SESSION_COOKIE
from api.timeutil import utcnow
from chain_client.node import AnvilNode
from tests.api.helpers import Party, World, issue_certificate, open_world, populate

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def w(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # three wrong passwords lock an account here (five by default)
    for world in open_world(anvil, tmp_path_factory.mktemp("people"), sign_in_attempts=3):
        yield populate(world)


@dataclass
class Browser:
    """A signed-in person: its session cookie and CSRF token, sent by hand on each request
    (the TestClient's own cookie jar is shared by every test of the module)."""

    w: World
    token: str
    csrf: str
    user: dict[str, Any]

    def headers(self, csrf: bool = True, **extra: str) -> dict[str, str]:
        out = {"Cookie": f"{SESSION_COOKIE}={self.token}", **extra}
        if csrf:
            out["X-CSRF-Token"] = self.csrf
        return out

    def get(self, path: str) -> Any:
        return self.w.client.get(path, headers=self.headers(csrf=False))

    def post(self, path: str, body: Any = None, csrf: bool = True, **extra: str) -> Any:
        return self.w.client.post(path, json=body, headers=self.headers(csrf, **extra))


def add_user(w: World, party: Party, duties: list[str], login: str | None = None) -> dict[str, Any]:
    login = login or f"u{uuid.uuid4().hex[:10]}"
    r = w.client.post(
        f"/v1/organizations/{party.org_id}/users",
        json={"login": login, "name": "Li Lei 李雷", "password": PASSWORD, "duties": duties},
        headers=party.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def sign_in(w: World, login: str, password: str = PASSWORD) -> Any:
    r = w.client.post("/v1/session", json={"login": login, "password": password})
    w.client.cookies.clear()
    return r


def browser(w: World, user: dict[str, Any]) -> Browser:
    r = sign_in(w, user["login"])
    assert r.status_code == 200, r.text
    return Browser(w, r.cookies[SESSION_COOKIE], r.json()["csrf_token"], r.json()["user"])


def test_a_person_signs_in_and_acts_as_its_organization(w: World) -> None:
    user = add_user(w, w.tier1, ["maker"], login="Accountant.Wang@tier1")
    assert user["login"] == "accountant.wang@tier1"  # logins are folded to lower case
    assert user["duties"] == ["maker"] and not user["disabled"]
    r = w.client.post("/v1/session", json={"login": "ACCOUNTANT.wang@tier1", "password": PASSWORD})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie, cookie
    w.client.cookies.clear()
    b = Browser(w, r.cookies[SESSION_COOKIE], r.json()["csrf_token"], r.json()["user"])
    assert r.json()["organization"]["id"] == w.tier1.org_id
    me = b.get("/v1/me")
    assert me.status_code == 200 and me.json()["id"] == w.tier1.org_id
    again = b.get("/v1/session")
    assert again.status_code == 200 and again.json()["csrf_token"] == b.csrf
    # only the hashes are stored: the password's (argon2id) and the session token's
    with Session(w.rt.engine) as session:
        row = session.exec(select(User).where(User.login == user["login"])).one()
        assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
        tokens = session.exec(select(WebSession.token_hash)).all()
        assert b.token not in tokens
    # the password is in no journal or audit row
    with Session(w.rt.engine) as session:
        rows = [c.params for c in session.exec(select(Command)).all()]
        rows += [a.params for a in session.exec(select(AuditEntry)).all()]
    assert not any(PASSWORD in text for text in rows)


def test_a_wrong_password_and_an_unknown_login_answer_alike(w: World) -> None:
    user = add_user(w, w.tier2, ["maker"])
    wrong = sign_in(w, user["login"], "not the password at all")
    unknown = sign_in(w, "nobody-" + uuid.uuid4().hex[:6], PASSWORD)
    for r in (wrong, unknown):
        assert r.status_code == 401, r.text
        assert r.json()["code"] == "sign_in_failed"
        assert r.json()["detail"] == "The login or the password is wrong."
        assert SESSION_COOKIE not in r.cookies
    # the refusals are in the audit log
    log = w.client.get(
        "/v1/audit-log", params={"outcome": "refused"}, headers=w.operator.headers
    ).json()
    assert any(e["code"] == "sign_in_failed" for e in log)


def test_three_wrong_passwords_lock_the_account_until_an_admin_unlocks_it(w: World) -> None:
    user = add_user(w, w.tier2, ["maker"])
    for _ in range(3):
        assert sign_in(w, user["login"], "guess guess guess").status_code == 401
    locked = sign_in(w, user["login"])  # the right password, refused unread
    assert locked.status_code == 429, locked.text
    assert locked.json()["code"] == "account_locked"
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    listed = w.client.get(f"/v1/organizations/{w.tier2.org_id}/users", headers=w.tier2.headers)
    assert next(u for u in listed.json() if u["id"] == user["id"])["locked_until"] is not None
    # another organization's admin may not unlock it
    r = w.client.post(
        f"/v1/organizations/{w.tier2.org_id}/users/{user['id']}/unlock", headers=w.tier1.headers
    )
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = w.client.post(
        f"/v1/organizations/{w.tier2.org_id}/users/{user['id']}/unlock", headers=w.tier2.headers
    )
    assert r.status_code == 200 and r.json()["locked_until"] is None, r.text
    assert sign_in(w, user["login"]).status_code == 200


def test_a_change_without_the_csrf_token_is_refused_and_does_nothing(w: World) -> None:
    b = browser(w, add_user(w, w.tier1, ["admin"]))
    body = {"label": "from the portal", "duties": []}
    path = f"/v1/organizations/{w.tier1.org_id}/api-keys"
    before = len(w.client.get(path, headers=w.tier1.headers).json())
    for r in (
        b.post(path, body, csrf=False),
        w.client.post(path, json=body, headers=b.headers(csrf=False, **{"X-CSRF-Token": "0" * 64})),
    ):
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "csrf_failed"
    assert len(w.client.get(path, headers=w.tier1.headers).json()) == before
    # with the token: done, as the person's own key made it
    r = b.post(path, body)
    assert r.status_code == 201, r.text
    keys = w.client.get(path, headers=w.tier1.headers).json()
    assert len(keys) == before + 1
    # reading needs no token
    assert b.get(path).status_code == 200


def test_a_persons_command_is_its_own_in_the_journal_and_the_audit_log(w: World) -> None:
    maker = browser(w, add_user(w, w.tier1, ["maker"]))
    viewer = browser(w, add_user(w, w.tier1, []))
    cert = issue_certificate(w)
    root = cert["root_fragment_id"]
    split = {"amount": "1000", "to_org_id": w.tier2.org_id}
    path = f"/v1/fragments/{root}/split"
    r = viewer.post(path, split)
    assert r.status_code == 403 and r.json()["code"] == "wrong_duty", r.text
    idem = uuid.uuid4().hex
    r = maker.post(path, split, **{"Idempotency-Key": idem})
    assert r.status_code == 201, r.text
    # the same Idempotency-Key replays the answer, as for a key
    again = maker.post(path, split, **{"Idempotency-Key": idem})
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    with Session(w.rt.engine) as session:
        entry = session.exec(
            select(AuditEntry)
            .where(AuditEntry.target == f"fragment:{root}")
            .where(AuditEntry.outcome == "succeeded")
        ).one()
    assert entry.api_key_id == maker.user["api_key_id"]
    # a supplier's person may not issue (its role's rule, not the person's)
    r = maker.post("/v1/certificates", {"beneficiary_id": w.tier2.org_id})
    assert r.status_code == 403 and r.json()["code"] == "wrong_role", r.text


def test_four_eyes_between_two_people(w: World) -> None:
    maker = browser(w, add_user(w, w.tier1, ["maker", "checker"]))
    checker = browser(w, add_user(w, w.tier1, ["checker"]))
    r = w.client.put(
        "/v1/approval-policy", json={"rules": [{"action": "split"}]}, headers=w.tier1.headers
    )
    assert r.status_code == 200, r.text
    try:
        root = issue_certificate(w)["root_fragment_id"]
        r = maker.post(
            f"/v1/fragments/{root}/split", {"amount": "1000", "to_org_id": w.tier2.org_id}
        )
        assert r.status_code == 202, r.text
        command_id = r.json()["command_id"]
        own = maker.post(f"/v1/approvals/{command_id}/approve")
        assert own.status_code == 403 and own.json()["code"] == "own_command", own.text
        done = checker.post(f"/v1/approvals/{command_id}/approve")
        assert done.status_code == 201, done.text
    finally:
        w.client.put("/v1/approval-policy", json={"rules": []}, headers=w.tier1.headers)


def test_an_admin_who_resets_a_checkers_password_cannot_approve_through_it(w: World) -> None:
    admin = browser(w, add_user(w, w.tier1, ["maker", "admin"]))
    checker = add_user(w, w.tier1, ["checker"])  # made by the organization's key
    r = w.client.put(
        "/v1/approval-policy", json={"rules": [{"action": "split"}]}, headers=w.tier1.headers
    )
    assert r.status_code == 200, r.text
    try:
        r = w.client.put(
            f"/v1/organizations/{w.tier1.org_id}/users/{checker['id']}/password",
            json={"password": "now the admin knows it"},
            headers=admin.headers(),
        )
        assert r.status_code == 200, r.text
        root = issue_certificate(w)["root_fragment_id"]
        r = admin.post(
            f"/v1/fragments/{root}/split", {"amount": "1000", "to_org_id": w.tier2.org_id}
        )
        assert r.status_code == 202, r.text
        as_checker = sign_in(w, checker["login"], "now the admin knows it")
        b = Browser(w, as_checker.cookies[SESSION_COOKIE], as_checker.json()["csrf_token"], {})
        refused = b.post(f"/v1/approvals/{r.json()['command_id']}/approve")
        assert refused.status_code == 403 and refused.json()["code"] == "own_command", refused.text
    finally:
        w.client.put("/v1/approval-policy", json={"rules": []}, headers=w.tier1.headers)


def test_a_session_ends_when_idle_at_sign_out_and_when_the_user_is_disabled(w: World) -> None:
    user = add_user(w, w.bank, ["maker"])
    idle = browser(w, user)
    with Session(w.rt.engine) as session:
        session.execute(
            update(WebSession)
            .values(last_seen_at=utcnow() - timedelta(minutes=31))  # type: ignore[arg-type]
            .where(WebSession.user_id == user["id"])  # type: ignore[arg-type]
        )
        session.commit()
    r = idle.get("/v1/me")
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated", r.text
    # sign-out needs the token too, and ends the session
    b = browser(w, user)
    assert b.w.client.delete("/v1/session", headers=b.headers(csrf=False)).status_code == 403
    assert b.w.client.delete("/v1/session", headers=b.headers()).status_code == 204
    assert b.get("/v1/me").status_code == 401
    # disabled: every session ends and it cannot sign in again
    b = browser(w, user)
    r = w.client.post(
        f"/v1/organizations/{w.bank.org_id}/users/{user['id']}/disable", headers=w.bank.headers
    )
    assert r.status_code == 200 and r.json()["disabled"], r.text
    assert b.get("/v1/me").status_code == 401
    assert sign_in(w, user["login"]).json()["code"] == "sign_in_failed"


def test_the_sign_in_body_is_bounded_before_it_is_read(w: World) -> None:
    r = w.client.post(
        "/v1/session",
        content=b"{" + b" " * 4096 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["limit_bytes"] == 1024, r.text
    # any other body without a key or a session cookie is refused unread
    r = w.client.post("/v1/organizations", json={"name": "x"})
    assert r.status_code == 401, r.text


def test_passwords_rules_change_and_reset(w: World) -> None:
    r = w.client.post(
        f"/v1/organizations/{w.core.org_id}/users",
        json={"login": "short-pw", "name": "x", "password": "abc123", "duties": []},
        headers=w.core.headers,
    )
    assert r.status_code == 422 and r.json()["code"] == "validation_error", r.text
    r = w.client.post(
        f"/v1/organizations/{w.core.org_id}/users",
        json={"login": "repeats", "name": "x", "password": "ab" * 8, "duties": []},
        headers=w.core.headers,
    )
    assert r.status_code == 422 and r.json()["code"] == "weak_password", r.text
    user = add_user(w, w.core, ["maker"])
    taken = w.client.post(
        f"/v1/organizations/{w.core.org_id}/users",
        json={"login": user["login"], "name": "x", "password": PASSWORD},
        headers=w.core.headers,
    )
    assert taken.status_code == 409 and taken.json()["code"] == "login_taken", taken.text
    first, second = browser(w, user), browser(w, user)
    wrong = w.client.put(
        "/v1/session/password",
        json={"current_password": "nope nope nope", "new_password": "a much better one"},
        headers=first.headers(),
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "wrong_password"
    r = w.client.put(
        "/v1/session/password",
        json={"current_password": PASSWORD, "new_password": "a much better one"},
        headers=first.headers(),
    )
    assert r.status_code == 200, r.text
    assert first.get("/v1/me").status_code == 200  # this session stays
    assert second.get("/v1/me").status_code == 401  # the others end
    assert sign_in(w, user["login"]).status_code == 401
    # an admin resets it
    r = w.client.put(
        f"/v1/organizations/{w.core.org_id}/users/{user['id']}/password",
        json={"password": "set by the admin 1"},
        headers=w.core.headers,
    )
    assert r.status_code == 200, r.text
    assert first.get("/v1/me").status_code == 401
    assert sign_in(w, user["login"], "set by the admin 1").status_code == 200
    with Session(w.rt.engine) as session:
        params = [json.loads(a.params) for a in session.exec(select(AuditEntry)).all()]
    assert not any("set by the admin 1" in json.dumps(p) for p in params)


def test_password_checks_run_a_few_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood of sign-ins queues: no more than AT_ONCE argon2 checks (64 MiB each) run at
    once in a process."""
    import threading
    import time

    from api import people

    running, most = 0, 0
    lock = threading.Lock()

    def slow_verify(_hash: str, _password: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return False

    class SlowHasher:
        verify = staticmethod(slow_verify)

    monkeypatch.setattr(people, "_hasher", SlowHasher())
    threads = [threading.Thread(target=people.password_matches, args=("h", "p")) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == people.AT_ONCE
