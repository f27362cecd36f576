"""Ledger: the typed client of CreditLedger + SettlementToken used by the API and scripts.

Why a typed layer over :class:`~chain_client.contract.ContractHandle`: callers should deal
in the project's vocabulary (certificates, fragments, fen as ``int``, the dataclasses of
:mod:`chain_client.ledger_types`) and never in ABI tuples, hex or receipts. Every write
returns a :class:`~chain_client.ledger_types.TxOutcome` whose ``value`` is what the ledger
returned (a new id, fen paid), taken from the *events of the receipt*: a transaction's
return value is not recorded on chain, its events are, so this is also what an auditor
would read. Every refusal raises the exception named after the contract's custom error
(``Ledger.errors.InvalidSplitAmount``, see :mod:`chain_client.ledger_errors`).

Throughput: ``ledger.split(...)`` waits for its receipt. To keep many transactions in
flight, build calls with ``ledger.calls.*``, :meth:`Ledger.submit` them (signed and
broadcast, nonces assigned locally) and :meth:`Ledger.wait_all` later::

    pending = [alice.submit(alice.calls.split(fid, bob_address, 100)) for _ in range(50)]
    outcomes = alice.wait_all(pending)        # [TxOutcome(value=new fragment id), ...]
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Concatenate, Generic, ParamSpec, overload

from eth_abi import encode as abi_encode
from eth_utils import event_abi_to_log_topic, function_signature_to_4byte_selector
from web3 import Web3
from web3.logs import DISCARD
from web3.types import BlockParams, TxReceipt

from chain_client.addresses import ZERO_ADDRESS, checksum
from chain_client.batch import BatchCaller, encode_uint_call, word_address, words
from chain_client.bids import Bid, BidStatus, BidTerms, unpack_rate_bands
from chain_client.contract import ContractHandle
from chain_client.discount import days_to_maturity, discount
from chain_client.encoding import to_hex
from chain_client.errors import ContractRevert
from chain_client.events import FinancingAccepted, LedgerEventT
from chain_client.ledger_errors import LedgerErrors, ledger_errors
from chain_client.ledger_types import (
    Certificate,
    CertificateStatus,
    CreditLine,
    Fragment,
    Member,
    Offer,
    OfferStatus,
    Quote,
    RepaymentStatus,
    Role,
    TxOutcome,
    certificate_id_of,
    fragment_id_of,
    is_root_fragment,
)
from chain_client.manifest import DeploymentManifest
from chain_client.transactions import (
    BeforeBroadcast,
    PendingTransaction,
    PreparedTransaction,
    SignedTransaction,
    TransactionSender,
)

log = logging.getLogger(__name__)

_GET_CERTIFICATE = function_signature_to_4byte_selector("getCertificate(uint256)")
_GET_FRAGMENT = function_signature_to_4byte_selector("getFragment(uint256)")
_GET_BID = function_signature_to_4byte_selector("getBid(uint256)")
_QUOTE_BID = function_signature_to_4byte_selector("quoteBid(uint256,uint256,uint128,address)")

Extractor = Callable[["Ledger", TxReceipt], "int | None"]
P = ParamSpec("P")


@dataclass(frozen=True)
class LedgerCall:
    """One write, not sent yet: which contract, which function, and how to read its result.

    ``before_signing`` runs (and waits) before the call is estimated and signed: it is how
    :meth:`accept_offer` and :meth:`repay` top up the settlement-token allowance the call
    will spend.
    """

    function: str
    args: tuple[Any, ...]
    contract: str = "ledger"  # or "token", or "book" (the ledger's BidBook)
    extract: Extractor | None = None
    before_signing: Callable[[Ledger], None] | None = None


class PendingOutcome:
    """A broadcast ledger transaction; :meth:`wait` gives its :class:`TxOutcome`."""

    def __init__(self, ledger: Ledger, call: LedgerCall, pending: PendingTransaction) -> None:
        self.ledger = ledger
        self.call = call
        self.pending = pending

    @property
    def tx_hash(self) -> str:
        return self.pending.tx_hash

    def receipt(self, *, timeout: float | None = None) -> TxReceipt:
        """Block until mined with the sender's confirmations; raises the decoded revert."""
        return self.ledger.require_sender().wait(self.pending, timeout=timeout)

    def wait(self, *, timeout: float | None = None) -> TxOutcome:
        """:meth:`receipt`, read as the call's :class:`TxOutcome`."""
        return self.ledger.outcome(self.call, self.receipt(timeout=timeout))


