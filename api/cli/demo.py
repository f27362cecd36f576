"""The guided demo, played against a running network through the API, narrated.

The story: the core enterprise issues a 1,000,000.00 CNY certificate for a 180-day payable;
the tier-1 supplier accepts and splits 300,000.00 to tier 2, who splits 120,000.00 to tier 3;
tier 3 finances its fragment at a bank at 3.65% and gets the discounted cash at once; then
both banks post standing bids and tier 3 sells a second piece to the best of them in one
call and one transaction, nobody at either bank acting (the banks then close their bids
and take back the escrow left); the chain clock moves to maturity; the core enterprise
repays once and every holder, the banks included, is paid automatically; the bank
verifies a fragment from the chain alone. It ends
with who held and was paid what, and checks that the totals balance.

The bank keeps four eyes on its money and, in the network `scf up` seeds, its own key
(custody ``self``: api.cli.own_signer, in ``<data>/bank-signer``). Its policy makes
accepting an offer wait for a checker; the demo makes the bank a maker key and a checker
key for the run (revoked at its end). The maker accepts the offer (202 pending_approval),
the checker finds it in its list and approves it (202 awaiting_signature: the API prepared
the transaction), and the bank signs it with its own key (api.cli.signing, the CLI's own
code) and submits it. Had its settlement allowance run short, it raises it the same way
first. A bank whose key the API keeps (a network seeded otherwise) is approved and signed in
one step. The result lists what the bank signed, for the checks of the tests.

Moving the clock needs a development node (anvil's evm_increaseTime). On a real chain (the
consortium network of `scf up --consortium`) nothing moves the clock: the certificate is
issued for a maturity two minutes ahead instead, and the demo waits for the chain to reach
it. There the bank verifies from its own node (``verify_rpc_url``), checked against the
API's node so that a node behind the network is a failed check, not a wrong answer.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from web3 import Web3
from web3.types import RPCEndpoint

from api.cli.client import ApiClient, ApiRefusedError
from api.cli.money import format_cny
from api.cli.own_signer import SIGNER_DIR, OwnSigner, OwnSignerError, SignedCommand
from api.cli.seed import BANK_A, BANK_B, CORE, OPERATOR, TIER1, TIER2, TIER3, KeyEntry
from chain_client import connect
from chain_client.ledger import Ledger
from chain_client.manifest import DeploymentManifest
from chain_client.verifier import VerificationReport, verify_fragment

DAY = 86_400
FACE = 100_000_000  # 1,000,000.00 CNY
TO_TIER2 = 30_000_000
TO_TIER3 = 12_000_000
RATE_BPS = 365
#: the standing bids of the story: bank A's and bank B's rates, each one's budget, and what
#: tier 3 sells to the best of them
BID_RATES_BPS = {BANK_A: 350, BANK_B: 330}
BID_BUDGET = 10_000_000  # 100,000.00 CNY each
TO_BID = 6_000_000  # 60,000.00 CNY
#: maturity on a chain whose clock cannot be moved: long enough for the issue, the two
#: splits, the offer's financing and the standing bids' (posted, sold to, closed) to be
#: mined and confirmed first (a few blocks each)
REAL_CHAIN_TENOR = 180
#: anvil's chain id: the one chain whose clock the demo moves
DEV_CHAIN_ID = 31337


class DemoError(Exception):
    """The demo found the books out of balance, or could not play a step."""


class SettlementRow(TypedDict):
    """A member at settlement: what it held at maturity, and how its cash changed (fen)."""

    member: str
    held_at_maturity: int
    cash_change: int


@dataclass
class DemoResult:
    certificate_id: int
    rows: list[SettlementRow] = field(default_factory=list)
    verification_ok: bool = False
    balanced: bool = False
    #: the bank's custody (``self``: it signed its own transactions) and address
    bank_custody: str = "platform"
    bank_address: str = ""
    #: the bank's commands this run signed with the bank's own key, in order
    bank_signed: list[SignedCommand] = field(default_factory=list)
    #: the accepted offer's command, which waited for the bank's checker
    approved_command: str = ""
    financed_fragment_id: int = 0


def load_keys(path: Path) -> dict[str, KeyEntry]:
    if not path.exists():
        raise DemoError(f"no API keys at {path}: start the network first with `scf up`")
    return json.loads(path.read_text())


def run_demo(
    api_url: str,
    rpc_url: str,
    keys_file: Path,
    manifest_path: Path,
    say: Callable[[str, str], None],
    *,
    verify_rpc_url: str | None = None,
    signer_dir: Path | None = None,
) -> DemoResult:
    """Plays the story; `say(step, text)` narrates. Raises DemoError if anything is off.
    ``verify_rpc_url``: the bank's own node, where it verifies (default: ``rpc_url``);
    ``signer_dir``: the bank's own signer (default: ``bank-signer`` beside the keys file)."""
    try:
        return _play(
            api_url,
            rpc_url,
            keys_file,
            manifest_path,
            say,
            verify_rpc_url,
            signer_dir or keys_file.parent / SIGNER_DIR,
        )
    except OwnSignerError as exc:
        raise DemoError(f"the bank could not sign: {exc}") from exc
    except ApiRefusedError as exc:
        raise DemoError(f"the API refused a step of the story: {exc}") from exc


