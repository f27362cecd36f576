"""The OpenAPI document, completed with what FastAPI cannot see in the signatures.

FastAPI derives an operation's success answer, and a 422 for its parameters, from the
endpoint's signature. The refusals raised further in (a :class:`~api.problems.Problem`,
a contract revert, the body limits, the rate limit, an unreachable node) and the bearer key
checked by a dependency are invisible to it, so the document used to declare none of them,
and its 422 as plain JSON of a shape the API never sends.

:func:`complete` adds them by rules over each route, written down once here so that a new
endpoint gets them without anyone remembering to:

* every operation: 503 (node unreachable, transaction not mined yet; with Retry-After);
* an operation behind :func:`api.auth.authenticate`: the bearer (or session) requirement,
  401 (with WWW-Authenticate) and 403;
* a record named in the path or the body: 404;
* any parameter or body, or a command: 422;
* a body: 400 (unparseable framing); any method but GET: 413 (:mod:`api.body_limits`);
* a command (:func:`api.deps.command_context`): 409 (the ledger's state, a request still
  running), 410 (it waited for a checker or a signature too long and expired), 502 (the
  organization's signer service refused or answered other bytes), 429
  (:mod:`api.ratelimit`, with Retry-After), and 202 with a :class:`~api.schemas.WaitingCommand`
  (it waits for a checker, or for its organization's own signature);
* :data:`EXTRA_STATUSES` for what a route does beyond those.

Every one of them is ``application/problem+json`` with the :data:`PROBLEM_SCHEMA`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from api.auth import authenticate
from api.deps import command_context
from api.problems import PROBLEM_JSON, TYPE_BASE
from api.schemas import WaitingCommand

PROBLEM = "Problem"
WAITING = "WaitingCommand"
_WAITING_RESPONSE: dict[str, Any] = {
    "description": "The command waits: for a checker of your organization "
    "(`pending_approval`) or for your organization's own signature (`awaiting_signature`).",
    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{WAITING}"}}},
}
BEARER = "bearer"
_PROBLEM_REF = {"$ref": f"#/components/schemas/{PROBLEM}"}

#: RFC 9457 problem details, as :meth:`api.problems.Problem.body` writes them
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": PROBLEM,
    "description": (
        "An RFC 9457 problem document. Clients branch on `code` (stable); `title` and "
        "`detail` are for people. Some problems carry more members, listed below."
    ),
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": f"`{TYPE_BASE}` + `code`"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string", "examples": ["unknown_fragment", "insufficient_value"]},
        "instance": {"type": "string", "description": "the request's path"},
        "errors": {
            "type": "array",
            "description": "validation problems: where in the request, and what",
            "items": {
                "type": "object",
                "properties": {
                    "location": {"type": "array", "items": {"type": "string"}},
                    "message": {"type": "string"},
                },
            },
        },
        "required_roles": {"type": "array", "items": {"type": "string"}},
        "required_duty": {
            "type": "string",
            "description": "403 `wrong_duty`: the duty the API key lacks",
        },
        "ledger_error": {
            "type": "string",
            "description": "the contract's custom error, for a ledger refusal",
        },
        "limit_bytes": {"type": "integer", "description": "413: the endpoint's body limit"},
        "retry_after": {"type": "integer", "description": "429: seconds to wait"},
        "field": {
            "type": "string",
            "description": "signature_mismatch, signer_mismatch: the first field that differs",
        },
        "tx_hash": {
            "type": "string",
            "description": "503 of a command whose transaction is stored: the one a retry "
            "with the same Idempotency-Key finishes",
        },
        "declined": {
            "type": "array",
            "description": "409 `no_bid_fits`: each open bid and why it would not buy "
            "(`reason`: issuer_not_covered, tenor_out_of_range, amount_above_limit, "
            "amount_below_limit, budget_exhausted, seller_limit_reached, rate_above_max, ...)",
            "items": {"type": "object"},
        },
    },
    "additionalProperties": True,
}

BEARER_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "scf_ API key",
    "description": "An organization's API key: `Authorization: Bearer scf_...`.",
}
SESSION = "session"
SESSION_SCHEME: dict[str, Any] = {
    "type": "apiKey",
    "in": "cookie",
    "name": "scf_session",
    "description": "A person signed in to the portal (`POST /v1/session`). A request that "
    "changes anything must also send the session's `X-CSRF-Token` (else 403 `csrf_failed`).",
}


def upload_body(file_description: str, **fields: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of an endpoint that reads its multipart body itself, after
    authentication (FastAPI cannot derive it from the signature): a ``file`` and the
    ``fields`` given (name -> JSON schema), nothing else."""
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "minLength": 1,  # empty: 422
                            "contentMediaType": "application/octet-stream",
                            "description": file_description,
                        },
                        **fields,
                    },
                    # like every JSON body (api.schemas.Strict): an unknown field is refused
                    "additionalProperties": False,
                }
            }
        },
    }


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Whole seconds to wait before retrying.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}

