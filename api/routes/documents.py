"""Documents: upload (encrypted at rest), metadata, download with the on-chain check."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlmodel import col, select
from starlette.datastructures import FormData, UploadFile

from api import documents as crypto
from api.audit import record_done
from api.auth import AUDITOR, MAKER, Principal, authenticate, require_duty
from api.deps import ReadSessionDep, RuntimeDep, SessionDep
from api.headers import clean_filename, content_disposition, media_type
from api.models import CertificateRow, Document
from api.openapi import upload_body
from api.problems import Problem
from api.quotas import check_document_quota
from api.schemas import DocumentView
from api.services.access import MAX_DB_INT, certificate_or_404, document_visible, not_found
from chain_client.encoding import to_hex

router = APIRouter(prefix="/v1/documents", tags=["documents"])
DocId = Annotated[str, Path(min_length=1, max_length=36)]
DocumentKind = Literal["invoice", "contract", "waybill", "other"]
KINDS: tuple[str, ...] = get_args(DocumentKind)

#: The upload's body as the OpenAPI document declares it. The endpoint reads the body
#: itself, after authentication, so FastAPI cannot derive this from its parameters.
UPLOAD_BODY = upload_body(
    "the document (at most SCF_MAX_UPLOAD_BYTES bytes)",
    kind={"type": "string", "enum": list(KINDS), "default": "invoice"},
)


def _view(doc: Document, chain_hash: str | None) -> DocumentView:
    return DocumentView(
        id=doc.id,
        kind=doc.kind,
        filename=doc.filename,
        content_type=doc.content_type,
        size=doc.size,
        sha256=doc.sha256,
        keccak256=doc.keccak256,
        certificate_id=doc.certificate_id,
        chain_document_hash=chain_hash,
        matches_chain=None if chain_hash is None else chain_hash == doc.keccak256,
    )


def _form_fields(form: FormData) -> tuple[UploadFile, str]:
    """The file and its kind, or the same 422 FastAPI gives for a declared form."""
    file, kind = form.get("file"), form.get("kind", "invoice")
    errors: list[dict[str, Any]] = [
        {
            "type": "extra_forbidden",
            "loc": ("body", name),
            "input": None,
            "msg": "Extra inputs are not permitted",
        }
        for name in dict.fromkeys(form.keys())
        if name not in ("file", "kind")
    ]
    if not isinstance(file, UploadFile):
        errors.append(
            {
                "type": "missing",
                "loc": ("body", "file"),
                "input": None,
                "msg": "Field required (a file in the multipart field 'file')",
            }
        )
    if kind not in KINDS:
        errors.append(
            {
                "type": "literal_error",
                "loc": ("body", "kind"),
                "input": kind if isinstance(kind, str) else None,
                "msg": f"Input should be one of {', '.join(KINDS)}",
            }
        )
    if errors:
        raise RequestValidationError(errors)
    assert isinstance(file, UploadFile) and isinstance(kind, str)
    return file, kind


@router.post(
    "", status_code=201, response_model=DocumentView, openapi_extra={"requestBody": UPLOAD_BODY}
)
async def upload(
    request: Request,
    rt: RuntimeDep,
    session: SessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> DocumentView:
    """Upload a document (multipart: ``file``, and ``kind``); it is stored encrypted and
    its keccak256 is what ``issue`` anchors on chain.

    Why the endpoint reads the body itself: FastAPI reads declared form fields before any
    dependency runs, so the file used to be spooled before the key was even looked at.
    Here the key and the role are checked first; the body, bounded by
    :mod:`api.body_limits`, is read after."""
    if p.role == AUDITOR:
        raise Problem(
            403,
            "wrong_role",
            "Auditors change nothing",
            "An auditor may read documents but not upload them.",
            required_roles=["operator", "core_enterprise", "supplier", "financier"],
        )
    require_duty(MAKER, p)  # an upload starts an issuance: a viewer or a checker only reads
    rt.limits.check(p)  # an upload counts as a command (api.ratelimit)
    async with request.form(max_files=1, max_fields=8, max_part_size=1024) as form:
        file, kind = _form_fields(form)
        content = await file.read(rt.settings.max_upload_bytes + 1)
        filename, declared_type = file.filename, file.content_type
    if len(content) > rt.settings.max_upload_bytes:
        raise Problem(
            413,
            "too_large",
            "Document too large",
            f"Documents are limited to {rt.settings.max_upload_bytes} bytes.",
        )
    if not content:
        raise Problem(422, "empty_document", "Empty document", "The uploaded file is empty.")
    check_document_quota(session, rt.settings, p.org_id, len(content))  # api.quotas
    doc_id = str(uuid.uuid4())
    sha, kec = crypto.hashes(content)
    nonce, sealed = crypto.seal(rt.document_key, doc_id, content)
    doc = Document(
        id=doc_id,
        org_id=p.org_id,
        kind=kind,
        filename=clean_filename(filename or ""),
        content_type=media_type(declared_type),
        size=len(content),
        sha256=sha,
        keccak256=kec,
        nonce=nonce,
        ciphertext=sealed,
    )
    session.add(doc)
    record_done(session, p, "upload_document", f"document:{doc_id}", {"kind": kind, "sha256": sha})
    session.commit()
    return _view(doc, None)


def _chain_hash(session: Any, doc: Document) -> str | None:
    if doc.certificate_id is None:
        return None
    cert = session.get(CertificateRow, doc.certificate_id)
    return cert.document_hash if cert is not None else None


@router.get("", response_model=list[DocumentView])
def list_documents(
    session: ReadSessionDep,
    certificate_id: Annotated[int, Query(ge=1, le=MAX_DB_INT)],
    p: Principal = Depends(authenticate),  # noqa: B008
) -> list[DocumentView]:
    """The documents of a certificate the caller may see (404 ``unknown_certificate``
    otherwise), each with whether it matches the hash its certificate anchors."""
    cert = certificate_or_404(session, p, certificate_id)
    docs = session.exec(
        select(Document)
        .where(Document.certificate_id == cert.id)
        .order_by(col(Document.created_at))
    ).all()
    return [_view(doc, cert.document_hash) for doc in docs if document_visible(session, p, doc)]


@router.get("/{document_id}", response_model=DocumentView)
def metadata(
    document_id: DocId,
    session: SessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> DocumentView:
    doc = session.get(Document, document_id)
    if doc is None or not document_visible(session, p, doc):
        raise not_found("document", document_id)
    return _view(doc, _chain_hash(session, doc))


#: the download's answer: the document's own bytes and type, and the hashes to check them
DOWNLOAD_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The document, with the content type it was uploaded with.",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        "headers": {
            "Content-Disposition": {
                "description": "attachment; filename (ASCII) and filename* (UTF-8, RFC 8187)",
                "schema": {"type": "string"},
            },
            "X-Document-Keccak256": {
                "description": "keccak256 of the bytes sent",
                "schema": {"type": "string"},
            },
            "X-Document-Sha256": {
                "description": "SHA-256 of the document as uploaded",
                "schema": {"type": "string"},
            },
            "X-Chain-Document-Hash": {
                "description": "the hash its certificate anchors on chain",
                "schema": {"type": "string"},
            },
            "X-Document-Matches-Chain": {
                "description": "true or false",
                "schema": {"type": "string"},
            },
        },
    }
}


@router.get("/{document_id}/content", response_class=Response, responses=DOWNLOAD_RESPONSE)
def download(
    document_id: DocId,
    rt: RuntimeDep,
    session: SessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> Response:
    """The decrypted document. ``X-Document-Keccak256`` is the hash of what is sent,
    ``X-Chain-Document-Hash`` what the certificate anchors (read from the chain now), and
    ``X-Document-Matches-Chain`` says whether they agree."""
    doc = session.get(Document, document_id)
    if doc is None or not document_visible(session, p, doc):
        raise not_found("document", document_id)
    content = crypto.unseal(rt.document_key, doc.id, doc.nonce, doc.ciphertext)
    _, kec = crypto.hashes(content)
    headers = {"X-Document-Keccak256": kec, "X-Document-Sha256": doc.sha256}
    if doc.certificate_id is not None:
        chain = to_hex(rt.gateway.ledger.certificate(doc.certificate_id).document_hash)
        headers["X-Chain-Document-Hash"] = chain
        headers["X-Document-Matches-Chain"] = "true" if chain == kec else "false"
    headers["Content-Disposition"] = content_disposition(doc.filename)
    # confidential and member-supplied: never cached, never run as a page of this origin
    headers["Cache-Control"] = "private, no-store"
    headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return Response(content, media_type=doc.content_type, headers=headers)
