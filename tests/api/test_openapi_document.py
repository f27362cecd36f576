"""The served OpenAPI document says what the API does: every refusal it can give is
declared, as ``application/problem+json`` with the Problem schema, with the headers that
come with it; the bearer scheme is declared and every operation names its security;
filters list their values.

Why it matters beyond /docs: a client generator types its errors from this document, and
schemathesis (tests/api/test_schemathesis.py) fails any answer whose status or content
type the document does not declare. No chain is needed: the document is built from the
routes alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.settings import Settings

#: the operations open without a key or a session: the health check, and signing in
PUBLIC = {("get", "/v1/health"), ("post", "/v1/session")}
PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("openapi"), master_passphrase="x"))
    doc = app.openapi()
    assert app.openapi() == doc  # stable across calls (served from a cache)
    return doc


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, methods in doc["paths"].items()
        for method, op in methods.items()
    ]


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = doc["components"]["schemas"][name]
    return node


def test_problem_schema(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["Problem"]
    assert schema["type"] == "object"
    assert {"type", "title", "status", "detail", "code", "instance"} <= set(schema["properties"])
    assert {"type", "title", "status", "detail", "code"} <= set(schema["required"])
    assert schema.get("additionalProperties", True) is not False  # extras: errors, ...
    assert schema["properties"]["status"]["type"] == "integer"


def test_every_refusal_is_a_problem_document(document: dict[str, Any]) -> None:
    for method, path, op in _operations(document):
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            content = response.get("content", {})
            assert list(content) == [PROBLEM_JSON], (method, path, status, content)
            schema = _resolve(document, content[PROBLEM_JSON]["schema"])
            assert schema is document["components"]["schemas"]["Problem"] or ("allOf" in schema), (
                method,
                path,
                status,
            )
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_statuses_the_api_can_send_are_declared(document: dict[str, Any]) -> None:
    for method, path, op in _operations(document):
        declared = {int(s) for s in op["responses"]}
        where = (method, path, sorted(declared))
        params = op.get("parameters", [])
        has_body = "requestBody" in op
        command = any(p["name"] == "Idempotency-Key" for p in params)
        if (method, path) not in PUBLIC:
            assert {401, 403} <= declared, where
        if "{" in path:
            assert 404 in declared, where
        if params or has_body:
            assert 422 in declared, where
        if has_body:
            assert {400, 413} <= declared, where
        if command or (method, path) == ("post", "/v1/documents"):
            assert {409, 429} <= declared, where
        assert 503 in declared, where  # the node may be unreachable (never a 500)
        assert 500 not in declared, where


def test_problem_headers_are_declared(document: dict[str, Any]) -> None:
    """401 names its scheme; 429 and 503 say when to come back."""
    for method, path, op in _operations(document):
        responses = op["responses"]
        expected = [("503", "Retry-After")]
        if (method, path) not in PUBLIC:
            expected.append(("401", "WWW-Authenticate"))
        if any(p["name"] == "Idempotency-Key" for p in op.get("parameters", [])):
            expected.append(("429", "Retry-After"))
        for status, header in expected:
            assert header in responses[status].get("headers", {}), (method, path, status)


def test_bearer_scheme_and_every_operations_security(document: dict[str, Any]) -> None:
    """Every operation but the public ones takes a bearer key or a portal session."""
    schemes = document["components"]["securitySchemes"]
    bearer = [
        name
        for name, s in schemes.items()
        if s["type"] == "http" and s["scheme"].lower() == "bearer"
    ]
    cookie = [name for name, s in schemes.items() if s["type"] == "apiKey" and s["in"] == "cookie"]
    assert len(bearer) == 1 and len(cookie) == 1
    for method, path, op in _operations(document):
        expected: list[Any] = [] if (method, path) in PUBLIC else [{bearer[0]: []}, {cookie[0]: []}]
        assert op.get("security") == expected, (method, path, op.get("security"))


def _enum_of(schema: dict[str, Any]) -> list[str]:
    for option in [schema, *schema.get("anyOf", [])]:
        if "enum" in option:
            return list(option["enum"])
    return []


@pytest.mark.parametrize(
    "path, name, values",
    [
        ("/v1/certificates", "status", {"issued", "active", "settled", "overdue"}),
        ("/v1/offers", "status", {"open", "accepted", "withdrawn"}),
        (
            "/v1/organizations",
            "role",
            {"operator", "core_enterprise", "supplier", "financier", "auditor"},
        ),
        ("/v1/audit-log", "outcome", {"succeeded", "refused"}),
    ],
)
def test_filters_list_their_values(
    document: dict[str, Any], path: str, name: str, values: set[str]
) -> None:
    (param,) = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name]
    assert values <= set(_enum_of(param["schema"])), param


def test_upload_body_is_declared(document: dict[str, Any]) -> None:
    body = document["paths"]["/v1/documents"]["post"]["requestBody"]
    schema = _resolve(document, body["content"]["multipart/form-data"]["schema"])
    assert schema["required"] == ["file"]
    assert set(_enum_of(schema["properties"]["kind"])) == {
        "invoice",
        "contract",
        "waybill",
        "other",
    }


def test_download_is_declared_as_bytes(document: dict[str, Any]) -> None:
    ok = document["paths"]["/v1/documents/{document_id}/content"]["get"]["responses"]["200"]
    assert "application/json" not in ok["content"]
    (schema,) = [c["schema"] for c in ok["content"].values()]
    assert schema.get("format") == "binary" or "contentMediaType" in schema
    assert "Content-Disposition" in ok["headers"]


def test_served_document_is_the_same(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    app = create_app(Settings(data_dir=tmp_path, master_passphrase="x"))
    served = TestClient(app).get("/openapi.json").json()
    assert served["components"]["schemas"]["Problem"]
    assert served == app.openapi()
