"""Real nodes failing under the API (issue 12): a sealer killed while commands are in
flight, the API's own node killed with a command's transaction journaled and not yet sent,
and a follower restarted, which the bank's verifier must call stale until it has caught
up. Everything goes through the API served on the operator's node (the ``api`` fixture),
and what the ledger holds afterwards is read from the chain, not from the API.

Each test leaves every node running and in agreement with the others for the tests after
it."""

from __future__ import annotations

import re
import threading
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from eth_utils import keccak

from api.chain import SignedTx
from api.cli.seed import BANK_A, CORE, OPERATOR, TIER1, TIER2, TIER3
from chain_client.connection import connect
from chain_client.consortium import ConsortiumNetwork, ConsortiumNode
from chain_client.encoding import to_hex
from chain_client.ledger import Ledger
from chain_client.ledger_types import Fragment
from chain_client.manifest import DeploymentManifest
from chain_client.verifier import VerificationReport, verify_fragment
from tests.consortium.conftest import ServedApi
from tests.consortium.helpers import back_in_sync, stays_up, wait_for_blocks

FACE = 1_000_000  # fen
DAY = 86_400
SPLIT_EVENT = to_hex(keccak(text="FragmentSplit(uint256,uint256,uint256,address,address,uint256)"))
TRANSFER_EVENT = to_hex(keccak(text="FragmentTransferred(uint256,address,address)"))
#: how long one command may take through the API (its wait is bounded by tx_timeout)
COMMAND_TIMEOUT = 240.0


# -- talking to the API -------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """A command sent with its own Idempotency-Key, and what it must do to the ledger."""

    who: str
    kind: str  # "split" or "transfer"
    fragment: int
    to: str
    amount: int = 0
    key: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def status(self) -> int:
        return 201 if self.kind == "split" else 200


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]  # case-insensitive, as HTTP's are
    at: float  # time.monotonic() when it came


def send(api: ServedApi, command: Sent) -> Answer:
    body: dict[str, Any] = {"to_org_id": api.keys[command.to]["org_id"]}
    if command.kind == "split":
        body["amount"] = str(command.amount)
    response = requests.post(
        f"{api.url}/v1/fragments/{command.fragment}/{command.kind}",
        json=body,
        headers={
            "Authorization": f"Bearer {api.keys[command.who]['api_key']}",
            "Idempotency-Key": command.key,
        },
        timeout=COMMAND_TIMEOUT,
    )
    return Answer(response.status_code, response.json(), response.headers, time.monotonic())


def send_until_answered(api: ServedApi, command: Sent, timeout: float = 180.0) -> Answer:
    """The same command (same key) again until it is no longer a 503: what a client does
    with Retry-After."""
    deadline = time.monotonic() + timeout
    while True:
        answer = send(api, command)
        if answer.status != 503 or time.monotonic() > deadline:
            return answer
        time.sleep(float(answer.headers.get("Retry-After", "1")))


def assert_replayed(api: ServedApi, command: Sent, first: Answer) -> None:
    again = send(api, command)
    assert (again.status, again.body) == (first.status, first.body), command
    assert again.headers.get("Idempotent-Replayed") == "true", again.headers


def addresses(api: ServedApi) -> dict[str, str]:
    """Organization name -> its chain address (lower case)."""
    listed = api.client(OPERATOR).get("/organizations")
    return {str(o["name"]): str(o["address"]).lower() for o in listed if o.get("address")}


def accepted_certificate(api: ServedApi, network: ConsortiumNetwork) -> tuple[int, int, int]:
    """A fresh certificate of the core enterprise's, accepted by tier 1: (certificate id,
    root fragment id, block of its issue)."""
    w3 = connect(network.node("operator").rpc_url)
    now = int(w3.eth.get_block("latest")["timestamp"])
    number = f"{datetime.fromtimestamp(now, UTC).year % 100:02d}322{uuid.uuid4().int % 10**15:015d}"
    core, tier1 = api.client(CORE), api.client(TIER1)
    document = core.post(
        "/documents",
        files={"file": ("invoice.txt", f"Invoice {number}: fault tests".encode(), "text/plain")},
    )
    issued = core.post(
        "/certificates",
        {
            "beneficiary_id": api.keys[TIER1]["org_id"],
            "credit_provider_id": api.keys[BANK_A]["org_id"],
            "face_value": str(FACE),
            "maturity": now + 30 * DAY,
            "document_id": document["id"],
            "invoice_number": number,
        },
    )
    cert = int(issued["certificate_id"])
    root = int(tier1.post(f"/certificates/{cert}/accept")["root_fragment_id"])
    return cert, root, int(issued["block_number"])


