"""Stateful property test: random lifecycles, with DESIGN.md's invariants checked after every step.

Hypothesis drives random sequences of issue (with valid and invalid credit providers, reused
invoices and documents) / accept / reject / revoke / split / transfer / offer, accept and
withdraw financing / time passing (by days, by seconds, or to the second around a maturity
or an overdue moment) / pauses / suspensions / credit-line changes / grace-period changes /
repay (at maturity, or early in full) / claim / pay a page / mark overdue / declare default /
standing bids (post, sell to, change, top up, take back, cancel; funded by a bank or by the
core enterprise itself, with payees) / key rotation of any member (the core enterprise, a
bank, a supplier) followed by the operator's moves. A plain-Python
model follows what *should* happen, including which attempts must be refused and with which
custom error; after every step the whole chain state is read and compared with the model,
and these invariants are checked on the chain's numbers:

- the live fragments of a certificate sum exactly to its face value, none is zero;
- every fragment names its certificate and a parent created before it;
- an invoice key backs at most one certificate, and so does a document hash (the registries
  name the certificate that holds each);
- a certificate's credit provider was an active financier when it was issued;
- repayment paid out never exceeds repayment paid in, per fragment and per certificate, and
  the ledger holds exactly what was paid in and not yet paid out; every member's settlement
  balance is what the model's payments say;
- the credit line in use equals what is still owed under it;
- nothing moves after maturity (the model moves nothing then, so any move shows up as a
  difference, and moves after maturity are attempted and must be refused);
- the grace period counts only unpaused time after maturity (overdueAt equals the model's);
- the bid book holds exactly every open bid's remaining escrow (no budget below zero), each
  bid's record and per-seller count is the model's, a sale past a limit, a budget or a
  seller's minimum is refused with its error, and a sale moves the fragment and the cash
  together (every holder and every balance is the model's);
- across key rotations: a retired key is no member, its balance never changes again (no
  cash to it), no fragment, certificate or open offer names it once its moves are done,
  and every line of every (financier, core enterprise) pair ever seen, old keys included,
  is used by exactly what is owed under it.

Why it talks raw JSON-RPC: brownie's transaction objects take a chain snapshot and several
round trips per transaction (~50 ms), and reading every fragment through a contract call
per value cost ~0.25 s a step; here a transaction is two requests, an expected refusal one
eth_call, and the whole state one eth_call to the test-only LedgerProbe contract, so ten
thousand steps, each followed by every invariant, run in minutes. The node is put on a
deterministic clock (each block one second after the previous, time moved only by the
test), so the model knows the block time of every transaction to the second.

brownie 1.22.2 ships its `state_machine` helper compiled with mypyc, and the compiled class
refuses the machine class it builds itself (a TypeError in execute_step), so this drives
hypothesis's RuleBasedStateMachine directly, the way that helper does: revert the chain to a
snapshot before every example.
"""

from __future__ import annotations

import functools
import http.client
import itertools
import json
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from chain_client.bids import RateBand, pack_rate_bands, rate_for
from tests.contracts.helpers import (
    CREDIT_LIMIT,
    DAY,
    GRACE_PERIOD,
    ROLE_CORE,
    ROLE_FINANCIER,
    ROLE_NONE,
    ROLE_SUPPLIER,
    STATUS_ACTIVE,
    STATUS_DEFAULTED,
    STATUS_ISSUED,
    STATUS_OVERDUE,
    STATUS_REJECTED,
    STATUS_REVOKED,
    STATUS_SETTLED,
    document_hash,
    next_invoice_key,
)

# Fewer, longer runs reach deeper states (many fragments, several maturities and pauses).
# Hypothesis spends its first examples on short runs and may end any run early, so the test
# counts the steps that really ran and tops up with more runs until it has REQUIRED_STEPS
# (65 runs of up to 200 steps come to about 10,500 steps, two minutes or so on two cores).
RUNS = 65
STEPS_PER_RUN = 200
REQUIRED_STEPS = 10_000

OWING = (STATUS_ISSUED, STATUS_ACTIVE, STATUS_OVERDUE, STATUS_DEFAULTED)
GAS = 3_000_000
ZERO = "0x" + "00" * 20
BID_OPEN, BID_CANCELLED = 1, 2
_fresh_keys = itertools.count(1)  # rotation targets, unique across runs
BANK2_LIMIT = CREDIT_LIMIT // 1_000  # small enough that CreditLineExceeded happens

choice = st.integers(min_value=0, max_value=2**32)
face = st.integers(min_value=1, max_value=10_000_000)
fraction = st.integers(min_value=1, max_value=9_999)
rate = st.integers(min_value=0, max_value=10_000)
days = st.integers(min_value=1, max_value=60)
seconds = st.integers(min_value=1, max_value=3 * DAY)


class NodeError(AssertionError):
    """The node refused a request, or a transaction the model expected to pass reverted."""


class Node:
    """The test node over raw JSON-RPC (one kept-alive HTTP connection), with the ledger's
    ABI for encoding calls and decoding custom errors."""

    def __init__(self, url: str, ledger: Any, book: Any) -> None:
        parsed = urlsplit(url)
        self._connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)
        self._ids = itertools.count(1)
        self.ledger = str(ledger.address)
        self.book = str(book.address)
        self._functions = {}  # name -> (selector, types, address); names are unique but views
        self._errors = {}
        for contract in (book, ledger):  # the ledger's last: its settlementToken() wins
            for item in contract.abi:
                types = [_abi_type(i) for i in item.get("inputs", [])]
                selector = function_signature_to_4byte_selector(
                    f"{item.get('name')}({','.join(types)})"
                )
                if item["type"] == "function":
                    self._functions[item["name"]] = (selector, types, str(contract.address))
                elif item["type"] == "error":
                    self._errors[selector] = (item["name"], types)

    def response(self, method: str, *params: Any) -> dict:
        body = json.dumps(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        )
        self._connection.request("POST", "/", body, {"Content-Type": "application/json"})
        return json.loads(self._connection.getresponse().read())

    def request(self, method: str, *params: Any) -> Any:
        response = self.response(method, *params)
        if "error" in response:
            raise NodeError(f"{method}: {response['error']}")
        return response["result"]

    def calldata(self, function: str, *args: Any) -> str:
        selector, types, _address = self._functions[function]
        return "0x" + (selector + abi_encode(types, list(args))).hex()

    def send(self, sender: str, function: str, *args: Any) -> dict:
        """Sends a transaction to the ledger or its bid book (whichever has `function`);
        raises if it reverted."""
        to = self._functions[function][2]
        return self.send_data(sender, to, self.calldata(function, *args), function, args)

    def send_data(
        self, sender: str, to: str, data: str, function: str = "", args: tuple = ()
    ) -> dict:
        """Sends a transaction with ready calldata to any contract; raises if it reverted."""
        tx = {"from": sender, "to": to, "data": data, "gas": hex(GAS)}
        tx_hash = self.request("eth_sendTransaction", tx)
        receipt = self.request("eth_getTransactionReceipt", tx_hash)
        for _ in range(1000):  # automine: normally there at once
            if receipt is not None:
                break
            time.sleep(0.001)
            receipt = self.request("eth_getTransactionReceipt", tx_hash)
        if receipt is None or receipt["status"] != "0x1":
            raise NodeError(f"{function}{args} from {sender} reverted: {receipt}")
        return receipt

    def refusal(self, sender: str, function: str, *args: Any) -> tuple[str, tuple] | None:
        """The custom error (name, args) the ledger answers this call with in the next
        block, or None if it would succeed."""
        tx = {
            "from": sender,
            "to": self._functions[function][2],
            "data": self.calldata(function, *args),
            "gas": hex(GAS),
        }
        response = self.response("eth_call", tx, "pending")
        if "error" not in response:
            return None
        data = response["error"].get("data")
        raw = bytes.fromhex(data[2:]) if isinstance(data, str) and data.startswith("0x") else b""
        name, types = self._errors.get(raw[:4], (f"unknown {response['error']}", []))
        return name, tuple(abi_decode(types, raw[4:])) if types else ()

    def expect_refusal(self, sender: str, function: str, args: tuple, error: str, *error_args):
        got = self.refusal(sender, function, *args)
        assert got is not None, f"{function}{args} from {sender} succeeded, expected {error}"
        assert got[0] == error, f"{function}{args}: got {got}, expected {error}{error_args}"
        if error_args:
            got_args = tuple(_canonical(a) for a in got[1])
            assert got_args == tuple(_canonical(a) for a in error_args), (got, error_args)

    def words(self, to: str, data: str, block: str = "latest") -> list[int]:
        raw = bytes.fromhex(self.request("eth_call", {"to": to, "data": data}, block)[2:])
        # one dynamic uint256[]: offset, length, then the words
        return [int.from_bytes(raw[i : i + 32], "big") for i in range(64, len(raw), 32)]


