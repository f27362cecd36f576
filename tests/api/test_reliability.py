"""Idempotency, crash-and-restart, and concurrent splits of one fragment."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_typing import HexStr
from fastapi.testclient import TestClient

from api.app import create_app
from api.models import Command
from chain_client.node import AnvilNode
from tests.api.helpers import (
    World,
    issue_certificate,
    open_world,
    pg_available,
    populate,
    upload_invoice,
)


class Crash(Exception):  # noqa: N818 - a simulated process death, not an error
    """Raised inside the service to stop a command midway, like a kill -9 would: nothing
    after that point runs (no status update, no response stored)."""


@pytest.fixture
def fresh(anvil: AnvilNode, tmp_path: Path) -> Iterator[World]:
    for world in open_world(anvil, tmp_path):
        yield populate(world)


def _fragment_count(world: World, cert_id: int) -> int:
    return int(world.rt.gateway.ledger.certificate(cert_id).fragment_count)


def test_same_key_same_response_one_transaction(fresh: World) -> None:
    w, c = fresh, fresh.client
    issued = issue_certificate(w, face_value="5000")
    root, cert = issued["root_fragment_id"], issued["certificate_id"]
    headers = {**w.tier1.headers, "Idempotency-Key": "split-1"}
    body = {"to_org_id": w.tier2.org_id, "amount": "1000"}
    first = c.post(f"/v1/fragments/{root}/split", json=body, headers=headers)
    second = c.post(f"/v1/fragments/{root}/split", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert _fragment_count(w, cert) == 2
    # same key, different request: refused, nothing sent
    other = c.post(f"/v1/fragments/{root}/split", json={**body, "amount": "7"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert _fragment_count(w, cert) == 2
    # a refusal is stored too: the same key replays it
    bad = {"to_org_id": w.tier2.org_id, "amount": "999999"}
    h2 = {**w.tier1.headers, "Idempotency-Key": "split-2"}
    r1 = c.post(f"/v1/fragments/{root}/split", json=bad, headers=h2)
    r2 = c.post(f"/v1/fragments/{root}/split", json=bad, headers=h2)
    assert r1.status_code == r2.status_code == 422
    assert r1.json()["code"] == "insufficient_value" and r1.json() == r2.json()


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
@pytest.mark.parametrize("when", ["after_broadcast", "before_broadcast", "before_signing"])
def test_crash_and_restart_loses_and_duplicates_nothing(
    anvil: AnvilNode, tmp_path: Path, when: str, db: str
) -> None:
    if db == "postgres" and not pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    for w in open_world(anvil, tmp_path, db):
        populate(w)
        issued = issue_certificate(w, face_value="5000")
        root, cert = issued["root_fragment_id"], issued["certificate_id"]
        settings = w.settings
        gateway = w.rt.gateway
        runner = w.rt.runner
        if when == "after_broadcast":

            def crash_wait(*_a: Any, **_k: Any) -> Any:
                raise Crash()

            gateway.wait = crash_wait  # type: ignore[method-assign]
        elif when == "before_broadcast":
            original = gateway.send_journaled

            def crash_send(address: str, call: Any, on_signed: Any) -> Any:
                def journal_then_die(j: Any) -> None:
                    on_signed(j)
                    raise Crash()

                return original(address, call, journal_then_die)  # noqa: B023 - one pass

            gateway.send_journaled = crash_send  # type: ignore[method-assign]
        else:

            def crash_send_early(*_a: Any, **_k: Any) -> Any:
                raise Crash()

            gateway.send_journaled = crash_send_early  # type: ignore[method-assign]
        headers = {**w.tier1.headers, "Idempotency-Key": f"crash-{when}"}
        body = {"to_org_id": w.tier2.org_id, "amount": "1234"}
        with pytest.raises(Crash):
            w.client.post(f"/v1/fragments/{root}/split", json=body, headers=headers)
        assert runner is w.rt.runner
        if when == "before_broadcast":
            assert _fragment_count(w, cert) == 1  # journaled, never broadcast

        # "restart": a new process with the same database, key store and manifest
        with TestClient(create_app(settings)) as client2:
            rt2 = client2.app.state.runtime  # type: ignore[attr-defined]
            from sqlmodel import Session, select

            with Session(rt2.engine) as session:
                row = session.exec(
                    select(Command).where(Command.idempotency_key == f"crash-{when}")
                ).first()
            if when == "before_signing":  # died before its first commit: nothing stored
                assert row is None
            else:
                assert row is not None and row.status == "succeeded"
            retry = client2.post(f"/v1/fragments/{root}/split", json=body, headers=headers)
            assert retry.status_code == 201, retry.text
            again = client2.post(f"/v1/fragments/{root}/split", json=body, headers=headers)
            assert again.json() == retry.json()
            assert _fragment_count(w, cert) == 2  # exactly one split reached the chain
            fragments = client2.get("/v1/fragments", headers=w.tier2.headers).json()
            assert [f["value"] for f in fragments] == ["1234"]
            if row is not None:
                assert retry.json()["tx_hash"] == row.tx_hash
            log = client2.get("/v1/audit-log?action=split", headers=w.operator.headers).json()
            assert len([e for e in log if e["outcome"] == "succeeded"]) == 1


def test_concurrent_splits_never_overspend(fresh: World) -> None:
    w, c = fresh, fresh.client
    issued = issue_certificate(w, face_value="1000")
    root, cert = issued["root_fragment_id"], issued["certificate_id"]
    results: list[Any] = []
    lock = threading.Lock()

    def split() -> None:
        r = c.post(
            f"/v1/fragments/{root}/split",
            json={"to_org_id": w.tier2.org_id, "amount": "150"},
            headers={**w.tier1.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        with lock:
            results.append(r)

    threads = [threading.Thread(target=split) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if r.status_code == 201]
    refused = [r for r in results if r.status_code != 201]
    assert len(ok) == 6  # 6 x 150 = 900 fits below 1000; a 7th would empty the parent
    assert all(
        r.status_code == 422 and r.json()["code"] == "insufficient_value" for r in refused
    ), [r.text for r in refused]
    assert all("fen" in r.json()["detail"] for r in refused)
    fragments = w.rt.gateway.ledger.fragments_of(cert)
    assert sum(f.value for f in fragments) == 1000
    assert sorted(f.value for f in fragments) == [100] + [150] * 6


def test_api_key_shown_once_even_under_idempotency(fresh: World) -> None:
    w, c = fresh, fresh.client
    headers = {**w.operator.headers, "Idempotency-Key": "key-1"}
    first = c.post(
        f"/v1/organizations/{w.tier2.org_id}/api-keys", json={"label": "x"}, headers=headers
    )
    again = c.post(
        f"/v1/organizations/{w.tier2.org_id}/api-keys", json={"label": "x"}, headers=headers
    )
    assert first.json()["api_key"].startswith("scf_")
    assert again.json()["id"] == first.json()["id"]
    assert "withheld" in again.json()["api_key"]
    token = first.json()["api_key"]
    assert c.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    from sqlmodel import Session, select

    with Session(w.rt.engine) as session:
        stored = " ".join(r.response_body or "" for r in session.exec(select(Command)).all())
    assert token not in stored
    # revoked keys stop working at once
    r = c.delete(
        f"/v1/organizations/{w.tier2.org_id}/api-keys/{first.json()['id']}",
        headers=w.operator.headers,
    )
    assert r.status_code == 200
    assert c.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_overdue_marked_by_the_maturity_job(fresh: World) -> None:
    w, c = fresh, fresh.client
    issued = issue_certificate(w, face_value="7000", days=10)
    cert = issued["certificate_id"]
    grace = w.rt.gateway.ledger.grace_period()
    w.travel(10 * 86_400 + grace + 60)
    r = c.post(f"/v1/certificates/{cert}/repay", json={"amount": "3000"}, headers=w.core.headers)
    assert r.status_code == 200, r.text
    job = c.post("/v1/admin/jobs/maturity", headers=w.operator.headers).json()
    assert job["marked_overdue"] == [cert]
    assert job["fen_paid"] == "3000"  # the partial repayment is paid out pro rata
    report = c.get("/v1/reports/overdue", headers=w.auditor.headers).json()
    assert [x["id"] for x in report["certificates"]] == [cert]
    assert report["certificates"][0]["outstanding"] == "4000"
    assert report["check"]["consistent_with_chain"] is True


def test_concurrent_requests_with_one_key_send_one_transaction(fresh: World) -> None:
    """A chain command's row is first written when its transaction is journaled: requests
    racing with one key all get that far, one commits, the others send nothing."""
    w, c = fresh, fresh.client
    issued = issue_certificate(w, face_value="5000")
    root, cert = issued["root_fragment_id"], issued["certificate_id"]
    headers = {**w.tier1.headers, "Idempotency-Key": "race-" + uuid.uuid4().hex}
    results: list[Any] = []
    lock = threading.Lock()

    def split() -> None:
        r = c.post(
            f"/v1/fragments/{root}/split",
            json={"to_org_id": w.tier2.org_id, "amount": "10"},
            headers=headers,
        )
        with lock:
            results.append(r)

    threads = [threading.Thread(target=split) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status_code for r in results} <= {201, 409}, [r.text for r in results]
    assert 201 in {r.status_code for r in results}
    assert all(r.json()["code"] == "request_in_progress" for r in results if r.status_code == 409)
    assert len({r.json()["tx_hash"] for r in results if r.status_code == 201}) == 1
    assert _fragment_count(w, cert) == 2  # one split reached the chain
    final = c.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": w.tier2.org_id, "amount": "10"},
        headers=headers,
    )
    assert final.status_code == 201 and final.headers.get("Idempotent-Replayed") == "true"
    assert _fragment_count(w, cert) == 2


def test_an_issue_finished_at_restart_links_its_document(anvil: AnvilNode, tmp_path: Path) -> None:
    """The invoice document is linked to its certificate in the transaction that stores
    the issue's answer (the catalogue entry's effect), so an issue whose process died
    waiting for the receipt is linked when start-up finishes it. The route used to link
    it after the command returned: a crash there left the document unlinked, free to
    back a second issue that the ledger would refuse."""
    for w in open_world(anvil, tmp_path):
        populate(w)
        doc = upload_invoice(w, w.core)

        def crash_wait(*_a: Any, **_k: Any) -> Any:
            raise Crash()

        w.rt.gateway.wait = crash_wait  # type: ignore[method-assign]
        body = {
            "beneficiary_id": w.tier1.org_id,
            "credit_provider_id": w.bank.org_id,
            "face_value": "5000",
            "maturity": w.block_time() + 90 * 86_400,
            "document_id": doc["id"],
            "invoice_number": "INV-" + uuid.uuid4().hex[:12],
        }
        headers = {**w.core.headers, "Idempotency-Key": "issue-then-crash"}
        with pytest.raises(Crash):
            w.client.post("/v1/certificates", json=body, headers=headers)
        with TestClient(create_app(w.settings)) as client2:  # start-up reconciles it
            meta = client2.get(f"/v1/documents/{doc['id']}", headers=w.core.headers).json()
            assert meta["certificate_id"] is not None
            retry = client2.post("/v1/certificates", json=body, headers=headers)
            assert retry.status_code == 201
            assert retry.headers.get("Idempotent-Replayed") == "true"
            assert retry.json()["certificate_id"] == meta["certificate_id"]


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_a_dead_workers_signed_command_is_finished_while_serving(
    anvil: AnvilNode, tmp_path: Path, db: str
) -> None:
    """With several workers, a command whose worker died after the broadcast is finished
    by the indexing process's periodic pass once its row stood still long enough, and
    only then; a retry then replays it."""
    if db == "postgres" and not pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    for world in open_world(anvil, tmp_path, db):
        _dead_worker_scenario(populate(world))


def _dead_worker_scenario(w: World) -> None:
    c = w.client
    runner, gateway = w.rt.runner, w.rt.gateway
    issued = issue_certificate(w, face_value="5000")
    root, cert = issued["root_fragment_id"], issued["certificate_id"]
    runner.resume_after = 1.0  # as with several worker processes (tx_timeout + 30 s)
    original_wait = gateway.wait

    def crash_wait(*_a: Any, **_k: Any) -> Any:
        raise Crash()

    gateway.wait = crash_wait  # type: ignore[method-assign]
    headers = {**w.tier1.headers, "Idempotency-Key": "dead-worker"}
    body = {"to_org_id": w.tier2.org_id, "amount": "321"}
    with pytest.raises(Crash):
        c.post(f"/v1/fragments/{root}/split", json=body, headers=headers)
    gateway.wait = original_wait  # type: ignore[method-assign]

    def row() -> Command:
        from sqlmodel import Session, select

        with Session(w.rt.engine) as session:
            found = session.exec(
                select(Command).where(Command.idempotency_key == "dead-worker")
            ).first()
        assert found is not None
        return found

    signed = row()
    assert signed.status == "signed" and signed.tx_hash
    assert runner.reconcile_abandoned() == {"completed": 0, "aborted": 0}  # too recent
    assert row().status == "signed"
    # The transaction reached the node. Wait for its block before counting: anvil answers
    # the broadcast before it has mined it, so under load "latest" may not show it yet
    # (the service does not count on it: resuming waits for the receipt).
    gateway.w3.eth.wait_for_transaction_receipt(HexStr(signed.tx_hash), timeout=30)
    assert _fragment_count(w, cert) == 2
    threading.Event().wait(1.2)
    assert runner.reconcile_abandoned() == {"completed": 1, "aborted": 0}
    finished = row()
    assert finished.status == "succeeded" and finished.response_status == 201
    assert runner.reconcile_abandoned() == {"completed": 0, "aborted": 0}
    retry = c.post(f"/v1/fragments/{root}/split", json=body, headers=headers)
    assert retry.status_code == 201 and retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.json()["tx_hash"] == finished.tx_hash
    assert _fragment_count(w, cert) == 2
    log = c.get("/v1/audit-log?action=split", headers=w.operator.headers).json()
    assert len([e for e in log if e["outcome"] == "succeeded"]) == 1
