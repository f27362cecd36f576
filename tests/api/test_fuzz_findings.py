"""Defects schemathesis found (``tests/api/test_schemathesis.py``), each pinned by a test of
its own that failed before the fix."""

from __future__ import annotations

from api.routes.documents import UPLOAD_BODY
from tests.api.helpers import World


def test_upload_refuses_unknown_form_fields_like_json_bodies(world: World) -> None:
    """An upload with a field besides ``file`` and ``kind`` was stored (and with more than
    eight fields answered 400 "Too many fields"), while the document let any field through
    and every JSON body refuses unknown fields: now 422 naming the field, as declared."""
    r = world.client.post(
        "/v1/documents",
        data={"kind": "invoice", "note": "x"},
        files={"file": ("a.pdf", b"%PDF-1.4 x", "application/pdf")},
        headers=world.tier1.headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"
    assert r.json()["errors"] == [
        {"location": ["body", "note"], "message": "Extra inputs are not permitted"}
    ]
    schema = UPLOAD_BODY["content"]["multipart/form-data"]["schema"]
    assert schema["additionalProperties"] is False


def test_upload_declares_that_a_file_is_never_empty(world: World) -> None:
    """An empty file is refused (422 empty_document), and the document now says so
    (minLength 1): schemathesis sent empty files as schema-valid uploads."""
    schema = UPLOAD_BODY["content"]["multipart/form-data"]["schema"]
    assert schema["properties"]["file"]["minLength"] == 1
    r = world.client.post(
        "/v1/documents",
        files={"file": ("a.pdf", b"", "application/pdf")},
        headers=world.tier1.headers,
    )
    assert r.status_code == 422 and r.json()["code"] == "empty_document"
