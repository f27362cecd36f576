"""Key rotation and recovery (issue 13, docs/design.md "Key rotation"): an organization
whose key is lost or compromised moves to a new address with the operator's approval.

The steps, each checking the chain first so that running the command again after a crash
finishes it without doing anything twice (:meth:`CommandRunner.run_local
<api.commands.runner.CommandRunner.run_local>`'s "state-checked chain steps"):

1. the new key: ``platform`` custody, one made in the key store under a label derived from
   the command's Idempotency-Key (found again, not made again, by a re-run); ``self`` and
   ``remote``, the address the organization proved it controls;
2. ``rotateMember(old, new)``, unless ``successorOf(old)`` says it is done;
3. the moves, in the ledger's order (certificates before credit lines), in batches of
   :data:`BATCH`, the ids from the read model (which first covers the chain's head) and
   each confirmed against the chain before it is sent: what no longer names the old key
   (moved by an earlier run, or by a payout on the way) is not sent again;
4. the organization's row: address, and the key id or signer URL; the gateway's caches
   of both addresses dropped;
5. the settlement allowance of a core enterprise's or financier's new key, as onboarding
   sets it (not for custody ``self``: the organization signs it, as at onboarding).

Every transaction is the operator's (the new key's allowance excepted), sent through the
gateway's ledger view like onboarding's. The answer is read from the chain's events of
the old key (what moved from it, by which transactions), so a re-run answers alike.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from eth_utils import function_signature_to_4byte_selector
from sqlalchemy import Engine, or_
from sqlmodel import Session, col, select

from api.auth import CORE_ENTERPRISE, FINANCIER
from api.chain import MAX_UINT256, ChainGateway
from api.commands.waits import close_waiting
from api.indexer import Indexer
from api.models import CertificateRow, ChainEvent, FragmentRow, OfferRow, Organization
from api.problems import Problem
from chain_client.addresses import checksum
from chain_client.batch import encode_uint_call, words
from chain_client.errors import ContractRevert
from chain_client.ledger import Ledger, certificate_from_words
from chain_client.ledger_types import Fragment, OfferStatus

#: ids per move transaction (a batch of 50 fragments is ~1.3M gas: docs/benchmarks.md)
BATCH = 50
_GET_CERTIFICATE = function_signature_to_4byte_selector("getCertificate(uint256)")


def key_label(uscc: str, org_id: int, idempotency_key: str | None) -> str:
    """The key store label of a platform-custody organization's new key: the same for
    every run of one command (its Idempotency-Key), so a re-run finds the key it made."""
    token = (
        hashlib.sha256(f"{org_id}:{idempotency_key}".encode()).hexdigest()[:16]
        if idempotency_key is not None
        else uuid.uuid4().hex[:16]
    )
    return f"org:{uscc}:rotation:{token}"


def platform_key(gateway: ChainGateway, label: str) -> tuple[str, str]:
    """(key id, address) of the key labelled ``label``, made now if there is none."""
    for info in gateway.keystore.list():
        if info.label == label:
            return info.id, checksum(info.address)
    key_id, address = gateway.create_key(label=label)
    return key_id, checksum(address)


def read_model_behind(block: int) -> Problem:
    return Problem(
        503,
        "read_model_behind",
        "The read model is behind the chain",
        f"The read model does not cover block {block} yet, and the rotation takes the ids "
        "to move from it. Nothing more was sent; retry with the same Idempotency-Key.",
    )


class Rotation:
    """One organization's rotation to ``new_address`` (see the module text)."""

    def __init__(
        self,
        engine: Engine,
        gateway: ChainGateway,
        indexer: Indexer | None,
        org: Organization,
        new_address: str,
        *,
        key_id: str | None = None,
        signer_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        assert org.address is not None
        self.engine = engine
        self.gateway = gateway
        self.indexer = indexer
        self.org = org
        self.new = checksum(new_address)
        self.key_id = key_id
        self.signer_url = signer_url
        self.timeout = timeout
        self.ledger: Ledger = gateway.ledger

    @property
    def operator(self) -> Ledger:
        return self.gateway.ledger_as(self.gateway.operator.address)

    def run(self, session: Session, prove: Callable[[], object] | None = None) -> dict[str, Any]:
        """Every step, each skipped if the chain (or the row) shows it done; ``prove``
        checks the organization's proof of the new address, asked only before the
        rotation itself (a re-run after it need not prove it again)."""
        org = self.org
        old = self._rotated(session, prove)
        self._wait_indexed()
        self._move(old)
        if org.address != self.new:
            org.address = self.new
            if self.key_id is not None:
                org.key_id = self.key_id
            if self.signer_url is not None:
                org.signer_url = self.signer_url
            session.add(org)
            session.commit()
        self.gateway.forget(old)
        self.gateway.forget(self.new)
        # commands waiting for a checker or a signature were planned as the old key,
        # which can do nothing any more: closed, their makers send them again
        assert org.id is not None and self.gateway.db is not None
        close_waiting(
            self.gateway.db,
            org.id,
            Problem(
                409,
                "key_rotated",
                "The organization's key was rotated",
                f"This command was planned for {old}, which the organization no longer "
                f"signs with (its key is now {self.new}). Nothing was sent; send it again "
                "with a new Idempotency-Key.",
            ),
            "key_rotated",
        )
        if org.role in (CORE_ENTERPRISE, FINANCIER) and org.custody != "self":
            member = self.gateway.ledger_as(self.new)
            if member.allowance() < MAX_UINT256 // 2:
                member.approve_settlement(MAX_UINT256)  # as onboarding sets it
        self._wait_indexed()  # the views show the new address when the answer comes
        return self.answer(old)

    # -- the steps ------------------------------------------------------------------------

    def _rotated(self, session: Session, prove: Callable[[], object] | None) -> str:
        """Rotate unless done; returns the old address."""
        org, new = self.org, self.new
        assert org.address is not None
        if org.address == new:  # an earlier run got as far as the row
            return self._predecessor()
        taken = session.exec(select(Organization).where(Organization.address == new)).first()
        if taken is not None and taken.id != org.id:
            raise Problem(
                409,
                "address_in_use",
                "The address belongs to another organization",
                f"{new} is the signing address of organization {taken.id}.",
            )
        old = org.address
        if self.ledger.successor_of(old) is None:
            if prove is not None:
                prove()
            self.gateway.fund_gas(new)
            self.operator.rotate_member(old, new)
            return old
        current = self.ledger.current_account(old)
        if current != new:
            raise Problem(
                409,
                "rotation_conflict",
                "The organization was rotated to another key",
                f"{old} was rotated to {current} on the ledger, not to {new}.",
            )
        return old

    def _predecessor(self) -> str:
        """The key this organization's current key was rotated from (by this command)."""
        rotations = [
            e
            for e in self.ledger.events("MemberRotated", [None, _topic(self.new)])
            if checksum(e["args"]["newAccount"]) == self.new
        ]
        if not rotations:
            raise Problem(
                409,
                "already_current",
                "The address is the organization's already",
                f"{self.new} is the organization's address now; rotate to a new one.",
            )
        return checksum(rotations[-1]["args"]["oldAccount"])

    def _wait_indexed(self) -> None:
        if self.indexer is None:
            return
        block = self.gateway.head()
        if not self.indexer.wait_indexed(block, self.timeout):
            raise read_model_behind(block)

    def _move(self, old: str) -> None:
        """Every move of what names ``old``, in the ledger's order, in batches."""
        operator = self.operator
        for ids in _batches(self.certificates(old)):
            operator.move_certificates(old, ids)
        for counterparties in _batches(self.counterparties(old)):
            operator.move_credit_lines(old, counterparties)
        for ids in _batches(self.offers(old)):
            operator.move_offers(old, ids)
        for ids in _batches(self.holdings(old)):
            operator.move_holdings(old, ids)

    # -- what names the old key: the read model's ids, confirmed on chain --------------------

    def certificates(self, old: str) -> list[int]:
        with Session(self.engine) as s:
            ids = s.exec(
                select(col(CertificateRow.id))
                .where(
                    or_(
                        col(CertificateRow.issuer) == old,
                        col(CertificateRow.beneficiary) == old,
                        col(CertificateRow.credit_provider) == old,
                    )
                )
                .order_by(col(CertificateRow.id))
            ).all()
        if not ids:
            return []
        calls = [encode_uint_call(_GET_CERTIFICATE, int(i)) for i in ids]
        found = self.ledger.batch.call_many(self.ledger.address, calls)
        named = []
        for cid, data in zip(ids, found, strict=True):
            if isinstance(data, ContractRevert):
                continue
            cert = certificate_from_words(int(cid), words(data))
            if old in (cert.issuer, cert.beneficiary, cert.credit_provider):
                named.append(int(cid))
        return named

    def counterparties(self, old: str) -> list[str]:
        """The financiers and core enterprises ``old`` has a line with, either way: the
        pairs of the read model's CreditLineSet and CreditLineMoved events, kept if the
        chain shows a limit (or a use, which the ledger refuses: CreditLineInUse)."""
        with Session(self.engine) as s:
            events = s.exec(
                select(ChainEvent).where(
                    col(ChainEvent.event).in_(("CreditLineSet", "CreditLineMoved")),
                    col(ChainEvent.args).contains(old[2:]),
                )
            ).all()
        others: set[str] = set()
        for e in events:
            args = json.loads(e.args)
            pairs = [(args["financier"], args["coreEnterprise"])]
            if e.event == "CreditLineMoved":
                pairs.append((args["newFinancier"], args["newCoreEnterprise"]))
            for financier, core in pairs:
                financier, core = checksum(financier), checksum(core)
                if old == financier:
                    others.add(core)
                elif old == core:
                    others.add(financier)
        live = []
        for other in sorted(others):
            lines = (self.ledger.credit_line(old, other), self.ledger.credit_line(other, old))
            if any(line.limit or line.used for line in lines):
                live.append(other)
        return live

    def offers(self, old: str) -> list[int]:
        with Session(self.engine) as s:
            ids = s.exec(
                select(col(OfferRow.id))
                .where(
                    col(OfferRow.status) == "open",
                    or_(col(OfferRow.seller) == old, col(OfferRow.financier) == old),
                )
                .order_by(col(OfferRow.id))
            ).all()
        named = []
        for offer_id in ids:
            offer = self.ledger.offer(int(offer_id))
            if offer.status == OfferStatus.OPEN and old in (offer.seller, offer.financier):
                named.append(int(offer_id))
        return named

    def holdings(self, old: str) -> list[int]:
        with Session(self.engine) as s:
            ids = [
                int(i)
                for i in s.exec(
                    select(col(FragmentRow.id))
                    .where(col(FragmentRow.holder) == old)
                    .order_by(col(FragmentRow.id))
                ).all()
            ]
        held = []
        for chunk in _batches(ids, 500):
            held += [
                f.id
                for f in self.ledger.fragments(chunk)
                if isinstance(f, Fragment) and f.holder == old
            ]
        return held

    # -- the answer ---------------------------------------------------------------------------

    def answer(self, old: str) -> dict[str, Any]:
        """What moved from ``old``, read from the chain's events: by the operator's moves,
        and fragments moved on their way to a payout (claim, payFragments) too."""
        topic = _topic(old)

        def moved(event: str, id_key: str) -> dict[str, Any]:
            found = [
                e
                for e in self.ledger.events(event, [None, topic])
                if checksum(e["args"]["from"]) == old
            ]
            return {
                "count": len({int(e["args"][id_key]) for e in found}),
                "tx_hashes": _hashes(found),
            }

        lines = [  # moved away from ``old`` (not a counterparty's move that kept it)
            e
            for e in self.ledger.events("CreditLineMoved")
            if (checksum(e["args"]["financier"]), checksum(e["args"]["newFinancier"]))
            == (old, self.new)
            or (checksum(e["args"]["coreEnterprise"]), checksum(e["args"]["newCoreEnterprise"]))
            == (old, self.new)
        ]
        rotated = [
            e
            for e in self.ledger.events("MemberRotated", [topic])
            if checksum(e["args"]["oldAccount"]) == old
        ]
        return {
            "action": "rotate_key",
            "org_id": self.org.id,
            "custody": self.org.custody,
            "old_address": old,
            "new_address": self.new,
            "rotation_tx_hash": rotated[-1]["transactionHash"] if rotated else None,
            "certificates": moved("CertificatePartyMoved", "certificateId"),
            "credit_lines": {"count": len(lines), "tx_hashes": _hashes(lines)},
            "offers": moved("OfferPartyMoved", "offerId"),
            "holdings": moved("HoldingMoved", "fragmentId"),
        }


def _topic(address: str) -> str:
    return "0x" + "00" * 12 + checksum(address)[2:].lower()


def _hashes(events: Sequence[dict[str, Any]]) -> list[str]:
    """Distinct transaction hashes, in chain order."""
    ordered = sorted(events, key=lambda e: (e["blockNumber"], e["logIndex"]))
    return list(dict.fromkeys(str(e["transactionHash"]) for e in ordered))


def _batches(items: Sequence[Any], size: int = BATCH) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
