"""A core enterprise's payables file: checked row by row (``POST /v1/payables/preview``),
then each valid row issued as a certificate (``POST /v1/payables/issue``). The reading and
the checks are :mod:`api.services.payables`."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlmodel import Session, col, select

from api import documents as crypto
from api.auth import CORE_ENTERPRISE, MAKER, Principal, authenticate, require_duty
from api.commands import catalogue
from api.commands.catalogue import ChainPlan
from api.commands.claims import CommandContext
from api.commands.http import command_response
from api.deps import RuntimeDep, SessionDep, command_context
from api.headers import clean_filename
from api.models import Command, Document, Organization
from api.openapi import upload_body
from api.problems import Problem
from api.quotas import check_document_quota
from api.runtime import Runtime
from api.schemas import (
    IssueAnswer,
    IssueRequest,
    PayableIssueRequest,
    PayableRowView,
    PayablesPreview,
)
from api.services import payables
from api.services.issuance import issuance_plan
from api.timeutil import china_date

router = APIRouter(prefix="/v1/payables", tags=["certificates"])

#: the preview's body as the OpenAPI document declares it (the endpoint reads it itself,
#: after authentication, as the document upload does)
PREVIEW_BODY = upload_body(
    "the payables: .csv (UTF-8 or GB18030) or .xlsx",
    bank_id={
        "type": "string",
        "pattern": "^[1-9][0-9]{0,9}$",
        "description": "the bank for rows that name none",
    },
)


def _core_maker(p: Principal) -> None:
    if p.role != CORE_ENTERPRISE:
        raise Problem(
            403,
            "wrong_role",
            "Your role may not do this",
            f"This action is for core_enterprise; your organization is a {p.role}.",
            required_roles=[CORE_ENTERPRISE],
        )
    require_duty(MAKER, p)


def _members(orgs: list[Organization]) -> list[payables.Member]:
    return [
        payables.Member(o.id, o.name, o.uscc, o.role, o.status) for o in orgs if o.id is not None
    ]


def _already_issued(session: Session, org_id: int, sha: str, rows: list[int]) -> dict[int, int]:
    """Row -> certificate of the rows of this file issued before (their commands)."""
    keys = {payables.idempotency_key(sha, row): row for row in rows}
    found = session.exec(
        select(Command)
        .where(Command.org_id == org_id)
        .where(col(Command.idempotency_key).in_(list(keys)))
        .where(Command.status == "succeeded")
    ).all()
    out = {}
    for command in found:
        answer = json.loads(command.response_body or "{}")
        if answer.get("certificate_id") and command.idempotency_key in keys:
            out[keys[command.idempotency_key]] = int(answer["certificate_id"])
    return out


@router.post(
    "/preview", response_model=PayablesPreview, openapi_extra={"requestBody": PREVIEW_BODY}
)
async def preview(
    request: Request,
    rt: RuntimeDep,
    session: SessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> PayablesPreview:
    """Core enterprise: read a payables file (CSV or Excel, one certificate a row) and check
    every row before anything is sent: 422 ``unreadable_payables`` for a file that is not
    one; each row's own problems are in its ``errors``. Nothing is recorded."""
    _core_maker(p)
    async with request.form(max_files=1, max_fields=4, max_part_size=1024) as form:
        file, bank = form.get("file"), form.get("bank_id")
        unknown = [name for name in form if name not in ("file", "bank_id")]
        if not hasattr(file, "read") or unknown:
            raise RequestValidationError(
                [
                    {"type": "missing", "loc": ("body", "file"), "msg": "a file is required"},
                    *(
                        {"type": "extra_forbidden", "loc": ("body", n), "msg": "not permitted"}
                        for n in unknown
                    ),
                ]
            )
        content = await file.read(rt.settings.max_upload_bytes + 1)  # type: ignore[union-attr]
        name = clean_filename(getattr(file, "filename", "") or "payables.csv")
    if len(content) > rt.settings.max_upload_bytes:
        raise Problem(413, "too_large", "File too large", "The file is over the upload limit.")
    default_bank = ""
    if isinstance(bank, str) and bank.isascii() and bank.isdigit():
        org = session.get(Organization, int(bank))
        default_bank = org.name if org is not None and org.role == "financier" else ""
    try:
        rows = payables.parse_rows(payables.read_table(name, content), default_bank)
    except payables.PayablesFileError as exc:
        raise Problem(
            422, "unreadable_payables", "The payables file cannot be read", str(exc)
        ) from None
    return _checked(rt, session, p, name, payables.file_digest(content), rows)


