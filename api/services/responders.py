"""Response bodies of chain commands, built from the mined transaction alone (its
outcome and the request's parameters), so a command reconciled after a restart answers
exactly as it would have. Each is named by its entry in :mod:`api.commands.catalogue`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api.chain import ChainGateway
from chain_client.events import FinancingAccepted, SoldToBid
from chain_client.ledger_types import TxOutcome


@dataclass(frozen=True)
class Mined:
    """What a response is built from: the command's action, its transaction's outcome,
    and its request as stored (through JSON)."""

    action: str
    outcome: TxOutcome
    request: dict[str, Any]
    gateway: ChainGateway  # to read the receipt's events

    def base(self) -> dict[str, Any]:
        """The fields every chain command answers with."""
        return {
            "action": self.action,
            "tx_hash": self.outcome.tx_hash,
            "block_number": self.outcome.block_number,
            "gas_used": self.outcome.gas_used,
        }


Responder = Callable[[Mined], dict[str, Any]]


def echo(*fields: str) -> Responder:
    """The common fields and the request's ``fields`` as they were sent."""

    def build(m: Mined) -> dict[str, Any]:
        return {**m.base(), **{name: m.request.get(name) for name in fields}}

    return build


def issue(m: Mined) -> dict[str, Any]:
    return {
        **m.base(),
        "certificate_id": m.outcome.value,
        "face_value": m.request["face_value"],
        "maturity": m.request["maturity"],
        "status": "issued",
    }


def accept(m: Mined) -> dict[str, Any]:
    return {
        **m.base(),
        "certificate_id": m.request["certificate_id"],
        "root_fragment_id": str(m.outcome.value),
        "status": "active",
    }


def split(m: Mined) -> dict[str, Any]:
    return {
        **m.base(),
        "parent_fragment_id": m.request["fragment_id"],
        "fragment_id": str(m.outcome.value),
        "amount": m.request["amount"],
        "to_org_id": m.request["to_org_id"],
    }


def offer(m: Mined) -> dict[str, Any]:
    return {
        **m.base(),
        "offer_id": m.outcome.value,
        "fragment_id": m.request["fragment_id"],
        "amount": m.request["amount"],
        "rate_bps": m.request["rate_bps"],
        "expires_at": m.request["expires_at"],
        "status": "open",
    }


def accept_offer(m: Mined) -> dict[str, Any]:
    body = {
        **m.base(),
        "offer_id": m.request["offer_id"],
        "financed_fragment_id": str(m.outcome.value),
        "status": "accepted",
    }
    receipt = m.gateway.receipt(m.outcome.tx_hash, just_mined=True)
    if receipt is not None:
        for event in m.gateway.ledger.receipt_records(receipt, FinancingAccepted):
            body.update(
                amount=str(event.amount),
                discount=str(event.discount),
                payment=str(event.payment),
                days=event.days,
            )
    return body


def paid(m: Mined) -> dict[str, Any]:
    """The request, and the fen the transaction paid out."""
    return {**m.base(), **m.request, "paid": str(m.outcome.value or 0)}


def post_bid(m: Mined) -> dict[str, Any]:
    return {
        **m.base(),
        "bid_id": m.outcome.value,
        "budget": m.request["budget"],
        "status": "open",
    }


def cancel_bid(m: Mined) -> dict[str, Any]:
    """The escrow paid back (``refunded``) from the transaction's BidCancelled event."""
    return {
        **m.base(),
        "bid_id": m.request["bid_id"],
        "refunded": str(m.outcome.value or 0),
        "status": "cancelled",
    }


def sell_to_bid(m: Mined) -> dict[str, Any]:
    """The sale as the transaction's SoldToBid event says it: the fragment the funder
    now holds, the price, who was paid."""
    body: dict[str, Any] = {
        **m.base(),
        # the bid sold to, from the receipt below ("best" in the request names none)
        "bid_id": m.request["bid"] if isinstance(m.request.get("bid"), int) else None,
        "fragment_id": m.request["fragment_id"],
        "financed_fragment_id": str(m.outcome.value),
        "amount": m.request["amount"],
        "payee_id": m.request.get("payee_id"),
    }
    receipt = m.gateway.receipt(m.outcome.tx_hash, just_mined=True)
    if receipt is not None:
        for event in m.gateway.ledger.receipt_records(receipt, SoldToBid):
            body.update(
                bid_id=event.bid_id,
                discount=str(event.discount),
                payment=str(event.payment),
                days=event.days,
                payee=event.payee,
            )
    return body
