"""OpenAPI links: which value of one answer is the id the next request needs.

Why: a client reading the document learns the lifecycle's order from them (the
``certificate_id`` an issuance answers with is the certificate the beneficiary accepts; the
``root_fragment_id`` of the acceptance is what it splits, transfers or offers to a bank),
and a stateful fuzzer (schemathesis, ``tests/api/test_schemathesis.py``) follows them to
reach the commands behind an id instead of probing random ids that all answer 404.

The links are written down once, as data: each kind of id has its *producers* (an operation,
the status it answers with, and where the id is in that answer) and its *consumers* (an
operation and the parameter or body field that takes it). Every producer is linked to every
consumer of its kind. Lists are no producers: an empty list (or a filter that matches
nothing) has no first id, and a link must always resolve. Targets are named by
``operationRef`` (a JSON pointer to the path and method), not by FastAPI's generated
operation ids, which change when a handler is renamed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI


@dataclass(frozen=True)
class Producer:
    """An answer that carries an id: ``pointer`` is a JSON pointer into its body."""

    method: str
    path: str
    status: str
    pointer: str


@dataclass(frozen=True)
class Consumer:
    """A request that takes the id: ``into`` is ``path.NAME``, ``query.NAME`` or
    ``body.NAME`` (a field of the JSON body; the rest of the body is generated)."""

    name: str
    method: str
    path: str
    into: str


DOCUMENTS = "/v1/documents"
CERTIFICATES = "/v1/certificates"
FRAGMENTS = "/v1/fragments"
OFFERS = "/v1/offers"
ORGANIZATIONS = "/v1/organizations"

#: kind of id -> (where it comes from, where it goes)
LINKS: dict[str, tuple[tuple[Producer, ...], tuple[Consumer, ...]]] = {
    "document": (
        (Producer("post", DOCUMENTS, "201", "/id"),),
        (
            Consumer("IssueCertificateAgainstDocument", "post", CERTIFICATES, "body.document_id"),
            Consumer("GetDocument", "get", DOCUMENTS + "/{document_id}", "path.document_id"),
            Consumer(
                "DownloadDocument", "get", DOCUMENTS + "/{document_id}/content", "path.document_id"
            ),
        ),
    ),
    "certificate": (
        (
            Producer("post", CERTIFICATES, "201", "/certificate_id"),
            Producer("post", CERTIFICATES + "/{certificate_id}/accept", "200", "/certificate_id"),
        ),
        (
            Consumer(
                "GetCertificate", "get", CERTIFICATES + "/{certificate_id}", "path.certificate_id"
            ),
            Consumer(
                "AcceptCertificate",
                "post",
                CERTIFICATES + "/{certificate_id}/accept",
                "path.certificate_id",
            ),
            Consumer(
                "RejectCertificate",
                "post",
                CERTIFICATES + "/{certificate_id}/reject",
                "path.certificate_id",
            ),
            Consumer(
                "RevokeCertificate",
                "post",
                CERTIFICATES + "/{certificate_id}/revoke",
                "path.certificate_id",
            ),
            Consumer(
                "RepayCertificate",
                "post",
                CERTIFICATES + "/{certificate_id}/repay",
                "path.certificate_id",
            ),
            Consumer("ListFragmentsOfCertificate", "get", FRAGMENTS, "query.certificate_id"),
        ),
    ),
    "fragment": (
        (
            Producer("post", CERTIFICATES + "/{certificate_id}/accept", "200", "/root_fragment_id"),
            Producer("post", FRAGMENTS + "/{fragment_id}/split", "201", "/fragment_id"),
            Producer("post", OFFERS + "/{offer_id}/accept", "200", "/financed_fragment_id"),
        ),
        (
            Consumer(
                "SplitFragment", "post", FRAGMENTS + "/{fragment_id}/split", "path.fragment_id"
            ),
            Consumer(
                "TransferFragment",
                "post",
                FRAGMENTS + "/{fragment_id}/transfer",
                "path.fragment_id",
            ),
            Consumer(
                "ClaimFragment", "post", FRAGMENTS + "/{fragment_id}/claim", "path.fragment_id"
            ),
            Consumer("OfferFragment", "post", OFFERS, "body.fragment_id"),
            Consumer("QuoteFragment", "post", "/v1/quotes", "body.fragment_id"),
            Consumer("GetFragment", "get", FRAGMENTS + "/{fragment_id}", "path.fragment_id"),
            Consumer(
                "FragmentProvenance",
                "get",
                FRAGMENTS + "/{fragment_id}/provenance",
                "path.fragment_id",
            ),
            Consumer(
                "FragmentHistory", "get", FRAGMENTS + "/{fragment_id}/history", "path.fragment_id"
            ),
            Consumer(
                "VerifyFragment",
                "get",
                FRAGMENTS + "/{fragment_id}/verification",
                "path.fragment_id",
            ),
        ),
    ),
    "offer": (
        (Producer("post", OFFERS, "201", "/offer_id"),),
        (
            Consumer("GetOffer", "get", OFFERS + "/{offer_id}", "path.offer_id"),
            Consumer("QuoteOffer", "get", OFFERS + "/{offer_id}/quote", "path.offer_id"),
            Consumer("AcceptOffer", "post", OFFERS + "/{offer_id}/accept", "path.offer_id"),
            Consumer("WithdrawOffer", "post", OFFERS + "/{offer_id}/withdraw", "path.offer_id"),
        ),
    ),
    # the caller's own organization: what a member does with its own record (the
    # operator's own organization is no ledger member: it is never suspended or funded)
    "own organization": (
        (Producer("get", "/v1/me", "200", "/id"),),
        (
            Consumer("GetOrganization", "get", ORGANIZATIONS + "/{org_id}", "path.org_id"),
            Consumer("CreateApiKey", "post", ORGANIZATIONS + "/{org_id}/api-keys", "path.org_id"),
            Consumer("ListApiKeys", "get", ORGANIZATIONS + "/{org_id}/api-keys", "path.org_id"),
            Consumer(
                "OrganizationBalance", "get", ORGANIZATIONS + "/{org_id}/balance", "path.org_id"
            ),
        ),
    ),
    "organization": (
        (Producer("post", ORGANIZATIONS, "201", "/id"),),
        (
            Consumer("GetOrganization", "get", ORGANIZATIONS + "/{org_id}", "path.org_id"),
            Consumer("CreateApiKey", "post", ORGANIZATIONS + "/{org_id}/api-keys", "path.org_id"),
            Consumer("ListApiKeys", "get", ORGANIZATIONS + "/{org_id}/api-keys", "path.org_id"),
            Consumer(
                "SuspendOrganization", "post", ORGANIZATIONS + "/{org_id}/suspend", "path.org_id"
            ),
            Consumer(
                "ReinstateOrganization",
                "post",
                ORGANIZATIONS + "/{org_id}/reinstate",
                "path.org_id",
            ),
            Consumer(
                "FundOrganization",
                "post",
                ORGANIZATIONS + "/{org_id}/settlement-funds",
                "path.org_id",
            ),
            Consumer(
                "OrganizationBalance", "get", ORGANIZATIONS + "/{org_id}/balance", "path.org_id"
            ),
        ),
    ),
}

#: A key is revoked under the organization it was created for: the key's id comes from the
#: answer, the organization's from the creating request's own path.
API_KEY_PRODUCER = Producer("post", ORGANIZATIONS + "/{org_id}/api-keys", "201", "/id")
REVOKE_API_KEY = Consumer(
    "RevokeApiKey", "delete", ORGANIZATIONS + "/{org_id}/api-keys/{key_id}", "path.key_id"
)


def operation_ref(method: str, path: str) -> str:
    """``#/paths/<path as a JSON pointer, percent-encoded>/<method>`` (RFC 6901 section 6)."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return "#/paths/" + quote(pointer, safe="~") + "/" + method