def _checked(
    rt: Runtime,
    session: Session,
    p: Principal,
    name: str,
    sha: str,
    rows: list[payables.PayableRow],
) -> PayablesPreview:
    orgs = list(session.exec(select(Organization)).all())
    members = _members(orgs)
    banks = [m for m in members if m.role == "financier"]
    ledger = rt.gateway.ledger
    addresses = {o.id: o.address for o in orgs if o.id is not None}
    available = {
        bank.id: ledger.credit_line(addresses[bank.id] or "", p.address or "").available
        for bank in banks
        if addresses.get(bank.id)
    }
    issued = _already_issued(session, p.org_id, sha, [r.row for r in rows])
    for row in rows:
        row.issued_certificate_id = issued.get(row.row)
    payables.check_rows(
        rows,
        members,
        chain_now=rt.gateway.block_time(),
        available=available,
        invoice_secret=rt.invoice_secret,
    )
    todo = [r for r in rows if not r.errors and r.issued_certificate_id is None]
    needed: dict[int, int] = {}
    for row in todo:
        assert row.credit_provider_id is not None
        needed[row.credit_provider_id] = needed.get(row.credit_provider_id, 0) + int(
            row.face_value or 0
        )
    return PayablesPreview(
        file_name=name,
        file_sha256=sha,
        rows=[PayableRowView.model_validate(r.to_dict()) for r in rows],
        valid_rows=len(todo),
        rows_with_errors=sum(1 for r in rows if r.errors),
        already_issued=len(issued),
        total_face_value=str(sum(needed.values())),
        credit=[
            {  # type: ignore[misc]
                "credit_provider_id": bank.id,
                "name": bank.name,
                "available": str(available.get(bank.id, 0)),
                "needed": str(needed[bank.id]),
            }
            for bank in banks
            if bank.id in needed
        ],
    )


@router.post("/issue", status_code=201, response_model=IssueAnswer)
def issue_row(
    body: PayableIssueRequest,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
) -> JSONResponse:
    """Core enterprise: issue one checked row of a payables file. The certificate anchors a
    record of the row (supplier, amount, maturity, invoice, the file's name and SHA-256, the
    row's line), kept as a document of kind ``payable`` that the supplier and the bank may
    download and check against the chain. Send it with the Idempotency-Key
    ``payables-<first 32 hex of the file's SHA-256>-<row>``: a file sent again issues each
    row at most once, and the preview names the rows already issued."""
    p = ctx.principal
    _core_maker(p)
    doc_id = payables.record_document_id(p.org_id, body.source_sha256, body.row)
    request = IssueRequest(
        beneficiary_id=body.beneficiary_id,
        credit_provider_id=body.credit_provider_id,
        face_value=body.face_value,
        maturity=body.maturity,
        document_id=doc_id,
        invoice_number=body.invoice_number,
        invoice_code=body.invoice_code,
    )

    def plan() -> ChainPlan:
        # the ledger's window first: the row's record is made only for a row it may take
        # (and a date past the year 9999 has no calendar day to write into it)
        now = rt.gateway.block_time()
        if not now < body.maturity <= now + payables.MAX_TENOR_SECONDS:
            raise Problem(
                422,
                "invalid_maturity",
                "The maturity date is out of range",
                "The maturity must lie after the chain's clock and at most 366 days ahead.",
            )
        _record_document(rt, session, p, body, doc_id)
        return issuance_plan(session, rt, p, request)

    params = {**body.model_dump(), "document_id": doc_id}
    return command_response(rt.runner.run_chain(ctx, catalogue.ISSUE, "certificates", params, plan))


def _record_document(
    rt: Runtime, session: Session, p: Principal, body: PayableIssueRequest, doc_id: str
) -> None:
    """The row's record as a document, made once (its id is the row's, its bytes are the
    same for the same row)."""
    if session.get(Document, doc_id) is not None:
        return
    me = session.get(Organization, p.org_id)
    supplier = session.get(Organization, body.beneficiary_id)
    bank = session.get(Organization, body.credit_provider_id)
    assert me is not None
    content = payables.record_bytes(
        {
            "record": "payable",
            "issuer": me.name,
            "issuer_uscc": me.uscc,
            "supplier": supplier.name if supplier else None,
            "supplier_uscc": supplier.uscc if supplier else None,
            "credit_provider": bank.name if bank else None,
            "amount_fen": body.face_value,
            "maturity": body.maturity,
            "maturity_date": china_date(body.maturity),
            "invoice_number": body.invoice_number,
            "invoice_code": body.invoice_code,
            "source_file": body.source_file,
            "source_sha256": body.source_sha256,
            "row": body.row,
        }
    )
    check_document_quota(session, rt.settings, p.org_id, len(content))
    sha, kec = crypto.hashes(content)
    nonce, sealed = crypto.seal(rt.document_key, doc_id, content)
    session.add(
        Document(
            id=doc_id,
            org_id=p.org_id,
            kind="payable",
            filename=clean_filename(f"payable-row-{body.row}-{body.invoice_number}.json"),
            content_type="application/json",
            size=len(content),
            sha256=sha,
            keccak256=kec,
            nonce=nonce,
            ciphertext=sealed,
        )
    )
    session.commit()
