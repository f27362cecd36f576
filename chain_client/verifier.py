"""The bank's verifier: is this fragment what the platform says it is?

Why independent: a bank lends to a tier-3 supplier it has never met because every
fragment traces back to one confirmed debt of a core enterprise (穿透). The bank must be
able to check that from the chain alone, not from the platform's database or API, which
is exactly what could be wrong or lying. So the verifier takes only an RPC URL, a
deployment manifest and a fragment id, reads state and events pinned to one block, and
re-derives every claim:

``manifest``        the chain id, the code at both addresses (keccak equal to the
                    manifest's), the ledger created at the manifest's block, bound to its
                    token. Everything below trusts this code, so it is checked first.
``node_freshness``  the node's view is current: its head is not older than
                    ``max_head_age`` by the wall clock (on chains that seal blocks on a
                    period), and not behind or forked from the reference nodes of other
                    organizations given (:mod:`chain_client.freshness`). Every other answer
                    is the chain as this node has it, and a node that stopped syncing
                    answers consistently and wrongly (a settled certificate read as
                    ``ACTIVE, repaid 0``). A failure does not stop the other checks: they
                    show what the stale node says. With ``allow_stale`` a stale node is
                    reported and the verdict warns that it may be out of date, but holds.
``fragment_exists`` the fragment is on the ledger.
``lineage``         each parent exists, is in the same certificate, was created before
                    the child, and exactly one FragmentSplit event records each link.
``issuance``        one CertificateIssued event, from the issuer, who was a registered
                    CoreEnterprise at that block, with the certificate's terms.
``acceptance``      one CertificateAccepted event from the beneficiary, creating the root.

A key rotation (docs/design.md, Key rotation) moves a certificate's parties to their
organizations' new keys (CertificatePartyMoved) and fragments to their holders' new keys
(HoldingMoved, which changes only the holder the state shows). The issuance and acceptance
checks apply the certificate's moves, in chain order, to the parties their events name,
and each move must go from a retired key along its chain of successors (``successorOf``),
so a move that is not a rotation's fails.
``invoice``         the invoice key is set, maps back to this certificate, used once.
``financing``       every FinancingAccepted touching the lineage, re-priced by the
                    discount rule with the offer's own rate, and every sale to a
                    standing bid (SoldToBid) re-priced with the rate of the bid's terms
                    in force at the sale (its last BidTermsSet before it) for its days.
``repayment``       repaid <= face value, paid out <= repaid, the fragments' paid amounts
                    add up to paid out, the status agrees.
``value_invariant`` the whole certificate: fragment values are all non-zero and sum to
                    the face value, and there are exactly ``fragmentCount`` of them.

The check functions take plain inputs, so they can be exercised with doctored data.
The reads after the manifest check are pinned to the head the freshness check judged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from eth_utils import keccak, to_checksum_address
from web3 import Web3

from chain_client.addresses import checksum
from chain_client.batch import word_address, words
from chain_client.bids import BidTerms
from chain_client.discount import discount as discount_rule
from chain_client.encoding import jsonable, to_hex
from chain_client.errors import ContractRevert, ManifestError
from chain_client.events import (
    CertificatePartyMoved,
    FinancingAccepted,
    LedgerEventT,
    SoldToBid,
)
from chain_client.freshness import DEFAULT_MAX_LAG_BLOCKS, Freshness, assess
from chain_client.ledger import Ledger
from chain_client.ledger_types import (
    Certificate,
    CertificateStatus,
    Fragment,
    Role,
    certificate_id_of,
    fragment_id_of,
    is_root_fragment,
    seq_of,
)
from chain_client.manifest import EMPTY_CODE_HASH, DeploymentManifest, mismatches

CHECK_ORDER = (
    "manifest",
    "node_freshness",
    "fragment_exists",
    "lineage",
    "issuance",
    "acceptance",
    "invoice",
    "financing",
    "repayment",
    "value_invariant",
)


def _topic(signature: str) -> str:
    return to_hex(keccak(text=signature))


TOPIC_ISSUED = _topic(
    "CertificateIssued(uint256,address,address,address,uint256,uint256,bytes32,bytes32)"
)
TOPIC_ACCEPTED = _topic("CertificateAccepted(uint256,address,uint256)")
TOPIC_SPLIT = _topic("FragmentSplit(uint256,uint256,uint256,address,address,uint256)")


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str
    skipped: bool = False  # not run because an earlier check it depends on failed


@dataclass(frozen=True)
class SplitEvent:
    """One FragmentSplit log: the link child -> parent, and where it sits in history."""

    certificate_id: int
    parent_id: int
    fragment_id: int
    sender: str
    to: str
    value: int
    block_number: int
    log_index: int

    @property
    def position(self) -> tuple[int, int]:
        return (self.block_number, self.log_index)


@dataclass(frozen=True)
class IssuedEvent:
    certificate_id: int
    issuer: str
    beneficiary: str
    credit_provider: str
    face_value: int
    maturity: int
    invoice_key: bytes
    document_hash: bytes
    block_number: int
    log_index: int


@dataclass(frozen=True)
class AcceptedEvent:
    certificate_id: int
    beneficiary: str
    root_fragment_id: int
    block_number: int
    log_index: int


@dataclass
class VerificationReport:
    """What the verifier found; ``ok`` only if every check passed."""

    fragment_id: int
    certificate_id: int
    chain_id: int | None
    ledger_address: str
    block_number: int | None
    checks: list[Check] = field(default_factory=list)
    lineage: list[int] = field(default_factory=list)  # fragment ids, child first
    fragment: dict[str, Any] | None = None
    certificate: dict[str, Any] | None = None
    financing: list[dict[str, Any]] = field(default_factory=list)
    repayment: dict[str, Any] | None = None
    freshness: dict[str, Any] | None = None  # chain_client.freshness.Freshness
    fragments_read: int = 0
    elapsed_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed and not c.skipped]

    @property
    def stale(self) -> bool:
        """The node's view was found stale (whether or not that was allowed)."""
        return bool(self.freshness and self.freshness.get("stale"))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["failed_checks"] = [c.name for c in self.failed]
        return jsonable(data, money_keys=_MONEY_KEYS)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def summary(self) -> str:
        """A few lines for a credit officer: verdict, each check, then the first failure."""
        verdict = "VERIFIED" if self.ok else "NOT VERIFIED"
        if self.ok and self.stale:
            verdict = "VERIFIED AS OF A STALE NODE"
        lines = [
            f"{verdict}: fragment {self.fragment_id} (certificate {self.certificate_id}, "
            f"seq {seq_of(self.fragment_id)}) on ledger {self.ledger_address}, "
            f"chain {self.chain_id}, block {self.block_number}",
        ]
        for check in self.checks:
            mark = "SKIP" if check.skipped else ("ok  " if check.passed else "FAIL")
            lines.append(f"  [{mark}] {check.name}: {check.detail}")
        if self.failed:
            first = self.failed[0]
            lines.append(f"failed check: {first.name} - {first.detail}")
        if self.ok and self.stale:
            lines.append(
                f"WARNING: the node's view is stale (allowed); this answer may be out of date: "
                f"the chain may have moved on since block {self.block_number}"
            )
        lines.append(f"read {self.fragments_read} fragment(s) in {self.elapsed_seconds:.3f} s")
        return "\n".join(lines)


