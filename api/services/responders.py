"""Response bodies of chain commands, built from the mined transaction alone (its
outcome and the request's parameters), so a command reconciled after a restart answers
exactly as it would have."""

from __future__ import annotations

from typing import Any

from api.chain import ChainGateway
from chain_client.ledger_types import TxOutcome


def _base(action: str, outcome: TxOutcome) -> dict[str, Any]:
    return {
        "action": action,
        "tx_hash": outcome.tx_hash,
        "block_number": outcome.block_number,
        "gas_used": outcome.gas_used,
    }


def issue(gw: ChainGateway, o: TxOutcome, req: dict[str, Any]) -> dict[str, Any]:
    return {
        **_base("issue", o),
        "certificate_id": o.value,
        "face_value": req["face_value"],
        "maturity": req["maturity"],
        "status": "issued",
    }


def accept(gw: ChainGateway, o: TxOutcome, req: dict[str, Any]) -> dict[str, Any]:
    return {
        **_base("accept", o),
        "certificate_id": req["certificate_id"],
        "root_fragment_id": str(o.value),
        "status": "active",
    }


def simple(action: str, **fields: str) -> Any:
    def build(gw: ChainGateway, o: TxOutcome, req: dict[str, Any]) -> dict[str, Any]:
        body = _base(action, o)
        for out, src in fields.items():
            body[out] = req.get(src)
        return body

    return build


def split(gw: ChainGateway, o: TxOutcome, req: dict[str, Any]) -> dict[str, Any]:
    return {
        **_base("split", o),
        "parent_fragment_id": req["fragment_id"],
        "fragment_id": str(o.value),
        "amount": req["amount"],
        "to_org_id": req["to_org_id"],
    }


def offer(gw: ChainGateway, o: TxOutcome, req: dict[str, Any]) -> dict[str, Any]:
    return {
        **_base("offer", o),
        "offer_id": o.value,
        "fragment_id": req["fragment_id"],
        "amount": req["amount"],
        "rate_bps": req["rate_bps"],
        "expires_at": req["expires_at"],
        "status": "open",
    }


def accept_offer(gw: ChainGateway, o: TxOutcome, req: dict[str, Any]) -> dict[str, Any]:
    body = {
        **_base("accept_offer", o),
        "offer_id": req["offer_id"],
        "financed_fragment_id": str(o.value),
        "status": "accepted",
    }
    receipt = gw.receipt(o.tx_hash, just_mined=True)
    if receipt is not None:
        for event in gw.ledger.receipt_events(receipt, "FinancingAccepted"):
            body.update(
                amount=str(event["amount"]),
                discount=str(event["discount"]),
                payment=str(event["payment"]),
                days=int(event["days_"]),
            )
    return body


def paid(action: str) -> Any:
    def build(gw: ChainGateway, o: TxOutcome, req: dict[str, Any]) -> dict[str, Any]:
        return {**_base(action, o), **{k: v for k, v in req.items()}, "paid": str(o.value or 0)}

    return build


RESPONDERS = {
    "issue": issue,
    "accept": accept,
    "reject": simple("reject", certificate_id="certificate_id"),
    "revoke": simple("revoke", certificate_id="certificate_id"),
    "split": split,
    "transfer": simple("transfer", fragment_id="fragment_id", to_org_id="to_org_id"),
    "offer": offer,
    "withdraw_offer": simple("withdraw_offer", offer_id="offer_id"),
    "accept_offer": accept_offer,
    "repay": simple("repay", certificate_id="certificate_id", amount="amount"),
    "claim": paid("claim"),
    "set_credit_line": simple(
        "set_credit_line", core_enterprise_id="core_enterprise_id", limit="limit"
    ),
    "mint": simple("mint", org_id="org_id", amount="amount"),
    "suspend": simple("suspend", org_id="org_id"),
    "reinstate": simple("reinstate", org_id="org_id"),
    "pause": simple("pause"),
    "unpause": simple("unpause"),
}