def _play(
    api_url: str,
    rpc_url: str,
    keys_file: Path,
    manifest_path: Path,
    say: Callable[[str, str], None],
    verify_rpc_url: str | None,
    signer_dir: Path,
) -> DemoResult:
    keys = load_keys(keys_file)
    base = ApiClient(api_url)
    as_ = {name: base.as_key(str(entry["api_key"])) for name, entry in keys.items()}
    org = {name: int(entry["org_id"]) for name, entry in keys.items()}
    w3 = connect(rpc_url)
    players = (CORE, BANK_A, BANK_B, TIER1, TIER2, TIER3)

    def balance(name: str) -> int:
        return int(as_[OPERATOR].get(f"/organizations/{org[name]}/balance")["balance"])

    def chain_time() -> int:
        return int(w3.eth.get_block("latest")["timestamp"])

    clock_moves = w3.eth.chain_id == DEV_CHAIN_ID
    tenor = 180 * DAY if clock_moves else REAL_CHAIN_TENOR
    due_in = "180 days" if clock_moves else f"{REAL_CHAIN_TENOR // 60} minutes (a real chain)"

    start = {name: balance(name) for name in players}

    # A fully digital e-invoice (数电票) of the tier-1 supplier: 20 digits, the year, the
    # region (32, Jiangsu, where its code is registered), a channel digit, a sequence.
    year = datetime.fromtimestamp(chain_time(), UTC).year % 100
    number = f"{year:02d}322{uuid.uuid4().int % 10**15:015d}"
    invoice = f"Invoice {number}: 2,000 brake assemblies, 1,000,000.00 CNY"
    document = as_[CORE].post(
        "/documents", files={"file": ("invoice.txt", invoice.encode(), "text/plain")}
    )
    maturity = chain_time() + tenor
    issued = as_[CORE].post(
        "/certificates",
        {
            "beneficiary_id": org[TIER1],
            "credit_provider_id": org[BANK_A],
            "face_value": str(FACE),
            "maturity": maturity,
            "document_id": document["id"],
            "invoice_number": number,
        },
    )
    cert = int(issued["certificate_id"])
    say(
        "issue",
        f"{CORE} issues certificate #{cert} for {format_cny(FACE)} CNY, due in "
        f"{due_in}, drawn on its credit line at {BANK_A}; the invoice stays off chain, "
        f"its hash {document['keccak256'][:18]}... is anchored on chain",
    )
    root = as_[TIER1].post(f"/certificates/{cert}/accept")["root_fragment_id"]
    say("accept", f"{TIER1} (tier 1) signs for it: fragment {root} holds {format_cny(FACE)}")
    piece2 = as_[TIER1].post(
        f"/fragments/{root}/split", {"to_org_id": org[TIER2], "amount": str(TO_TIER2)}
    )["fragment_id"]
    say(
        "split",
        f"{TIER1} pays {TIER2} (tier 2) {format_cny(TO_TIER2)} with a piece of it "
        f"(fragment {piece2})",
    )
    piece3 = as_[TIER2].post(
        f"/fragments/{piece2}/split", {"to_org_id": org[TIER3], "amount": str(TO_TIER3)}
    )["fragment_id"]
    # tier 3's second piece, which it will sell to a standing bid
    piece3b = as_[TIER2].post(
        f"/fragments/{piece2}/split", {"to_org_id": org[TIER3], "amount": str(TO_BID)}
    )["fragment_id"]
    say(
        "split",
        f"{TIER2} pays {TIER3} (tier 3) {format_cny(TO_TIER3)} (fragment {piece3}, "
        f"child of {piece2}) and {format_cny(TO_BID)} more (fragment {piece3b})",
    )

    offer = as_[TIER3].post(
        "/offers",
        {
            "fragment_id": str(piece3),
            "financier_id": org[BANK_A],
            "amount": str(TO_TIER3),
            "rate_bps": RATE_BPS,
            "expires_at": min(chain_time() + 2 * DAY, maturity),
        },
    )
    offer_id = offer["offer_id"]
    quote = as_[BANK_A].get(f"/offers/{offer_id}/quote")
    say(
        "quote",
        f"{TIER3} asks {BANK_A} to discount it at 3.65%: {quote['days']} days to "
        f"maturity, discount {format_cny(quote['discount_fen'])} "
        f"= {format_cny(TO_TIER3)} x 3.65% x {quote['days']}/360, rounded down; "
        f"cash {format_cny(quote['payment_fen'])}",
    )
    manifest = DeploymentManifest.read(manifest_path)
    bank = _Bank.at(base, as_[BANK_A], org[BANK_A], signer_dir)
    try:
        financed = bank.accept(offer_id, TO_TIER3, Ledger(w3, manifest), say)
        say(
            "finance",
            f"{BANK_A} accepts: {format_cny(financed['payment'])} CNY reach {TIER3} and "
            f"the fragment reaches the bank in one transaction (DvP)",
        )
        _sell_to_best_bid(as_, org, bank, str(piece3b), maturity, chain_time(), say)
    finally:
        bank.close()

    if clock_moves:
        w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [maturity - chain_time() + 60])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        say("maturity", "the chain clock moves 180 days, to maturity")
    else:
        wait = max(0, maturity - chain_time())
        say("maturity", f"waiting {wait} s for the chain's own clock to reach maturity")
        while chain_time() < maturity:
            time.sleep(1)
    as_[CORE].post(f"/certificates/{cert}/repay", {"amount": str(FACE)})
    say("repay", f"{CORE} repays {format_cny(FACE)} once; the ledger owes each holder its share")
    paid = as_[OPERATOR].post("/admin/jobs/maturity")
    say(
        "payout",
        f"the maturity job pays every fragment automatically: "
        f"{format_cny(paid['fen_paid'])} CNY paid out",
    )

    report = _verify_from(verify_rpc_url or rpc_url, rpc_url, manifest, financed, w3)
    where = "its own node" if verify_rpc_url and verify_rpc_url != rpc_url else "the chain"
    bought = int(financed["financed_fragment_id"])
    holder = next((f.holder for f in Ledger(w3, manifest).fragments_of(cert) if f.id == bought), "")
    if holder.lower() != bank.address.lower():
        raise DemoError(f"fragment {bought} is held by {holder}, not by {BANK_A}")
    say(
        "verify",
        f"{BANK_A} verifies the fragment it financed ({bought}, held by its own address "
        f"{bank.address}) from {where} alone: "
        f"{len(report.checks)} checks, {'all passed' if report.ok else 'FAILED'}",
    )

    result = DemoResult(
        certificate_id=cert,
        verification_ok=report.ok,
        bank_custody=bank.custody,
        bank_address=bank.address,
        bank_signed=bank.signed,
        approved_command=bank.approved_command,
        financed_fragment_id=bought,
    )
    # who holds what is read from the chain itself, the source of truth
    name_of = {
        str(o["address"]).lower(): o["name"]
        for o in as_[OPERATOR].get("/organizations")
        if o.get("address")
    }
    held = dict.fromkeys(players, 0)
    for fragment in Ledger(w3, manifest).fragments_of(cert):
        held[name_of[fragment.holder.lower()]] += fragment.value
    for name in players:
        result.rows.append(
            {
                "member": name,
                "held_at_maturity": held[name],
                "cash_change": balance(name) - start[name],
            }
        )
    total_held = sum(r["held_at_maturity"] for r in result.rows)
    total_cash = sum(r["cash_change"] for r in result.rows)
    result.balanced = total_held == FACE and total_cash == 0
    if not result.balanced:
        raise DemoError(f"the books do not balance: held {total_held}, cash moved {total_cash}")
    if not report.ok:
        raise DemoError("the verifier found a failed check:\n" + report.summary())
    return result