# -- pure checks ------------------------------------------------------------------------


def check_node_freshness(freshness: Freshness) -> Check:
    """Fails if the node is stale, unless the caller allowed that (then it passes and says
    so, and the report's summary warns that the answer may be out of date)."""
    if not freshness.stale:
        return Check("node_freshness", True, freshness.describe())
    if freshness.stale_allowed:
        return Check(
            "node_freshness",
            True,
            f"STALE (allowed, the answer may be out of date): {freshness.describe()}",
        )
    return Check("node_freshness", False, freshness.describe())


def check_lineage(
    fragment_id: int,
    fragments: Mapping[int, Fragment],
    splits: Mapping[int, Sequence[SplitEvent]],
    accepted: Sequence[AcceptedEvent],
    fragment_count: int,
) -> tuple[Check, list[int]]:
    """Walk from ``fragment_id`` to the root; returns the check and the path (child first).

    ``fragments``: what the chain's state says, by id; ``splits``: FragmentSplit events by
    the id of the fragment they created; ``accepted``: the certificate's acceptance events.
    """
    certificate_id = certificate_id_of(fragment_id)
    path: list[int] = []
    current: int | None = fragment_id
    problems: list[str] = []
    while current is not None:
        if current in path or len(path) > fragment_count:
            problems.append(f"the parent chain loops at fragment {current}")
            break
        path.append(current)
        fragment = fragments.get(current)
        if fragment is None:
            problems.append(f"fragment {current} does not exist")
            break
        if (
            fragment.certificate_id != certificate_id
            or certificate_id_of(current) != certificate_id
        ):
            problems.append(
                f"fragment {current} belongs to certificate {fragment.certificate_id}, "
                f"not {certificate_id}"
            )
            break
        if seq_of(current) >= fragment_count:
            problems.append(f"fragment {current} has seq {seq_of(current)} >= {fragment_count}")
        if fragment.parent_id is None:
            if not is_root_fragment(current):
                problems.append(f"fragment {current} has no parent but is not the root (seq 0)")
            roots = [a for a in accepted if a.root_fragment_id == current]
            if len(roots) != 1:
                problems.append(
                    f"root fragment {current}: {len(roots)} CertificateAccepted event(s), "
                    "expected 1"
                )
            break
        parent_id = fragment.parent_id
        events = list(splits.get(current, ()))
        if len(events) != 1:
            problems.append(
                f"fragment {current}: {len(events)} FragmentSplit event(s) create it, expected 1"
            )
        else:
            event = events[0]
            if event.parent_id != parent_id or event.certificate_id != certificate_id:
                problems.append(
                    f"fragment {current}: state says parent {parent_id}, its FragmentSplit "
                    f"event says parent {event.parent_id} in certificate {event.certificate_id}"
                )
            created_parent = _creation_position(parent_id, splits, accepted)
            if created_parent is not None and created_parent >= event.position:
                problems.append(
                    f"fragment {current} was created (block {event.block_number}) before its "
                    f"parent {parent_id}"
                )
        if certificate_id_of(parent_id) != certificate_id:
            problems.append(f"parent {parent_id} of {current} is in another certificate")
            break
        if seq_of(parent_id) >= seq_of(current):
            problems.append(
                f"parent {parent_id} (seq {seq_of(parent_id)}) is not older than "
                f"{current} (seq {seq_of(current)})"
            )
            break
        current = parent_id
    if problems:
        return Check("lineage", False, "; ".join(problems)), path
    depth = len(path) - 1
    return (
        Check(
            "lineage",
            True,
            f"{depth} split(s) back to root fragment {path[-1]} of certificate "
            f"{certificate_id}; every link matches its FragmentSplit event",
        ),
        path,
    )