# -- reading the chain --------------------------------------------------------------------


def ledger_on(node: ConsortiumNode, api: ServedApi) -> Ledger:
    return Ledger(connect(node.rpc_url), DeploymentManifest.read(api.manifest))


def topic(number: int) -> str:
    return "0x" + number.to_bytes(32, "big").hex()


def logs(node: ConsortiumNode, api: ServedApi, topics: list[str], since: int) -> list[Any]:
    """The ledger's logs since block ``since`` whose topics start with ``topics``. Matched
    here as well as by the node: unpatched, @ethereumjs/client 0.10.5 applies only the
    first topic of a filter (patches/ client 018), and this count is the test's verdict."""
    ledger = DeploymentManifest.read(api.manifest).ledger_address
    found = node.rpc(
        "eth_getLogs",
        [{"address": ledger, "topics": topics, "fromBlock": hex(since), "toBlock": "latest"}],
    )
    return [e for e in found if [t.lower() for t in e["topics"][: len(topics)]] == topics]


def describe_logs(node: ConsortiumNode, found: list[Any]) -> str:
    """Each log with its block, whether that block is on the node's chain, and its
    transaction's receipt: what a log too many came from."""
    lines = []
    for entry in found:
        number = int(entry["blockNumber"], 16)
        canonical = node.rpc("eth_getBlockByNumber", [hex(number), False])["hash"]
        receipt = node.rpc("eth_getTransactionReceipt", [entry["transactionHash"]])
        transaction = node.rpc("eth_getTransactionByHash", [entry["transactionHash"]])
        lines.append(
            f"block {number} {entry['blockHash']} (canonical there: {canonical}), "
            f"tx {entry['transactionHash']} from {transaction and transaction['from']} "
            f"nonce {transaction and transaction['nonce']}, topics {entry['topics']}, "
            f"receipt block {receipt and receipt['blockHash']} status "
            f"{receipt and receipt['status']}"
        )
    return "\n".join(lines)


def assert_ledger_shows_each_once(
    network: ConsortiumNetwork,
    api: ServedApi,
    cert: int,
    issued_block: int,
    splits_before: list[tuple[int, str, int]],
    done: list[tuple[Sent, Answer]],
) -> list[Fragment]:
    """The certificate on the operator's node is exactly the commands sent: one fragment
    per split with its holder and value, each transferred fragment at its new holder, the
    root holding the rest, one FragmentSplit / FragmentTransferred event per command, one
    successful audit entry per transaction. ``splits_before``: (fragment, holder, value)
    of the splits made before. Returns the fragments read."""
    operator = network.node("operator")
    holder_of = addresses(api)
    fragments = {f.id: f for f in ledger_on(operator, api).fragments_of(cert)}
    splits = [(s, a) for s, a in done if s.kind == "split"]
    transfers = [(s, a) for s, a in done if s.kind == "transfer"]
    assert len(fragments) == 1 + len(splits_before) + len(splits), sorted(fragments)
    root = min(fragments)
    expected = {fid: (holder_of[holder], value) for fid, holder, value in splits_before}
    for command, answer in splits:
        expected[int(answer.body["fragment_id"])] = (holder_of[command.to], command.amount)
    for command, _answer in transfers:
        expected[command.fragment] = (holder_of[command.to], expected[command.fragment][1])
    expected[root] = (holder_of[TIER1], FACE - sum(value for _, value in expected.values()))
    found = {fid: (f.holder.lower(), f.value) for fid, f in fragments.items()}
    assert found == expected
    assert sum(f.value for f in fragments.values()) == FACE
    assert all(f.parent_id in (None, root) for f in fragments.values())

    split_events = logs(operator, api, [SPLIT_EVENT, topic(cert)], issued_block)
    assert len(split_events) == len(splits_before) + len(splits)
    for command, _answer in transfers:
        moved = logs(operator, api, [TRANSFER_EVENT, topic(command.fragment)], issued_block)
        assert len(moved) == 1, describe_logs(operator, moved)

    hashes = [answer.body["tx_hash"] for _command, answer in done]
    assert len(set(hashes)) == len(hashes)
    for tx_hash in hashes:
        receipt = operator.rpc("eth_getTransactionReceipt", [tx_hash])
        assert receipt is not None and int(receipt["status"], 16) == 1, tx_hash
    audit = api.client(OPERATOR).get("/audit-log", limit=1000)
    for tx_hash in hashes:
        entries = [e for e in audit if e["tx_hash"] == tx_hash]
        assert [e["outcome"] for e in entries] == ["succeeded"], (tx_hash, entries)
    return list(fragments.values())