@dataclass
class _Bank:
    """The demo's bank: its admin key (the keys file's), and for this run a maker key and
    a checker key; its own signer when it keeps its own key."""

    admin: ApiClient
    org_id: int
    custody: str
    address: str
    signer: OwnSigner | None
    maker: ApiClient | None = None
    checker: ApiClient | None = None
    key_ids: list[int] = field(default_factory=list)
    signed: list[SignedCommand] = field(default_factory=list)
    approved_command: str = ""

    @classmethod
    def at(cls, base: ApiClient, admin: ApiClient, org_id: int, signer_dir: Path) -> _Bank:
        me = admin.get("/me")
        custody, address = str(me.get("custody") or "platform"), str(me["address"])
        signer = None
        if custody == "self":
            signer = OwnSigner.open(signer_dir)
            if signer is None:
                raise DemoError(f"{BANK_A} keeps its own key, and {signer_dir} has no signer")
            if signer.address.lower() != address.lower():
                raise DemoError(
                    f"the signer in {signer_dir} is {signer.address}'s, {BANK_A} is {address}"
                )
        bank = cls(admin, org_id, custody, address, signer)
        bank.maker = base.as_key(bank._new_key("maker"))
        bank.checker = base.as_key(bank._new_key("checker"))
        return bank

    def _new_key(self, duty: str) -> str:
        made = self.admin.post(
            f"/organizations/{self.org_id}/api-keys",
            {"label": f"demo {duty}", "duties": [duty]},
        )
        self.key_ids.append(int(made["id"]))
        return str(made["api_key"])

    def close(self) -> None:
        """Revokes the run's maker and checker keys (never shown to anyone)."""
        for key_id in self.key_ids:
            self.admin.command("DELETE", f"/organizations/{self.org_id}/api-keys/{key_id}")
        for client in (self.maker, self.checker):
            if client is not None:
                client.close()

    def _signed(self, answer: Any, what: str) -> Any:
        """``answer``, signed with the bank's own key and submitted by the maker when it
        awaits the bank's signature."""
        if self.signer is None or self.maker is None:
            if isinstance(answer, dict) and answer.get("status") == "awaiting_signature":
                raise DemoError(f"{what} awaits {BANK_A}'s signature, and it has no signer")
            return answer
        done, step = self.signer.submit(self.maker, answer)
        if step is not None:
            self.signed.append(step)
        return done

    def post_bid(self, body: dict[str, Any]) -> dict[str, Any]:
        """A standing bid of the bank's, signed by its own key if it keeps it: first the
        bid book's allowance for the budget (the escrow it pulls)."""
        assert self.maker is not None
        if self.signer is not None:
            answer = self.maker.post(
                "/organizations/me/settlement-allowance",
                {"amount": body["budget"], "spender": "bid_book"},
            )
            self._signed(answer, "the bid book's allowance")
        return dict(self._signed(self.maker.post("/bids", body), "the bid"))

    def cancel_bid(self, bid_id: int) -> dict[str, Any]:
        assert self.maker is not None
        return dict(self._signed(self.maker.post(f"/bids/{bid_id}/cancel"), "closing the bid"))

    def accept(
        self, offer_id: int, amount: int, ledger: Ledger, say: Callable[[str, str], None]
    ) -> dict[str, Any]:
        """The offer accepted under four eyes, signed by the bank's own key if it keeps it."""
        assert self.maker is not None and self.checker is not None
        rules = [
            r for r in self.admin.get("/approval-policy")["rules"] if r["action"] != "accept_offer"
        ]
        rules.append({"action": "accept_offer", "min_amount": None})
        self.admin.put("/approval-policy", {"rules": rules})
        own = (
            f"its own key ({self.address}), kept in its own key store, not the platform's "
            "(it signed its credit line to the core enterprise so too)"
            if self.signer is not None
            else "a key the platform keeps for it"
        )
        say(
            "four-eyes",
            f"{BANK_A} signs with {own}, and keeps four eyes on its money: its policy "
            "makes accepting an offer wait for a checker; it has a maker key "
            f"(#{self.key_ids[0]}) and a checker key (#{self.key_ids[1]}) for this run",
        )
        if self.signer is not None and ledger.allowance(self.address) < amount:
            balance = int(self.admin.get(f"/organizations/{self.org_id}/balance")["balance"])
            answer = self.maker.post(
                "/organizations/me/settlement-allowance", {"amount": str(balance)}
            )
            self._signed(answer, "the settlement allowance")
            say(
                "allowance",
                f"{BANK_A} allows the ledger to draw up to {format_cny(balance)} CNY of its "
                "cash (what buying an offer pulls): prepared by the API, signed by its own "
                f"key, submitted (transaction {self.signed[-1].tx_hash[:18]}...)",
            )
        pending = self.maker.post(f"/offers/{offer_id}/accept")
        if not isinstance(pending, dict) or pending.get("status") != "pending_approval":
            raise DemoError(f"accepting offer {offer_id} did not wait for a checker: {pending}")
        command = str(pending["command_id"])
        say(
            "maker",
            f"{BANK_A}'s maker accepts offer {offer_id}: the API checks it and holds it for a "
            f"checker (command {command}: {pending.get('summary')})",
        )
        listed = [w for w in self.checker.get("/approvals") if w["command_id"] == command]
        if not listed:
            raise DemoError(f"command {command} is not in {BANK_A}'s checker's list")
        answer = self.checker.post(f"/approvals/{command}/approve")
        self.approved_command = command
        if self.signer is None:
            say(
                "approve",
                f"{BANK_A}'s checker finds command {command} in its list and approves it; "
                "the API signs it with the bank's key and sends it",
            )
            return dict(answer)
        if not isinstance(answer, dict) or answer.get("status") != "awaiting_signature":
            raise DemoError(f"the approval of command {command} did not await a signature")
        transaction = answer.get("transaction") or {}
        say(
            "approve",
            f"{BANK_A}'s checker finds command {command} in its list and approves it; the "
            f"API prepares its transaction for the bank to sign (nonce "
            f"{transaction.get('nonce')}, signer {answer.get('signer')})",
        )
        financed = self._signed(answer, f"command {command}")
        say(
            "sign",
            f"{BANK_A} signs it with its own key and its maker submits it: transaction "
            f"{self.signed[-1].tx_hash[:18]}... from {self.address}",
        )
        return dict(financed)