def _creation_position(
    fragment_id: int,
    splits: Mapping[int, Sequence[SplitEvent]],
    accepted: Sequence[AcceptedEvent],
) -> tuple[int, int] | None:
    if is_root_fragment(fragment_id):
        roots = [a for a in accepted if a.root_fragment_id == fragment_id]
        return (roots[0].block_number, roots[0].log_index) if roots else None
    events = splits.get(fragment_id, ())
    return events[0].position if len(events) == 1 else None


def check_value_invariant(certificate: Certificate, fragments: Sequence[Fragment]) -> Check:
    """All fragments of the certificate: none zero, count as recorded, sum == face value."""
    problems: list[str] = []
    if len(fragments) != certificate.fragment_count:
        problems.append(
            f"read {len(fragments)} fragment(s), the certificate records "
            f"{certificate.fragment_count}"
        )
    zero = [f.id for f in fragments if f.value <= 0]
    if zero:
        problems.append(f"{len(zero)} fragment(s) with zero value, e.g. {zero[:3]}")
    total = sum(f.value for f in fragments)
    if total != certificate.face_value:
        problems.append(
            f"fragments sum to {total} fen, the face value is {certificate.face_value} fen"
        )
    if problems:
        return Check("value_invariant", False, "; ".join(problems))
    return Check(
        "value_invariant",
        True,
        f"{len(fragments)} fragment(s), all non-zero, sum to the face value "
        f"{certificate.face_value} fen",
    )


def apply_moves(
    parties: Mapping[str, str],
    moves: Sequence[CertificatePartyMoved],
    successors: Mapping[str, Sequence[str]],
    after: tuple[int, int] = (-1, -1),
    *,
    every_party: bool = False,
) -> tuple[dict[str, str], list[str]]:
    """``parties`` (what -> address, as an event named them at position ``after``) once the
    certificate's key-rotation moves that came later are applied in chain order, and what
    is wrong with those moves: each must go from a retired key to one on its chain of
    successors (``successors``: address -> the keys it was rotated to, in order, as
    ``successorOf`` says), and, if ``parties`` are ``every_party`` of the certificate,
    from one of them (the ledger refuses any other: NotCertificateParty)."""
    current = dict(parties)
    problems: list[str] = []
    for move in sorted(moves, key=lambda m: (m.block_number, m.log_index)):
        if (move.block_number, move.log_index) <= after:
            continue
        if every_party and move.from_account not in current.values():
            problems.append(
                f"the CertificatePartyMoved at block {move.block_number} moves "
                f"{move.from_account}, not a party of the certificate then"
            )
        elif move.to_account not in successors.get(move.from_account, ()):
            problems.append(
                f"the CertificatePartyMoved at block {move.block_number} moves "
                f"{move.from_account} to {move.to_account}, which is not a key it was rotated to"
            )
        current = move.applied(current)
    return current, problems


def check_issuance(
    certificate: Certificate,
    issued: Sequence[IssuedEvent],
    issuer_role: Role | None,
    moves: Sequence[CertificatePartyMoved] = (),
    successors: Mapping[str, Sequence[str]] | None = None,
) -> Check:
    """``moves``: the certificate's CertificatePartyMoved events (key rotations), applied
    to the parties the CertificateIssued event names (:func:`apply_moves`)."""
    if len(issued) != 1:
        return Check("issuance", False, f"{len(issued)} CertificateIssued event(s), expected 1")
    event = issued[0]
    named = {
        "issuer": event.issuer,
        "beneficiary": event.beneficiary,
        "credit provider": event.credit_provider,
    }
    parties, problems = apply_moves(
        named, moves, successors or {}, (event.block_number, event.log_index), every_party=True
    )
    if problems:
        return Check("issuance", False, "; ".join(problems))
    differences = [
        name
        for name, on_chain, logged in (
            ("issuer", certificate.issuer, parties["issuer"]),
            ("beneficiary", certificate.beneficiary, parties["beneficiary"]),
            ("credit provider", certificate.credit_provider, parties["credit provider"]),
            ("face value", certificate.face_value, event.face_value),
            ("maturity", certificate.maturity, event.maturity),
            ("invoice key", certificate.invoice_key, event.invoice_key),
            ("document hash", certificate.document_hash, event.document_hash),
        )
        if on_chain != logged
    ]
    if differences:
        moved = " (after its key-rotation moves)" if moves else ""
        return Check(
            "issuance",
            False,
            f"the certificate's state differs from its CertificateIssued event{moved} in: "
            + ", ".join(differences),
        )
    if issuer_role != Role.CORE_ENTERPRISE:
        role = issuer_role.name if issuer_role is not None else "unknown"
        return Check(
            "issuance",
            False,
            f"issuer {event.issuer} was not a registered CoreEnterprise at block "
            f"{event.block_number} (role {role})",
        )
    rotated = (
        f"; {len(moves)} key-rotation move(s) of its parties, each to a retired key's successor"
        if moves
        else ""
    )
    return Check(
        "issuance",
        True,
        f"issued at block {event.block_number} by core enterprise {event.issuer} for "
        f"{event.face_value} fen, maturity {event.maturity}{rotated}",
    )