def _abi_type(item: dict) -> str:
    """An ABI input's type, tuples spelled out (BidTerms is a tuple)."""
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return item["type"]


def _canonical(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _address(word: int) -> str:
    return "0x" + word.to_bytes(20, "big").hex()


def step(**strategies):
    """A rule that counts itself, so the test can assert how many steps really ran."""

    def decorate(function):
        @functools.wraps(function)
        def counted(self, **kwargs):
            type(self).steps_run += 1
            return function(self, **kwargs)

        return rule(**strategies)(counted)

    return decorate


class LedgerStateMachine(RuleBasedStateMachine):
    node: Node
    snapshot_id: str = ""
    probe = None
    token = ""
    operator = core = bank = bank2 = outsider = ""
    suppliers: tuple = ()
    steps_run = checks_run = runs = 0
    moved: ClassVar[dict[str, int]] = {}  # what the rotations moved, over all runs (reported)

    def __init__(self):
        # every run starts from the deployed state (anvil drops a snapshot on reverting to it)
        self.node.request("evm_revert", self.snapshot_id)
        type(self).snapshot_id = self.node.request("evm_snapshot")
        super().__init__()
        type(self).runs += 1
        latest = self.node.request("eth_getBlockByNumber", "latest", False)
        self.now = int(latest["timestamp"], 16)  # the latest block's time
        self.financiers = (self.bank, self.bank2)
        self.holders = (*self.suppliers, *self.financiers)
        self.accounts = (self.core, *self.holders, self.outsider)
        self.members = {self.core: [ROLE_CORE, False], self.outsider: [ROLE_NONE, False]}
        self.members.update({s: [ROLE_SUPPLIER, False] for s in self.suppliers})
        self.members.update({f: [ROLE_FINANCIER, False] for f in self.financiers})
        self.lines = {(self.bank, self.core): CREDIT_LIMIT, (self.bank2, self.core): BANK2_LIMIT}
        # every key that ever held a role (retired ones stay: their lines and cash are checked)
        self.all_financiers = list(self.financiers)
        self.all_cores = [self.core]
        self.retired: dict[str, str] = {}
        self.balances = dict.fromkeys(self.accounts, 0)
        for payer in (self.core, *self.financiers):
            self.balances[payer] = 10 * CREDIT_LIMIT
        self.ledger_balance = 0
        self.grace = GRACE_PERIOD
        self.pauses: list[tuple[int, int]] = []
        self.certs: dict[int, dict] = {}
        self.fragments: dict[int, dict] = {}
        self.offers: dict[int, dict] = {}
        self.offer_count = 0
        self.paid_in = self.paid_out = 0
        self.bids: dict[int, dict] = {}
        self.book_balance = 0  # the bid book's escrow: every open bid's remaining
        self.pause_started: int | None = None  # while a pause is under way, inside a step
        self._probe_data = self._probe_calldata()

    # -- the clock -------------------------------------------------------------------------
    def _send(self, sender: str, function: str, *args: Any) -> int:
        """Sends a transaction; returns its block time (one second after the last block)."""
        self.node.send(sender, function, *args)
        self.now += 1
        return self.now

    def _next(self) -> int:
        """The block time the next transaction will see."""
        return self.now + 1

    def _advance_to(self, moment: int) -> None:
        """Mines a block at `moment`, so that the next transaction sees `moment + 1`."""
        if moment > self.now:
            self.node.request("evm_setNextBlockTimestamp", moment)
            self.node.request("evm_mine")
            self.now = moment

    # -- model queries ---------------------------------------------------------------------
    def _pick(self, items, choice):
        items = sorted(items)
        return items[choice % len(items)] if items else None

    def _active(self, account: str, role: int) -> bool:
        return self.members[account] == [role, False]

    def _holder_refusal(self, account: str):
        role, suspended = self.members[account]
        if role not in (ROLE_SUPPLIER, ROLE_FINANCIER):
            return ("NotAMember", account) if role == ROLE_NONE else ("WrongRole", account, role)
        return ("MemberIsSuspended", account) if suspended else None

    def _role_refusal(self, account: str, role: int):
        actual, suspended = self.members[account]
        if actual != role:
            return (
                ("NotAMember", account) if actual == ROLE_NONE else ("WrongRole", account, actual)
            )
        if suspended:
            return ("MemberIsSuspended", account)
        return None

    def _movable(self, at: int) -> list[int]:
        return [
            f
            for f, rec in self.fragments.items()
            if self.certs[rec["cert"]]["status"] == STATUS_ACTIVE
            and at < self.certs[rec["cert"]]["maturity"]
        ]

    def _frozen(self, at: int) -> list[int]:
        """Fragments that must not move any more: matured or settled certificates."""
        return [
            f
            for f, rec in self.fragments.items()
            if self.certs[rec["cert"]]["status"] != STATUS_ACTIVE
            or at >= self.certs[rec["cert"]]["maturity"]
        ]

    def _used(self, financier: str, core: str | None = None) -> int:
        core = self.core if core is None else core
        return sum(
            c["face"] - c["repaid"]
            for c in self.certs.values()
            if c["provider"] == financier and c["issuer"] == core and c["status"] in OWING
        )

    def _owed(self, fragment: int) -> int:
        rec = self.fragments[fragment]
        cert = self.certs[rec["cert"]]
        return rec["value"] * cert["repaid"] // cert["face"] - rec["paid"]

    def _overdue_at(self, cert: dict, now: int) -> int:
        """The grace period as a stop-watch that runs only while the ledger is not paused,
        started at maturity; a pause under way is taken to end at `now`. Overdue once
        more than `grace` unpaused seconds have passed."""
        cursor, remaining = cert["maturity"], self.grace
        pauses = self.pauses
        if self.pause_started is not None:
            pauses = [*pauses, (self.pause_started, now)]
        for start, end in pauses:
            if end <= cursor:
                continue
            running = max(0, start - cursor)
            if remaining < running:
                break
            remaining -= running
            cursor = end
        return cursor + remaining

    def _new_fragment(self, cert_id: int, parent: int, holder: str, value: int) -> int:
        cert = self.certs[cert_id]
        fragment_id = (cert_id << 32) | cert["count"]
        cert["count"] += 1
        self.fragments[fragment_id] = {
            "cert": cert_id,
            "holder": holder,
            "value": value,
            "paid": 0,
            "parent": parent,
        }
        return fragment_id

    # -- issuance --------------------------------------------------------------------------
    @step(face=face, days=days, choice=choice)
    def rule_issue(self, face, days, choice):
        self._issue(face, days, choice)

    def _issue(self, face: int, days: int, choice: int) -> None:
        at = self._next()
        providers = (
            self.bank,
            self.bank,
            self.bank,
            self.bank2,
            self.bank2,
            self.suppliers[1],
            self.outsider,
            self.core,
        )
        provider = providers[choice % len(providers)]
        beneficiary = self.suppliers[(choice >> 3) % len(self.suppliers)]
        reuse = (choice >> 5) % 8
        key, doc = next_invoice_key(), document_hash()
        if reuse == 1 and self.certs:
            key = self.certs[self._pick(self.certs, choice >> 8)]["invoice"]
        elif reuse == 2 and self.certs:
            doc = self.certs[self._pick(self.certs, choice >> 8)]["document"]
        maturity = at + days * DAY
        args = (provider, beneficiary, face, maturity, key, doc)
        used_invoice = {c["invoice"]: i for i, c in self.certs.items()}
        used_document = {c["document"]: i for i, c in self.certs.items()}
        available = max(0, self.lines.get((provider, self.core), 0) - self._used(provider))
        refusal = (
            self._role_refusal(self.core, ROLE_CORE)
            or self._role_refusal(provider, ROLE_FINANCIER)
            or (("InvoiceAlreadyUsed", key, used_invoice[key]) if key in used_invoice else None)
            or (("DocumentAlreadyUsed", doc, used_document[doc]) if doc in used_document else None)
            or (
                ("CreditLineExceeded", provider, self.core, face, available)
                if face > available
                else None
            )
        )
        if refusal:
            self.node.expect_refusal(self.core, "issue", args, *refusal)
            return
        self._send(self.core, "issue", *args)
        self.certs[len(self.certs) + 1] = {
            "issuer": self.core,
            "beneficiary": beneficiary,
            "provider": provider,
            "provider_standing": list(self.members[provider]),
            "face": face,
            "maturity": maturity,
            "issued_at": at,
            "status": STATUS_ISSUED,
            "repaid": 0,
            "paid_out": 0,
            "count": 0,
            "invoice": key,
            "document": doc,
        }

    @precondition(lambda self: any(c["status"] == STATUS_ISSUED for c in self.certs.values()))
    @step(choice=choice)
    def rule_accept_reject_or_revoke(self, choice):
        pending = [c for c, rec in self.certs.items() if rec["status"] == STATUS_ISSUED]
        cert_id = self._pick(pending, choice)
        cert = self.certs[cert_id]
        at = self._next()
        if choice % 7 == 0:
            self._send(self.core, "revoke", cert_id)
            cert["status"] = STATUS_REVOKED
        elif choice % 7 == 1:
            self._send(cert["beneficiary"], "reject", cert_id)
            cert["status"] = STATUS_REJECTED
        elif at >= cert["maturity"]:
            self.node.expect_refusal(
                cert["beneficiary"],
                "accept",
                (cert_id,),
                "CertificateMatured",
                cert_id,
                cert["maturity"],
            )
        else:
            self._send(cert["beneficiary"], "accept", cert_id)
            cert["status"] = STATUS_ACTIVE
            self._new_fragment(cert_id, 0, cert["beneficiary"], cert["face"])

    # -- moving fragments ------------------------------------------------------------------
    @precondition(lambda self: self._movable(self._next()))
    @step(choice=choice, fraction=fraction)
    def rule_split(self, choice, fraction):
        fragment = self._pick(self._movable(self._next()), choice)
        rec = self.fragments[fragment]
        to = self.holders[(choice >> 3) % len(self.holders)]
        amount = rec["value"] * fraction // 10_000
        args = (fragment, to, amount)
        refusal = self._holder_refusal(rec["holder"]) or self._holder_refusal(to)
        if not refusal and (amount == 0 or amount >= rec["value"]):
            refusal = ("InvalidSplitAmount", amount, rec["value"])
        if refusal:
            self.node.expect_refusal(rec["holder"], "split", args, *refusal)
            return
        self._send(rec["holder"], "split", *args)
        rec["value"] -= amount
        self._new_fragment(rec["cert"], fragment, to, amount)

    @precondition(lambda self: self._movable(self._next()))
    @step(choice=choice)
    def rule_transfer(self, choice):
        fragment = self._pick(self._movable(self._next()), choice)
        rec = self.fragments[fragment]
        to = self.holders[(choice >> 5) % len(self.holders)]
        refusal = self._holder_refusal(rec["holder"]) or self._holder_refusal(to)
        if refusal:
            self.node.expect_refusal(rec["holder"], "transferFragment", (fragment, to), *refusal)
            return
        self._send(rec["holder"], "transferFragment", fragment, to)
        rec["holder"] = to

    @precondition(lambda self: self._frozen(self._next()))
    @step(choice=choice)
    def rule_move_after_maturity_is_refused(self, choice):
        fragment = self._pick(self._frozen(self._next()), choice)
        rec = self.fragments[fragment]
        cert = self.certs[rec["cert"]]
        to = self.suppliers[choice % len(self.suppliers)]
        if self._holder_refusal(rec["holder"]) or self._holder_refusal(to):
            return  # refused for who they are, before the fragment is looked at
        if cert["status"] != STATUS_ACTIVE:
            expected = ("WrongCertificateStatus", rec["cert"], cert["status"])
        else:
            expected = ("CertificateMatured", rec["cert"], cert["maturity"])
        self.node.expect_refusal(rec["holder"], "transferFragment", (fragment, to), *expected)
        if rec["value"] > 1:
            self.node.expect_refusal(rec["holder"], "split", (fragment, to, 1), *expected)

    # -- financing -------------------------------------------------------------------------
    @precondition(lambda self: self._movable(self._next()))
    @step(choice=choice, fraction=fraction, rate=rate)
    def rule_offer_financing(self, choice, fraction, rate):
        fragment = self._pick(self._movable(self._next()), choice)
        rec = self.fragments[fragment]
        financier = self.financiers[(choice >> 4) % 2]
        if rec["holder"] == financier:
            financier = self.financiers[((choice >> 4) + 1) % 2]
        at = self._next()
        maturity = self.certs[rec["cert"]]["maturity"]
        expires = maturity if choice % 3 else min(maturity, at + 1 + (choice >> 6) % (2 * DAY))
        amount = max(1, rec["value"] * fraction // 10_000)
        args = (fragment, financier, amount, rate, expires)
        refusal = self._holder_refusal(rec["holder"]) or self._role_refusal(
            financier, ROLE_FINANCIER
        )
        if refusal:
            self.node.expect_refusal(rec["holder"], "offerFinancing", args, *refusal)
            return
        self._send(rec["holder"], "offerFinancing", *args)
        self.offer_count += 1
        self.offers[self.offer_count] = {
            "fragment": fragment,
            "seller": rec["holder"],
            "financier": financier,
            "amount": amount,
            "rate": rate,
            "expires": expires,
        }
        if choice % 4:
            self._accept_offer(self.offer_count)

    @precondition(lambda self: self.offers)
    @step(choice=choice)
    def rule_accept_or_withdraw_offer(self, choice):
        offer_id = self._pick(self.offers, choice)
        offer = self.offers[offer_id]
        if choice % 3 == 0:
            self._send(offer["seller"], "withdrawOffer", offer_id)
            del self.offers[offer_id]
        else:
            self._accept_offer(offer_id)

    def _accept_offer(self, offer_id: int) -> None:
        """The financier accepts: DvP if every condition still holds, else the refusal."""
        offer = self.offers[offer_id]
        fragment, seller, amount = offer["fragment"], offer["seller"], offer["amount"]
        rec = self.fragments[fragment]
        cert = self.certs[rec["cert"]]
        at = self._next()
        refusal = None
        if at > offer["expires"]:
            refusal = ("OfferExpired", offer_id, offer["expires"])
        refusal = (
            refusal
            or self._role_refusal(offer["financier"], ROLE_FINANCIER)
            or self._holder_refusal(seller)
        )
        if not refusal and rec["holder"] != seller:
            refusal = ("NotHolder", fragment, seller)
        if not refusal and cert["status"] != STATUS_ACTIVE:
            refusal = ("WrongCertificateStatus", rec["cert"], cert["status"])
        if not refusal and at >= cert["maturity"]:
            refusal = ("CertificateMatured", rec["cert"], cert["maturity"])
        if not refusal and amount > rec["value"]:
            refusal = ("InsufficientFragmentValue", fragment, amount, rec["value"])
        if refusal:
            self.node.expect_refusal(offer["financier"], "acceptOffer", (offer_id,), *refusal)
            return
        self._send(offer["financier"], "acceptOffer", offer_id)
        del self.offers[offer_id]
        # ACT/360 on whole days from the accepting block, rounded down to the fen
        whole_days = (cert["maturity"] - at) // DAY
        payment = amount - amount * offer["rate"] * whole_days // 3_600_000
        self.balances[offer["financier"]] -= payment
        self.balances[seller] += payment
        if amount == rec["value"]:
            rec["holder"] = offer["financier"]
        else:
            rec["value"] -= amount
            self._new_fragment(rec["cert"], fragment, offer["financier"], amount)

    # -- standing bids (BidBook) ----------------------------------------------------------
    def _funder_refusal(self, account: str):
        role, suspended = self.members[account]
        if role not in (ROLE_FINANCIER, ROLE_CORE):
            return ("NotAMember", account) if role == ROLE_NONE else ("WrongRole", account, role)
        return ("MemberIsSuspended", account) if suspended else None

    def _bid_terms(self, choice: int, face: int, rate: int, at: int) -> dict:
        """Terms from the draw: 1 to 3 bands around this test's 1-60 day tenors (so that
        some fragments fall outside), limits around `face`, with or without a per-seller
        limit, an expiry within 61 days."""
        count = 1 + (choice >> 2) % 3
        offset = (choice >> 4) % 20
        bands = [RateBand(20 * (i + 1) + offset, (rate + 500 * i) % 10_001) for i in range(count)]
        return {
            "bands": bands,
            "min_days": (choice >> 9) % 10,
            "min_amount": (choice >> 12) % 3 * face // 4,
            "max_amount": face,
            "per_seller": 0 if (choice >> 14) % 2 else 2 * face,
            "expires": at + 1 + (choice >> 15) % 60 * DAY + (choice >> 21) % DAY,
        }

    @staticmethod
    def _terms_tuple(terms: dict) -> tuple:
        return (
            pack_rate_bands(terms["bands"]),
            terms["min_days"],
            terms["min_amount"],
            terms["max_amount"],
            terms["per_seller"],
            terms["expires"],
        )

    @step(choice=choice, face=face, rate=rate)
    def rule_post_bid(self, choice, face, rate):
        self._post_bid(choice, face, rate)

    def _post_bid(self, choice: int, face: int, rate: int) -> None:
        """A bank, the other bank or the core enterprise (for its own certificates) posts a
        standing bid covering the core enterprise, escrowing its budget."""
        funder = (self.bank, self.bank2, self.core)[choice % 3]
        terms = self._bid_terms(choice, face, rate, self._next())
        budget = min(face * (1 + (choice >> 20) % 3), self.balances[funder])
        args = (self._terms_tuple(terms), [self.core], budget)
        refusal = self._funder_refusal(funder)
        if refusal:
            self.node.expect_refusal(funder, "postBid", args, *refusal)
            return
        self._send(funder, "postBid", *args)
        self.bids[len(self.bids) + 1] = {
            **terms,
            "funder": funder,
            "covers": {self.core},
            "remaining": budget,
            "open": True,
            "sold": {},
        }
        self.balances[funder] -= budget
        self.book_balance += budget
        if choice % 2 and self._movable(self._next()):
            self._sell_to_bid(len(self.bids), choice >> 1, face % 10_000 or 1)

    @precondition(lambda self: self.bids and self._movable(self._next()))
    @step(choice=choice, fraction=fraction)
    def rule_sell_to_bid(self, choice, fraction):
        """A holder sells to a bid (mostly an open one; now and then any)."""
        open_bids = [b for b, rec in self.bids.items() if rec["open"]]
        bid_id = self._pick(open_bids if open_bids and choice % 8 else self.bids, choice)
        self._sell_to_bid(bid_id, choice, fraction)

    def _sell_to_bid(self, bid_id: int, choice: int, fraction: int, *, fit: bool = False) -> None:
        """A holder sells (part of) a fragment to a bid: every check of the book and the
        ledger in the contract's order, else the fragment to the funder and the payment
        from the escrow to the seller or its payee, in one transaction. With `fit`, the
        amount is brought within the bid's limits per sale where the fragment allows."""
        bid = self.bids[bid_id]
        fragment = self._pick(self._movable(self._next()), choice >> 3)
        if fragment is None:
            return  # the last movable fragment matured with the transaction just sent
        rec = self.fragments[fragment]
        cert = self.certs[rec["cert"]]
        seller, funder = rec["holder"], bid["funder"]
        amount = rec["value"] if choice % 3 == 0 else max(1, rec["value"] * fraction // 10_000)
        if fit:
            amount = max(bid["min_amount"], min(amount, bid["max_amount"], rec["value"]), 1)
        payee_kind = (choice >> 6) % 6  # the outsider (refused), another supplier, or none
        payee = (
            (self.outsider, self.suppliers[(choice >> 8) % 3])[payee_kind]
            if payee_kind < 2
            else ZERO
        )
        at = self._next()
        days = (cert["maturity"] - at) // DAY
        refusal = None
        if not bid["open"]:
            refusal = ("BidNotOpen", bid_id)
        elif at > bid["expires"]:
            refusal = ("BidExpired", bid_id, bid["expires"])
        elif not bid["min_amount"] <= amount <= bid["max_amount"]:
            refusal = (
                "AmountOutsideBidLimits",
                bid_id,
                amount,
                bid["min_amount"],
                bid["max_amount"],
            )
        refusal = refusal or self._holder_refusal(seller)
        if not refusal and amount > rec["value"]:
            refusal = ("InsufficientFragmentValue", fragment, amount, rec["value"])
        if not refusal:
            role = ROLE_CORE if funder == cert["issuer"] else ROLE_FINANCIER
            refusal = self._role_refusal(funder, role)
        if not refusal and cert["issuer"] not in bid["covers"]:
            refusal = ("IssuerNotCovered", bid_id, cert["issuer"])
        rate = rate_for(bid["bands"], bid["min_days"], days)
        if not refusal and rate is None:
            longest = bid["bands"][-1].up_to_days
            refusal = ("TenorOutOfRange", bid_id, days, bid["min_days"], longest)
        discount = amount * (rate or 0) * days // 3_600_000
        payment = amount - discount
        if not refusal and discount >= amount:
            refusal = ("DiscountExceedsAmount", amount, discount)
        if not refusal and payment > bid["remaining"]:
            refusal = ("BidBudgetExhausted", bid_id, payment, bid["remaining"])
        total = bid["sold"].get(seller, 0) + amount
        if not refusal and bid["per_seller"] and total > bid["per_seller"]:
            refusal = ("SellerLimitReached", bid_id, seller, total, bid["per_seller"])
        min_payment = payment + 1 if choice % 23 == 0 else payment
        if not refusal and min_payment > payment:
            refusal = ("PaymentBelowMinimum", bid_id, payment, min_payment)
        if not refusal and payee not in (ZERO, seller):
            role, suspended = self.members[payee]
            if role == ROLE_NONE:
                refusal = ("NotAMember", payee)
            elif suspended:
                refusal = ("MemberIsSuspended", payee)
        args = (bid_id, fragment, amount, max(0, min_payment), payee)
        if refusal:
            self.node.expect_refusal(seller, "sellToBid", args, *refusal)
            type(self).moved["bid refusals"] = type(self).moved.get("bid refusals", 0) + 1
            return
        self._send(seller, "sellToBid", *args)
        bid["remaining"] -= payment
        if bid["per_seller"]:
            bid["sold"][seller] = total
        self.balances[seller if payee == ZERO else payee] += payment
        self.book_balance -= payment
        if amount == rec["value"]:
            rec["holder"] = funder
        else:
            rec["value"] -= amount
            self._new_fragment(rec["cert"], fragment, funder, amount)
        type(self).moved["bid sales"] = type(self).moved.get("bid sales", 0) + 1
        if payee != ZERO:
            type(self).moved["to a payee"] = type(self).moved.get("to a payee", 0) + 1

    @step(choice=choice, face=face, fraction=fraction, days=days)
    def rule_finance_at_once(self, choice, face, fraction, days):
        """The "310" path, which the rules above reach only now and then (a fragment that
        can still move and an open bid seldom meet in a random run): a certificate issued
        and accepted here if nothing can move, a bid of the bank posted here if none is
        open, then a sale to an open bid."""
        if not self._movable(self._next()):
            before = len(self.certs)
            # the bank as provider, no reused invoice or document: bits 0-2 and 5-7 clear
            self._issue(face, max(days, 20), choice & ~0b11100111)
            if len(self.certs) == before:
                return  # refused (a suspended core enterprise, a full credit line)
            cert = self.certs[len(self.certs)]
            self._send(cert["beneficiary"], "accept", len(self.certs))
            cert["status"] = STATUS_ACTIVE
            self._new_fragment(len(self.certs), 0, cert["beneficiary"], cert["face"])

        def fitting() -> list[int]:  # open, and covering the core enterprise's current key
            return [b for b, r in self.bids.items() if r["open"] and self.core in r["covers"]]

        if not fitting():
            # the bank as funder (choice % 3 == 0), no sale inside (choice % 2 == 0)
            self._post_bid(choice - choice % 6, face, choice % 2_000)
        if fitting():
            self._sell_to_bid(self._pick(fitting(), choice >> 3), choice >> 1, fraction, fit=True)

    @precondition(lambda self: self.bids)
    @step(choice=choice, face=face, rate=rate)
    def rule_change_or_cancel_bid(self, choice, face, rate):
        """The funder cancels a bid (its escrow back), sets its budget (a top-up or a part
        back) or replaces its terms."""
        bid_id = self._pick(self.bids, choice)
        bid = self.bids[bid_id]
        funder = bid["funder"]
        if not bid["open"]:
            self.node.expect_refusal(funder, "cancelBid", (bid_id,), "BidNotOpen", bid_id)
            return
        kind = (choice >> 2) % 3
        if kind == 0:
            self._send(funder, "cancelBid", bid_id)
            self.balances[funder] += bid["remaining"]
            self.book_balance -= bid["remaining"]
            bid.update(remaining=0, open=False)
        elif kind == 1:
            wanted = face * ((choice >> 4) % 3)
            new = min(wanted, bid["remaining"] + self.balances[funder])
            if new > bid["remaining"] and self._funder_refusal(funder):
                self.node.expect_refusal(
                    funder,
                    "changeBidBudget",
                    (bid_id, bid["remaining"], new),
                    *self._funder_refusal(funder),
                )
                return
            if choice % 5 == 0:  # computed before a sale landed: refused, nothing moves
                self.node.expect_refusal(
                    funder,
                    "changeBidBudget",
                    (bid_id, bid["remaining"] + 1, new),
                    "BidBudgetMoved",
                    bid_id,
                    bid["remaining"] + 1,
                    bid["remaining"],
                )
            self._send(funder, "changeBidBudget", bid_id, bid["remaining"], new)
            self.balances[funder] -= new - bid["remaining"]
            self.book_balance += new - bid["remaining"]
            bid["remaining"] = new
        else:
            terms = self._bid_terms(choice >> 6, face, rate, self._next())
            args = (bid_id, self._terms_tuple(terms))
            if self._funder_refusal(funder):
                self.node.expect_refusal(
                    funder, "changeBidTerms", args, *self._funder_refusal(funder)
                )
                return
            self._send(funder, "changeBidTerms", *args)
            bid.update(terms)

    # -- time, pauses, members, lines ------------------------------------------------------
    @step(days=days, seconds=seconds, choice=choice)
    def rule_time_passes(self, days, seconds, choice):
        kind = choice % 4
        if kind == 0:
            self._advance_to(self.now + days * DAY)
        elif kind == 1:
            self._advance_to(self.now + seconds)
        else:
            # to the second around a moment that matters: a maturity or an overdue moment,
            # so that the next transaction sees it minus one, exactly, or plus one
            cert = self.certs.get(self._pick(self.certs, choice >> 2))
            if cert is None:
                return
            moment = cert["maturity"] if kind == 2 else self._overdue_at(cert, self.now)
            self._advance_to(moment + (choice >> 8) % 3 - 2)

    @step(seconds=seconds, choice=choice)
    def rule_pause_for(self, seconds, choice):
        start = self._send(self.operator, "pause")
        self.pause_started = start
        try:
            target = self._pick(self.certs, choice)
            if target is not None:
                self.node.expect_refusal(self.outsider, "markOverdue", (target,), "EnforcedPause")
            if self.fragments:
                fragment = self._pick(self.fragments, choice)
                holder = self.fragments[fragment]["holder"]
                self.node.expect_refusal(
                    holder, "transferFragment", (fragment, self.suppliers[0]), "EnforcedPause"
                )
            self._advance_to(self.now + seconds)
            # while paused, the answer assumes the pause ends now
            self._check_overdue_moments(self._snapshot())
        finally:
            self.pause_started = None
        end = self._send(self.operator, "unpause")
        self.pauses.append((start, end))

    @step(choice=choice)
    def rule_suspend_or_reinstate(self, choice):
        account = (self.bank, self.bank2, self.core)[choice % 3]
        if self.members[account][1]:
            self._send(self.operator, "reinstateMember", account)
            self.members[account][1] = False
        elif choice % 3 == 0 or (choice >> 2) % 3 == 0:
            self._send(self.operator, "suspendMember", account)
            self.members[account][1] = True

    @step(choice=choice, face=face)
    def rule_set_credit_line(self, choice, face):
        financier = self.financiers[choice % 2]
        current = self.lines.get((financier, self.core), 0)
        used = self._used(financier)
        limit = (0, used, max(0, current - face), current, current + face, used + face)[
            (choice >> 1) % 6
        ]
        if limit > current:
            refusal = self._role_refusal(financier, ROLE_FINANCIER) or self._role_refusal(
                self.core, ROLE_CORE
            )
        else:
            refusal = None  # lowering: roles are enough, suspension does not block it
        if refusal:
            self.node.expect_refusal(financier, "setCreditLine", (self.core, limit), *refusal)
            return
        self._send(financier, "setCreditLine", self.core, limit)
        self.lines[(financier, self.core)] = limit

    @step(days=days)
    def rule_set_grace_period(self, days):
        grace = (days % 8) * DAY
        self._send(self.operator, "setGracePeriod", grace)
        self.grace = grace

    # -- key rotation ----------------------------------------------------------------------
    def _fresh_account(self) -> str:
        key = keccak(text=f"rotated key {next(_fresh_keys)}")[-20:]
        account = to_checksum_address(key)
        self.node.request("anvil_impersonateAccount", account)
        self.node.request("anvil_setBalance", account, hex(10**21))
        return account

    def _token_send(self, sender: str, signature: str, types: list, args: list) -> None:
        data = (
            "0x" + (function_signature_to_4byte_selector(signature) + abi_encode(types, args)).hex()
        )
        self.node.send_data(sender, self.token, data, signature, tuple(args))
        self.now += 1

    def _replace(self, old: str, new: str) -> None:
        """Every place the model names the organization's key."""
        if self.core == old:
            self.core = new
            self.all_cores.append(new)
        if self.bank == old:
            self.bank = new
        if self.bank2 == old:
            self.bank2 = new
        self.suppliers = tuple(new if s == old else s for s in self.suppliers)
        self.financiers = (self.bank, self.bank2)
        if new in self.financiers:
            self.all_financiers.append(new)
        self.holders = (*self.suppliers, *self.financiers)
        self.accounts = (*self.accounts, new)

    @step(choice=choice)
    def rule_rotate_and_move(self, choice):
        """The operator rotates a member to a fresh key, then moves what names the old one
        (certificates, then credit lines, offers, holdings), in batches; in between, the old
        key is refused and a payout due to it goes to the new key."""
        old = (self.core, self.bank, self.bank2, *self.suppliers)[choice % 6]
        new = self._fresh_account()
        self._send(self.operator, "rotateMember", old, new)
        self.members[new] = list(self.members[old])
        self.members[old] = [ROLE_NONE, False]
        self.balances[new] = 0
        self.retired[old] = new
        self._replace(old, new)
        self._probe_data = self._probe_calldata()
        if new in (self.core, *self.financiers):  # a payer needs cash and an allowance
            self._token_send(
                self.operator, "mint(address,uint256)", ["address", "uint256"], [new, CREDIT_LIMIT]
            )
            for spender in (self.node.ledger, self.node.book):
                self._token_send(
                    new, "approve(address,uint256)", ["address", "uint256"], [spender, 2**255]
                )
            self.balances[new] = CREDIT_LIMIT
        held = sorted(f for f, rec in self.fragments.items() if rec["holder"] == old)
        at = self._next()
        movable = [f for f in held if f in self._movable(at)]
        if movable:
            self.node.expect_refusal(
                old, "transferFragment", (movable[0], self.suppliers[0]), "NotAMember", old
            )
        owed = [f for f in held if self._owed(f) > 0]
        if owed:
            self.node.expect_refusal(old, "claim", (owed[0],), "NotAMember", old)
            if (choice >> 3) % 2:  # a keeper's payout before the moves pays the new key
                fragment = owed[-1]
                self._send(self.outsider, "payFragments", fragment >> 32, fragment & 0xFFFFFFFF, 1)
                self.fragments[fragment]["holder"] = new
                self._pay(fragment)
        size = 1 + (choice >> 4) % 3
        certs = sorted(
            c
            for c, rec in self.certs.items()
            if old in (rec["issuer"], rec["beneficiary"], rec["provider"])
        )
        for start in range(0, len(certs), size):
            batch = certs[start : start + size]
            self._send(self.operator, "moveCertificates", old, batch)
            for cert_id in batch:
                rec = self.certs[cert_id]
                for part in ("issuer", "beneficiary", "provider"):
                    if rec[part] == old:
                        rec[part] = new
        counterparties = []
        for (financier, core), limit in list(self.lines.items()):
            if old in (financier, core) and limit > 0:
                counterparties.append(core if financier == old else financier)
                moved = (new if financier == old else financier, new if core == old else core)
                if self.lines.get(moved, 0) == 0:
                    self.lines[moved] = limit
                self.lines[(financier, core)] = 0
        if counterparties:
            self._send(self.operator, "moveCreditLines", old, counterparties)
        offers = sorted(
            o for o, rec in self.offers.items() if old in (rec["seller"], rec["financier"])
        )
        if offers:
            self._send(self.operator, "moveOffers", old, offers)
            for offer_id in offers:
                rec = self.offers[offer_id]
                for part in ("seller", "financier"):
                    if rec[part] == old:
                        rec[part] = new
        bids = sorted(b for b, rec in self.bids.items() if rec["funder"] == old)
        if bids:
            self._send(self.operator, "moveBids", old, bids)
            for bid_id in bids:
                self.bids[bid_id]["funder"] = new
        held = sorted(f for f, rec in self.fragments.items() if rec["holder"] == old)
        for start in range(0, len(held), size):
            self._send(self.operator, "moveHoldings", old, held[start : start + size])
        for fragment in held:
            self.fragments[fragment]["holder"] = new
        if held and (choice >> 6) % 2:  # sent again: what is at the new key is skipped
            self._send(self.operator, "moveHoldings", old, held)
        self.node.expect_refusal(self.operator, "moveHoldings", (new, []), "NotRetired", new)
        for kind, count in (
            ("rotations", 1),
            ("certificates", len(certs)),
            ("lines", len(counterparties)),
            ("offers", len(offers)),
            ("bids", len(bids)),
            ("fragments", len(held)),
            ("payouts to the new key before the moves", len(owed) and (choice >> 3) % 2),
        ):
            type(self).moved[kind] = type(self).moved.get(kind, 0) + count

    # -- repayment -------------------------------------------------------------------------
    def _due(self, at: int) -> list[int]:
        return [
            c
            for c, rec in self.certs.items()
            if rec["status"] in (STATUS_ACTIVE, STATUS_OVERDUE, STATUS_DEFAULTED)
            and at >= rec["maturity"]
        ]

    @precondition(lambda self: self._due(self._next()))
    @step(choice=choice, fraction=fraction)
    def rule_repay(self, choice, fraction):
        cert_id = self._pick(self._due(self._next()), choice)
        rec = self.certs[cert_id]
        outstanding = rec["face"] - rec["repaid"]
        amount = outstanding if choice % 3 == 0 else max(1, outstanding * fraction // 10_000)
        self._send(self.core, "repay", cert_id, amount)
        rec["repaid"] += amount
        self.paid_in += amount
        self.balances[self.core] -= amount
        self.ledger_balance += amount
        if rec["repaid"] == rec["face"]:
            rec["status"] = STATUS_SETTLED

    @precondition(
        lambda self: any(
            c["status"] == STATUS_ACTIVE and self._next() < c["maturity"]
            for c in self.certs.values()
        )
    )
    @step(choice=choice, fraction=fraction)
    def rule_early_repayment(self, choice, fraction):
        """Before maturity the issuer repays in full (the certificate is settled at once and
        nothing of it moves again), never in part (NotMatured)."""
        early = [
            c
            for c, rec in self.certs.items()
            if rec["status"] == STATUS_ACTIVE and self._next() < rec["maturity"]
        ]
        cert_id = self._pick(early, choice)
        rec = self.certs[cert_id]
        outstanding = rec["face"] - rec["repaid"]
        amount = outstanding if choice % 4 == 0 else max(1, outstanding * fraction // 10_000)
        if amount != outstanding:
            self.node.expect_refusal(
                self.core, "repay", (cert_id, amount), "NotMatured", cert_id, rec["maturity"]
            )
            return
        self._send(self.core, "repay", cert_id, amount)
        rec["repaid"] += amount
        rec["status"] = STATUS_SETTLED
        self.paid_in += amount
        self.balances[self.core] -= amount
        self.ledger_balance += amount
        type(self).moved["early repayments"] = type(self).moved.get("early repayments", 0) + 1

    def _pay(self, fragment: int) -> int:
        amount = self._owed(fragment)
        rec = self.fragments[fragment]
        rec["paid"] += amount
        self.certs[rec["cert"]]["paid_out"] += amount
        self.balances[rec["holder"]] += amount
        self.ledger_balance -= amount
        self.paid_out += amount
        return amount

    @precondition(lambda self: any(c["repaid"] > 0 for c in self.certs.values()))
    @step(choice=choice)
    def rule_pay_page(self, choice):
        cert_id = self._pick([c for c, rec in self.certs.items() if rec["repaid"] > 0], choice)
        count = self.certs[cert_id]["count"]
        start, size = choice % count, 1 + (choice >> 8) % 4
        self._send(self.outsider, "payFragments", cert_id, start, size)
        for seq in range(start, min(start + size, count)):
            self._pay((cert_id << 32) | seq)

    @precondition(lambda self: any(self._owed(f) > 0 for f in self.fragments))
    @step(choice=choice)
    def rule_claim(self, choice):
        fragment = self._pick([f for f in self.fragments if self._owed(f) > 0], choice)
        self._send(self.fragments[fragment]["holder"], "claim", fragment)
        self._pay(fragment)

    @precondition(
        lambda self: any(
            c["status"] == STATUS_ACTIVE and self._next() > c["maturity"] + self.grace
            for c in self.certs.values()
        )
    )
    @step(choice=choice)
    def rule_mark_overdue(self, choice):
        at = self._next()
        late = [
            c
            for c, rec in self.certs.items()
            if rec["status"] == STATUS_ACTIVE and at > rec["maturity"] + self.grace
        ]
        cert_id = self._pick(late, choice)
        overdue_at = self._overdue_at(self.certs[cert_id], at)
        if at <= overdue_at:  # wall time says late, unpaused time says not yet
            self.node.expect_refusal(
                self.outsider, "markOverdue", (cert_id,), "NotYetOverdue", cert_id, overdue_at
            )
            return
        self._send(self.outsider, "markOverdue", cert_id)
        self.certs[cert_id]["status"] = STATUS_OVERDUE

    @precondition(lambda self: any(c["status"] == STATUS_OVERDUE for c in self.certs.values()))
    @step(choice=choice)
    def rule_declare_default(self, choice):
        overdue = [c for c, rec in self.certs.items() if rec["status"] == STATUS_OVERDUE]
        cert_id = self._pick(overdue, choice)
        self._send(self.operator, "declareDefault", cert_id)
        self.certs[cert_id]["status"] = STATUS_DEFAULTED

    # -- invariants ------------------------------------------------------------------------
    def _probe_calldata(self) -> str:
        selector = function_signature_to_4byte_selector(
            "snapshot(address,address[],address[],address[])"
        )
        args = (self.node.ledger, list(self.accounts), self.all_financiers, self.all_cores)
        types = ["address", "address[]", "address[]", "address[]"]
        return "0x" + (selector + abi_encode(types, args)).hex()

    def _snapshot(self) -> dict:
        """Everything the invariants read, from one eth_call to LedgerProbe."""
        words = self.node.words(str(self.probe.address), self._probe_data)
        at = 5
        snap = {
            "time": words[0],
            "count": words[1],
            "paused": words[2],
            "grace": words[3],
            "ledger_balance": words[4],
            "accounts": {},
            "lines": {},
            "certs": {},
            "fragments": {},
        }
        for account in self.accounts:
            snap["accounts"][account] = tuple(words[at : at + 3])
            at += 3
        for financier in self.all_financiers:
            for core in self.all_cores:
                snap["lines"][(financier, core)] = tuple(words[at : at + 2])
                at += 2
        for cert_id in range(1, snap["count"] + 1):
            cert = words[at : at + 15]
            at += 15
            snap["certs"][cert_id] = cert
            for seq in range(cert[9]):
                snap["fragments"][(cert_id << 32) | seq] = tuple(words[at : at + 5])
                at += 5
        assert at == len(words)
        return snap

    @invariant()
    def invariants_hold(self):
        type(self).checks_run += 1
        snap = self._snapshot()
        assert snap["time"] == self.now and snap["paused"] == 0
        assert snap["grace"] == self.grace
        self._check_members_and_money(snap)
        self._check_certificates(snap)
        self._check_fragments_sum_to_face_value(snap)
        self._check_registries(snap)
        self._check_credit_lines(snap)
        self._check_overdue_moments(snap)
        self._check_no_retired_key_is_named(snap)
        self._check_bids()

    def _check_no_retired_key_is_named(self, snap: dict) -> None:
        retired = {a.lower() for a in self.retired}
        for fragment_id, (holder, *_rest) in snap["fragments"].items():
            assert _address(holder) not in retired, fragment_id
        for cert_id, words in snap["certs"].items():
            assert not {_address(w) for w in words[1:4]} & retired, cert_id
        for offer_id, offer in self.offers.items():
            assert not {offer["seller"], offer["financier"]} & set(self.retired), offer_id

    def _check_members_and_money(self, snap: dict) -> None:
        for account, (role, suspended, balance) in snap["accounts"].items():
            assert [role, bool(suspended)] == self.members[account], account
            assert balance == self.balances[account], account
        # the ledger holds exactly what was repaid and not yet paid out
        total_in = sum(c[5] for c in snap["certs"].values())
        total_out = sum(c[6] for c in snap["certs"].values())
        assert (total_in, total_out) == (self.paid_in, self.paid_out)
        assert snap["ledger_balance"] == total_in - total_out == self.ledger_balance

    def _check_certificates(self, snap: dict) -> None:
        assert snap["count"] == len(self.certs)
        for cert_id, words in snap["certs"].items():
            model = self.certs[cert_id]
            status, issuer, beneficiary, provider, face_value, repaid, paid_out = words[:7]
            assert (status, _address(issuer), _address(beneficiary), _address(provider)) == (
                model["status"],
                model["issuer"].lower(),
                model["beneficiary"].lower(),
                model["provider"].lower(),
            ), cert_id
            assert (face_value, repaid, paid_out, words[7], words[8], words[9]) == (
                model["face"],
                model["repaid"],
                model["paid_out"],
                model["maturity"],
                model["issued_at"],
                model["count"],
            ), cert_id
            assert paid_out <= repaid <= face_value
            # the credit provider was an active financier when the certificate was issued
            assert model["provider_standing"] == [ROLE_FINANCIER, False], cert_id

    def _check_fragments_sum_to_face_value(self, snap: dict) -> None:
        assert snap["fragments"].keys() == self.fragments.keys()
        totals: dict[int, int] = {}
        for fragment_id, (holder, parent, value, paid, owed) in snap["fragments"].items():
            model = self.fragments[fragment_id]
            cert_id = fragment_id >> 32
            cert = snap["certs"][cert_id]
            assert value > 0, fragment_id
            assert (_address(holder), value, paid, parent) == (
                model["holder"].lower(),
                model["value"],
                model["paid"],
                model["parent"],
            ), fragment_id
            seq = fragment_id & 0xFFFFFFFF
            assert seq == 0 or (parent >> 32 == cert_id and parent < fragment_id)
            # paid never runs ahead of the fragment's pro-rata share of what was repaid
            assert paid * cert[4] <= value * cert[5]
            assert owed == value * cert[5] // cert[4] - paid
            totals[cert_id] = totals.get(cert_id, 0) + value
        for cert_id, total in totals.items():
            assert total == snap["certs"][cert_id][4], cert_id

    def _check_registries(self, snap: dict) -> None:
        invoices = [c[10] for c in snap["certs"].values()]
        documents = [c[11] for c in snap["certs"].values()]
        # an invoice key and a document hash each back at most one certificate...
        assert len(set(invoices)) == len(invoices) and len(set(documents)) == len(documents)
        # ...and the registries name the certificate that holds them
        for cert_id, cert in snap["certs"].items():
            assert (cert[12], cert[13]) == (cert_id, cert_id)
            model = self.certs[cert_id]
            assert cert[10] == int.from_bytes(model["invoice"], "big")
            assert cert[11] == int.from_bytes(model["document"], "big")

    def _check_credit_lines(self, snap: dict) -> None:
        for (financier, core), (limit, used) in snap["lines"].items():
            assert limit == self.lines.get((financier, core), 0), (financier, core)
            assert used == self._used(financier, core), (financier, core)

    def _check_bids(self) -> None:
        """The book holds exactly every open bid's remaining escrow (no budget below zero:
        the contract's uint96 would have reverted, and the model's sum would differ); each
        bid's record, and what it bought from each seller, is the model's."""
        sellers = list(self.holders)
        data = self._bid_probe(len(self.bids), sellers)
        words = self.node.words(str(self.probe.address), data)
        assert words[0] == self.book_balance == sum(b["remaining"] for b in self.bids.values())
        at = 1
        for bid_id in range(1, len(self.bids) + 1):
            model = self.bids[bid_id]
            record = words[at : at + 9]
            sold = words[at + 9 : at + 9 + len(sellers)]
            at += 9 + len(sellers)
            assert record == [
                int(model["funder"], 16),
                model["expires"],
                model["min_days"],
                BID_OPEN if model["open"] else BID_CANCELLED,
                model["remaining"],
                model["per_seller"],
                model["min_amount"],
                model["max_amount"],
                pack_rate_bands(model["bands"]),
            ], bid_id
            for seller, amount in zip(sellers, sold, strict=True):
                # counted while the bid has a limit; a sale past the limit in force is
                # refused (the model expects SellerLimitReached); a later change of terms
                # may set the limit below what was already bought
                assert amount == model["sold"].get(seller, 0), (bid_id, seller)
        assert at == len(words)

    def _bid_probe(self, count: int, sellers: list[str]) -> str:
        selector = function_signature_to_4byte_selector("bidSnapshot(address,uint256,address[])")
        args = (self.node.book, count, sellers)
        return "0x" + (selector + abi_encode(["address", "uint256", "address[]"], args)).hex()

    def _check_overdue_moments(self, snap: dict) -> None:
        for cert_id, cert in snap["certs"].items():
            assert cert[14] == self._overdue_at(self.certs[cert_id], snap["time"]), cert_id


def test_ledger_invariants(
    LedgerProbe, BidBook, ledger, token, operator, core, bank, bank2, tier1, tier2, tier3, outsider
):
    from brownie import web3

    ledger.setCreditLine(core, BANK2_LIMIT, {"from": bank2})
    probe = LedgerProbe.deploy({"from": operator})
    book = BidBook.at(ledger.bidBook())
    for funder in (core, bank, bank2):
        token.approve(book, 2**255, {"from": funder})

    class Machine(LedgerStateMachine):
        moved: ClassVar[dict[str, int]] = {}

    Machine.node = Node(web3.provider.endpoint_uri, ledger, book)
    Machine.probe = probe
    Machine.token = str(ledger.settlementToken())
    Machine.operator, Machine.core, Machine.outsider = (
        str(a.address) for a in (operator, core, outsider)
    )
    Machine.bank, Machine.bank2 = str(bank.address), str(bank2.address)
    Machine.suppliers = tuple(str(a.address) for a in (tier1, tier2, tier3))
    # a deterministic clock: every block one second after the previous one
    Machine.node.request("anvil_setBlockTimestampInterval", 1)
    Machine.snapshot_id = Machine.node.request("evm_snapshot")
    started = time.perf_counter()
    runs = RUNS
    try:
        while Machine.steps_run < REQUIRED_STEPS:
            run_state_machine_as_test(
                Machine,
                settings=settings(
                    max_examples=runs,
                    stateful_step_count=STEPS_PER_RUN,
                    deadline=None,
                    # no example database: with one, hypothesis also "optimises" its pareto
                    # front of examples, which favours short runs over long ones
                    database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                ),
            )
            # hypothesis starts with a few short runs and may end any run early: top up
            runs = (REQUIRED_STEPS - Machine.steps_run) // STEPS_PER_RUN + 5
    finally:
        Machine.node.request("anvil_removeBlockTimestampInterval")
    elapsed = time.perf_counter() - started
    print(
        f"\n{Machine.steps_run} steps in {Machine.runs} runs, invariants checked "
        f"{Machine.checks_run} times, {elapsed:.0f} s; {Machine.moved}"
    )
    assert Machine.steps_run >= REQUIRED_STEPS
    # once before each run's first step and after every step
    assert Machine.checks_run == Machine.steps_run + Machine.runs
