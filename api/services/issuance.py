"""Issuing a certificate: the checks and the ledger call of ``POST /v1/certificates``,
shared with the rows of a payables file (:mod:`api.routes.payables`)."""

from __future__ import annotations

from sqlmodel import Session

from api.auth import Principal
from api.commands import catalogue
from api.commands.catalogue import ChainPlan
from api.models import Document
from api.problems import Problem
from api.runtime import Runtime
from api.schemas import IssueRequest, fen
from api.services.access import not_found, org_or_422
from chain_client import identity


def issuance_plan(session: Session, rt: Runtime, p: Principal, body: IssueRequest) -> ChainPlan:
    """The issuance's transaction, after the checks the API makes before the ledger's: the
    members exist, the document is the issuer's and backs no certificate yet, the invoice
    is one (docs/invoice-identity.md) and the face value fits the ledger."""
    beneficiary = org_or_422(session, body.beneficiary_id, what="beneficiary")
    provider = org_or_422(session, body.credit_provider_id, what="credit provider")
    doc = session.get(Document, body.document_id)
    if doc is None or doc.org_id != p.org_id:
        raise not_found("document", body.document_id)
    if doc.certificate_id is not None:
        raise Problem(
            409,
            "document_in_use",
            "Document already backs a certificate",
            f"Document {doc.id} backs certificate {doc.certificate_id}.",
        )
    try:
        seller = identity.invoice_seller(beneficiary.uscc or "", body.seller_tax_id)
    except identity.SellerMismatchError as exc:
        raise Problem(
            422, "seller_mismatch", "The seller must be the beneficiary", str(exc)
        ) from None
    except ValueError as exc:  # a member without a registered code cannot sell
        raise Problem(
            422, "invalid_invoice", "The beneficiary has no valid credit code", str(exc)
        ) from None
    try:
        key = identity.invoice_key(
            seller,
            body.invoice_number,
            secret=rt.invoice_secret,
            invoice_code=body.invoice_code,
        )
    except (ValueError, TypeError) as exc:
        raise Problem(422, "invalid_invoice", "Invalid invoice identity", str(exc)) from None
    if int(fen(body.face_value)) >= 2**96:
        raise Problem(
            422,
            "invalid_amount",
            "The face value is too large",
            "A face value must be below 2**96 fen.",
        )
    return catalogue.ISSUE.plan(
        p.address or "",
        provider.address or "",
        beneficiary.address or "",
        fen(body.face_value),
        body.maturity,
        key,
        bytes.fromhex(doc.keccak256[2:]),
    )
