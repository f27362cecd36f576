"""Who signs (issue 13): the latency a command gains when the service does not sign it.

Run: nice -n 5 .venv/bin/python scripts/benchmark_signing.py [--rounds 200] [--warm-up 3]
        [--in-flight 1,4] [--workers 2]

One anvil node (automine, gas price 0, base fee 0: how ``scf up`` runs it; its mining mode
is asked and printed, since one block per transaction is most of any command's time), one
API server on it (``python -m api`` on SQLite with ``--workers`` workers and its indexing
process, as :mod:`benchmark_api` starts it) and one test signer process
(``tests/signer_server.py``, JSON-RPC ``eth_signTransaction``). Two commands, each timed
from the client's first request to the command's final answer, in four ways:

* custodial: one POST, the service signs with the key it keeps (201 / 200);
* self-custody: POST (202 ``awaiting_signature`` with the prepared transaction), signed
  here with eth_account by the organization's own key, the signing hash checked as
  ``scf sign`` does (timed on its own), then ``POST /v1/commands/{id}/signature`` (201 /
  200);
* remote signer: one POST; the service asks the organization's signer process
  (custody ``remote``) for the signature;
* four eyes: POST (202 ``pending_approval``) by a maker key, then a checker key's
  ``POST /v1/approvals/{id}/approve``, whose answer is the command's (custodial signing).

The commands: a split of 1 fen off a fragment the organization holds (to itself), and a
bank accepting a supplier's offer of 1,000 fen (delivery versus payment); the offer is
made just before, not timed. Every way has organizations of its own (a supplier that
splits, a bank that accepts), so policies and nonces never mix; the self-custody bank
raised its settlement allowance once at set-up (the service cannot top it up for it).

Each round runs both commands in every way, in an order rotated round by round, so a slow
stretch of the shared machine hits every way alike, and measures the floors beside them:
``GET /v1/me`` (one HTTP round trip to the API with authentication: what an extra request
costs at least) and ``eth_signTransaction`` asked of the signer from here through
``chain_client.signers.RemoteSigner`` (what the remote step costs at least). ``--in-flight
K`` runs K lanes at once, each with organizations of its own; ``1,4`` measures both, one
after the other on the same chain. Warm-up rounds first (each worker decrypts each
member's key once), not counted. A phase's table is printed as soon as it ends.

Why not both phases in one long run: anvil slows as its chain grows (docs/benchmarks.md,
"Splitting one certificate as it grows"), and K lanes mine K times the blocks of one (12 a
round: 8 commands and 4 offers); the in-flight phase is best run on a chain of its own
with fewer rounds (``--rounds 50 --in-flight 4``).

Prints a markdown table per in-flight setting: p50 / p99 / mean per way and command, the
added latency over custodial (difference and ratio of the p50s, difference of the means),
then each step's p50 / p99 and the floors.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from benchmark_api import ApiError, ApiServer, Phase, _idem, _ok, uscc
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from chain_client import unsigned
from chain_client.connection import connect
from chain_client.encoding import to_hex
from chain_client.node import AnvilNode
from chain_client.signers import RemoteSigner
from tests.signer_server import SignerProcess, running_signer

DAY = 86_400
FACE_VALUE = 10**10  # fen per certificate: never runs out
OFFER_FEN = 1_000
MODES = ("custodial", "self-custody", "remote signer", "four eyes")
COMMANDS = ("split", "accept offer")
#: the steps of a way that takes more than one request, in order
STEPS = {
    "self-custody": ("prepare (POST, 202)", "sign (eth_account)", "submit (POST signature)"),
    "four eyes": ("maker (POST, 202)", "checker (POST approve)"),
}
FLOORS = ("GET /v1/me", "signer eth_signTransaction (from here)")


@dataclass
class Org:
    id: int
    headers: dict[str, str]
    address: str
    account: LocalAccount | None = None  # self-custody: the key only the organization holds
    checker: dict[str, str] | None = None  # four eyes: a second key, duty checker


@dataclass
class Lane:
    """One client's organizations: per way a supplier holding ``roots[mode]`` and a bank;
    a custodial seller whose offers the banks accept."""

    http: httpx.Client
    seller: Org
    seller_root: str
    holders: dict[str, Org] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)
    banks: dict[str, Org] = field(default_factory=dict)


@dataclass
class Bench:
    server: ApiServer
    signer: SignerProcess
    operator: dict[str, str]
    core: Org
    chain_id: int
    expires: int
    lanes: list[Lane] = field(default_factory=list)
    #: keys the signer process holds, taken one per organization with custody remote
    remote_keys: list[LocalAccount] = field(default_factory=list)
    seed: int = field(default_factory=lambda: secrets.randbelow(10**7) * 1000)
    serial: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url + "/v1", timeout=120)

    def next_uscc(self) -> str:
        with self.lock:
            self.serial += 1
            return uscc(self.seed + self.serial)


# -- set-up (not measured) ------------------------------------------------------------------


def api_key(http: httpx.Client, bench: Bench, org_id: int, duties: list[str] | None = None) -> str:
    body: dict[str, Any] = {"label": "bench"}
    if duties is not None:
        body["label"] = "bench " + "+".join(duties)
        body["duties"] = duties
    key = _ok(http.post(f"/organizations/{org_id}/api-keys", json=body, headers=bench.operator))
    return str(key["api_key"])


def onboard(
    http: httpx.Client, bench: Bench, name: str, role: str, custody: str = "platform"
) -> Org:
    """An organization of ``role`` with ``custody`` (``self``: its key made here and the
    address proved by signing the challenge; ``remote``: its key held by the signer)."""
    code = bench.next_uscc()
    body: dict[str, Any] = {"name": name, "uscc": code, "role": role}
    account: LocalAccount | None = None
    if custody == "self":
        account = Account.create()
    elif custody == "remote":
        with bench.lock:
            account = bench.remote_keys.pop()
    if account is not None:
        body |= {"custody": custody, "address": account.address}
    if custody == "self":
        assert account is not None
        challenge = _ok(
            http.post(
                "/organizations/address-challenge",
                json={"uscc": code, "address": account.address},
                headers=bench.operator,
            )
        )["challenge"]
        proof = account.sign_message(encode_defunct(text=challenge)).signature
        body |= {"challenge": challenge, "signature": to_hex(proof)}
    if custody == "remote":
        body["signer_url"] = bench.signer.url
    org = _ok(http.post("/organizations", json=body, headers=bench.operator | _idem()))
    headers = {"Authorization": f"Bearer {api_key(http, bench, int(org['id']))}"}
    return Org(int(org["id"]), headers, str(org["address"]), account if custody == "self" else None)


def sign_prepared(account: LocalAccount, waiting: dict[str, Any]) -> str:
    """The 202's transaction signed by ``account``, as the organization's tool would: the
    fields typed again, the shown signing hash checked, signed."""
    fields = unsigned.from_json(waiting["transaction"])
    if unsigned.signing_hash(fields) != waiting["signing_hash"]:
        raise ApiError(f"command {waiting['command_id']}: the signing hash does not match")
    return to_hex(account.sign_transaction(fields).raw_transaction)


def through(http: httpx.Client, org: Org, r: httpx.Response) -> dict[str, Any]:
    """A command's answer: for a self-custody organization its 202 signed and submitted."""
    if org.account is None:
        return _ok(r)
    waiting = _ok(r, 202)
    raw = sign_prepared(org.account, waiting)
    return _ok(
        http.post(
            f"/commands/{waiting['command_id']}/signature", json={"raw": raw}, headers=org.headers
        )
    )


