"""Four-eyes approval (issue 13): duties on API keys, an organization's approval policy,
commands waiting for a checker, approval, rejection, expiry, and one transaction however
many checkers approve at once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain_client.node import AnvilNode
from tests.api.helpers import (
    Party,
    World,
    issue_certificate,
    open_world,
    pg_available,
    populate,
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def w(
    request: pytest.FixtureRequest, anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    if request.param == "postgres" and not pg_available():
        pytest.skip("PostgreSQL is not reachable")
    for world in open_world(anvil, tmp_path_factory.mktemp("four-eyes"), request.param):
        yield populate(world)


def key(w: World, party: Party, duties: list[str], label: str = "") -> Party:
    r = w.client.post(
        f"/v1/organizations/{party.org_id}/api-keys",
        json={"label": label or "+".join(duties) or "viewer", "duties": duties},
        headers=party.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["duties"] == sorted(duties)
    return Party(party.org_id, r.json()["api_key"], party.role, party.address)


def policy(w: World, party: Party, rules: list[dict[str, Any]]) -> None:
    r = w.client.put("/v1/approval-policy", json={"rules": rules}, headers=party.headers)
    assert r.status_code == 200, r.text


def split(w: World, maker: Party, fragment: str, amount: str, key: str | None = None) -> Any:
    return w.client.post(
        f"/v1/fragments/{fragment}/split",
        json={"to_org_id": w.tier2.org_id, "amount": amount},
        headers={**maker.headers, "Idempotency-Key": key or uuid.uuid4().hex},
    )


def fragment_count(w: World, certificate_id: int) -> int:
    return int(w.rt.gateway.ledger.certificate(certificate_id).fragment_count)


def audit(w: World, target: str) -> list[tuple[str, int | None]]:
    r = w.client.get("/v1/audit-log?limit=1000", headers=w.operator.headers)
    assert r.status_code == 200, r.text
    return [(e["outcome"], e["api_key_id"]) for e in r.json() if e["target"] == target][::-1]


def test_duties_decide_who_starts_decides_and_administers(w: World) -> None:
    viewer = key(w, w.tier1, [])
    maker = key(w, w.tier1, ["maker"])
    cert = issue_certificate(w)
    r = split(w, viewer, cert["root_fragment_id"], "100")
    assert r.status_code == 403 and r.json()["code"] == "wrong_duty", r.text
    assert r.json()["required_duty"] == "maker"
    assert fragment_count(w, cert["certificate_id"]) == 1
    assert w.client.get("/v1/fragments", headers=viewer.headers).status_code == 200
    # only an admin key sets the policy or makes keys
    r = w.client.put("/v1/approval-policy", json={"rules": []}, headers=maker.headers)
    assert r.status_code == 403 and r.json()["required_duty"] == "admin", r.text
    r = w.client.post(
        f"/v1/organizations/{w.tier1.org_id}/api-keys", json={"label": "x"}, headers=maker.headers
    )
    assert r.status_code == 403 and r.json()["code"] == "wrong_duty", r.text
    keys = w.client.get(f"/v1/organizations/{w.tier1.org_id}/api-keys", headers=w.tier1.headers)
    duties = {k["label"]: k["duties"] for k in keys.json()}
    assert duties["viewer"] == [] and duties["maker"] == ["maker"]
    assert duties["t"] == ["admin", "checker", "maker"]  # a key made without duties: all


def test_policy_is_the_organizations_own_and_refuses_a_command_named_twice(w: World) -> None:
    r = w.client.put(
        "/v1/approval-policy",
        json={"rules": [{"action": "split"}, {"action": "split", "min_amount": "5"}]},
        headers=w.tier2.headers,
    )
    assert r.status_code == 422 and r.json()["code"] == "duplicate_rule", r.text
    policy(w, w.tier2, [{"action": "transfer"}])
    assert w.client.get("/v1/approval-policy", headers=w.tier2.headers).json() == {
        "rules": [{"action": "transfer", "min_amount": None}]
    }
    assert w.client.get("/v1/approval-policy", headers=w.tier1.headers).json()["rules"] != [
        {"action": "transfer", "min_amount": None}
    ]
    policy(w, w.tier2, [])


def test_a_split_above_the_threshold_waits_for_another_keys_approval(w: World) -> None:
    maker = key(w, w.tier1, ["maker"])
    checker = key(w, w.tier1, ["checker"])
    both = key(w, w.tier1, ["maker", "checker"])
    policy(w, w.tier1, [{"action": "split", "min_amount": "500000"}])
    try:
        cert = issue_certificate(w)
        root, cid = cert["root_fragment_id"], cert["certificate_id"]
        # below the threshold: at once
        assert split(w, maker, root, "100000").status_code == 201
        assert fragment_count(w, cid) == 2
        # above: waits, nothing on chain
        idem = uuid.uuid4().hex
        r = split(w, maker, root, "600000", idem)
        assert r.status_code == 202, r.text
        waiting = r.json()
        assert waiting["status"] == "pending_approval" and waiting["stake"] == "600000"
        assert waiting["summary"] == (f"split 6,000.00 CNY off fragment {root} ({cid}/0) to tier2")
        assert fragment_count(w, cid) == 2
        command_id = waiting["command_id"]
        # the maker's retry answers the same waiting command
        again = split(w, maker, root, "600000", idem)
        assert again.status_code == 202 and again.json()["command_id"] == command_id
        assert again.headers.get("Idempotent-Replayed") == "true"
        listed = w.client.get("/v1/approvals", headers=checker.headers).json()
        assert [c["command_id"] for c in listed] == [command_id]
        # four eyes: not the maker's own key, not a key without the checker duty
        r = w.client.post(f"/v1/approvals/{command_id}/approve", headers=maker.headers)
        assert r.status_code == 403 and r.json()["code"] == "wrong_duty", r.text
        own = split(w, both, root, "700000")
        assert own.status_code == 202
        r = w.client.post(f"/v1/approvals/{own.json()['command_id']}/approve", headers=both.headers)
        assert r.status_code == 403 and r.json()["code"] == "own_command", r.text
        # another organization's checker does not see it
        r = w.client.post(f"/v1/approvals/{command_id}/approve", headers=w.tier2.headers)
        assert r.status_code == 404, r.text
        # the checker's approval sends it; the answer is the split's own
        r = w.client.post(f"/v1/approvals/{command_id}/approve", headers=checker.headers)
        assert r.status_code == 201, r.text
        assert r.json()["action"] == "split" and r.json()["amount"] == "600000"
        assert fragment_count(w, cid) == 3
        replay = split(w, maker, root, "600000", idem)
        assert replay.status_code == 201 and replay.json() == r.json()
        r = w.client.post(f"/v1/approvals/{command_id}/approve", headers=checker.headers)
        assert r.status_code == 409 and r.json()["code"] == "command_not_pending"
        trail = audit(w, f"fragment:{root}")
        maker_id, checker_id = _key_id(w, maker), _key_id(w, checker)
        assert ("pending_approval", maker_id) in trail
        approved = trail.index(("approved", checker_id))
        assert ("succeeded", maker_id) in trail[approved + 1 :]  # the command, as the maker's
        # the command waiting on the maker-checker key: a checker rejects it
        r = w.client.post(
            f"/v1/approvals/{own.json()['command_id']}/reject",
            json={"reason": "the amount is not in the contract"},
            headers=checker.headers,
        )
        assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
        assert fragment_count(w, cid) == 3
    finally:
        policy(w, w.tier1, [])


def test_a_rejected_command_answers_its_reason_and_sends_nothing(w: World) -> None:
    maker, checker = key(w, w.tier1, ["maker"]), key(w, w.tier1, ["checker"])
    policy(w, w.tier1, [{"action": "transfer"}])  # every transfer
    try:
        cert = issue_certificate(w)
        idem = uuid.uuid4().hex
        body = {"to_org_id": w.tier2.org_id}
        url = f"/v1/fragments/{cert['root_fragment_id']}/transfer"
        headers = {**maker.headers, "Idempotency-Key": idem}
        r = w.client.post(url, json=body, headers=headers)
        assert r.status_code == 202 and r.json()["summary"].startswith("transfer fragment")
        command_id = r.json()["command_id"]
        r = w.client.post(
            f"/v1/approvals/{command_id}/reject",
            json={"reason": "wrong buyer"},
            headers=checker.headers,
        )
        assert r.status_code == 200, r.text
        replay = w.client.post(url, json=body, headers=headers)
        assert replay.status_code == 409 and replay.json()["code"] == "command_rejected"
        assert "wrong buyer" in replay.json()["detail"]
        r = w.client.post(f"/v1/approvals/{command_id}/approve", headers=checker.headers)
        assert r.status_code == 409 and r.json()["code"] == "command_not_pending"
        fragment = w.rt.gateway.ledger.fragment(int(cert["root_fragment_id"]))
        assert fragment.holder == w.tier1.address
        assert w.client.get("/v1/approvals", headers=checker.headers).json() == []
    finally:
        policy(w, w.tier1, [])


def test_accepting_an_offer_is_weighed_by_the_payment_and_explained_with_the_quote(
    w: World,
) -> None:
    maker, checker = key(w, w.bank, ["maker"]), key(w, w.bank, ["checker"])
    cert = issue_certificate(w, face_value="90000000")
    r = w.client.post(
        "/v1/offers",
        json={
            "fragment_id": cert["root_fragment_id"],
            "financier_id": w.bank.org_id,
            "amount": "90000000",
            "rate_bps": 500,
            "expires_at": w.block_time() + 86_400,
        },
        headers=w.tier1.headers,
    )
    assert r.status_code == 201, r.text
    offer_id = r.json()["offer_id"]
    policy(w, w.bank, [{"action": "accept_offer", "min_amount": "50000000"}])
    try:
        r = w.client.post(f"/v1/offers/{offer_id}/accept", headers=maker.headers)
        assert r.status_code == 202, r.text
        waiting = r.json()
        quote = w.rt.gateway.ledger.quote(offer_id)
        assert waiting["stake"] == str(quote.payment)
        assert f"buy offer {offer_id}: 900,000.00 CNY" in waiting["summary"]
        assert "from tier1 at 500 bps" in waiting["summary"]
        r = w.client.post(f"/v1/approvals/{waiting['command_id']}/approve", headers=checker.headers)
        assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    finally:
        policy(w, w.bank, [])


def test_concurrent_approvals_send_one_transaction(w: World) -> None:
    maker = key(w, w.tier1, ["maker"])
    checkers = [key(w, w.tier1, ["checker"], f"checker-{i}") for i in range(4)]
    policy(w, w.tier1, [{"action": "split"}])
    try:
        cert = issue_certificate(w)
        r = split(w, maker, cert["root_fragment_id"], "1000")
        assert r.status_code == 202, r.text
        command_id = r.json()["command_id"]
        results: list[int] = []
        lock = threading.Lock()

        def approve(checker: Party) -> None:
            got = w.client.post(f"/v1/approvals/{command_id}/approve", headers=checker.headers)
            with lock:
                results.append(got.status_code)

        threads = [threading.Thread(target=approve, args=(c,)) for c in checkers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [201, 409, 409, 409], results
        assert fragment_count(w, cert["certificate_id"]) == 2
    finally:
        policy(w, w.tier1, [])


def test_a_command_not_decided_in_time_expires(anvil: AnvilNode, tmp_path: Path) -> None:
    for world in open_world(anvil, tmp_path, approval_window=1.0):
        w = populate(world)
        checker = key(w, w.tier1, ["checker"])
        policy(w, w.tier1, [{"action": "split"}])
        cert = issue_certificate(w)
        idem = uuid.uuid4().hex
        r = split(w, w.tier1, cert["root_fragment_id"], "1000", idem)
        assert r.status_code == 202, r.text
        time.sleep(1.5)
        assert w.client.get("/v1/approvals", headers=checker.headers).json() == []
        replay = split(w, w.tier1, cert["root_fragment_id"], "1000", idem)
        assert replay.status_code == 410 and replay.json()["code"] == "command_expired"
        r = w.client.post(
            f"/v1/approvals/{r.json()['command_id']}/approve", headers=checker.headers
        )
        assert r.status_code == 409, r.text
        assert fragment_count(w, cert["certificate_id"]) == 1
        outcomes = [o for o, _ in audit(w, f"fragment:{cert['root_fragment_id']}")]
        assert outcomes[-2:] == ["pending_approval", "expired"]


def _key_id(w: World, party: Party) -> int:
    keys = w.client.get(f"/v1/organizations/{party.org_id}/api-keys", headers=w.operator.headers)
    prefix = party.key[:10]
    return int(next(k["id"] for k in keys.json() if k["prefix"] == prefix))


def test_the_policy_schema_names_the_commands_a_policy_may_name() -> None:
    """The request schema's literal is written out for mypy and the OpenAPI document; it
    must stay the list the server weighs (api.commands.approvals.APPROVABLE)."""
    from typing import get_args

    from api.commands.approvals import APPROVABLE
    from api.schemas import ApprovalRuleItem

    assert get_args(ApprovalRuleItem.model_fields["action"].annotation) == APPROVABLE


def test_a_transfer_is_weighed_by_the_fragments_value(w: World) -> None:
    """A rule with an amount on a command that names no amount of its own (a transfer
    moves a whole fragment) weighs the fragment's value: it used to let every transfer
    through, whatever its size."""
    maker, checker = key(w, w.tier1, ["maker"]), key(w, w.tier1, ["checker"])
    policy(w, w.tier1, [{"action": "transfer", "min_amount": "500000"}])
    try:
        small, large = issue_certificate(w, "400000"), issue_certificate(w, "600000")
        for cert, status in ((small, 200), (large, 202)):
            r = w.client.post(
                f"/v1/fragments/{cert['root_fragment_id']}/transfer",
                json={"to_org_id": w.tier2.org_id},
                headers=maker.headers,
            )
            assert r.status_code == status, r.text
        assert r.json()["stake"] == "600000"
        r = w.client.post(
            f"/v1/approvals/{r.json()['command_id']}/approve", headers=checker.headers
        )
        assert r.status_code == 200, r.text
    finally:
        policy(w, w.tier1, [])


def test_keys_without_the_maker_duty_change_nothing(w: World) -> None:
    """A viewer or a checker-only key uploads nothing, and an operator's viewer key
    onboards and rotates nothing (only chain commands checked the duty before)."""
    viewer, checker = key(w, w.tier1, []), key(w, w.tier1, ["checker"])
    for party in (viewer, checker):
        r = w.client.post(
            "/v1/documents",
            files={"file": ("inv.pdf", b"x", "application/pdf")},
            data={"kind": "invoice"},
            headers=party.headers,
        )
        assert r.status_code == 403 and r.json()["code"] == "wrong_duty", r.text
    operator_viewer = key(w, w.operator, [])
    r = w.client.post(
        "/v1/organizations",
        json={"name": "x", "uscc": "91350100M000100Y43", "role": "supplier"},
        headers=operator_viewer.headers,
    )
    assert r.status_code == 403 and r.json()["code"] == "wrong_duty", r.text
    r = w.client.post(
        f"/v1/organizations/{w.tier2.org_id}/key-rotation",
        json={},
        headers=operator_viewer.headers,
    )
    assert r.status_code == 403 and r.json()["code"] == "wrong_duty", r.text
    assert w.client.get("/v1/me", headers=w.tier2.headers).json()["address"] == w.tier2.address


def test_a_checker_key_made_by_the_makers_key_is_not_a_second_person(w: World) -> None:
    """An admin maker could make itself a checker key and approve its own commands: a key
    made by the maker's key, or by a key that key made, decides none of its commands."""
    maker = key(w, w.tier1, ["maker", "admin"])
    own_checker = key(w, maker, ["checker"])
    grandchild = key(w, maker, ["admin"])
    grand_checker = key(w, grandchild, ["checker"])
    other_checker = key(w, w.tier1, ["checker"])
    policy(w, w.tier1, [{"action": "split"}])
    try:
        cert = issue_certificate(w)
        r = split(w, maker, cert["root_fragment_id"], "1000")
        assert r.status_code == 202, r.text
        command_id = r.json()["command_id"]
        for checker in (own_checker, grand_checker):
            r = w.client.post(f"/v1/approvals/{command_id}/approve", headers=checker.headers)
            assert r.status_code == 403 and r.json()["code"] == "own_command", r.text
        r = w.client.post(f"/v1/approvals/{command_id}/approve", headers=other_checker.headers)
        assert r.status_code == 201, r.text
    finally:
        policy(w, w.tier1, [])