def _sell_to_best_bid(
    as_: dict[str, ApiClient],
    org: dict[str, int],
    bank: _Bank,
    piece: str,
    maturity: int,
    now: int,
    say: Callable[[str, str], None],
) -> None:
    """Financing without people: both banks post standing bids (bank A's signed by its own
    key), tier 3 asks every bid's price and sells to the best in one call and one
    transaction, and the banks close their bids (the escrow left goes back to them)."""
    terms = {"max_amount": str(BID_BUDGET), "expires_at": min(now + DAY, maturity)}
    bids = {}
    for name in (BANK_A, BANK_B):
        body = {
            **terms,
            "bands": [{"up_to_days": 366, "rate_bps": BID_RATES_BPS[name]}],
            "issuer_ids": [org[CORE]],
            "budget": str(BID_BUDGET),
        }
        bids[name] = int(
            bank.post_bid(body)["bid_id"]
            if name == BANK_A
            else as_[name].post("/bids", body)["bid_id"]
        )
    say(
        "bids",
        f"{BANK_A} and {BANK_B} post standing bids for {CORE}'s certificates, at "
        f"{BID_RATES_BPS[BANK_A] / 100:.2f}% and {BID_RATES_BPS[BANK_B] / 100:.2f}% a year, "
        f"{format_cny(BID_BUDGET)} CNY each escrowed in the ledger's bid book "
        f"({BANK_A}'s signed by its own key); nobody at either bank acts per sale",
    )
    quotes = as_[TIER3].get(f"/fragments/{piece}/quotes?amount={TO_BID}")
    ranked = ", ".join(
        f"{q['funder_name']} pays {format_cny(q['payment'])} (all-in {q['annual_cost_percent']}%)"
        for q in quotes["quotes"]
    )
    say("quotes", f"{TIER3} asks every bid for {format_cny(TO_BID)} of fragment {piece}: {ranked}")
    sold = as_[TIER3].post(f"/fragments/{piece}/finance", {"amount": str(TO_BID), "bid": "best"})
    best = quotes["quotes"][0] if quotes["quotes"] else {}
    # the best payment; on a real chain a maturity minutes away leaves no whole day to
    # discount, the prices tie, and the older bid (bank A's) is the best
    # (priced at the latest block's time, the sale may count a day less: never less paid)
    if sold["bid_id"] != best.get("bid_id") or int(sold["payment"]) < int(best.get("payment", 0)):
        raise DemoError(f"the sale did not go to the best bid: {sold} (quotes {quotes})")
    winner = best.get("funder_name")
    say(
        "cash",
        f"{TIER3} sells to the best bid, {winner}'s, in one call: {format_cny(sold['payment'])} "
        f"CNY on its balance and the fragment at {winner} in one transaction (block "
        f"{sold['block_number']})",
    )
    refunded = int(bank.cancel_bid(bids[BANK_A])["refunded"])
    refunded += int(as_[BANK_B].post(f"/bids/{bids[BANK_B]}/cancel")["refunded"])
    say("close", f"both banks close their bids: {format_cny(refunded)} CNY of escrow back")


def _verify_from(
    url: str, api_node: str, manifest: DeploymentManifest, financed: dict, w3: Web3
) -> VerificationReport:
    """The bank's verification from the node at ``url``. From a node of its own the bank
    first lets it catch up with the API's node (the payout just mined there), then checks
    against it: a node still behind fails the freshness check instead of reporting an
    unpaid fragment."""
    fragment = int(financed["financed_fragment_id"])
    if url == api_node:
        return verify_fragment(w3, manifest, fragment)
    own = connect(url)
    target = w3.eth.block_number
    deadline = time.monotonic() + 60
    while own.eth.block_number < target and time.monotonic() < deadline:
        time.sleep(0.5)
    return verify_fragment(own, manifest, fragment, reference_rpc_urls=[api_node])