def check_acceptance(
    certificate: Certificate,
    accepted: Sequence[AcceptedEvent],
    moves: Sequence[CertificatePartyMoved] = (),
    successors: Mapping[str, Sequence[str]] | None = None,
) -> Check:
    """The beneficiary that accepted is the certificate's, once the key-rotation moves
    after the acceptance are applied (:func:`apply_moves`)."""
    if len(accepted) != 1:
        return Check(
            "acceptance", False, f"{len(accepted)} CertificateAccepted event(s), expected 1"
        )
    event = accepted[0]
    parties, problems = apply_moves(
        {"beneficiary": event.beneficiary},
        moves,
        successors or {},
        (event.block_number, event.log_index),
    )
    if problems:
        return Check("acceptance", False, "; ".join(problems))
    by = event.beneficiary
    if parties["beneficiary"] != by:
        by += f" (its key now {parties['beneficiary']})"
    if parties["beneficiary"] != certificate.beneficiary:
        return Check(
            "acceptance", False, f"accepted by {by}, the beneficiary is {certificate.beneficiary}"
        )
    root = fragment_id_of(certificate.id, 0)
    if event.root_fragment_id != root:
        return Check(
            "acceptance", False, f"acceptance created fragment {event.root_fragment_id}, not {root}"
        )
    return Check(
        "acceptance",
        True,
        f"accepted by beneficiary {by} at block {event.block_number}",
    )


def check_invoice(
    certificate: Certificate, registered_certificate: int, issuances_with_key: int
) -> Check:
    key = to_hex(certificate.invoice_key)
    if certificate.invoice_key == bytes(32):
        return Check("invoice", False, "the certificate has no invoice key")
    if registered_certificate != certificate.id:
        return Check(
            "invoice",
            False,
            f"invoice key {key} maps to certificate {registered_certificate}, not {certificate.id}",
        )
    if issuances_with_key != 1:
        return Check(
            "invoice",
            False,
            f"invoice key {key} appears in {issuances_with_key} CertificateIssued events",
        )
    return Check("invoice", True, f"invoice key {key} is registered once, to this certificate")


def check_financing(
    path: Sequence[int],
    financed: Sequence[FinancingAccepted],
    rates: Mapping[int, int],
    sales: Sequence[SoldToBid] = (),
    sale_rates: Mapping[tuple[int, int], int | None] | None = None,
) -> tuple[Check, list[dict[str, Any]]]:
    """FinancingAccepted events touching the lineage, each re-priced with its offer's rate;
    SoldToBid events likewise, with the rate ``sale_rates`` gives by (block, log index):
    the bid's band for the sale's days under the terms in force then (None: outside them,
    which a sale cannot be). Both kinds of row have the same keys (``offer_id`` for an
    offer, ``bid_id`` and ``payee`` for a sale, the others None), so that a report's
    financings are one shape (api.schemas.VerifiedFinancing)."""
    on_path = set(path)
    relevant = [
        e for e in financed if e.fragment_id in on_path or e.financed_fragment_id in on_path
    ]
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    for sale in sales:
        if sale.fragment_id not in on_path and sale.financed_fragment_id not in on_path:
            continue
        rate = (sale_rates or {}).get((sale.block_number, sale.log_index))
        expected = None if rate is None else discount_rule(sale.amount, rate, sale.days)
        if expected is None:
            problems.append(
                f"sale to bid {sale.bid_id}: no rate of its terms covers {sale.days} days"
            )
        elif expected != sale.discount or sale.payment != sale.amount - sale.discount:
            problems.append(
                f"sale to bid {sale.bid_id}: discount {sale.discount} / payment {sale.payment} "
                f"do not follow the rule (expected discount {expected})"
            )
        rows.append(
            {
                "offer_id": None,
                "bid_id": sale.bid_id,
                "payee": sale.payee,
                "from_fragment": sale.fragment_id,
                "financed_fragment": sale.financed_fragment_id,
                "financier": sale.funder,
                "seller": sale.seller,
                "amount_fen": str(sale.amount),
                "discount_fen": str(sale.discount),
                "payment_fen": str(sale.payment),
                "days": sale.days,
                "rate_bps": rate,
                "block_number": sale.block_number,
                "in_lineage": sale.financed_fragment_id in on_path,
            }
        )
    for event in relevant:
        rate = rates.get(event.offer_id)
        expected = None if rate is None else discount_rule(event.amount, rate, event.days)
        if expected is None:
            problems.append(f"offer {event.offer_id}: rate unknown")
        elif expected != event.discount or event.payment != event.amount - event.discount:
            problems.append(
                f"offer {event.offer_id}: discount {event.discount} / payment {event.payment} "
                f"do not follow the rule (expected discount {expected})"
            )
        rows.append(
            {
                "offer_id": event.offer_id,
                "bid_id": None,
                "payee": None,  # the seller is paid
                "from_fragment": event.fragment_id,
                "financed_fragment": event.financed_fragment_id,
                "financier": event.financier,
                "seller": event.seller,
                "amount_fen": str(event.amount),
                "discount_fen": str(event.discount),
                "payment_fen": str(event.payment),
                "days": event.days,
                "rate_bps": rate,
                "block_number": event.block_number,
                "in_lineage": event.financed_fragment_id in on_path,
            }
        )
    if problems:
        return Check("financing", False, "; ".join(problems)), rows
    in_lineage = [r for r in rows if r["in_lineage"]]
    if not rows:
        detail = "never financed (no FinancingAccepted or SoldToBid touches this lineage)"
    elif in_lineage:
        first = in_lineage[0]
        source = (
            f"offer {first['offer_id']}"
            if first["offer_id"] is not None
            else f"bid {first['bid_id']}"
        )
        detail = (
            f"{len(in_lineage)} financing(s) of this lineage, e.g. {source} to "
            f"{first['financier']} paying {first['payment_fen']} fen; all priced by the "
            "discount rule"
        )
    else:
        detail = f"{len(rows)} financing(s) split off ancestors (other branches); priced correctly"
    return Check("financing", True, detail), rows