def certificate(http: httpx.Client, bench: Bench, line_bank: Org, holder: Org) -> str:
    """A certificate issued by the core enterprise to ``holder`` and accepted: its root."""
    doc = _ok(
        http.post(
            "/documents",
            files={"file": ("inv.pdf", f"bench {uuid.uuid4()}".encode(), "application/pdf")},
            data={"kind": "invoice"},
            headers=bench.core.headers,
        )
    )
    cert = _ok(
        http.post(
            "/certificates",
            json={
                "beneficiary_id": holder.id,
                "credit_provider_id": line_bank.id,
                "face_value": str(FACE_VALUE),
                "maturity": bench.expires + 30 * DAY,
                "document_id": doc["id"],
                "invoice_number": "INV-" + uuid.uuid4().hex[:16],
            },
            headers=bench.core.headers | _idem(),
        )
    )
    accepted = through(
        http,
        holder,
        http.post(
            f"/certificates/{cert['certificate_id']}/accept", headers=holder.headers | _idem()
        ),
    )
    return str(accepted["root_fragment_id"])


def set_up_lane(bench: Bench, node: AnvilNode, line_bank: Org, n: int) -> Lane:
    http = bench.client()
    seller = onboard(http, bench, f"Lane {n} seller", "supplier")
    lane = Lane(http, seller, certificate(http, bench, line_bank, seller))
    custody = {"self-custody": "self", "remote signer": "remote"}
    for mode in MODES:
        for role, into in (("supplier", lane.holders), ("financier", lane.banks)):
            org = onboard(
                http, bench, f"Lane {n} {mode} {role}", role, custody.get(mode, "platform")
            )
            if mode != "custodial" and mode != "four eyes":
                # gas money of its own (with gas free the fee strategy may still ask a tip)
                node.rpc("anvil_setBalance", [org.address, hex(10**21)])
            if mode == "four eyes":
                action = "split" if role == "supplier" else "accept_offer"
                _ok(
                    http.put(
                        "/approval-policy",
                        json={"rules": [{"action": action}]},
                        headers=org.headers,
                    )
                )
                checker = api_key(http, bench, org.id, ["checker"])
                org.checker = {"Authorization": f"Bearer {checker}"}
            into[mode] = org
        bank = lane.banks[mode]
        _ok(
            http.post(
                f"/organizations/{bank.id}/settlement-funds",
                json={"amount": str(10**13)},
                headers=bench.operator | _idem(),
            )
        )
        if bank.account is not None:  # self-custody: no top-up by the service, one approve
            through(
                http,
                bank,
                http.post(
                    "/organizations/me/settlement-allowance",
                    json={"amount": str(10**15)},
                    headers=bank.headers | _idem(),
                ),
            )
        lane.roots[mode] = certificate(http, bench, line_bank, lane.holders[mode])
    return lane


