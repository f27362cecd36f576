"""Request bodies and the JSON views of records.

Money rule: amounts are JSON *strings* of whole fen ("1050" is 10.50 CNY). A number, a
decimal point, a sign or an empty string is refused with 422 ``bad_amount_format`` before
anything else happens. Ids that may exceed 2**53 (fragment ids) are strings too.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.models import CertificateRow, FragmentRow, OfferRow, Organization

#: A positive amount of fen, at most uint128.
Fen = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,37}$")]
#: Zero or a positive amount of fen (a credit line may be closed with "0").
FenOrZero = Annotated[str, StringConstraints(pattern=r"^(0|[1-9][0-9]{0,37})$")]
#: A fragment id as a decimal string (ids are (certificate << 32) | seq).
FragmentIdStr = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,19}$")]
DbId = Annotated[int, Field(ge=1, le=2**31 - 1)]
UnixTime = Annotated[int, Field(ge=0, le=2**40 - 1)]
OnboardRole = Literal["core_enterprise", "supplier", "financier", "auditor"]

UINT128_MAX = 2**128 - 1


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OnboardRequest(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    uscc: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    role: OnboardRole


class ApiKeyRequest(Strict):
    label: Annotated[str, StringConstraints(max_length=200)] = ""


class MintRequest(Strict):
    amount: Fen


class CreditLineRequest(Strict):
    core_enterprise_id: DbId
    limit: FenOrZero


class IssueRequest(Strict):
    beneficiary_id: DbId
    credit_provider_id: DbId
    face_value: Fen
    maturity: UnixTime
    document_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    invoice_number: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    #: The legacy 发票代码 (10 or 12 digits) that goes with an 8-digit invoice number; absent
    #: for a fully digital e-invoice. The rule: chain_client.identity, docs/invoice-identity.md.
    invoice_code: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    #: Optional confirmation only: the seller is always the beneficiary's registered code.
    seller_tax_id: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None


class SplitRequest(Strict):
    to_org_id: DbId
    amount: Fen


class TransferRequest(Strict):
    to_org_id: DbId


class OfferRequest(Strict):
    fragment_id: FragmentIdStr
    financier_id: DbId
    amount: Fen
    rate_bps: Annotated[int, Field(ge=0, le=10_000)]
    expires_at: UnixTime


class RepayRequest(Strict):
    amount: Fen


class QuotePreviewRequest(Strict):
    fragment_id: FragmentIdStr
    amount: Fen
    rate_bps: Annotated[int, Field(ge=0, le=10_000)]


def fen(value: str) -> int:
    """A validated fen string as int (the pattern already excludes everything else)."""
    return int(value)


# -- views ----------------------------------------------------------------------------------


def org_view(org: Organization) -> dict[str, object]:
    return {
        "id": org.id,
        "name": org.name,
        "uscc": org.uscc,
        "role": org.role,
        "address": org.address,
        "status": org.status,
        "created_at": org.created_at.isoformat() if org.created_at else None,
    }


def certificate_view(row: CertificateRow) -> dict[str, object]:
    outstanding = int(row.face_value) - int(row.repaid)
    return {
        "id": row.id,
        "issuer": row.issuer,
        "beneficiary": row.beneficiary,
        "credit_provider": row.credit_provider,
        "face_value": row.face_value,
        "outstanding": str(outstanding if row.status not in ("rejected", "revoked") else 0),
        "maturity": row.maturity,
        "issued_at": row.issued_at,
        "status": row.status,
        "fragment_count": row.fragment_count,
        "repaid": row.repaid,
        "paid_out": row.paid_out,
        "document_hash": row.document_hash,
        "indexed_at_block": row.block_number,
    }


def fragment_view(row: FragmentRow) -> dict[str, object]:
    return {
        "id": str(row.id),
        "certificate_id": row.certificate_id,
        "seq": row.seq,
        "parent_id": str(row.parent_id) if row.parent_id is not None else None,
        "holder": row.holder,
        "value": row.value,
        "paid": row.paid,
        "indexed_at_block": row.block_number,
    }


def offer_view(row: OfferRow) -> dict[str, object]:
    return {
        "id": row.id,
        "fragment_id": str(row.fragment_id),
        "seller": row.seller,
        "financier": row.financier,
        "amount": row.amount,
        "rate_bps": row.rate_bps,
        "expires_at": row.expires_at,
        "status": row.status,
        "financed_fragment_id": (
            str(row.financed_fragment_id) if row.financed_fragment_id is not None else None
        ),
        "discount": row.discount,
        "payment": row.payment,
        "days": row.days,
    }