def check_repayment(
    certificate: Certificate, fragments: Sequence[Fragment], fragment: Fragment, owed: int
) -> tuple[Check, dict[str, Any]]:
    problems: list[str] = []
    if certificate.repaid > certificate.face_value:
        problems.append(f"repaid {certificate.repaid} exceeds the face value")
    if certificate.paid_out > certificate.repaid:
        problems.append(f"paid out {certificate.paid_out} exceeds repaid {certificate.repaid}")
    paid_sum = sum(f.paid for f in fragments)
    if paid_sum != certificate.paid_out:
        problems.append(
            f"fragments were paid {paid_sum} fen in total, the certificate records "
            f"{certificate.paid_out}"
        )
    if certificate.face_value:
        over = [
            f.id
            for f in fragments
            if f.paid > f.value * certificate.repaid // certificate.face_value
        ]
        if over:
            problems.append(f"{len(over)} fragment(s) paid more than their share, e.g. {over[:3]}")
    settled = certificate.repaid == certificate.face_value
    if settled != (certificate.status == CertificateStatus.SETTLED):
        problems.append(
            f"status {certificate.status.name} but repaid {certificate.repaid} of "
            f"{certificate.face_value}"
        )
    status = {
        "status": certificate.status.name,
        "face_value_fen": str(certificate.face_value),
        "repaid_fen": str(certificate.repaid),
        "paid_out_fen": str(certificate.paid_out),
        "outstanding_fen": str(certificate.face_value - certificate.repaid),
        "fragment_value_fen": str(fragment.value),
        "fragment_paid_fen": str(fragment.paid),
        "fragment_owed_fen": str(owed),
    }
    if problems:
        return Check("repayment", False, "; ".join(problems)), status
    return (
        Check(
            "repayment",
            True,
            f"{certificate.status.name}: repaid {certificate.repaid} of "
            f"{certificate.face_value} fen, paid out {certificate.paid_out}; this fragment "
            f"paid {fragment.paid}, owed {owed}",
        ),
        status,
    )


# -- reading the chain ------------------------------------------------------------------