def set_up(
    node: AnvilNode,
    server: ApiServer,
    signer: SignerProcess,
    remote_keys: list[LocalAccount],
    lanes: int,
) -> Bench:
    w3 = connect(node.rpc_url)
    now = int(w3.eth.get_block("latest")["timestamp"])
    operator = {"Authorization": f"Bearer {server.operator_api_key}"}
    bench = Bench(server, signer, operator, Org(0, {}, ""), int(w3.eth.chain_id), now + 60 * DAY)
    bench.remote_keys = list(remote_keys)
    with bench.client() as http:
        bench.core = onboard(http, bench, "Bench core", "core_enterprise")
        line_bank = onboard(http, bench, "Bench line bank", "financier")
        _ok(
            http.put(
                "/credit-lines",
                json={"core_enterprise_id": bench.core.id, "limit": str(10**16)},
                headers=line_bank.headers | _idem(),
            )
        )
    with ThreadPoolExecutor(lanes) as pool:
        bench.lanes = list(pool.map(lambda n: set_up_lane(bench, node, line_bank, n), range(lanes)))
    return bench


# -- the measured commands ------------------------------------------------------------------


Timed = tuple[float, dict[str, float]]  # total seconds, seconds per step


def run_command(bench: Bench, lane: Lane, mode: str, command: str) -> Timed:
    """One command in one way, timed from the first request to the final answer."""
    http = lane.http
    if command == "split":
        org = lane.holders[mode]
        path = f"/fragments/{lane.roots[mode]}/split"
        body: dict[str, Any] | None = {"to_org_id": org.id, "amount": "1"}
        final = 201
    else:
        org = lane.banks[mode]
        offer = _ok(
            http.post(
                "/offers",
                json={
                    "fragment_id": lane.seller_root,
                    "financier_id": org.id,
                    "amount": str(OFFER_FEN),
                    "rate_bps": 500,
                    "expires_at": bench.expires,
                },
                headers=lane.seller.headers | _idem(),
            )
        )
        path, body, final = f"/offers/{offer['offer_id']}/accept", None, 200
    steps: dict[str, float] = {}
    t0 = time.perf_counter()
    r = http.post(path, json=body, headers=org.headers | _idem())
    t1 = time.perf_counter()
    if mode in ("custodial", "remote signer"):
        _ok(r, final)
        return t1 - t0, steps
    waiting = _ok(r, 202)
    if mode == "self-custody":
        assert org.account is not None and waiting["status"] == "awaiting_signature", waiting
        raw = sign_prepared(org.account, waiting)
        t2 = time.perf_counter()
        _ok(
            http.post(
                f"/commands/{waiting['command_id']}/signature",
                json={"raw": raw},
                headers=org.headers,
            ),
            final,
        )
        t3 = time.perf_counter()
        names = STEPS[mode]
        steps = {names[0]: t1 - t0, names[1]: t2 - t1, names[2]: t3 - t2}
        return t3 - t0, steps
    assert org.checker is not None and waiting["status"] == "pending_approval", waiting
    _ok(http.post(f"/approvals/{waiting['command_id']}/approve", headers=org.checker), final)
    t2 = time.perf_counter()
    names = STEPS[mode]
    return t2 - t0, {names[0]: t1 - t0, names[1]: t2 - t1}