#: status -> (description, response headers)
RESPONSES: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("The body could not be parsed (malformed multipart or framing).", {}),
    401: (
        "No API key, or an unknown or revoked one, or a portal session unknown or ended "
        "(`unauthenticated`); a wrong login or password (`sign_in_failed`).",
        {"WWW-Authenticate": _header("`Bearer`: the scheme to authenticate with.")},
    ),
    403: (
        "Your role may never do this (`wrong_role`), your organization is suspended "
        "(`member_suspended`), a signed-in browser's change came without its CSRF token "
        "(`csrf_failed`), or you see the record but the ledger names another party "
        "(`not_holder`, `not_issuer`, ...).",
        {},
    ),
    404: (
        "No such record, or one your organization may not see (`unknown_<kind>`: the "
        "two are not told apart).",
        {},
    ),
    409: (
        "The ledger's state does not allow this now (`wrong_certificate_status`, "
        "`ledger_paused`, `duplicate_invoice`, `credit_line_exceeded`, ...), or a request "
        "with this Idempotency-Key is still running (`request_in_progress`).",
        {},
    ),
    410: (
        "The command waited longer than allowed for a checker's approval "
        "(`command_expired`) or for its organization's signature (`signature_expired`); "
        "nothing was sent: send it again with a new Idempotency-Key.",
        {},
    ),
    413: (
        "The request body is over this endpoint's limit (`too_large`, with "
        "`limit_bytes`); it was refused unread.",
        {},
    ),
    422: (
        "The request is not valid (`validation_error`, `bad_amount_format`, with "
        "`errors`), or the ledger refused its values (`insufficient_value`, "
        "`unknown_member`, ...).",
        {},
    ),
    429: (
        "Your organization sent more commands than its rate limit (`rate_limited`); "
        "nothing was recorded: retry after Retry-After with the same Idempotency-Key. "
        "A sign-in to an account locked after too many wrong passwords (`account_locked`).",
        _RETRY_AFTER,
    ),
    502: (
        "The organization's signer service refused to sign (`signer_refused`) or answered "
        "bytes that are not the prepared transaction signed by the organization's address "
        "(`signer_mismatch`, with `field`); nothing was recorded or sent.",
        {},
    ),
    503: (
        "The blockchain node is unreachable (`node_unavailable`), or the organization's "
        "signer service (`signer_unavailable`), the transaction is not "
        "mined yet (`transaction_pending`), or the node refused it and holds nothing of "
        "it (`transaction_rejected`); retry after Retry-After (a command with the same "
        "Idempotency-Key: it is carried out at most once, and a transaction already "
        "stored, named by `tx_hash`, is the one finished).",
        _RETRY_AFTER,
    ),
}