class Calls:
    """Every write of the ledger, described once: its function, arguments and extractor.

    ``ledger.calls.split(...)`` builds the :class:`LedgerCall` for :meth:`Ledger.submit`
    (or a journal); ``ledger.split(...)``, made by :func:`sends` from this builder, sends
    it and waits for its :class:`TxOutcome`.
    """

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    # membership (operator)
    def register_member(self, account: str, org_id_hash: bytes, role: Role) -> LedgerCall:
        """Operator: onboard ``account`` for the organization ``org_id_hash``."""
        return LedgerCall("registerMember", (checksum(account), bytes(org_id_hash), int(role)))

    def change_member_role(self, account: str, role: Role) -> LedgerCall:
        return LedgerCall("changeMemberRole", (checksum(account), int(role)))

    def suspend_member(self, account: str) -> LedgerCall:
        return LedgerCall("suspendMember", (checksum(account),))

    def reinstate_member(self, account: str) -> LedgerCall:
        return LedgerCall("reinstateMember", (checksum(account),))

    def pause(self) -> LedgerCall:
        return LedgerCall("pause", ())

    # key rotation (operator): rotate, then move what names the old key, in batches
    def rotate_member(self, old_account: str, new_account: str) -> LedgerCall:
        """Operator: move a member's record to ``new_account`` (a fresh address) and retire
        ``old_account`` for good (contracts/ledger/Membership.sol, rotateMember)."""
        return LedgerCall("rotateMember", (checksum(old_account), checksum(new_account)))

    def move_certificates(self, old_account: str, certificate_ids: Sequence[int]) -> LedgerCall:
        """Operator, after a rotation: the retired key's place as issuer, beneficiary or
        credit provider goes to its successor (before :meth:`move_credit_lines`: the debts
        move with the certificates); ``value`` is the number of certificates moved."""
        return LedgerCall(
            "moveCertificates",
            (checksum(old_account), [int(c) for c in certificate_ids]),
            extract=_count_of("CertificatePartyMoved"),
        )

    def move_credit_lines(self, old_account: str, counterparties: Sequence[str]) -> LedgerCall:
        """Operator, after a rotation: the limits of the retired key's lines with each
        counterparty (both directions); ``value`` is the number of lines moved."""
        return LedgerCall(
            "moveCreditLines",
            (checksum(old_account), [checksum(c) for c in counterparties]),
            extract=_count_of("CreditLineMoved"),
        )

    def move_offers(self, old_account: str, offer_ids: Sequence[int]) -> LedgerCall:
        """Operator, after a rotation: open offers of (or to) the retired key; ``value`` is
        the number of offers moved."""
        return LedgerCall(
            "moveOffers",
            (checksum(old_account), [int(o) for o in offer_ids]),
            extract=_count_of("OfferPartyMoved"),
        )

    def move_holdings(self, old_account: str, fragment_ids: Sequence[int]) -> LedgerCall:
        """Operator, after a rotation: the retired key's fragments go to its successor
        (those already there are skipped); ``value`` is the number of fragments moved."""
        return LedgerCall(
            "moveHoldings",
            (checksum(old_account), [int(f) for f in fragment_ids]),
            extract=_count_of("HoldingMoved"),
        )

    def unpause(self) -> LedgerCall:
        return LedgerCall("unpause", ())

    def set_grace_period(self, seconds: int) -> LedgerCall:
        return LedgerCall("setGracePeriod", (int(seconds),))

    # credit lines (financier)
    def set_credit_line(self, core_enterprise: str, limit: int) -> LedgerCall:
        """Financier: set the limit (fen) it extends to ``core_enterprise``."""
        return LedgerCall("setCreditLine", (checksum(core_enterprise), int(limit)))

    # certificates
    def issue(
        self,
        credit_provider: str,
        beneficiary: str,
        face_value: int,
        maturity: int,
        invoice_key: bytes,
        document_hash: bytes,
    ) -> LedgerCall:
        """Core enterprise: issue a certificate; ``value`` is the new certificate id."""
        return LedgerCall(
            "issue",
            (
                checksum(credit_provider),
                checksum(beneficiary),
                int(face_value),
                int(maturity),
                bytes(invoice_key),
                bytes(document_hash),
            ),
            extract=_topic_value("CertificateIssued", 1),
        )

    def accept(self, certificate_id: int) -> LedgerCall:
        """Beneficiary: sign for it; ``value`` is the root fragment id."""
        return LedgerCall(
            "accept",
            (int(certificate_id),),
            extract=_arg_value("CertificateAccepted", "rootFragmentId"),
        )

    def reject(self, certificate_id: int) -> LedgerCall:
        return LedgerCall("reject", (int(certificate_id),))

    def revoke(self, certificate_id: int) -> LedgerCall:
        return LedgerCall("revoke", (int(certificate_id),))

    def split(self, fragment_id: int, to: str, amount: int) -> LedgerCall:
        """Holder: carve ``amount`` fen off to ``to``; ``value`` is the new fragment id."""
        return LedgerCall(
            "split",
            (int(fragment_id), checksum(to), int(amount)),
            extract=_topic_value("FragmentSplit", 3),
        )

    def transfer_fragment(self, fragment_id: int, to: str) -> LedgerCall:
        return LedgerCall("transferFragment", (int(fragment_id), checksum(to)))

    # financing
    def offer_financing(
        self, fragment_id: int, financier: str, amount: int, rate_bps: int, expires_at: int
    ) -> LedgerCall:
        """Holder: offer ``amount`` fen to a bank; ``value`` is the offer id."""
        return LedgerCall(
            "offerFinancing",
            (int(fragment_id), checksum(financier), int(amount), int(rate_bps), int(expires_at)),
            extract=_topic_value("FinancingOffered", 1),
        )

    def withdraw_offer(self, offer_id: int) -> LedgerCall:
        return LedgerCall("withdrawOffer", (int(offer_id),))

    def accept_offer(self, offer_id: int, *, approve: bool = True) -> LedgerCall:
        """Financier: buy the offer (DvP); ``value`` is the fragment it now holds.

        With ``approve`` the settlement-token allowance is first raised to what the
        payment can be when the transaction is mined (see :meth:`Ledger._payment_bound`).
        """

        def prepare(ledger: Ledger) -> None:
            ledger._ensure_allowance(ledger._payment_bound(offer_id))

        return LedgerCall(
            "acceptOffer",
            (int(offer_id),),
            extract=_financed_fragment,
            before_signing=prepare if approve else None,
        )

    # repayment
    def repay(self, certificate_id: int, amount: int, *, approve: bool = True) -> LedgerCall:
        """Issuer: pay ``amount`` fen towards a matured certificate (approving as needed)."""

        def prepare(ledger: Ledger) -> None:
            ledger._ensure_allowance(int(amount))

        return LedgerCall(
            "repay", (int(certificate_id), int(amount)), before_signing=prepare if approve else None
        )

    def claim(self, fragment_id: int) -> LedgerCall:
        """Holder: collect what the fragment is owed; ``value`` is the fen paid."""
        return LedgerCall("claim", (int(fragment_id),), extract=_sum_of("FragmentPaid", "amount"))

    def pay_fragments(self, certificate_id: int, from_seq: int, count: int) -> LedgerCall:
        """Anyone: pay a page of fragments; ``value`` is the total fen paid."""
        return LedgerCall(
            "payFragments",
            (int(certificate_id), int(from_seq), int(count)),
            extract=_sum_of("FragmentPaid", "amount"),
        )

    def mark_overdue(self, certificate_id: int) -> LedgerCall:
        return LedgerCall("markOverdue", (int(certificate_id),))

    def declare_default(self, certificate_id: int) -> LedgerCall:
        return LedgerCall("declareDefault", (int(certificate_id),))

    # standing bids (the ledger's BidBook)
    def post_bid(
        self, terms: BidTerms, issuers: Sequence[str], budget: int, *, approve: bool = True
    ) -> LedgerCall:
        """Financier, or core enterprise for its own certificates: post a standing bid,
        escrowing ``budget`` fen (the book is approved for it first); ``value`` is the bid
        id."""

        def prepare(ledger: Ledger) -> None:
            ledger._ensure_allowance(int(budget), ledger.book.address)

        return LedgerCall(
            "postBid",
            (terms.as_tuple(), [checksum(i) for i in issuers], int(budget)),
            contract="book",
            extract=_topic_value("BidPosted", 1),
            before_signing=prepare if approve else None,
        )

    def change_bid_terms(self, bid_id: int, terms: BidTerms) -> LedgerCall:
        """Funder: replace an open bid's terms."""
        return LedgerCall("changeBidTerms", (int(bid_id), terms.as_tuple()), contract="book")

    def set_bid_issuers(self, bid_id: int, issuers: Sequence[str], covered: bool) -> LedgerCall:
        """Funder: start (``covered``) or stop buying these core enterprises' certificates."""
        return LedgerCall(
            "setBidIssuers",
            (int(bid_id), [checksum(i) for i in issuers], bool(covered)),
            contract="book",
        )

    def change_bid_budget(
        self, bid_id: int, expected_remaining: int, new_remaining: int, *, approve: bool = True
    ) -> LedgerCall:
        """Funder: set an open bid's escrow to ``new_remaining`` fen if it is still
        ``expected_remaining`` (BidBudgetMoved otherwise: a sale landed first); a top-up is
        pulled, approving the book as needed, a reduction paid back."""

        def prepare(ledger: Ledger) -> None:
            top_up = int(new_remaining) - int(expected_remaining)
            if top_up > 0:
                ledger._ensure_allowance(top_up, ledger.book.address)

        return LedgerCall(
            "changeBidBudget",
            (int(bid_id), int(expected_remaining), int(new_remaining)),
            contract="book",
            before_signing=prepare if approve else None,
        )

    def cancel_bid(self, bid_id: int) -> LedgerCall:
        """Funder: close a bid for good; its remaining escrow is paid back (``value``)."""
        return LedgerCall(
            "cancelBid",
            (int(bid_id),),
            contract="book",
            extract=_arg_value("BidCancelled", "refunded"),
        )

    def sell_to_bid(
        self,
        bid_id: int,
        fragment_id: int,
        amount: int,
        min_payment: int,
        payee: str | None = None,
    ) -> LedgerCall:
        """Holder: sell ``amount`` fen of a fragment to a standing bid, in one transaction,
        for at least ``min_payment`` fen paid to ``payee`` (default: the seller); ``value``
        is the fragment the funder now holds."""
        return LedgerCall(
            "sellToBid",
            (
                int(bid_id),
                int(fragment_id),
                int(amount),
                int(min_payment),
                checksum(payee) if payee else ZERO_ADDRESS,
            ),
            contract="book",
            extract=_arg_value("SoldToBid", "financedFragmentId"),
        )

    def move_bids(self, old_account: str, bid_ids: Sequence[int]) -> LedgerCall:
        """Operator, after a rotation: the retired key's bids go to its successor; ``value``
        is the number of bids moved."""
        return LedgerCall(
            "moveBids",
            (checksum(old_account), [int(b) for b in bid_ids]),
            contract="book",
            extract=_count_of("BidFunderMoved"),
        )

    # settlement token
    def mint_settlement(self, to: str, amount: int) -> LedgerCall:
        """Token admin (the operator): create ``amount`` fen for ``to``."""
        return LedgerCall("mint", (checksum(to), int(amount)), contract="token")

    def approve_settlement(self, amount: int, spender: str | None = None) -> LedgerCall:
        """Allow ``spender`` (default: the ledger) to pull ``amount`` fen from this member."""
        target = checksum(spender) if spender else self._ledger.address
        return LedgerCall("approve", (target, int(amount)), contract="token")

    def transfer_settlement(self, to: str, amount: int) -> LedgerCall:
        return LedgerCall("transfer", (checksum(to), int(amount)), contract="token")