# -- acting inside the served API ---------------------------------------------------------


class Journaled:
    """Every transaction the served API journals while this is installed, in order, with a
    way to wait for the n-th one and to act right after a chosen one's journal commit
    (before its broadcast)."""

    def __init__(self) -> None:
        self.hashes: list[str] = []
        self.senders: list[str] = []
        self._changed = threading.Condition()
        #: called with the SignedTx right after its journal commit, in the server's thread
        self.after_commit: Any = None

    def wait_for(self, count: int, timeout: float) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.hashes) >= count, timeout):
                raise AssertionError(f"{len(self.hashes)} of {count} journaled in {timeout}s")

    def record(self, signed: SignedTx) -> None:
        with self._changed:
            self.hashes.append(signed.tx_hash)
            self.senders.append(signed.sender.lower())
            self._changed.notify_all()
        if self.after_commit is not None:
            self.after_commit(signed)


@contextmanager
def journaled(api: ServedApi, monkeypatch: pytest.MonkeyPatch) -> Iterator[Journaled]:
    journal = api.app.state.runtime.runner.journal
    record_signed = journal.record_signed
    seen = Journaled()

    def record_then_tell(*args: Any, **kwargs: Any) -> Any:
        row = record_signed(*args, **kwargs)
        seen.record(next(a for a in (*args, *kwargs.values()) if isinstance(a, SignedTx)))
        return row

    with monkeypatch.context() as patch:
        patch.setattr(journal, "record_signed", record_then_tell)
        yield seen


# -- 1. a sealer killed mid-run -----------------------------------------------------------


