"""Two API instances that share nothing but PostgreSQL and the chain (issue 12): each its
own process (``python -m api``) and data folder, both on one database schema and, through
a JSON-RPC proxy that records every broadcast, one anvil node, serving the same
organizations.

What must hold: one ledger (the second instance does not deploy its own); a key made
through one instance signs through the other; commands of one organization through both
at once take consecutive nonces that no node ever refuses (no "nonce too low" resync, each
transaction broadcast and mined once); one Idempotency-Key sent to both runs once; a
command in flight on one instance when another starts is finished once; exactly one
instance indexes, and when it is killed the other takes over.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from api.cli.health import wait_until_serving
from api.settings import Settings
from chain_client.connection import connect
from chain_client.node import AnvilNode, free_port
from tests.api.helpers import (
    OPERATOR_KEY,
    PG_URL,
    Party,
    World,
    drop_schema,
    issue_certificate,
    make_settings,
    pg_available,
    populate,
)
from tests.api.rpc_proxy import RpcProxy

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "one passphrase for every instance " + uuid.uuid4().hex

pytestmark = pytest.mark.skipif(
    not pg_available(), reason="PostgreSQL is not reachable on 127.0.0.1:5432"
)


@dataclass
class Broadcasts:
    """What the instances broadcast through the proxy: hashes the node took, and the
    error of each refusal."""

    taken: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def intercept(
        self, request: dict[str, Any], forward: Callable[[], dict[str, Any]]
    ) -> dict[str, Any] | None:
        if request.get("method") != "eth_sendRawTransaction":
            return None
        answer = forward()
        with self.lock:
            if "error" in answer:
                self.refused.append(str(answer["error"].get("message")))
            else:
                self.taken.append(str(answer["result"]))
        return answer

    def since(self, mark: tuple[int, int]) -> tuple[list[str], list[str]]:
        with self.lock:
            return self.taken[mark[0] :], self.refused[mark[1] :]

    def mark(self) -> tuple[int, int]:
        with self.lock:
            return len(self.taken), len(self.refused)


@dataclass
class Instance:
    """One ``python -m api`` with its own data folder."""

    name: str
    settings: Settings
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def health(self) -> dict[str, Any]:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            answer = client.get("/v1/health")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_instance(name: str, settings: Settings, folder: Path) -> Instance:
    log_path = folder.parent / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **settings.to_env()},
        )
    return Instance(name, settings, proc, log_path)


def wait_serving(instance: Instance, timeout: float = 120) -> None:
    failure = wait_until_serving(instance.url, timeout, lambda: instance.proc.poll() is None)
    assert failure is None, f"{instance.name}: {failure}\n{instance.log()}"


class RemoteWorld(World):
    """A World whose client talks to one instance; the parties are shared by the
    views of every instance."""

    def block_time(self) -> int:
        return int(connect(self.anvil.rpc_url).eth.get_block("latest")["timestamp"])


@dataclass
class Cluster:
    anvil: AnvilNode
    proxy: RpcProxy
    broadcasts: Broadcasts
    schema: str
    base: Path
    instances: dict[str, Instance]
    views: dict[str, RemoteWorld]
    clients: list[httpx.Client]

    def settings_for(self, name: str, **extra: Any) -> Settings:
        folder = self.base / name
        folder.mkdir()
        return make_settings(
            self.anvil,
            folder,
            "postgres",
            database_schema=self.schema,
            rpc_url=self.proxy.url,
            master_passphrase=PASSPHRASE,
            background=True,
            indexer_interval=1.0,
            tx_timeout=60.0,
            port=free_port(),
            **extra,
        )

    def start(self, name: str) -> Instance:
        settings = self.settings_for(name)
        instance = start_instance(name, settings, settings.data_dir)
        self.instances[name] = instance
        return instance

    def view(self, name: str) -> RemoteWorld:
        """A World on instance ``name`` sharing the parties of every view."""
        if name not in self.views:
            instance = self.instances[name]
            client = httpx.Client(base_url=instance.url, timeout=90)
            self.clients.append(client)
            me = client.get("/v1/me", headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
            assert me.status_code == 200, me.text
            operator = Party(me.json()["id"], OPERATOR_KEY, "operator", me.json()["address"])
            parties = next(iter(self.views.values())).parties if self.views else {}
            self.views[name] = RemoteWorld(
                client,  # type: ignore[arg-type]
                instance.settings,
                self.anvil,
                operator,
                parties,
            )
        return self.views[name]

    def engine_sql(self, query: str, **params: Any) -> list[Any]:
        engine = create_engine(PG_URL, connect_args={"options": f"-csearch_path={self.schema}"})
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(query), params).all())
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def cluster(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    broadcasts = Broadcasts()
    proxy = RpcProxy(anvil.rpc_url)
    proxy.intercept = broadcasts.intercept
    proxy.start()
    base = tmp_path_factory.mktemp("scale-out")
    cluster = Cluster(
        anvil, proxy, broadcasts, "t_" + uuid.uuid4().hex[:20], base, {}, {}, clients=[]
    )
    try:
        # both at once on a fresh database and chain: one of them deploys, the other
        # serves that ledger
        for name in ("a", "b"):
            cluster.start(name)
        for instance in cluster.instances.values():
            wait_serving(instance)
        populate(cluster.view("a"))
        cluster.view("b")
        yield cluster
    finally:
        for client in cluster.clients:
            client.close()
        for instance in cluster.instances.values():
            instance.stop()
        proxy.cut()
        drop_schema(cluster.instances["a"].settings)


def _get(url: str, path: str, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=60) as client:
        return client.get(path, headers=headers)


def _post(url: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=90) as client:
        return client.post(path, json=body, headers=headers)


def _indexing(cluster: Cluster) -> dict[str, bool]:
    return {
        name: bool(instance.health()["indexing"])
        for name, instance in cluster.instances.items()
        if instance.proc.poll() is None
    }


def test_both_instances_serve_one_ledger_and_one_indexes(cluster: Cluster) -> None:
    a, b = cluster.instances["a"].health(), cluster.instances["b"].health()
    assert a["ledger"] == b["ledger"] and a["chain_id"] == b["chain_id"]
    # each instance's folder got the manifest of that ledger; neither shares a folder
    for instance in cluster.instances.values():
        assert instance.settings.resolved_manifest_path.is_file()
    assert cluster.instances["a"].settings.data_dir != cluster.instances["b"].settings.data_dir
    deadline = time.monotonic() + 20
    while True:
        seen = _indexing(cluster)
        assert sum(seen.values()) <= 1, f"two instances index at once: {seen}"
        if sum(seen.values()) == 1:
            break
        assert time.monotonic() < deadline, "no instance indexes"
        time.sleep(0.5)
    for _ in range(10):
        assert sum(_indexing(cluster).values()) == 1
        time.sleep(0.2)


def test_a_key_made_through_one_instance_signs_through_the_other(cluster: Cluster) -> None:
    wa, wb = cluster.view("a"), cluster.view("b")
    # tier3's key is made by instance b; its first command is signed by instance a
    party = wb.onboard("tier3", "supplier", int(uuid.uuid4().int % 10**8) * 10 + 7)
    root = issue_certificate(wa, face_value="50000")["root_fragment_id"]
    r = wa.client.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": party.org_id, "amount": "5000"},
        headers=wa.tier1.headers,
    )
    assert r.status_code == 201, r.text
    piece = r.json()["fragment_id"]
    r = wa.client.post(
        f"/v1/fragments/{piece}/split",
        json={"to_org_id": wa.tier2.org_id, "amount": "1000"},
        headers=party.headers,
    )
    assert r.status_code == 201, r.text
    receipt = connect(cluster.anvil.rpc_url).eth.get_transaction_receipt(r.json()["tx_hash"])
    assert receipt["from"] == party.address


def test_commands_of_one_organization_through_both_instances_never_clash(
    cluster: Cluster,
) -> None:
    wa = cluster.view("a")
    urls = [cluster.instances[name].url for name in ("a", "b")]
    root = issue_certificate(wa, face_value="100000")["root_fragment_id"]
    chain = connect(cluster.anvil.rpc_url)
    sent_before = chain.eth.get_transaction_count(wa.tier1.address)
    mark = cluster.broadcasts.mark()

    def split(k: int) -> dict[str, Any]:
        """A split of tier1's on instance k % 2, read at once on the other one."""
        url, other = urls[k % 2], urls[(k + 1) % 2]
        r = _post(
            url,
            f"/v1/fragments/{root}/split",
            {"to_org_id": wa.tier2.org_id, "amount": str(100 + k)},
            {**wa.tier1.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        seen = _get(other, f"/v1/fragments/{body['fragment_id']}", wa.tier2.headers)
        assert seen.status_code == 200, seen.text
        assert seen.json()["value"] == str(100 + k)
        return body

    # one after the other, alternating: each instance's counter must know the other's
    # last nonce (with a counter per instance, every second send is refused once)
    results = [split(k) for k in range(4)]
    # and all at once
    with ThreadPoolExecutor(12) as pool:
        results += list(pool.map(split, range(4, 16)))
    taken, refused = cluster.broadcasts.since(mark)
    assert refused == [], f"the node refused {len(refused)} broadcasts: {refused[:3]}"
    hashes = [r["tx_hash"] for r in results]
    assert len(set(hashes)) == 16
    assert sorted(taken) == sorted(hashes)  # each transaction broadcast once, no other
    assert chain.eth.get_transaction_count(wa.tier1.address) == sent_before + 16
    nonces = sorted(int(chain.eth.get_transaction(h)["nonce"]) for h in hashes)
    assert nonces == list(range(sent_before, sent_before + 16))
    parent = _get(urls[1], f"/v1/fragments/{root}", wa.tier1.headers).json()
    assert parent["value"] == str(100_000 - sum(100 + k for k in range(16)))


def test_one_key_sent_to_both_instances_runs_once(cluster: Cluster) -> None:
    wa = cluster.view("a")
    urls = [cluster.instances[name].url for name in ("a", "b")]
    root = issue_certificate(wa, face_value="10000")["root_fragment_id"]
    chain = connect(cluster.anvil.rpc_url)
    sent_before = chain.eth.get_transaction_count(wa.tier1.address)
    keys = [uuid.uuid4().hex for _ in range(4)]
    for k, key in enumerate(keys):
        body = {"to_org_id": wa.tier2.org_id, "amount": str(10 + k)}
        headers = {**wa.tier1.headers, "Idempotency-Key": key}

        def send(
            url: str,
            body: dict[str, Any] = body,
            headers: dict[str, str] = headers,
            barrier: threading.Barrier = threading.Barrier(2),  # noqa: B008 - one per key
        ) -> Any:
            barrier.wait()
            return _post(url, f"/v1/fragments/{root}/split", body, headers)

        with ThreadPoolExecutor(2) as pool:
            first = list(pool.map(send, urls))
        assert {r.status_code for r in first} <= {201, 409}, [r.text for r in first]
        assert 201 in {r.status_code for r in first} or all(
            r.json()["code"] == "request_in_progress" for r in first
        )
        answers = []
        for url in urls:  # each instance answers the key with the one result
            deadline = time.monotonic() + 60
            while True:
                r = _post(url, f"/v1/fragments/{root}/split", body, headers)
                if r.status_code == 201:
                    break
                assert r.status_code == 409, r.text
                assert time.monotonic() < deadline, r.text
                time.sleep(0.5)
            answers.append(r.json())
        assert answers[0] == answers[1]
    assert chain.eth.get_transaction_count(wa.tier1.address) == sent_before + len(keys)
    rows = cluster.engine_sql(
        "SELECT count(*), count(DISTINCT tx_hash) FROM audit_log WHERE action = 'split' "
        "AND outcome = 'succeeded' AND target = :target",
        target=f"fragment:{root}",
    )
    assert tuple(rows[0]) == (len(keys), len(keys))  # one entry per key


def test_a_command_in_flight_when_another_instance_starts_is_finished_once(
    cluster: Cluster,
) -> None:
    """Instance c starts while a's command waits for its block: c's start-up takes the
    row over and waits for that transaction too; once mined, one of them stores the
    answer and its audit entry, and the other answers the same."""
    wa = cluster.view("a")
    root = issue_certificate(wa, face_value="10000")["root_fragment_id"]
    key = uuid.uuid4().hex
    body = {"to_org_id": wa.tier2.org_id, "amount": "77"}
    headers = {**wa.tier1.headers, "Idempotency-Key": key}
    anvil = cluster.anvil
    anvil.rpc("evm_setAutomine", [False])
    pool = ThreadPoolExecutor(1)
    try:
        answer = pool.submit(
            _post, cluster.instances["a"].url, f"/v1/fragments/{root}/split", body, headers
        )
        deadline = time.monotonic() + 30
        while True:  # journaled and broadcast, not mined
            rows = cluster.engine_sql(
                "SELECT id, status, updated_at FROM commands WHERE idempotency_key = :k", k=key
            )
            if rows and rows[0][1] == "signed":
                break
            assert time.monotonic() < deadline, rows
            time.sleep(0.1)
        command_id, _, signed_at = rows[0]
        c = cluster.start("c")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # c's start-up reconciles: it takes the row over
            moved = cluster.engine_sql(
                "SELECT updated_at FROM commands WHERE id = :i", i=command_id
            )
            if moved[0][0] != signed_at:
                break
            assert c.proc.poll() is None, c.log()
            time.sleep(0.2)
        time.sleep(1.0)  # c waits for the receipt now (on the old code: it resumed at once)
    finally:
        anvil.rpc("evm_setAutomine", [True])
        anvil.mine()
    r = answer.result(timeout=90)
    pool.shutdown()
    assert r.status_code == 201, r.text
    wait_serving(cluster.instances["c"])
    rows = cluster.engine_sql(
        "SELECT status, response_body FROM commands WHERE id = :i", i=command_id
    )
    assert rows[0][0] == "succeeded"
    audit = cluster.engine_sql(
        "SELECT count(*) FROM audit_log WHERE action = 'split' AND tx_hash = :h",
        h=r.json()["tx_hash"],
    )
    assert audit[0][0] == 1
    again = _post(cluster.instances["c"].url, f"/v1/fragments/{root}/split", body, headers)
    assert again.status_code == 201 and again.json() == r.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    cluster.instances.pop("c").stop()


def test_when_the_indexing_instance_is_killed_the_other_takes_over(cluster: Cluster) -> None:
    seen = _indexing(cluster)
    assert sum(seen.values()) == 1, seen
    indexing = next(name for name, on in seen.items() if on)
    survivor = next(name for name in seen if name != indexing)
    cluster.instances[indexing].proc.send_signal(signal.SIGKILL)
    cluster.instances[indexing].proc.wait(timeout=10)
    deadline = time.monotonic() + 30
    while not cluster.instances[survivor].health()["indexing"]:
        assert time.monotonic() < deadline, "nobody took the indexing over"
        time.sleep(0.5)
    # commands through the survivor answer once their block is in the read model
    world = cluster.view(survivor)
    root = issue_certificate(world, face_value="1000")["root_fragment_id"]
    fragment = _get(cluster.instances[survivor].url, f"/v1/fragments/{root}", world.tier1.headers)
    assert fragment.status_code == 200 and fragment.json()["value"] == "1000"