#: what a route refuses beyond the rules (method, path) -> statuses
EXTRA_STATUSES: dict[tuple[str, str], set[int]] = {
    # an upload counts against the rate limit and the organization's storage quota
    ("post", "/v1/documents"): {409, 429},
    # a decision on a command no longer waiting; an approved command's own refusals
    ("post", "/v1/approvals/{command_id}/approve"): {409, 410, 422},
    ("post", "/v1/approvals/{command_id}/reject"): {409, 410},
    # a signature refused (422), out of order or too late (409, 410), its command's refusals
    ("post", "/v1/commands/{command_id}/signature"): {409, 410, 422},
    # a wrong login or password, a suspended member, too many wrong passwords
    ("post", "/v1/session"): {401, 403, 429},
    # the certificate named in the query, unknown or not the caller's to see
    ("get", "/v1/documents"): {404},
    # a request with an API key has no session (unknown_session)
    ("get", "/v1/session"): {404},
    ("delete", "/v1/session"): {404},
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Every dependency an endpoint runs, sub-dependencies included."""
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _calls(dep)


def statuses(method: str, path: str, operation: dict[str, Any], dependant: Dependant) -> set[int]:
    """The problem statuses an operation can answer with (the rules of the docstring)."""
    calls = set(_calls(dependant))
    command = command_context in calls
    has_body = "requestBody" in operation
    out = {503}
    if authenticate in calls:
        out |= {401, 403}
    if "{" in path or has_body:
        out.add(404)
    if operation.get("parameters") or has_body or command:
        out.add(422)
    if has_body:
        out.add(400)
    if method != "get":
        out.add(413)
    if command:
        out |= {409, 410, 429, 502}
    return out | EXTRA_STATUSES.get((method, path), set())


def _problem_response(status: int) -> dict[str, Any]:
    description, headers = RESPONSES[status]
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": dict(_PROBLEM_REF)}},
    }
    if headers:
        response["headers"] = dict(headers)
    return response


def _operations(
    app: FastAPI, doc: dict[str, Any]
) -> Iterator[tuple[str, str, dict[str, Any], Dependant]]:
    """(method, path, its operation in ``doc``, its dependencies) for every route, the
    included routers' too (as FastAPI's own document builder walks them)."""
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        dependant: Dependant = route.dependant or route.original_route.dependant
        path = route.path_format
        if path is None:
            continue
        for method in sorted(route.methods or ()):
            operation: dict[str, Any] | None = doc["paths"].get(path, {}).get(method.lower())
            if operation is not None:
                yield method.lower(), path, operation, dependant


def complete(app: FastAPI, doc: dict[str, Any]) -> dict[str, Any]:
    """Add the problem responses, the Problem schema and the bearer scheme (in place)."""
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})[PROBLEM] = PROBLEM_SCHEMA
    components.setdefault("securitySchemes", {})[BEARER] = BEARER_SCHEME
    components["securitySchemes"][SESSION] = SESSION_SCHEME
    components["schemas"][WAITING] = WaitingCommand.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    for method, path, operation, dependant in _operations(app, doc):
        responses = operation.setdefault("responses", {})
        if command_context in set(_calls(dependant)):
            responses.setdefault("202", _WAITING_RESPONSE)
        for status in sorted(statuses(method, path, operation, dependant)):
            responses[str(status)] = _problem_response(status)
        authenticated = authenticate in set(_calls(dependant))
        operation["security"] = [{BEARER: []}, {SESSION: []}] if authenticated else []
    _drop_unreferenced(components["schemas"], ("HTTPValidationError", "ValidationError"), doc)
    return doc


def _drop_unreferenced(
    schemas: dict[str, Any], names: tuple[str, ...], doc: dict[str, Any]
) -> None:
    """Drop FastAPI's own 422 schemas once no operation answers with them."""
    for name in names:
        schema = schemas.pop(name, None)
        if schema is not None and f'"#/components/schemas/{name}"' in json.dumps(doc):
            schemas[name] = schema  # still used (a route outside the rules): keep it


def install(app: FastAPI) -> None:
    """Serve the completed document (wraps ``app.openapi`` as it is now: install before
    other post-processing that expects the complete document, such as the links)."""
    base: Callable[[], dict[str, Any]] = app.openapi
    completed: dict[str, Any] | None = None

    def openapi() -> dict[str, Any]:
        nonlocal completed
        doc = base()  # FastAPI builds it once, then returns the same (cached) dict
        if doc is not completed:
            completed = complete(app, doc)
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