class Verifier:
    """Runs every check for one fragment against one deployment, at one block.

    Whether the node's view is current (the ``node_freshness`` check,
    :mod:`chain_client.freshness` has the reasoning):

    ``max_head_age``
        seconds the head may be old by the wall clock. None: it follows the chain,
        ``HEAD_AGE_PERIODS`` block periods measured from the last blocks' timestamps, at
        least ``MIN_HEAD_AGE`` (clocks drift, and a few periods of a 1-second chain is
        a round trip). Not applied on a chain that mines only per transaction (anvil's
        automine, chain 31337), where an idle chain's head is old and the node current.
    ``reference_rpc_urls``
        other organizations' nodes of the same network; this node must not be more than
        ``max_lag_blocks`` behind any of them, nor hold another block at the lower head.
    ``allow_stale``
        report a stale node but do not fail the verdict for it (the summary warns).
    ``now``
        the wall clock, seconds since the epoch (tests inject one rather than wait).
    """

    def __init__(
        self,
        w3: Web3,
        manifest: DeploymentManifest,
        *,
        batch_size: int = 1000,
        workers: int = 4,
        max_head_age: float | None = None,
        reference_rpc_urls: Sequence[str] = (),
        max_lag_blocks: int = DEFAULT_MAX_LAG_BLOCKS,
        allow_stale: bool = False,
        now: Callable[[], float] = time.time,
    ) -> None:
        if max_head_age is not None and not 0 < max_head_age < float("inf"):
            raise ValueError("max_head_age must be positive (seconds)")
        if max_lag_blocks < 0:
            raise ValueError("max_lag_blocks must be >= 0")
        self.w3 = w3
        self.manifest = manifest
        self.ledger = Ledger(w3, manifest, batch_size=batch_size, read_workers=workers)
        self.max_head_age = max_head_age
        self.reference_rpc_urls = tuple(reference_rpc_urls)
        self.max_lag_blocks = max_lag_blocks
        self.allow_stale = allow_stale
        self.now = now

    def verify(self, fragment_id: int) -> VerificationReport:
        started = time.perf_counter()
        certificate_id = certificate_id_of(fragment_id)
        report = VerificationReport(
            fragment_id=fragment_id,
            certificate_id=certificate_id,
            chain_id=None,
            ledger_address=self.manifest.ledger_address,
            block_number=None,
        )
        try:
            self._run(report, fragment_id)
        finally:
            done = {c.name for c in report.checks}
            # what stopped the run: a failed check everything after it relies on
            stopped_by = [c.name for c in report.failed if c.name in _GATES]
            first_failure = stopped_by[0] if stopped_by else "an earlier check"
            for name in CHECK_ORDER:
                if name not in done:
                    report.checks.append(
                        Check(name, False, f"not run: {first_failure} failed", skipped=True)
                    )
            report.elapsed_seconds = time.perf_counter() - started
        return report

    def _run(self, report: VerificationReport, fragment_id: int) -> None:
        w3, ledger = self.w3, self.ledger
        report.chain_id = int(w3.eth.chain_id)
        # Judged first, so every read below is pinned to the head it judged; reported after
        # the manifest, whose failure it does not explain away.
        freshness_check, freshness = self.check_freshness()
        manifest_check = self.check_manifest()
        report.checks += [manifest_check, freshness_check]
        if freshness is not None:
            report.freshness = asdict(freshness)
        if not manifest_check.passed:
            return
        block = freshness.head_number if freshness is not None else int(w3.eth.block_number)
        report.block_number = block

        try:
            fragment = ledger.fragment(fragment_id, block=block)
        except ContractRevert as exc:
            report.checks.append(
                Check(
                    "fragment_exists",
                    False,
                    f"fragment {fragment_id} is not on the ledger ({type(exc).__name__})",
                )
            )
            return
        report.checks.append(
            Check(
                "fragment_exists",
                True,
                f"held by {fragment.holder}, value {fragment.value} fen",
            )
        )
        report.fragment = asdict(fragment)
        certificate = ledger.certificate(report.certificate_id, block=block)
        report.certificate = asdict(certificate)

        ids = [fragment_id_of(certificate.id, s) for s in range(certificate.fragment_count)]
        read = ledger.fragments(ids, block=block)
        fragments = [f for f in read if isinstance(f, Fragment)]
        report.fragments_read = len(fragments)
        by_id = {f.id: f for f in fragments}

        # The lineage ids come from state; events are then fetched for exactly that path.
        path_guess = _path_ids(fragment_id, by_id)
        splits = self._split_events(certificate.id, path_guess, block)
        accepted = self._accepted_events(certificate.id, block)
        lineage, path = check_lineage(
            fragment_id, by_id, splits, accepted, certificate.fragment_count
        )
        report.lineage = path
        report.checks.append(lineage)

        issued = self._issued_events(block, certificate_id=certificate.id)
        moves = [  # filtered here too: a node may answer more than its filter (log_matches)
            m
            for m in self.ledger.event_records(
                CertificatePartyMoved, [_word_topic(certificate.id)], to_block=block
            )
            if m.certificate_id == certificate.id
        ]
        successors = self._successors({m.from_account for m in moves}, block)
        # the role of the key that issued, at issuance (it may be retired since)
        issuer = issued[0].issuer if issued else certificate.issuer
        issuer_role = self._role_at(issuer, issued[0].block_number if issued else block)
        report.checks.append(check_issuance(certificate, issued, issuer_role, moves, successors))
        report.checks.append(check_acceptance(certificate, accepted, moves, successors))

        registered = int(
            ledger.ledger.call("certificateOfInvoice", certificate.invoice_key, block=block)
        )
        same_key = [
            e for e in self._issued_events(block) if e.invoice_key == certificate.invoice_key
        ]
        report.checks.append(check_invoice(certificate, registered, len(same_key)))

        financed = self._financings_of(FinancingAccepted, path, block)
        rates = {
            e.offer_id: int(ledger.ledger.call("getOffer", e.offer_id, block=block)[2])
            for e in financed
        }
        sales = self._financings_of(SoldToBid, path, block)
        financing_check, report.financing = check_financing(
            path, financed, rates, sales, self._sale_rates(sales, block)
        )
        report.checks.append(financing_check)

        owed = int(ledger.ledger.call("owed", fragment_id, block=block))
        repayment_check, report.repayment = check_repayment(certificate, fragments, fragment, owed)
        report.checks.append(repayment_check)
        report.checks.append(check_value_invariant(certificate, fragments))

    def check_freshness(self) -> tuple[Check, Freshness | None]:
        """The ``node_freshness`` check and what it measured (None if the node's head could
        not be read: a failed check, not a crash, like the manifest's)."""
        try:
            freshness = assess(
                self.w3,
                reference_rpc_urls=self.reference_rpc_urls,
                max_head_age=self.max_head_age,
                max_lag_blocks=self.max_lag_blocks,
                allow_stale=self.allow_stale,
                now=self.now,
            )
        except Exception as exc:
            return Check("node_freshness", False, f"cannot read the node's head: {exc}"), None
        return check_node_freshness(freshness), freshness

    def check_manifest(self) -> Check:
        """Chain id and code hashes, creation at the manifest's block, token binding."""
        try:
            problems = mismatches(self.manifest, self.w3)
        except Exception as exc:  # a node that cannot answer is a failed check, not a crash
            return Check("manifest", False, f"cannot read the chain: {exc}")
        if problems:
            return Check("manifest", False, "; ".join(problems))
        address = checksum(self.manifest.ledger_address)
        at = self.manifest.deployment_block
        try:
            before = bytes(self.w3.eth.get_code(address, block_identifier=at - 1)) if at else b""
            created = bytes(self.w3.eth.get_code(address, block_identifier=at))
        except Exception:
            before, created = b"", b"?"  # no archive state on this node: cannot tell
        if before or not created:
            return Check(
                "manifest",
                False,
                f"the ledger at {address} was not created at block {at} as the manifest says",
            )
        token = self.ledger.ledger.call("settlementToken")
        if to_checksum_address(token) != self.manifest.token_address:
            return Check(
                "manifest",
                False,
                f"the ledger settles in {token}, the manifest says {self.manifest.token_address}",
            )
        return Check(
            "manifest",
            True,
            f"chain {self.manifest.chain_id}; CreditLedger {address} created at block {at}, "
            f"code {self.manifest.code_hashes['CreditLedger'][:12]}... as in the manifest",
        )

    # -- events (decoded by hand: fixed layouts, and 10,000 logs must stay cheap) -----------

    def _logs(self, topics: list[Any], to_block: int) -> list[Any]:
        """The ledger's logs matching ``topics``, matched here too (:func:`log_matches`)."""
        found = self.w3.eth.get_logs(
            {
                "address": checksum(self.manifest.ledger_address),
                "fromBlock": self.manifest.deployment_block,
                "toBlock": to_block,
                "topics": topics,
            }
        )
        return [entry for entry in found if log_matches(entry, topics)]

    def _split_events(
        self, certificate_id: int, fragment_ids: Iterable[int], block: int
    ) -> dict[int, list[SplitEvent]]:
        wanted = [_word_topic(f) for f in fragment_ids if not is_root_fragment(f)]
        found: dict[int, list[SplitEvent]] = {}
        if not wanted:
            return found
        for start in range(0, len(wanted), 200):
            topics = [TOPIC_SPLIT, _word_topic(certificate_id), None, wanted[start : start + 200]]
            for entry in self._logs(topics, block):
                t = entry["topics"]
                data = words(bytes(entry["data"]))
                event = SplitEvent(
                    certificate_id=_int(t[1]),
                    parent_id=_int(t[2]),
                    fragment_id=_int(t[3]),
                    sender=word_address(data[0]),
                    to=word_address(data[1]),
                    value=data[2],
                    block_number=int(entry["blockNumber"]),
                    log_index=int(entry["logIndex"]),
                )
                found.setdefault(event.fragment_id, []).append(event)
        return found

    def _accepted_events(self, certificate_id: int, block: int) -> list[AcceptedEvent]:
        events = []
        for entry in self._logs([TOPIC_ACCEPTED, _word_topic(certificate_id)], block):
            t = entry["topics"]
            events.append(
                AcceptedEvent(
                    certificate_id=_int(t[1]),
                    beneficiary=word_address(_int(t[2])),
                    root_fragment_id=words(bytes(entry["data"]))[0],
                    block_number=int(entry["blockNumber"]),
                    log_index=int(entry["logIndex"]),
                )
            )
        return events

    def _issued_events(self, block: int, *, certificate_id: int | None = None) -> list[IssuedEvent]:
        topics: list[Any] = [TOPIC_ISSUED]
        if certificate_id is not None:
            topics.append(_word_topic(certificate_id))
        events = []
        for entry in self._logs(topics, block):
            t = entry["topics"]
            data = bytes(entry["data"])
            w = words(data)
            events.append(
                IssuedEvent(
                    certificate_id=_int(t[1]),
                    issuer=word_address(_int(t[2])),
                    beneficiary=word_address(_int(t[3])),
                    credit_provider=word_address(w[0]),
                    face_value=w[1],
                    maturity=w[2],
                    invoice_key=data[96:128],
                    document_hash=data[128:160],
                    block_number=int(entry["blockNumber"]),
                    log_index=int(entry["logIndex"]),
                )
            )
        return events

    def _financings_of(
        self, kind: type[LedgerEventT], path: Sequence[int], block: int
    ) -> list[LedgerEventT]:
        """FinancingAccepted or SoldToBid events of a fragment of the lineage: both index
        the fragment financed from second (after the offer's or the bid's id), and a
        financed split is the child of a lineage fragment, or one itself."""
        if not path:
            return []
        topics = [None, [_word_topic(f) for f in path]]
        return self.ledger.event_records(kind, topics, to_block=block)

    def _sale_rates(
        self, sales: Sequence[SoldToBid], block: int
    ) -> dict[tuple[int, int], int | None]:
        """Each sale's rate from the chain's history, not the bid's state now (its terms may
        have changed since): the last BidTermsSet of its bid before the sale."""
        rates: dict[tuple[int, int], int | None] = {}
        for bid_id in sorted({s.bid_id for s in sales}):
            history = self.ledger.events("BidTermsSet", [_word_topic(bid_id)], to_block=block)
            for sale in (s for s in sales if s.bid_id == bid_id):
                at = (sale.block_number, sale.log_index)
                before = [e for e in history if (int(e["blockNumber"]), int(e["logIndex"])) < at]
                if not before:
                    rates[at] = None
                    continue
                terms = BidTerms.from_tuple(before[-1]["args"]["terms"])
                rates[at] = terms.rate_for(sale.days)
        return rates

    def _role_at(self, account: str, block: int) -> Role | None:
        try:
            role, _suspended, _org = self.ledger.ledger.call("memberOf", account, block=block)
        except Exception:
            try:  # a node without archive state: fall back to the current role (of the
                # organization's current key, if a rotation retired this one)
                current = self.ledger.current_account(account)
                role, _suspended, _org = self.ledger.ledger.call("memberOf", current)
            except Exception:
                return None
        return Role(int(role))

    def _successors(self, accounts: Iterable[str], block: int) -> dict[str, list[str]]:
        """Each account's chain of successors at ``block`` (the keys it was rotated to, in
        order; empty if it is not retired), as ``successorOf`` says."""
        chains: dict[str, list[str]] = {}
        for account in accounts:
            chain: list[str] = []
            current = account
            while len(chain) < _MAX_ROTATIONS:
                successor = to_checksum_address(
                    self.ledger.ledger.call("successorOf", current, block=block)
                )
                if int(successor, 16) == 0 or successor in chain:
                    break
                chain.append(successor)
                current = successor
            chains[account] = chain
        return chains


