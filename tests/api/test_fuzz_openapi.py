"""Property-based fuzzing of the OpenAPI schema: no input ever yields a 500.

No schemathesis release installs beside hypothesis==6.27.3 (pinned exactly by
eth-brownie 1.22.2) in ``.venv``, so real schemathesis runs from a virtualenv of its own
against a served API (``tests/api/test_schemathesis.py``). This in-process fuzzer stays
beside it: quick, with every role in one run, arbitrary JSON and text on every operation
and raw multipart bodies on the upload, built from the app's own OpenAPI document and
hypothesis-jsonschema. Every answer must be < 500, and every refusal an RFC 9457 problem
document with a ``code``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from chain_client.node import AnvilNode
from tests.api.helpers import World, issue_certificate, open_world, populate, upload_invoice

MAX_EXAMPLES = 50

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)


@pytest.fixture(scope="module")
def fuzz_world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Its own ledger and database: fuzzing may suspend members, revoke keys, pause."""
    for world in open_world(anvil, tmp_path_factory.mktemp("fuzz")):
        yield populate(world)


def _resolve(node: Any, components: dict[str, Any], depth: int = 0) -> Any:
    """Inline $refs and drop OpenAPI-only keywords hypothesis-jsonschema does not know."""
    if depth > 20:
        return {}
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return _resolve(components[name], components, depth + 1)
        return {
            k: _resolve(v, components, depth + 1)
            for k, v in node.items()
            if k
            not in (
                "examples",
                "example",
                "discriminator",
                "contentMediaType",
                "description",
                "title",
            )
        }
    if isinstance(node, list):
        return [_resolve(v, components, depth + 1) for v in node]
    return node


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            ops.append((method.upper(), path, op))
    return ops


def _strategy(op: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    params = {}
    for p in op.get("parameters", []):
        sch = _resolve(p.get("schema", {}), components)
        values = st.one_of(from_schema(sch), st.text(max_size=25), st.integers())
        if p["in"] == "path" or p.get("required"):
            params[(p["in"], p["name"])] = values
        else:
            params[(p["in"], p["name"])] = st.none() | values
    body: st.SearchStrategy[Any] = st.just(None)
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        sch = _resolve(content["application/json"]["schema"], components)
        body = st.one_of(from_schema(sch), json_values)
    return st.fixed_dictionaries(
        {
            "params": st.fixed_dictionaries(params),
            "body": body,
            "role": st.sampled_from(["operator", "core", "tier1", "bank", "auditor"]),
        }
    )


def _check(r: Any, method: str, url: str) -> None:
    assert r.status_code < 500, f"{method} {url} -> {r.status_code} {r.text[:500]}"
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json"), r.text
        doc = r.json()
        assert {"type", "title", "status", "detail", "code"} <= set(doc), doc
        assert doc["status"] == r.status_code


def test_fuzz_every_operation(fuzz_world: World) -> None:
    w = fuzz_world
    issue_certificate(w, face_value="100000")
    w.parties["operator"] = w.operator
    schema = w.client.get("/openapi.json").json()
    components = schema.get("components", {}).get("schemas", {})
    ops = [o for o in _operations(schema) if not (o[0] == "POST" and o[1] == "/v1/documents")]
    assert len(ops) > 40
    ops.sort(key=lambda o: o[1] == "/v1/admin/pause")  # a paused ledger refuses the rest
    for method, path, op in ops:
        _fuzz_operation(w, method, path, _strategy(op, components))
    # leave the ledger usable for other modules
    w.client.post("/v1/admin/unpause", headers=w.operator.headers)


def _fuzz_operation(w: World, method: str, path: str, strategy: st.SearchStrategy[Any]) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: dict[str, Any]) -> None:
        url, query = path, {}
        for (where, name), value in case["params"].items():
            if where == "path":
                url = url.replace("{" + name + "}", quote(str(value), safe="") or "x")
            elif where == "query" and value is not None:
                query[name] = str(value)
            elif where == "header" and value is not None:
                pass  # Idempotency-Key: covered by tests/api/test_reliability.py
        headers = dict(w.parties[case["role"]].headers)
        kwargs: dict[str, Any] = {"params": query, "headers": headers}
        if case["body"] is not None:
            kwargs["content"] = json.dumps(case["body"])
            headers["content-type"] = "application/json"
        r = w.client.request(method, url, **kwargs)
        _check(r, method, url)

    run()


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    content=st.binary(max_size=64),
    kind=st.text(max_size=12),
    filename=st.text(max_size=30),
    raw=st.binary(max_size=40),
)
def test_fuzz_upload(
    fuzz_world: World, content: bytes, kind: str, filename: str, raw: bytes
) -> None:
    world = fuzz_world
    c = world.client
    r = c.post(
        "/v1/documents",
        files={"file": (filename or "f", content, "text/plain")},
        data={"kind": kind},
        headers=world.tier1.headers,
    )
    _check(r, "POST", "/v1/documents")
    r = c.post(
        "/v1/documents",
        content=raw,
        headers={**world.tier1.headers, "content-type": "multipart/form-data"},
    )
    _check(r, "POST", "/v1/documents")


