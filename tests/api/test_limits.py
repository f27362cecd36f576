"""Abuse limits: commands per organization (429 with Retry-After, shared by the worker
processes), document quotas, and the minimum split."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from api.models import Command
from api.ratelimit import LocalBuckets, SharedBuckets, refill
from chain_client.node import AnvilNode
from tests.api.helpers import World, issue_certificate, open_world, populate

# -- the bucket ------------------------------------------------------------------------------


def test_a_bucket_allows_a_burst_then_the_rate() -> None:
    buckets = LocalBuckets()
    assert [buckets.take(7, 2.0, 3, 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take(7, 2.0, 3, 100.0) == pytest.approx(0.5)  # one token every 0.5 s
    assert buckets.take(7, 2.0, 3, 100.25) == pytest.approx(0.25)
    assert buckets.take(7, 2.0, 3, 100.5) == 0.0
    assert buckets.take(8, 2.0, 3, 100.5) == 0.0  # another organization: its own bucket
    assert refill(0.0, 10.0, 1000.0, 2.0, 3) == 3.0  # never more than the burst
    assert refill(1.0, 50.0, 10.0, 2.0, 3) == 3.0  # counted before a reboot: full


def _take_shared(path: str, count: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    buckets = SharedBuckets(Path(path))
    out.put(sum(1 for _ in range(count) if buckets.take(3, 0.001, 50, 1.0) == 0.0))


def test_worker_processes_share_one_bucket_per_organization(tmp_path: Path) -> None:
    """Two processes sending 40 commands each for one organization with a burst of 50:
    50 pass in all, not 50 each. (Forked: the children only open a file and lock it.)"""
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    path = str(tmp_path / "rate-limits")
    procs = [ctx.Process(target=_take_shared, args=(path, 40, out)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert sum(out.get(timeout=5) for _ in procs) == 50
    assert (tmp_path / "rate-limits").stat().st_mode & 0o077 == 0


# -- through the API -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Commands: a burst of 4 per organization, then one every 100 s."""
    for world in open_world(
        anvil, tmp_path_factory.mktemp("limited"), rate_limit_per_second=0.01, rate_limit_burst=4
    ):
        yield populate(world)


def test_commands_beyond_the_limit_get_429_with_retry_after(limited: World) -> None:
    w, c = limited, limited.client
    root = issue_certificate(w, face_value="10000")["root_fragment_id"]  # tier 1: accept
    split = {"to_org_id": w.tier2.org_id, "amount": "10"}
    for _ in range(3):
        r = c.post(f"/v1/fragments/{root}/split", json=split, headers=w.tier1.headers)
        assert r.status_code == 201, r.text
    key = uuid.uuid4().hex
    r = c.post(
        f"/v1/fragments/{root}/split",
        json=split,
        headers={**w.tier1.headers, "Idempotency-Key": key},
    )
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 100
    assert r.json()["retry_after"] == int(r.headers["Retry-After"])
    # nothing was journaled: a retry with the same key will run the command
    with Session(w.rt.engine) as session:
        assert session.exec(select(Command).where(Command.idempotency_key == key)).first() is None
    # reads are not limited; another organization has its own bucket
    assert c.get(f"/v1/fragments/{root}", headers=w.tier1.headers).status_code == 200
    mine = c.get("/v1/fragments", headers=w.tier2.headers).json()
    moved = c.post(
        f"/v1/fragments/{mine[0]['id']}/transfer",
        json={"to_org_id": w.tier1.org_id},
        headers=w.tier2.headers,
    )
    assert moved.status_code == 200, moved.text
    # uploads count too
    r = c.post(
        "/v1/documents",
        files={"file": ("a.pdf", b"more", "application/pdf")},
        headers=w.tier1.headers,
    )
    assert r.status_code == 429
    # the refusal is audited
    log = c.get("/v1/audit-log?outcome=refused", headers=w.operator.headers).json()
    assert any(e["code"] == "rate_limited" and e["org_id"] == w.tier1.org_id for e in log)


def test_the_operator_is_not_limited(limited: World) -> None:
    w = limited
    for _ in range(8):
        r = w.client.post(
            f"/v1/organizations/{w.tier2.org_id}/settlement-funds",
            json={"amount": "1"},
            headers=w.operator.headers,
        )
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def quota(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Three documents or 1,000 bytes per organization; splits of at least 1 CNY."""
    for world in open_world(
        anvil,
        tmp_path_factory.mktemp("quota"),
        document_quota_count=3,
        document_quota_bytes=1000,
        min_split_fen=100,
    ):
        yield populate(world)


def _upload(w: World, who: str, size: int) -> tuple[int, str | None]:
    r = w.client.post(
        "/v1/documents",
        files={"file": ("a.pdf", b"x" * size, "application/pdf")},
        headers=w.parties[who].headers,
    )
    return r.status_code, r.json().get("code")


def test_documents_are_limited_by_count_and_bytes_per_organization(quota: World) -> None:
    w = quota
    assert _upload(w, "tier2", 400) == (201, None)
    assert _upload(w, "tier2", 400) == (201, None)
    assert _upload(w, "tier2", 201) == (409, "storage_quota_exceeded")  # 1,001 bytes
    assert _upload(w, "tier2", 200) == (201, None)
    assert _upload(w, "tier2", 1) == (409, "storage_quota_exceeded")  # a 4th document
    assert _upload(w, "bank", 500) == (201, None)  # another organization: its own quota


def test_a_split_below_the_minimum_is_refused_before_the_chain(quota: World) -> None:
    w, c = quota, quota.client
    root = issue_certificate(w, face_value="1000")["root_fragment_id"]
    chain = w.rt.gateway.w3
    sent = chain.eth.get_transaction_count(w.tier1.address)

    def split(amount: str) -> tuple[int, str | None]:
        r = c.post(
            f"/v1/fragments/{root}/split",
            json={"to_org_id": w.tier2.org_id, "amount": amount},
            headers=w.tier1.headers,
        )
        return r.status_code, r.json().get("code")

    assert split("99") == (422, "split_below_minimum")  # the piece
    assert split("901") == (422, "split_below_minimum")  # the rest (99 fen)
    assert chain.eth.get_transaction_count(w.tier1.address) == sent  # nothing sent
    assert split("100") == (201, None)
    assert split("800") == (201, None)  # leaves exactly the minimum
    offer = {
        "fragment_id": root,
        "financier_id": w.bank.org_id,
        "rate_bps": 100,
        "expires_at": w.block_time() + 86_400,
    }
    r = c.post("/v1/offers", json={**offer, "amount": "50"}, headers=w.tier1.headers)
    assert r.status_code == 422 and r.json()["code"] == "split_below_minimum"
    r = c.post("/v1/offers", json={**offer, "amount": "100"}, headers=w.tier1.headers)
    assert r.status_code == 201, r.text  # the whole fragment: no split
    log = c.get("/v1/audit-log?outcome=refused", headers=w.operator.headers).json()
    assert any(e["code"] == "split_below_minimum" and e["org_id"] == w.tier1.org_id for e in log)
