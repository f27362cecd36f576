"""The service while its node is down: every route answers 503 ``node_unavailable`` with
Retry-After (never a 500), the health says "degraded", and a command whose transaction
was journaled when the node went away is finished once the node is back, once.

The node is made unreachable by cutting a proxy in front of it (tests/api/rpc_proxy.py):
the chain goes on behind it, as a real node's would, and comes back on the same URL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from web3 import Web3
from web3.exceptions import ProviderConnectionError, Web3RPCError

from api.models import Command
from api.problems import node_down
from chain_client.batch import BatchCallError
from chain_client.errors import NodeError, TransactionRejected, UnknownRevert
from chain_client.node import AnvilNode
from tests.api.helpers import World, issue_certificate, open_world, populate
from tests.api.rpc_proxy import RpcProxy

#: the wait's timeout: a command whose node stays down answers after it
TX_TIMEOUT = 4.0


@pytest.fixture
def outage(anvil: AnvilNode, tmp_path: Path) -> Iterator[tuple[World, RpcProxy]]:
    """A populated world whose node is reached through a proxy the test can cut."""
    with RpcProxy(anvil.rpc_url) as proxy:
        for world in open_world(anvil, tmp_path, rpc_url=proxy.url, tx_timeout=TX_TIMEOUT):
            yield populate(world), proxy
            proxy.restore()  # the app's shutdown finds its node


def _split(w: World, root: int, key: str, amount: str = "100") -> Any:
    return w.client.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": w.tier2.org_id, "amount": amount},
        headers={**w.tier1.headers, "Idempotency-Key": key},
    )


def _fragment_count(w: World, cert: int) -> int:
    return int(w.rt.gateway.ledger.certificate(cert).fragment_count)


def _row(w: World, key: str) -> Command | None:
    with Session(w.rt.engine) as session:
        return session.exec(select(Command).where(Command.idempotency_key == key)).first()


def _assert_node_unavailable(r: Any) -> dict[str, Any]:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert int(r.headers["retry-after"]) > 0
    body: dict[str, Any] = r.json()
    assert body["code"] == "node_unavailable", body
    return body


def _cut_after_journaling(w: World, proxy: RpcProxy) -> list[str]:
    """Cut the node right after the journal commit of the next command, before its
    broadcast; returns the hashes journaled."""
    journal = w.rt.runner.journal
    record = journal.record_signed
    stored: list[str] = []

    def record_then_cut(ref: Any, signed: Any, call: Any) -> int:
        row = record(ref, signed, call)
        stored.append(signed.tx_hash)
        proxy.cut()
        return row

    journal.record_signed = record_then_cut  # type: ignore[method-assign]
    return stored


def test_node_down_every_kind_of_route_is_503_and_a_retry_runs_the_command_once(
    outage: tuple[World, RpcProxy],
) -> None:
    w, proxy = outage
    issued = issue_certificate(w, face_value="5000")
    root, cert = issued["root_fragment_id"], issued["certificate_id"]
    proxy.cut()
    client = TestClient(w.client.app, raise_server_exceptions=False)
    op = w.operator.headers
    for method, path, headers in [
        ("GET", f"/v1/fragments/{root}", w.tier1.headers),  # a read from the chain
        ("GET", "/v1/reports/exposure", op),  # a read that waits for the index
        ("POST", "/v1/admin/indexer", op),  # admin
        ("POST", "/v1/admin/pause", {**op, "Idempotency-Key": "pause-down"}),  # a command
    ]:
        _assert_node_unavailable(client.request(method, path, headers=headers))
    _assert_node_unavailable(_split(w, root, "split-down"))
    assert _row(w, "split-down") is None  # nothing was signed: nothing recorded
    proxy.restore()
    again = _split(w, root, "split-down")
    assert again.status_code == 201, again.text
    assert _split(w, root, "split-down").json() == again.json()
    assert _fragment_count(w, cert) == 2


def test_health_is_degraded_not_failed_while_the_node_is_down(
    outage: tuple[World, RpcProxy],
) -> None:
    w, proxy = outage
    up = w.client.get("/v1/health")
    assert up.status_code == 200, up.text
    assert up.json()["status"] == "ok" and up.json()["node"]["reachable"] is True
    assert isinstance(up.json()["head"], int)
    proxy.cut()
    down = w.client.get("/v1/health")
    assert down.status_code == 200, down.text
    health = down.json()
    assert health["status"] == "degraded"
    assert health["node"]["reachable"] is False and health["node"]["error"]
    assert health["head"] is None and health["block_time"] is None
    # what the service holds itself is still there
    assert health["indexed_block"] == up.json()["indexed_block"]
    assert health["chain_id"] == up.json()["chain_id"] and health["ledger"]
    proxy.restore()
    assert w.client.get("/v1/health").json()["status"] == "ok"


def test_a_journaled_command_waits_through_the_outage_for_its_own_transaction(
    outage: tuple[World, RpcProxy],
) -> None:
    """The node goes down between the journal commit and the broadcast, and comes back
    while the command waits: the command sends its stored bytes again and answers with
    their result, instead of aborting (a retry would then have signed a second
    transaction)."""
    w, proxy = outage
    issued = issue_certificate(w, face_value="5000")
    root, cert = issued["root_fragment_id"], issued["certificate_id"]
    stored = _cut_after_journaling(w, proxy)
    gateway = w.rt.gateway
    wait = gateway.wait

    def back_while_waiting(*args: Any, **kwargs: Any) -> Any:
        proxy.restore()
        return wait(*args, **kwargs)

    gateway.wait = back_while_waiting  # type: ignore[method-assign]
    # if the broadcast itself outlasts the outage, the node is back anyway
    timer = threading.Timer(3 * TX_TIMEOUT, proxy.restore)
    timer.start()
    try:
        r = _split(w, root, "split-in-flight")
    finally:
        timer.cancel()
    assert r.status_code == 201, r.text
    assert r.json()["tx_hash"] == stored[-1]
    replay = _split(w, root, "split-in-flight")
    assert replay.json() == r.json() and replay.headers["Idempotent-Replayed"] == "true"
    assert _fragment_count(w, cert) == 2
    row = _row(w, "split-in-flight")
    assert row is not None and row.status == "succeeded" and row.tx_hash == stored[-1]


def test_a_journaled_command_answers_503_while_down_and_its_retry_finishes_it_once(
    outage: tuple[World, RpcProxy],
) -> None:
    w, proxy = outage
    issued = issue_certificate(w, face_value="5000")
    root, cert = issued["root_fragment_id"], issued["certificate_id"]
    stored = _cut_after_journaling(w, proxy)
    first = _assert_node_unavailable(_split(w, root, "split-outage"))
    assert first["tx_hash"] == stored[-1]
    row = _row(w, "split-outage")
    assert row is not None and row.status == "signed"  # kept: not aborted
    # retried while the node is still down: the same answer, still one stored transaction
    assert _assert_node_unavailable(_split(w, root, "split-outage"))["tx_hash"] == stored[-1]
    proxy.restore()
    done = _split(w, root, "split-outage")
    assert done.status_code == 201, done.text
    assert done.json()["tx_hash"] == stored[-1]  # the journaled transaction, not a new one
    replay = _split(w, root, "split-outage")
    assert replay.json() == done.json() and replay.headers["Idempotent-Replayed"] == "true"
    assert _fragment_count(w, cert) == 2
    log = w.client.get("/v1/audit-log?action=split", headers=w.operator.headers).json()
    assert [e["tx_hash"] for e in log if e["outcome"] == "succeeded"] == [stored[-1]]


def test_recovery_finishes_a_command_that_answered_503_once_the_node_is_back(
    outage: tuple[World, RpcProxy],
) -> None:
    """The client never retries: the service's recovery pass finishes the command (its
    answer, its audit entry) once the node is back, and a late retry replays it."""
    w, proxy = outage
    issued = issue_certificate(w, face_value="5000")
    root, cert = issued["root_fragment_id"], issued["certificate_id"]
    stored = _cut_after_journaling(w, proxy)
    _assert_node_unavailable(_split(w, root, "split-unclaimed"))
    runner = w.rt.runner
    assert runner.reconcile_abandoned() == {"completed": 0, "aborted": 0}  # still down
    proxy.restore()
    assert runner.reconcile_abandoned() == {"completed": 1, "aborted": 0}
    row = _row(w, "split-unclaimed")
    assert row is not None and row.status == "succeeded" and row.tx_hash == stored[-1]
    late = _split(w, root, "split-unclaimed")
    assert late.status_code == 201 and late.headers["Idempotent-Replayed"] == "true"
    assert late.json()["tx_hash"] == stored[-1]
    assert _fragment_count(w, cert) == 2


def test_two_retries_of_a_503d_command_finish_it_once(
    outage: tuple[World, RpcProxy],
) -> None:
    """Two same-key retries after the node is back: one takes the command over and
    finishes it, the other is told it is in progress (both finishing it stored the answer
    and the audit entry twice)."""
    w, proxy = outage
    issued = issue_certificate(w, face_value="5000")
    root = issued["root_fragment_id"]
    stored = _cut_after_journaling(w, proxy)
    _assert_node_unavailable(_split(w, root, "split-twice"))
    proxy.restore()
    gateway = w.rt.gateway
    wait = gateway.wait
    inside, release = threading.Event(), threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        release.wait(30)
        return wait(*args, **kwargs)

    gateway.wait = held  # type: ignore[method-assign]
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(_split(w, root, "split-twice")))
    first.start()
    try:
        assert inside.wait(30)
        second = _split(w, root, "split-twice")
    finally:
        release.set()
        first.join(60)
        gateway.wait = wait  # type: ignore[method-assign]
    assert second.status_code == 409 and second.json()["code"] == "request_in_progress"
    assert answers and answers[0].status_code == 201, answers
    assert answers[0].json()["tx_hash"] == stored[-1]
    log = w.client.get("/v1/audit-log?action=split", headers=w.operator.headers).json()
    assert [e["tx_hash"] for e in log if e["outcome"] == "succeeded"] == [stored[-1]]


def test_a_journaled_transaction_whose_nonce_was_taken_aborts_and_a_retry_runs_it_once(
    outage: tuple[World, RpcProxy],
) -> None:
    """While the node was out of the service's reach, another transaction of the same
    account took the journaled one's nonce: it can never be mined, so the command is
    aborted (409 ``transaction_replaced``, not a 500) and a retry runs it anew."""
    w, proxy = outage
    issued = issue_certificate(w, face_value="5000")
    root, cert = issued["root_fragment_id"], issued["certificate_id"]
    journal = w.rt.runner.journal
    record = journal.record_signed
    nonces: list[int] = []

    def record_then_cut(ref: Any, signed: Any, call: Any) -> int:
        row = record(ref, signed, call)
        nonces.append(signed.nonce)
        proxy.cut()
        return row

    journal.record_signed = record_then_cut  # type: ignore[method-assign]
    gateway = w.rt.gateway
    wait = gateway.wait

    def taken_then_back(*args: Any, **kwargs: Any) -> Any:
        account = gateway.account(w.tier1.address or "")
        node = Web3(Web3.HTTPProvider(w.anvil.rpc_url))
        other = account.sign_transaction(
            {
                "to": account.address,
                "value": 0,
                "gas": 21_000,
                "gasPrice": 2 * int(node.eth.gas_price),
                "nonce": nonces[-1],
                "chainId": int(node.eth.chain_id),
            }
        )
        node.eth.wait_for_transaction_receipt(node.eth.send_raw_transaction(other.raw_transaction))
        journal.record_signed = record  # type: ignore[method-assign]
        proxy.restore()
        return wait(*args, **kwargs)

    gateway.wait = taken_then_back  # type: ignore[method-assign]
    r = _split(w, root, "split-taken")
    gateway.wait = wait  # type: ignore[method-assign]
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "transaction_replaced"
    row = _row(w, "split-taken")
    assert row is not None and row.status == "aborted"
    assert _fragment_count(w, cert) == 1
    again = _split(w, root, "split-taken")
    assert again.status_code == 201, again.text
    assert _fragment_count(w, cert) == 2


def test_a_refusal_that_leaves_nothing_pending_aborts_and_a_retry_runs_it(
    outage: tuple[World, RpcProxy],
) -> None:
    """The node answers the broadcast with a refusal and holds nothing of the bytes: not
    the node down (503 ``transaction_rejected``), the command aborted, and a retry with
    the same key runs it anew, once."""
    w, proxy = outage
    issued = issue_certificate(w, face_value="5000")
    root, cert = issued["root_fragment_id"], issued["certificate_id"]

    def refuse(request: dict[str, Any], forward: Any) -> dict[str, Any] | None:
        if request.get("method") != "eth_sendRawTransaction":
            return None
        error = {"code": -32010, "message": "the pool is closed for maintenance"}
        return {"jsonrpc": "2.0", "id": request.get("id"), "error": error}

    proxy.intercept = refuse
    r = _split(w, root, "split-refused")
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "transaction_rejected" and int(r.headers["retry-after"]) > 0
    row = _row(w, "split-refused")
    assert row is not None and row.status == "aborted"
    proxy.intercept = None
    # retried while the node is down: the aborted row is taken again, fails before
    # signing, and must be aborted again (left pending, every retry was 409 until a
    # restart)
    proxy.cut()
    _assert_node_unavailable(_split(w, root, "split-refused"))
    row = _row(w, "split-refused")
    assert row is not None and row.status == "aborted"
    proxy.restore()
    again = _split(w, root, "split-refused")
    assert again.status_code == 201, again.text
    assert _fragment_count(w, cert) == 2


def test_the_node_going_down_after_the_transaction_was_mined_still_answers_the_result(
    outage: tuple[World, RpcProxy],
) -> None:
    """Mined, then the node goes away while the read model reads the new block (its
    batched read fails): the answer does not depend on the read model, so the command
    answers 201 rather than 500."""
    w, proxy = outage
    issued = issue_certificate(w, face_value="5000")
    root, cert = issued["root_fragment_id"], issued["certificate_id"]
    batch = w.rt.indexer.projector.ledger.batch
    call_many = batch.call_many

    def cut_then_read(*args: Any, **kwargs: Any) -> Any:
        proxy.cut()
        return call_many(*args, **kwargs)

    batch.call_many = cut_then_read  # type: ignore[method-assign]
    client = TestClient(w.client.app, raise_server_exceptions=False)
    r = client.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": w.tier2.org_id, "amount": "100"},
        headers={**w.tier1.headers, "Idempotency-Key": "split-mined"},
    )
    batch.call_many = call_many  # type: ignore[method-assign]
    proxy.restore()
    assert r.status_code == 201, r.text
    assert _fragment_count(w, cert) == 2
    row = _row(w, "split-mined")
    assert row is not None and row.status == "succeeded"


def _raised_from(cause: BaseException, exc: BaseException) -> BaseException:
    try:
        raise exc from cause
    except BaseException as raised:
        return raised


def _http_error(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status} from the gateway", response=response)


def _rpc_error(code: int, message: str) -> Web3RPCError:
    return Web3RPCError(message, rpc_response={"error": {"code": code, "message": message}})


@pytest.mark.parametrize(
    "exc, down",
    [
        (requests.ConnectionError("refused"), True),
        (requests.ReadTimeout("slow"), True),
        (_http_error(502), True),  # a gateway in front of a dead node
        (ConnectionResetError(), True),
        (ProviderConnectionError("no node"), True),
        (NodeError("cannot reach the node"), True),
        (
            _raised_from(
                requests.ConnectionError("refused"),
                TransactionRejected("could not reach the node: refused"),
            ),
            True,
        ),
        (_raised_from(requests.ConnectionError("reset"), BatchCallError("batch failed")), True),
        (_rpc_error(-32603, "value for 0x01 not found in DB"), True),
        (_rpc_error(-32000, "header not found"), True),
        (_rpc_error(-32000, "nonce too low"), False),  # an answer about the transaction
        (_http_error(401), False),  # the gateway refuses our credentials: ours to fix
        (TransactionRejected("node rejected 0x..: insufficient funds"), False),
        (UnknownRevert("reverted"), False),
        (ValueError("a bug of ours"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_what_counts_as_the_node_down(exc: BaseException, down: bool) -> None:
    assert node_down(exc) is down


def test_a_wrapped_node_failure_is_503_not_500(outage: tuple[World, RpcProxy]) -> None:
    """chain_client's own exceptions raised from a transport error are the node down too:
    here the read model's batched read (BatchCallError from a ConnectionError, as
    chain_client.batch raises it), which a command's read-your-writes and a report make."""
    w, _proxy = outage
    issued = issue_certificate(w, face_value="5000")
    root = issued["root_fragment_id"]
    batch = w.rt.indexer.projector.ledger.batch
    call_many = batch.call_many

    def failing(*_a: Any, **_k: Any) -> Any:
        try:
            raise requests.ConnectionError("connection reset by peer")
        except requests.ConnectionError as exc:
            raise BatchCallError(f"batch of 1 eth_call failed: {exc}") from exc

    batch.call_many = failing  # type: ignore[method-assign]
    client = TestClient(w.client.app, raise_server_exceptions=False)
    split = client.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": w.tier2.org_id, "amount": "100"},
        headers={**w.tier1.headers, "Idempotency-Key": "split-unindexed"},
    )
    assert split.status_code == 201, split.text  # mined: answered without the read model
    report = client.get("/v1/reports/exposure", headers=w.operator.headers)
    _assert_node_unavailable(report)  # the report needs the read model at the head
    batch.call_many = call_many  # type: ignore[method-assign]
    assert client.get("/v1/reports/exposure", headers=w.operator.headers).status_code == 200