class sends(Generic[P]):  # noqa: N801 - used like a decorator: split = sends(Calls.split)
    """A :class:`Ledger` method that sends (and waits for) the call a :class:`Calls` builder
    makes, with the builder's arguments and docstring.

    Why not a method per write: it restated every argument of its builder (23 pairs that
    had to agree); this way an operation's arguments and extractor are written once.
    """

    def __init__(self, build: Callable[Concatenate[Calls, P], LedgerCall]) -> None:
        self._build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, ledger: None, owner: type[Ledger]) -> sends[P]: ...
    @overload
    def __get__(self, ledger: Ledger, owner: type[Ledger]) -> Callable[P, TxOutcome]: ...
    def __get__(
        self, ledger: Ledger | None, owner: type[Ledger]
    ) -> sends[P] | Callable[P, TxOutcome]:
        if ledger is None:
            return self
        build = self._build

        @functools.wraps(build)
        def send(*args: P.args, **kwargs: P.kwargs) -> TxOutcome:
            return ledger.execute(build(ledger.calls, *args, **kwargs))

        return send


class Ledger:
    """The ledger of one deployment (a :class:`DeploymentManifest`), signing as ``sender``.

    Reads need no sender. ``as_member(sender)`` gives the same ledger signing as another
    member (the API holds one sender per organization).
    """

    #: Every custom error, as stable exception classes: ``except Ledger.errors.NotHolder``.
    errors: ClassVar[LedgerErrors] = ledger_errors

    def __init__(
        self,
        w3: Web3,
        manifest: DeploymentManifest,
        sender: TransactionSender | None = None,
        *,
        batch_size: int = 500,
        read_workers: int = 4,
    ) -> None:
        self.w3 = w3
        self.manifest = manifest
        self.sender = sender
        # The token's errors are merged into the ledger's ABI: a failed token transfer
        # inside acceptOffer/repay bubbles up as e.g. ERC20InsufficientBalance.
        abi = _with_token_errors(manifest.ledger_abi, manifest.token_abi)
        book_abi = _with_token_errors(manifest.bid_book_abi, manifest.token_abi)
        self.ledger = ContractHandle(w3, manifest.ledger_address, abi, sender=sender)
        self.token = ContractHandle(w3, manifest.token_address, manifest.token_abi, sender=sender)
        #: the ledger's bid book (contracts/BidBook.sol): standing bids and sales to them
        self.book = ContractHandle(w3, manifest.bid_book_address, book_abi, sender=sender)
        self.calls = Calls(self)
        self.batch = BatchCaller(
            w3, batch_size=batch_size, workers=read_workers, decoder=self.ledger.decoder
        )
        self._batch_size = batch_size
        self._read_workers = read_workers
        self._event_topics = {
            e["name"]: to_hex(event_abi_to_log_topic(e))  # type: ignore[arg-type]
            for e in (*abi, *book_abi)
            if e.get("type") == "event"
        }
        #: which contract emits each event (the book's own events are the bid ones)
        self._event_handles = {
            e["name"]: self.book if e in book_abi and e not in abi else self.ledger
            for e in (*abi, *book_abi)
            if e.get("type") == "event"
        }

    # -- identity ---------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self.manifest.ledger_address

    @property
    def token_address(self) -> str:
        return self.manifest.token_address

    @property
    def account(self) -> str:
        """The address this view signs as."""
        return self.require_sender().address

    def require_sender(self) -> TransactionSender:
        """The sender this view signs with; ``ValueError`` for a read-only view."""
        if self.sender is None:
            raise ValueError("this Ledger is read-only: pass sender= or use as_member()")
        return self.sender

    def as_member(self, sender: TransactionSender) -> Ledger:
        """The same ledger, signing as ``sender``: the parsed contracts, the batch reader
        and the event topics are shared, not rebuilt (a service holds one view per
        member account)."""
        twin = copy.copy(self)
        twin.sender = sender
        twin.ledger = self.ledger.with_sender(sender)
        twin.token = self.token.with_sender(sender)
        twin.book = self.book.with_sender(sender)
        twin._event_handles = {
            name: twin.book if handle is self.book else twin.ledger
            for name, handle in self._event_handles.items()
        }
        twin.calls = Calls(twin)
        return twin

    # -- sending ----------------------------------------------------------------------------

    def prepare(self, call: LedgerCall) -> PreparedTransaction:
        """``call`` estimated and priced, ready to sign (its ``before_signing`` step done).

        Estimation happens here, so a call that would revert against the current state
        raises its custom error at once and nothing is signed.
        """
        if call.before_signing is not None:
            call.before_signing(self)
        handle = self._contract_of(call)
        tx = handle.transaction(call.function, *call.args)
        return self.require_sender().prepare(tx, abi=handle.abi)

    def submit(
        self, call: LedgerCall, *, before_broadcast: BeforeBroadcast | None = None
    ) -> PendingOutcome:
        """Sign and broadcast ``call`` without waiting for it to be mined.

        ``before_broadcast`` sees each signed transaction before the node does (see
        :meth:`TransactionSender.submit_prepared`): the API journals it there.
        """
        prepared = self.prepare(call)
        pending = self.require_sender().submit_prepared(prepared, before_broadcast=before_broadcast)
        return PendingOutcome(self, call, pending)

    def track(self, call: LedgerCall, signed: SignedTransaction) -> PendingOutcome:
        """A transaction of ``call`` signed and broadcast earlier (by a process that
        journaled it, then died), to wait for as if :meth:`submit` had just sent it."""
        abi = signed.abi or self._contract_of(call).abi
        return PendingOutcome(self, call, PendingTransaction.of(replace(signed, abi=abi)))

    def submit_many(self, calls: Iterable[LedgerCall]) -> list[PendingOutcome]:
        return [self.submit(call) for call in calls]

    @staticmethod
    def wait_all(
        pending: Sequence[PendingOutcome], *, timeout: float | None = None
    ) -> list[TxOutcome]:
        """Outcomes in order; the first failure raises (the rest are still mined).

        Consecutive transactions of the same sender are waited for together
        (:meth:`TransactionSender.wait_many`: one batched receipt poll per round).
        """
        outcomes: list[TxOutcome] = []
        start = 0
        while start < len(pending):
            sender = pending[start].ledger.require_sender()
            end = start + 1
            while end < len(pending) and pending[end].ledger.sender is sender:
                end += 1
            run = pending[start:end]
            receipts = sender.wait_many([p.pending for p in run], timeout=timeout)
            outcomes += [p.ledger.outcome(p.call, r) for p, r in zip(run, receipts, strict=True)]
            start = end
        return outcomes

    def execute(self, call: LedgerCall) -> TxOutcome:
        """Submit and wait."""
        return self.submit(call).wait()

    # -- writes: each sends the call its Calls builder of the same name describes ----------

    register_member = sends(Calls.register_member)
    change_member_role = sends(Calls.change_member_role)
    suspend_member = sends(Calls.suspend_member)
    reinstate_member = sends(Calls.reinstate_member)
    pause = sends(Calls.pause)
    rotate_member = sends(Calls.rotate_member)
    move_certificates = sends(Calls.move_certificates)
    move_credit_lines = sends(Calls.move_credit_lines)
    move_offers = sends(Calls.move_offers)
    move_holdings = sends(Calls.move_holdings)
    unpause = sends(Calls.unpause)
    set_grace_period = sends(Calls.set_grace_period)
    set_credit_line = sends(Calls.set_credit_line)
    issue = sends(Calls.issue)
    accept = sends(Calls.accept)
    reject = sends(Calls.reject)
    revoke = sends(Calls.revoke)
    split = sends(Calls.split)
    transfer_fragment = sends(Calls.transfer_fragment)
    offer_financing = sends(Calls.offer_financing)
    withdraw_offer = sends(Calls.withdraw_offer)
    accept_offer = sends(Calls.accept_offer)
    repay = sends(Calls.repay)
    claim = sends(Calls.claim)
    pay_fragments = sends(Calls.pay_fragments)
    mark_overdue = sends(Calls.mark_overdue)
    declare_default = sends(Calls.declare_default)
    post_bid = sends(Calls.post_bid)
    change_bid_terms = sends(Calls.change_bid_terms)
    set_bid_issuers = sends(Calls.set_bid_issuers)
    change_bid_budget = sends(Calls.change_bid_budget)
    cancel_bid = sends(Calls.cancel_bid)
    sell_to_bid = sends(Calls.sell_to_bid)
    move_bids = sends(Calls.move_bids)
    mint_settlement = sends(Calls.mint_settlement)
    approve_settlement = sends(Calls.approve_settlement)
    transfer_settlement = sends(Calls.transfer_settlement)

    # -- settlement token reads ---------------------------------------------------------

    def token_balance(self, address: str | None = None) -> int:
        return int(self.token.call("balanceOf", checksum(address or self.account)))

    def allowance(self, owner: str | None = None, spender: str | None = None) -> int:
        return int(
            self.token.call(
                "allowance", checksum(owner or self.account), checksum(spender or self.address)
            )
        )

    # -- reads ----------------------------------------------------------------------------

    def member(self, address: str) -> Member:
        role, suspended, org = self.ledger.call("memberOf", checksum(address))
        return Member(checksum(address), Role(role), bool(suspended), bytes(org))

    def account_of_organization(self, org_id_hash: bytes) -> str | None:
        account = str(self.ledger.call("accountOfOrganization", bytes(org_id_hash)))
        return None if int(account, 16) == 0 else checksum(account)

    def successor_of(self, address: str) -> str | None:
        """The key a retired address was rotated to, or None if it is not retired."""
        successor = str(self.ledger.call("successorOf", checksum(address)))
        return None if int(successor, 16) == 0 else checksum(successor)

    def current_account(self, address: str) -> str:
        """``address``, or the end of its chain of successors if it was rotated away."""
        current: str = checksum(address)
        while (successor := self.successor_of(current)) is not None:
            current = successor
        return current

    def credit_line(self, financier: str, core_enterprise: str) -> CreditLine:
        limit, used = self.ledger.call("creditLine", checksum(financier), checksum(core_enterprise))
        return CreditLine(checksum(financier), checksum(core_enterprise), int(limit), int(used))

    def certificate(
        self, certificate_id: int, *, block: int | BlockParams = "latest"
    ) -> Certificate:
        data = self.ledger.call_data(
            encode_uint_call(_GET_CERTIFICATE, int(certificate_id)), block=block
        )
        return certificate_from_words(int(certificate_id), words(data))

    def fragment(self, fragment_id: int, *, block: int | BlockParams = "latest") -> Fragment:
        data = self.ledger.call_data(encode_uint_call(_GET_FRAGMENT, int(fragment_id)), block=block)
        return fragment_from_words(int(fragment_id), words(data))

    def fragments(
        self, fragment_ids: Sequence[int], *, block: int | BlockParams = "latest"
    ) -> list[Fragment | ContractRevert]:
        """Many fragments in batched calls; an unknown id yields its UnknownFragment error."""
        calldatas = [encode_uint_call(_GET_FRAGMENT, fid) for fid in fragment_ids]
        results = self.batch.call_many(self.address, calldatas, block=block)
        return [
            r if isinstance(r, ContractRevert) else fragment_from_words(fid, words(r))
            for fid, r in zip(fragment_ids, results, strict=True)
        ]

    def fragments_of(
        self, certificate_id: int, *, block: int | BlockParams = "latest"
    ) -> list[Fragment]:
        """Every fragment of a certificate, seq 0 .. fragmentCount - 1, batched."""
        cert = self.certificate(certificate_id, block=block)
        ids = [fragment_id_of(cert.id, seq) for seq in range(cert.fragment_count)]
        fragments: list[Fragment] = []
        for item in self.fragments(ids, block=block):
            if isinstance(item, ContractRevert):
                raise item
            fragments.append(item)
        return fragments

    def offer(self, offer_id: int) -> Offer:
        raw = self.ledger.call("getOffer", int(offer_id))
        fragment_id, seller, rate_bps, expires_at, status, financier, amount = raw
        return Offer(
            id=int(offer_id),
            fragment_id=int(fragment_id),
            seller=checksum(seller),
            financier=checksum(financier),
            amount=int(amount),
            rate_bps=int(rate_bps),
            expires_at=int(expires_at),
            status=OfferStatus(status),
        )

    def quote(self, offer_id: int) -> Quote:
        """The contract's own price of an offer now (days, discount, payment)."""
        days, interest, payment = self.ledger.call("quote", int(offer_id))
        return Quote(days=int(days), discount=int(interest), payment=int(payment))

    def bid(self, bid_id: int) -> Bid:
        """A standing bid as the book stores it (UnknownBid if there is none)."""
        return bid_from_words(int(bid_id), list(self.book.call("getBid", int(bid_id))))

    def bid_count(self) -> int:
        """How many bids were ever posted (ids 1..bid_count)."""
        return int(self.book.call("bidCount"))

    def bids(self, bid_ids: Sequence[int] | None = None) -> list[Bid]:
        """Bids in batched calls (default: every bid ever posted, open or not)."""
        ids = list(bid_ids) if bid_ids is not None else list(range(1, self.bid_count() + 1))
        results = self.batch.call_many(
            self.bid_book_address, [encode_uint_call(_GET_BID, i) for i in ids]
        )
        found = []
        for bid_id, data in zip(ids, results, strict=True):
            if isinstance(data, ContractRevert):
                raise data
            found.append(bid_from_words(bid_id, words(data)))
        return found

    def quote_bids(
        self, bid_ids: Sequence[int], fragment_id: int, amount: int, seller: str
    ) -> dict[int, Quote | ContractRevert]:
        """Each bid's own price of ``seller`` selling ``amount`` fen of a fragment to it now,
        or the error the sale would raise (the book's and the ledger's checks, decoded),
        in batched calls: what a supplier compares across funders."""
        types = ["uint256", "uint256", "uint128", "address"]
        calldatas = [
            to_hex(
                _QUOTE_BID
                + abi_encode(types, [int(b), int(fragment_id), int(amount), checksum(seller)])
            )
            for b in bid_ids
        ]
        results = self.batch.call_many(self.bid_book_address, calldatas)
        quotes: dict[int, Quote | ContractRevert] = {}
        for bid_id, data in zip(bid_ids, results, strict=True):
            if isinstance(data, ContractRevert):
                quotes[int(bid_id)] = data
            else:
                days, interest, payment = words(data)[:3]
                quotes[int(bid_id)] = Quote(days=days, discount=interest, payment=payment)
        return quotes

    def quote_bid(self, bid_id: int, fragment_id: int, amount: int, seller: str) -> Quote:
        """The book's own price of ``seller`` selling ``amount`` fen of a fragment to a bid
        now, with every check of the sale: a refusal raises the sale's error."""
        days, interest, payment = self.book.call(
            "quoteBid", int(bid_id), int(fragment_id), int(amount), checksum(seller)
        )
        return Quote(days=int(days), discount=int(interest), payment=int(payment))

    def bid_covers(self, bid_id: int, issuer: str) -> bool:
        return bool(self.book.call("bidCovers", int(bid_id), checksum(issuer)))

    def sold_to_bid(self, bid_id: int, seller: str) -> int:
        """Fen the bid bought from ``seller`` so far (counted while it has a per-seller limit)."""
        return int(self.book.call("soldToBid", int(bid_id), checksum(seller)))

    @property
    def bid_book_address(self) -> str:
        return self.manifest.bid_book_address

    def owed(self, fragment_id: int) -> int:
        return int(self.ledger.call("owed", int(fragment_id)))

    def certificate_of_invoice(self, invoice_key: bytes) -> int | None:
        """The certificate an invoice key backs, or None if it backs none."""
        found = int(self.ledger.call("certificateOfInvoice", bytes(invoice_key)))
        return found or None

    def certificate_of_document(self, document_hash: bytes) -> int | None:
        """The certificate a document hash backs (revoked or rejected ones included), or
        None: a document anchored once cannot back a second certificate."""
        found = int(self.ledger.call("certificateOfDocument", bytes(document_hash)))
        return found or None

    def overdue_at(self, certificate_id: int, *, block: int | BlockParams = "latest") -> int:
        """The moment after which the certificate may be marked overdue: maturity plus the
        grace period, extended by the time the ledger was paused since maturity (the
        contract's rule, Repayment.overdueAt)."""
        return int(self.ledger.call("overdueAt", int(certificate_id), block=block))

    def certificate_count(self) -> int:
        return int(self.ledger.call("certificateCount"))

    def grace_period(self) -> int:
        return int(self.ledger.call("gracePeriod"))

    def paused(self) -> bool:
        return bool(self.ledger.call("paused"))

    def provenance(
        self, fragment_id: int, *, block: int | BlockParams = "latest"
    ) -> list[Fragment]:
        """The path from ``fragment_id`` up to the root fragment (child first, root last)."""
        path = [self.fragment(fragment_id, block=block)]
        while path[-1].parent_id is not None:
            path.append(self.fragment(path[-1].parent_id, block=block))
        return path

    def holdings(self, address: str) -> list[Fragment]:
        """Fragments ``address`` holds now.

        Candidates come from the events that can give a member a fragment (accepting a
        certificate, receiving a split, a transfer, a financing, or a rotation's move to
        it); each is then read
        from state and kept only if the member still holds it, so a fragment passed on
        later is not listed. The API keeps an indexed read model for large ledgers; this
        is the source of truth it can be checked against.
        """
        who = checksum(address)
        topic = "0x" + "00" * 12 + who[2:].lower()
        candidates: set[int] = set()
        for record in self._logs("CertificateAccepted", [None, topic]):
            candidates.add(int(record["args"]["rootFragmentId"]))
        for record in self._logs("FragmentTransferred", [None, None, topic]):
            candidates.add(int(record["args"]["fragmentId"]))
        for record in self._logs("HoldingMoved", [None, None, topic]):
            candidates.add(int(record["args"]["fragmentId"]))
        for financing in self.event_records(FinancingAccepted, [None, None, topic]):
            candidates.add(financing.financed_fragment_id)
        for record in self._logs("FragmentSplit", []):
            if record["args"]["to"] == who:
                candidates.add(int(record["args"]["fragmentId"]))
        ordered = sorted(candidates)
        return [
            f
            for f in self.fragments(ordered)
            if isinstance(f, Fragment) and f.holder == who and f.value > 0
        ]

    def repayment_status(self, certificate_id: int) -> RepaymentStatus:
        block = self.w3.eth.get_block("latest")
        cert = self.certificate(certificate_id, block=int(block["number"]))
        overdue_at = self.overdue_at(certificate_id, block=int(block["number"]))
        return RepaymentStatus(
            certificate_id=cert.id,
            status=cert.status,
            face_value=cert.face_value,
            repaid=cert.repaid,
            paid_out=cert.paid_out,
            maturity=cert.maturity,
            overdue_at=overdue_at,
            as_of=int(block["timestamp"]),
        )

    def events(
        self,
        name: str,
        topics: Sequence[Any] = (),
        *,
        from_block: int | None = None,
        to_block: int | BlockParams = "latest",
    ) -> list[dict[str, Any]]:
        """Decoded logs of one ledger event (``args``, ``blockNumber``, ``logIndex``...)."""
        return self._logs(name, list(topics), from_block=from_block, to_block=to_block)

    # -- internals ------------------------------------------------------------------------

    def outcome(self, call: LedgerCall, receipt: TxReceipt) -> TxOutcome:
        """What ``call`` did, read from its receipt (``value`` by the call's extractor)."""
        value = call.extract(self, receipt) if call.extract is not None else None
        return TxOutcome(
            tx_hash=to_hex(receipt["transactionHash"]),
            block_number=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            value=value,
        )

    def receipt_events(self, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
        """The ``name`` events this ledger emitted in ``receipt``, decoded (args dicts)."""
        return [dict(e["args"]) for e in self._receipt_logs(receipt, name)]

    def receipt_records(self, receipt: TxReceipt, kind: type[LedgerEventT]) -> list[LedgerEventT]:
        """The ``kind`` events this ledger emitted in ``receipt``, as typed records."""
        return [
            kind.from_args(e["args"], block_number=e["blockNumber"], log_index=e["logIndex"])
            for e in self._receipt_logs(receipt, kind.EVENT)
        ]

    def event_records(
        self,
        kind: type[LedgerEventT],
        topics: Sequence[Any] = (),
        *,
        from_block: int | None = None,
        to_block: int | BlockParams = "latest",
    ) -> list[LedgerEventT]:
        """:meth:`events` of one kind, as typed records."""
        return [
            kind.from_args(e["args"], block_number=e["blockNumber"], log_index=e["logIndex"])
            for e in self._logs(kind.EVENT, list(topics), from_block=from_block, to_block=to_block)
        ]

    def _receipt_logs(self, receipt: TxReceipt, name: str) -> list[Any]:
        handle = self._event_handles[name]
        event = handle.contract.events[name]()
        return [
            e
            for e in event.process_receipt(receipt, errors=DISCARD)
            if checksum(e["address"]) == handle.address
        ]

    def _contract_of(self, call: LedgerCall) -> ContractHandle:
        return {"token": self.token, "book": self.book}.get(call.contract, self.ledger)

    def _payment_bound(self, offer_id: int) -> int:
        """The most the financier can pay for an offer when the tx is mined.

        The payment grows as days to maturity shrink; the tx is mined at or after the
        latest block, possibly a day boundary later, so we price one day less than now
        (never more than the amount). Approving exactly this leaves at most one day's
        interest of allowance behind.
        """
        offer = self.offer(offer_id)
        cert = self.certificate(certificate_id_of(offer.fragment_id))
        now = int(self.w3.eth.get_block("latest")["timestamp"])
        days = max(days_to_maturity(now, cert.maturity) - 1, 0)
        return offer.amount - discount(offer.amount, offer.rate_bps, days)

    def _ensure_allowance(self, needed: int, spender: str | None = None) -> None:
        """Approve ``spender`` (default: the ledger) for ``needed`` fen if the allowance is
        short (and wait)."""
        if self.allowance(spender=spender) < needed:
            self.execute(self.calls.approve_settlement(needed, spender))

    def _logs(
        self,
        name: str,
        topics: list[Any],
        *,
        from_block: int | None = None,
        to_block: int | BlockParams = "latest",
    ) -> list[dict[str, Any]]:
        handle = self._event_handles[name]
        event = handle.contract.events[name]
        query: dict[str, Any] = {
            "address": handle.address,
            "fromBlock": self.manifest.deployment_block if from_block is None else from_block,
            "toBlock": to_block,
            "topics": [self._event_topics[name], *topics],
        }
        while query["topics"] and query["topics"][-1] is None:
            query["topics"].pop()
        decoded = []
        for entry in self.w3.eth.get_logs(query):  # type: ignore[arg-type]
            item = event().process_log(entry)
            decoded.append(
                {
                    "event": name,
                    "args": dict(item["args"]),
                    "blockNumber": int(item["blockNumber"]),
                    "logIndex": int(item["logIndex"]),
                    "transactionHash": to_hex(item["transactionHash"]),
                }
            )
        return decoded


def _with_token_errors(
    abi: Sequence[dict[str, Any]], token_abi: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``abi`` with the token's errors merged in: a failed token transfer inside a call
    (acceptOffer, repay, postBid, sellToBid) bubbles up as e.g. ERC20InsufficientBalance."""
    known = {e.get("name") for e in abi if e.get("type") == "error"}
    return [
        *abi,
        *(e for e in token_abi if e.get("type") == "error" and e.get("name") not in known),
    ]


# -- receipt value extractors -----------------------------------------------------------


def _topic_value(event: str, index: int) -> Extractor:
    """The indexed uint argument at topic ``index`` of the first ``event`` of the receipt."""

    def extract(ledger: Ledger, receipt: TxReceipt) -> int | None:
        topic0 = ledger._event_topics[event]
        emitter = ledger._event_handles[event].address
        for entry in receipt["logs"]:
            topics = entry["topics"]
            if checksum(entry["address"]) == emitter and topics and to_hex(topics[0]) == topic0:
                return int.from_bytes(bytes(topics[index]), "big")
        return None

    return extract


def _arg_value(event: str, arg: str) -> Extractor:
    def extract(ledger: Ledger, receipt: TxReceipt) -> int | None:
        found = ledger.receipt_events(receipt, event)
        return int(found[0][arg]) if found else None

    return extract


def _financed_fragment(ledger: Ledger, receipt: TxReceipt) -> int | None:
    """accept_offer's value: the fragment the financier now holds."""
    found = ledger.receipt_records(receipt, FinancingAccepted)
    return found[0].financed_fragment_id if found else None


def _count_of(event: str) -> Extractor:
    """How many ``event``s the ledger emitted in the receipt (what a batch moved)."""

    def extract(ledger: Ledger, receipt: TxReceipt) -> int | None:
        return len(ledger.receipt_events(receipt, event))

    return extract


def _sum_of(event: str, arg: str) -> Extractor:
    def extract(ledger: Ledger, receipt: TxReceipt) -> int | None:
        return sum(int(e[arg]) for e in ledger.receipt_events(receipt, event))

    return extract


# -- decoding -----------------------------------------------------------------------------


def bid_from_words(bid_id: int, w: Sequence[Any]) -> Bid:
    """getBid's nine static words (or values), in the struct's order (LedgerTypes.sol)."""
    funder, expires_at, min_days, status, remaining, per_seller, min_amount, max_amount, bands = w[
        :9
    ]
    terms = BidTerms(
        bands=tuple(unpack_rate_bands(int(bands))),
        min_days=int(min_days),
        min_amount=int(min_amount),
        max_amount=int(max_amount),
        per_seller_limit=int(per_seller),
        expires_at=int(expires_at),
    )
    address = word_address(funder) if isinstance(funder, int) else checksum(funder)
    return Bid(int(bid_id), address, BidStatus(int(status)), int(remaining), terms)


def certificate_from_words(certificate_id: int, w: Sequence[int]) -> Certificate:
    """getCertificate's twelve static words, in the struct's order (LedgerTypes.sol)."""
    (
        issuer,
        maturity,
        fragment_count,
        status,
        beneficiary,
        paid_out,
        credit_provider,
        issued_at,
        face_value,
        repaid,
        invoice_key,
        document_hash,
    ) = w[:12]
    return Certificate(
        id=certificate_id,
        issuer=word_address(issuer),
        beneficiary=word_address(beneficiary),
        credit_provider=word_address(credit_provider),
        face_value=face_value,
        maturity=maturity,
        issued_at=issued_at,
        status=CertificateStatus(status),
        fragment_count=fragment_count,
        repaid=repaid,
        paid_out=paid_out,
        invoice_key=invoice_key.to_bytes(32, "big"),
        document_hash=document_hash.to_bytes(32, "big"),
    )


def fragment_from_words(fragment_id: int, w: Sequence[int]) -> Fragment:
    """getFragment's five static words: certificateId, parent, holder, value, paid."""
    cid, parent, holder, value, paid = w[:5]
    return Fragment(
        id=fragment_id,
        certificate_id=cid,
        parent_id=None if is_root_fragment(fragment_id) else parent,
        holder=word_address(holder),
        value=value,
        paid=paid,
    )