def verify_fragment(
    w3: Web3, manifest: DeploymentManifest, fragment_id: int, **options: Any
) -> VerificationReport:
    """Run every check for ``fragment_id``; see the module docstring for what each means.
    ``options`` are :class:`Verifier`'s (``max_head_age``, ``reference_rpc_urls``, ...)."""
    return Verifier(w3, manifest, **options).verify(fragment_id)


def failed_manifest_report(fragment_id: int, error: ManifestError) -> VerificationReport:
    """The report when the manifest file itself cannot be used."""
    report = VerificationReport(
        fragment_id=fragment_id,
        certificate_id=certificate_id_of(fragment_id),
        chain_id=None,
        ledger_address="",
        block_number=None,
        checks=[Check("manifest", False, str(error))],
    )
    for name in CHECK_ORDER[1:]:
        report.checks.append(Check(name, False, "not run: manifest failed", skipped=True))
    return report


# -- helpers ------------------------------------------------------------------------------


def _path_ids(fragment_id: int, by_id: Mapping[int, Fragment]) -> list[int]:
    path: list[int] = []
    seen: set[int] = set()
    current: int | None = fragment_id
    while current is not None and current in by_id and current not in seen:
        seen.add(current)
        path.append(current)
        current = by_id[current].parent_id
    return path