def test_a_sealer_killed_while_commands_are_in_flight_loses_and_doubles_nothing(
    network: ConsortiumNetwork, api: ServedApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five commands of two organizations in flight (three splits of one fragment, two
    transfers) when bank-b, a sealer, is SIGKILLed: the other two sealers go on, every
    command answers its success, the chain holds each effect exactly once, a replay of each
    key answers the same, and bank-b catches up when it is back."""
    operator = network.node("operator")
    cert, root, issued_block = accepted_certificate(api, network)
    with ThreadPoolExecutor(2) as pool:
        prepared = list(
            pool.map(
                lambda amount: send(api, Sent(TIER1, "split", root, TIER2, amount)),
                (10_000, 20_000),
            )
        )
    assert [a.status for a in prepared] == [201, 201], [a.body for a in prepared]
    held = [int(a.body["fragment_id"]) for a in prepared]
    splits_before = [(held[0], TIER2, 10_000), (held[1], TIER2, 20_000)]
    commands = [
        Sent(TIER1, "split", root, TIER2, 30_000),
        Sent(TIER1, "split", root, TIER3, 40_000),
        Sent(TIER1, "split", root, TIER3, 50_000),
        Sent(TIER2, "transfer", held[0], TIER3),
        Sent(TIER2, "transfer", held[1], TIER3),
    ]
    with journaled(api, monkeypatch) as seen, ThreadPoolExecutor(len(commands)) as pool:
        futures = [pool.submit(send, api, command) for command in commands]
        seen.wait_for(3, timeout=60)  # three transactions signed and on their way
        assert not any(f.done() for f in futures), "a command finished before the kill"
        head_at_kill = operator.head()[0]
        network.node("bank-b").kill()
        killed_at = time.monotonic()
        try:
            answers = [f.result(timeout=COMMAND_TIMEOUT) for f in futures]
            wait_for_blocks(operator, 3)  # and the two sealers left go on
        finally:
            back_in_sync(network, "bank-b")
    done = list(zip(commands, answers, strict=True))
    for command, answer in done:
        assert answer.status == command.status, (command, answer.body)
        assert answer.at > killed_at
    assert max(a.body["block_number"] for a in answers) > head_at_kill
    for command, answer in done:
        assert_replayed(api, command, answer)
    fragments = assert_ledger_shows_each_once(network, api, cert, issued_block, splits_before, done)
    # bank-b, back, holds the same certificate
    head = network.wait_until_in_sync(past=max(a.body["block_number"] for a in answers))[0]
    on_bank_b = ledger_on(network.node("bank-b"), api).fragments_of(cert, block=head)
    on_operator = ledger_on(operator, api).fragments_of(cert, block=head)
    assert on_bank_b == on_operator
    assert sorted(f.id for f in on_bank_b) == sorted(f.id for f in fragments)


# -- 2. the API's node killed and restarted -----------------------------------------------


def test_the_apis_node_killed_and_restarted(
    network: ConsortiumNetwork, api: ServedApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's node (the API's, and a sealer) is SIGKILLed right after the journal
    commit of a split, before its broadcast, while another split is sent and waiting. While
    it is down a new command answers 503 node_unavailable with Retry-After and the health
    says degraded; bank-a and bank-b keep sealing. The node restarts on its data folder and
    resyncs; each journaled command finishes with its own stored transaction (at once, or
    after a 503 by a retry with its key), once; the refused command, retried as soon as the
    node is back, runs at once, on a nonce of its own (it used to get the journaled split's,
    whose broadcast had failed: 503 transaction_rejected, or the journaled split replaced)."""
    operator = network.node("operator")
    cert, root, issued_block = accepted_certificate(api, network)
    tier1 = addresses(api)[TIER1]
    gateway = api.app.state.runtime.gateway
    waiting = threading.Event()
    wait = gateway.wait

    def tell_waiting(signed: SignedTx, *args: Any, **kwargs: Any) -> Any:
        if signed.sender.lower() == tier1:
            waiting.set()
        return wait(signed, *args, **kwargs)

    monkeypatch.setattr(gateway, "wait", tell_waiting)
    sent_first = Sent(TIER1, "split", root, TIER2, 30_000)
    cut = Sent(TIER1, "split", root, TIER3, 40_000)
    refused = Sent(TIER1, "split", root, TIER3, 50_000)
    killed = threading.Event()
    try:
        with journaled(api, monkeypatch) as seen, ThreadPoolExecutor(2) as pool:
            first = pool.submit(send, api, sent_first)
            assert waiting.wait(60), "the first split never reached its wait"
            assert seen.senders == [tier1]

            def kill_after_commit(signed: SignedTx) -> None:
                if signed.sender.lower() == tier1 and not killed.is_set():
                    operator.kill()  # journaled; the broadcast comes next, to a dead node
                    killed.set()

            seen.after_commit = kill_after_commit
            second = pool.submit(send, api, cut)
            assert killed.wait(60), "the second split was never journaled"
            journaled_hashes = {sent_first.key: seen.hashes[0], cut.key: seen.hashes[1]}

            down = send(api, refused)
            assert down.status == 503, down.body
            assert down.body["code"] == "node_unavailable"
            assert int(down.headers["Retry-After"]) > 0
            assert down.body.get("tx_hash") is None  # nothing was signed for it
            health = requests.get(f"{api.url}/v1/health", timeout=30)
            assert health.status_code == 200, health.text
            assert health.json()["status"] == "degraded"
            assert health.json()["node"]["reachable"] is False
            assert health.json()["head"] is None
            wait_for_blocks(network.node("bank-a"), 2)  # the other sealers go on

            operator.start()
            network.wait_until_in_sync(timeout=120)
            # The API works again at once: the refused command, retried (nothing was
            # recorded: it runs now), by the same account while its two journaled splits
            # may still wait, and must not take their nonces.
            again = send(api, refused)
            answers = {
                sent_first.key: first.result(timeout=COMMAND_TIMEOUT),
                cut.key: second.result(timeout=COMMAND_TIMEOUT),
            }
        stays_up(network)  # the restarted node too, before what it answered is judged
    finally:
        if not operator.running:  # the test failed before the node was back
            back_in_sync(network, "operator")
    done: list[tuple[Sent, Answer]] = []
    for command in (sent_first, cut):
        answer = answers[command.key]
        print(f"{command.amount} fen split in flight: {answer.status} {answer.body.get('code')}")
        if answer.status == 503:  # the node was not back within the wait: retry, same key
            assert answer.body["code"] in ("node_unavailable", "transaction_pending")
            assert answer.body["tx_hash"] == journaled_hashes[command.key]
            answer = send_until_answered(api, command)
        assert answer.status == 201, (command, answer.body)
        assert answer.body["tx_hash"] == journaled_hashes[command.key]  # not signed anew
        assert_replayed(api, command, answer)
        done.append((command, answer))
    assert again.status == 201, again.body
    assert_replayed(api, refused, again)
    done.append((refused, again))
    assert_ledger_shows_each_once(network, api, cert, issued_block, [], done)
    health = requests.get(f"{api.url}/v1/health", timeout=30).json()
    assert health["status"] == "ok" and health["node"]["reachable"] is True


# -- 3. a follower restarted --------------------------------------------------------------


def test_a_restarted_follower_is_stale_to_the_verifier_until_it_has_resynced(
    network: ConsortiumNetwork, api: ServedApi
) -> None:
    """core (a node that only reads) is stopped while the chain moves on, a split of the
    verified fragment included; the bank's verifier run against core as soon as it is up
    again, with the operator's node as reference, fails node_freshness saying how far
    behind it is (the rest of its report is core's old view: the fragment before the
    split), until core has resynced; then every check passes on the current state.

    Core may catch up before the first check can run: then the test says so and tries
    again with a longer outage, and fails if core was never once seen behind."""
    manifest = DeploymentManifest.read(api.manifest)
    _cert, root, issued_block = accepted_certificate(api, network)
    network.wait_until_in_sync(past=issued_block)
    for outage in (10, 30):
        if stale_then_fresh(network, api, manifest, root, outage):
            return
        warnings.warn(
            f"core caught up within its first check after a {outage}-block outage; "
            "trying a longer outage",
            stacklevel=1,
        )
    pytest.fail("core was never seen behind after a restart: the freshness check went unused")


def stale_then_fresh(
    network: ConsortiumNetwork,
    api: ServedApi,
    manifest: DeploymentManifest,
    root: int,
    outage: int,
) -> bool:
    """One outage of core of ``outage`` blocks; False if core's first report after start
    already found it current (nothing was shown), else the stale reports are checked."""
    operator, core = network.node("operator"), network.node("core")
    value_before = ledger_on(operator, api).fragment(root).value
    core.stop()
    try:
        split = send(api, Sent(TIER1, "split", root, TIER2, 1_000))
        assert split.status == 201, split.body
        split_block = int(split.body["block_number"])
        wait_for_blocks(operator, outage)
        core.start()
        reports = reports_until_ok(network, core, manifest, root)
    finally:
        back_in_sync(network, "core")
    first, last = reports[0], reports[-1]
    freshness = next(c for c in first.checks if c.name == "node_freshness")
    print(
        f"core after a {outage}-block outage: {len(reports) - 1} stale report(s), the "
        f"first at block {first.block_number}: {freshness.detail}"
    )
    if freshness.passed:
        return False
    behind = re.search(r"(\d+) blocks behind reference http://127\.0\.0\.1:\d+", freshness.detail)
    assert behind is not None, freshness.detail
    assert int(behind.group(1)) > 2
    for report in reports[:-1]:  # stale, and consistent in what it read
        assert [c.name for c in report.failed] == ["node_freshness"], report.summary()
    if first.block_number is not None and first.block_number < split_block:
        assert first.fragment is not None and first.fragment["value"] == value_before
    assert last.ok, last.summary()
    assert last.block_number is not None and last.block_number >= split_block
    assert last.fragment is not None and last.fragment["value"] == value_before - 1_000
    return True


def reports_until_ok(
    network: ConsortiumNetwork,
    core: ConsortiumNode,
    manifest: DeploymentManifest,
    fragment: int,
    timeout: float = 120.0,
) -> list[VerificationReport]:
    """The verifier against ``core`` (the operator's node as reference) at once and again
    until a report passes."""
    w3 = connect(core.rpc_url)
    reference = [network.node("operator").rpc_url]
    reports: list[VerificationReport] = []
    deadline = time.monotonic() + timeout
    while True:
        report = verify_fragment(w3, manifest, fragment, reference_rpc_urls=reference)
        reports.append(report)
        if report.ok:
            return reports
        if time.monotonic() > deadline:
            raise AssertionError(f"core never verified in {timeout}s:\n{report.summary()}")
        time.sleep(0.5)