def floors(bench: Bench, lane: Lane, remote: RemoteSigner) -> dict[str, float]:
    """One request of each floor: the API's cheapest authenticated round trip, and the
    signer's round trip with its signature checked, as the API asks it."""
    org = lane.holders["custodial"]
    t0 = time.perf_counter()
    _ok(lane.http.get("/me", headers=org.headers))
    t1 = time.perf_counter()
    remote.sign_transaction(
        {
            "chainId": bench.chain_id,
            "nonce": 2**64 - 2,  # never minable, as the onboarding's proof transaction
            "to": remote.address,
            "value": 0,
            "data": b"",
            "gas": 21_000,
            "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0,
            "type": 2,
        }
    )
    t2 = time.perf_counter()
    return {FLOORS[0]: t1 - t0, FLOORS[1]: t2 - t1}


def run_rounds(bench: Bench, lanes: list[Lane], rounds: int, phase: Phase | None) -> float:
    """``rounds`` rounds on every lane at once; latencies into ``phase`` (None: warm-up).
    Returns the wall time. Interrupted (Ctrl-C, a failed lane), every lane stops after
    its current command."""
    stop = threading.Event()

    def lane_loop(i: int) -> None:
        lane = lanes[i]
        remote = RemoteSigner(bench.signer.url, lane.banks["remote signer"].address)
        try:
            for k in range(rounds):
                shift = (k + i) % len(MODES)
                for mode in MODES[shift:] + MODES[:shift]:
                    for command in COMMANDS if k % 2 == 0 else COMMANDS[::-1]:
                        if stop.is_set():
                            return
                        total, steps = run_command(bench, lane, mode, command)
                        if phase is not None:
                            phase.add(f"{command}|{mode}", total)
                            for name, seconds in steps.items():
                                phase.add(f"{command}|{mode}|{name}", seconds)
                for name, seconds in floors(bench, lane, remote).items():
                    if phase is not None:
                        phase.add(name, seconds)
        finally:
            remote.close()

    start = time.perf_counter()
    with ThreadPoolExecutor(len(lanes)) as pool:
        try:
            for outcome in [pool.submit(lane_loop, i) for i in range(len(lanes))]:
                outcome.result()
        except BaseException:
            stop.set()
            raise
    return time.perf_counter() - start


