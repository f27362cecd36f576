"""Several worker processes serving one ledger: shared nonces, one indexer, read-your-writes
in every process, same-key requests answered once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.background import ProcessLock
from api.cli.health import interrupt, wait_until_serving
from chain_client.connection import connect
from chain_client.node import AnvilNode, free_port
from tests.api.helpers import (
    OPERATOR_KEY,
    Party,
    World,
    issue_certificate,
    make_settings,
    populate,
)

ROOT = Path(__file__).resolve().parents[2]
SPLITS = 12


def test_process_lock_is_exclusive_until_released(tmp_path: Path) -> None:
    first, second = ProcessLock(tmp_path / "x.lock"), ProcessLock(tmp_path / "x.lock")
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    assert (tmp_path / "x.lock").read_text().strip() == str(os.getpid())
    second.release()


class RemoteWorld(World):
    """A World whose client talks to a server process."""

    def block_time(self) -> int:
        return int(connect(self.anvil.rpc_url).eth.get_block("latest")["timestamp"])


@pytest.fixture
def two_workers(anvil: AnvilNode, tmp_path: Path) -> Iterator[RemoteWorld]:
    settings = make_settings(
        anvil, tmp_path, workers=2, background=True, port=free_port(), indexer_interval=1.0
    )
    url = f"http://127.0.0.1:{settings.port}"
    log = open(tmp_path / "api.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "api"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **settings.to_env()},
    )
    try:
        failure = wait_until_serving(url, 90, lambda: proc.poll() is None)
        assert failure is None, (tmp_path / "api.log").read_text()[-3000:]
        with httpx.Client(base_url=url, timeout=60) as client:
            me = client.get("/v1/me", headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
            assert me.status_code == 200, me.text
            operator = Party(me.json()["id"], OPERATOR_KEY, "operator", me.json()["address"])
            yield RemoteWorld(client, settings, anvil, operator)  # type: ignore[arg-type]
    finally:
        interrupt(proc, timeout=30)
        log.close()


def _fresh_get(url: str, path: str, headers: dict[str, str]) -> httpx.Response:
    """On a new connection: the kernel hands each connection to either worker."""
    with httpx.Client(base_url=url, timeout=60) as client:
        return client.get(path, headers=headers)


def test_two_worker_processes_serve_one_ledger(two_workers: RemoteWorld) -> None:
    w = populate(two_workers)
    url = str(w.client.base_url).rstrip("/")
    # a process of its own indexes, not a worker
    assert not any(_fresh_get(url, "/v1/health", {}).json()["indexing"] for _ in range(20))
    assert int(w.settings.background_lock.read_text().strip()) > 0

    root = issue_certificate(w, face_value="100000")["root_fragment_id"]

    def split(k: int) -> dict[str, Any]:
        """One split on its own connection (so both workers send from tier1's account at
        once), then the new fragment read on another connection: read-your-writes must
        hold whichever process answers."""
        key = uuid.uuid4().hex
        with httpx.Client(base_url=url, timeout=60) as client:
            r = client.post(
                f"/v1/fragments/{root}/split",
                json={"to_org_id": w.tier2.org_id, "amount": str(100 + k)},
                headers={**w.tier1.headers, "Idempotency-Key": key},
            )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        seen = _fresh_get(url, f"/v1/fragments/{body['fragment_id']}", w.tier2.headers)
        assert seen.status_code == 200, seen.text
        assert seen.json()["value"] == str(100 + k)
        with httpx.Client(base_url=url, timeout=60) as client:
            again = client.post(
                f"/v1/fragments/{root}/split",
                json={"to_org_id": w.tier2.org_id, "amount": str(100 + k)},
                headers={**w.tier1.headers, "Idempotency-Key": key},
            )
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == body
        return body

    chain = connect(w.anvil.rpc_url)
    sent_before = chain.eth.get_transaction_count(w.tier1.address)
    with ThreadPoolExecutor(SPLITS) as pool:
        results = list(pool.map(split, range(SPLITS)))
    assert len({r["fragment_id"] for r in results}) == SPLITS
    assert len({r["tx_hash"] for r in results}) == SPLITS
    # nothing lost or spent twice: the parent holds the rest, on chain and in the read model
    rest = 100_000 - sum(100 + k for k in range(SPLITS))
    parent = _fresh_get(url, f"/v1/fragments/{root}", w.tier1.headers).json()
    assert parent["value"] == str(rest)
    # one transaction per split, none replayed, no nonce left unused
    assert chain.eth.get_transaction_count(w.tier1.address) == sent_before + SPLITS


def test_a_dead_indexing_process_is_replaced(two_workers: RemoteWorld) -> None:
    w = populate(two_workers)
    url = str(w.client.base_url).rstrip("/")
    first = int(w.settings.background_lock.read_text().strip())
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:  # the server starts another one, which takes the lock
        text = w.settings.background_lock.read_text().strip()
        if text and int(text) != first:
            break
        assert time.monotonic() < deadline, "nobody took the indexing over"
        time.sleep(0.2)
    # and commands still answer once their block is in the read model
    root = issue_certificate(w, face_value="1000")["root_fragment_id"]
    fragment = _fresh_get(url, f"/v1/fragments/{root}", w.tier1.headers)
    assert fragment.status_code == 200 and fragment.json()["value"] == "1000"