def _link(kind: str, consumer: Consumer, expression: str, source: Producer) -> dict[str, Any]:
    where, name = consumer.into.split(".", 1)
    link: dict[str, Any] = {
        "operationRef": operation_ref(consumer.method, consumer.path),
        "description": f"The {kind} id answered by {source.method.upper()} {source.path} "
        f"(at {source.pointer}) as {where} {name!r} of "
        f"{consumer.method.upper()} {consumer.path}.",
    }
    if where == "body":
        link["requestBody"] = {name: expression}
    else:
        link["parameters"] = {f"{where}.{name}": expression}
    return link


def links_by_response() -> dict[tuple[str, str, str], dict[str, dict[str, Any]]]:
    """(method, path, status) of a producer -> {link name: OpenAPI Link Object}."""
    out: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
    for kind, (producers, consumers) in LINKS.items():
        for source in producers:
            expression = "$response.body#" + source.pointer
            named = out.setdefault((source.method, source.path, source.status), {})
            for consumer in consumers:
                named[consumer.name] = _link(kind, consumer, expression, source)
    revoke = _link("API key", REVOKE_API_KEY, "$response.body#/id", API_KEY_PRODUCER)
    revoke["parameters"]["path.org_id"] = "$request.path.org_id"
    key = (API_KEY_PRODUCER.method, API_KEY_PRODUCER.path, API_KEY_PRODUCER.status)
    out.setdefault(key, {})[REVOKE_API_KEY.name] = revoke
    return out


def add_links(document: dict[str, Any]) -> dict[str, Any]:
    """Adds the links to an OpenAPI document in place (and returns it).

    Raises ``KeyError`` when a link names an operation or a response the document does not
    have: a renamed route must fail the schema test, not silently lose its links.
    """
    paths = document["paths"]
    for (method, path, status), links in links_by_response().items():
        response = paths[path][method]["responses"][status]
        for link in links.values():
            target_path, target_method = _target(link["operationRef"])
            paths[target_path][target_method]
        response.setdefault("links", {}).update(links)
    return document


def _target(ref: str) -> tuple[str, str]:
    from urllib.parse import unquote

    pointer, method = ref.removeprefix("#/paths/").rsplit("/", 1)
    return unquote(pointer).replace("~1", "/").replace("~0", "~"), method


def install(app: FastAPI) -> None:
    """Serve the app's OpenAPI document with the links (wraps whatever ``app.openapi`` is
    at this point, so it composes with other post-processing of the document)."""
    base: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        return add_links(base())

    app.openapi = openapi  # type: ignore[method-assign]