@pytest.mark.parametrize(
    "amount", [12.5, 1050, "10.50", "-5", "", "1e3", " 10", None, [1], "0x10", "１２"]
)
def test_bad_amount_format_is_422_with_code(world: World, amount: Any) -> None:
    issued = issue_certificate(world, face_value="1000")
    r = world.client.post(
        f"/v1/fragments/{issued['root_fragment_id']}/split",
        json={"to_org_id": world.tier2.org_id, "amount": amount},
        headers=world.tier1.headers,
    )
    assert r.status_code == 422
    assert r.json()["code"] == "bad_amount_format"
    assert "fen" in r.json()["detail"]


def test_refusals_have_stable_codes(world: World) -> None:
    w, c = world, world.client
    # duplicate invoice
    doc1, doc2 = upload_invoice(w, w.core), upload_invoice(w, w.core)
    base = {
        "beneficiary_id": w.tier1.org_id,
        "credit_provider_id": w.bank.org_id,
        "face_value": "1000",
        "maturity": w.block_time() + 30 * 86_400,
        "invoice_number": "FP-2026-000123",
    }
    assert (
        c.post(
            "/v1/certificates", json={**base, "document_id": doc1["id"]}, headers=w.core.headers
        ).status_code
        == 201
    )
    dup = c.post(
        "/v1/certificates", json={**base, "document_id": doc2["id"]}, headers=w.core.headers
    )
    assert dup.status_code == 409 and dup.json()["code"] == "duplicate_invoice"
    assert dup.json()["ledger_error"] == "InvoiceAlreadyUsed"
    # unknown member
    issued = issue_certificate(w, face_value="1000")
    r = c.post(
        f"/v1/fragments/{issued['root_fragment_id']}/split",
        json={"to_org_id": 999999, "amount": "1"},
        headers=w.tier1.headers,
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_member"
    # not the holder: the underwriting bank sees the fragment, so it is told why
    r = c.post(
        f"/v1/fragments/{issued['root_fragment_id']}/split",
        json={"to_org_id": w.tier1.org_id, "amount": "1"},
        headers=w.bank.headers,
    )
    assert r.status_code == 403 and r.json()["code"] == "not_holder"
    # another supplier may not see it: as if it did not exist (docs/api.md)
    r = c.post(
        f"/v1/fragments/{issued['root_fragment_id']}/split",
        json={"to_org_id": w.tier1.org_id, "amount": "1"},
        headers=w.tier2.headers,
    )
    assert r.status_code == 404 and r.json()["code"] == "unknown_fragment"
    # expired offer
    r = c.post(
        "/v1/offers",
        json={
            "fragment_id": issued["root_fragment_id"],
            "financier_id": w.bank.org_id,
            "amount": "500",
            "rate_bps": 400,
            "expires_at": w.block_time() + 3600,
        },
        headers=w.tier1.headers,
    )
    assert r.status_code == 201, r.text
    w.travel(7200)
    r = c.post(f"/v1/offers/{r.json()['offer_id']}/accept", headers=w.bank.headers)
    assert r.status_code == 409 and r.json()["code"] == "offer_expired"
    # invalid USCC check digit
    r = c.post(
        "/v1/organizations",
        json={"name": "x", "uscc": "91350100M000100Y44", "role": "supplier"},
        headers=w.operator.headers,
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_uscc"
    # wrong role at the API
    r = c.post(
        "/v1/certificates", json={**base, "document_id": doc2["id"]}, headers=w.tier1.headers
    )
    assert r.status_code == 403 and r.json()["code"] == "wrong_role"