def log_matches(entry: Mapping[str, Any], topics: Sequence[Any]) -> bool:
    """Whether a log matches an ``eth_getLogs`` topic filter: position by position, None
    matches anything, a list any of its topics, a topic itself.

    Why the verifier checks what the node already filtered: its checks count events ("one
    CertificateIssued of this certificate"), and a node may answer more than its filter
    names. @ethereumjs/client 0.10.5, the consortium test network's node, applies only the
    first topic (its ReceiptsManager.getLogs returns inside the loop over the topics), so
    it answered every certificate's CertificateIssued, and verification failed on any
    ledger with a second certificate."""
    have = [_topic_text(topic) for topic in entry.get("topics") or []]
    for position, wanted in enumerate(topics):
        if wanted is None:
            continue
        options = wanted if isinstance(wanted, list | tuple) else [wanted]
        if position >= len(have) or have[position] not in {_topic_text(o) for o in options}:
            return False
    return True


def _topic_text(topic: Any) -> str:
    if isinstance(topic, bytes | bytearray):
        return "0x" + bytes(topic).hex()
    return str(topic).lower()


def _word_topic(value: int) -> str:
    return to_hex(value.to_bytes(32, "big"))


def _int(topic: Any) -> int:
    return int.from_bytes(bytes(topic), "big")


#: the longest chain of successors followed (an organization rotated this often is a
#: question for its operator, not for a verification)
_MAX_ROTATIONS = 64

#: Checks whose failure stops the run: what follows them reads what they vouch for.
_GATES = ("manifest", "fragment_exists")

_MONEY_KEYS = frozenset({"value", "paid", "face_value", "repaid", "paid_out"})


__all__ = [
    "CHECK_ORDER",
    "EMPTY_CODE_HASH",
    "Check",
    "VerificationReport",
    "Verifier",
    "apply_moves",
    "check_acceptance",
    "check_financing",
    "check_invoice",
    "check_issuance",
    "check_lineage",
    "check_node_freshness",
    "check_repayment",
    "check_value_invariant",
    "log_matches",
    "verify_fragment",
]