# -- the report ------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def table(phase: Phase, in_flight: int) -> str:
    def stats(op: str) -> tuple[float, float, float]:
        return phase.pct(op, 50), phase.pct(op, 99), statistics.mean(phase.latencies[op])

    lines = [
        f"In flight: {in_flight} (lanes, each a closed loop); {phase.count('split|custodial')} "
        f"commands per way and command; wall {phase.wall:,.0f} s.",
        "",
        "| command | way | p50 ms | p99 ms | mean ms | p50 - custodial | p50 / custodial "
        "| mean - custodial |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for command in COMMANDS:
        base = stats(f"{command}|custodial")
        for mode in MODES:
            p50, p99, mean = stats(f"{command}|{mode}")
            extra = (
                ("", "1.00", "")
                if mode == "custodial"
                else (f"+{ms(p50 - base[0])}", f"{p50 / base[0]:.2f}", f"+{ms(mean - base[2])}")
            )
            lines.append(
                f"| {command} | {mode} | {ms(p50)} | {ms(p99)} | {ms(mean)} | "
                + " | ".join(extra)
                + " |"
            )
    lines += ["", "| command | way: step | p50 ms | p99 ms | mean ms |", "|---|---|---:|---:|---:|"]
    for command in COMMANDS:
        for mode, names in STEPS.items():
            for name in names:
                p50, p99, mean = stats(f"{command}|{mode}|{name}")
                lines.append(f"| {command} | {mode}: {name} | {ms(p50)} | {ms(p99)} | {ms(mean)} |")
    for name in FLOORS:
        p50, p99, mean = stats(name)
        lines.append(f"| floor | {name} | {ms(p50)} | {ms(p99)} | {ms(mean)} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200, help="measured rounds per lane")
    parser.add_argument("--warm-up", type=int, default=3, help="rounds not measured, first")
    parser.add_argument(
        "--in-flight", default="1", help="comma-separated lane counts, e.g. 1,4 (one phase each)"
    )
    parser.add_argument("--workers", type=int, default=2, help="API worker processes")
    args = parser.parse_args()
    settings = [int(n) for n in args.in_flight.split(",")]
    started = time.perf_counter()

    def note(text: str) -> None:
        print(f"{text} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    with (
        tempfile.TemporaryDirectory(prefix="scf-bench-signing-") as tmp,
        AnvilNode(accounts=1, gas_price=0, base_fee=0) as node,
    ):
        key = "0x" + bytes(node.dev_accounts(1)[0].key).hex()
        server = ApiServer(node, key, Path(tmp) / "api", "sqlite", args.workers)
        try:
            server.wait_ready()
            # the remote organizations' keys (a supplier and a bank per lane), held by the
            # signer process only (the API never sees them)
            keys = [Account.create() for _ in range(2 * max(settings))]
            with running_signer([k.key.hex() for k in keys], Path(tmp)) as signer:
                bench = set_up(node, server, signer, keys, max(settings))
                block = int(node.rpc("eth_blockNumber"), 16)
                note(f"set up: {len(bench.lanes)} lanes, block {block}")
                print(
                    f"anvil automine: {node.rpc('anvil_getAutomine')} (a block per "
                    f"transaction, mined as it arrives); API workers {args.workers}, SQLite; "
                    f"{args.warm_up} warm-up rounds per lane first\n",
                    flush=True,
                )
                for k in settings:
                    lanes = bench.lanes[:k]
                    run_rounds(bench, lanes, args.warm_up, None)
                    first = int(node.rpc("eth_blockNumber"), 16)
                    phase = Phase()
                    phase.wall = run_rounds(bench, lanes, args.rounds, phase)
                    last = int(node.rpc("eth_blockNumber"), 16)
                    print(table(phase, k) + f"\n\nBlocks {first} to {last}.\n", flush=True)
                    note(f"{k} in flight: done")
        except BaseException:
            print(server.log_path.read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            server.stop()
    note("finished")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "benchmark"
    sys.exit(main())
