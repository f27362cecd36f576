"""RFC 9457 problem documents: every refusal the service gives, in one shape.

Why a stable ``code``: clients branch on it (``insufficient_value``, ``duplicate_invoice``
...), while ``title``/``detail`` are for people and may be reworded. Contract custom
errors are mapped here, once, by their Solidity name, so a refusal reads the same whether
it came from gas estimation, a mined revert, or a check the API made first. What an
unreachable node raises is mapped here too, once (:data:`NODE_DOWN`, :func:`node_down`):
503 ``node_unavailable`` with Retry-After from every route, never a 500. So is what an
organization's signer service raises (:func:`signer_problem`): 503 ``signer_unavailable``
with Retry-After, 502 ``signer_refused`` or ``signer_mismatch``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from web3.exceptions import (
    BadResponseFormat,
    PersistentConnectionError,
    RequestTimedOut,
    TimeExhausted,
    Web3Exception,
)

from api.headers import allowed_methods
from chain_client.encoding import jsonable
from chain_client.errors import (
    ChainClientError,
    ContractRevert,
    NodeError,
    SignerError,
    SignerMismatch,
    SignerUnavailable,
)
from chain_client.retry import is_transient

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://scf-ledger.example/problems/"
#: seconds a client should wait before retrying a 503 (every 503 carries it): long enough
#: for a restarted node or a mined transaction, short enough not to stall a user
RETRY_AFTER_UNAVAILABLE = 5


class Problem(Exception):  # noqa: N818 - it is the RFC's name
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail or title
        self.extra = extra
        #: response headers (Allow, WWW-Authenticate, Retry-After ...), never in the body
        self.headers = dict(headers or {})
        if status == 503:
            self.headers.setdefault("Retry-After", str(RETRY_AFTER_UNAVAILABLE))

    def body(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": TYPE_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            doc["instance"] = instance
        doc.update(jsonable(self.extra))
        return doc

    def response(self, instance: str | None = None) -> JSONResponse:
        return JSONResponse(
            self.body(instance),
            status_code=self.status,
            media_type=PROBLEM_JSON,
            headers=self.headers or None,
        )


# Solidity error name -> (HTTP status, code, title). A ``detail`` sentence is built from
# the error's arguments by _detail below.
REVERT_MAP: dict[str, tuple[int, str, str]] = {
    "ZeroAddress": (422, "invalid_address", "An address is missing"),
    "ZeroAmount": (422, "invalid_amount", "The amount must be more than zero"),
    "InvalidRole": (422, "invalid_role", "That role does not exist on the ledger"),
    "MemberAlreadyRegistered": (409, "already_registered", "The account is already a member"),
    "OrganizationAlreadyRegistered": (
        409,
        "organization_already_registered",
        "The organization is already a member",
    ),
    "ZeroOrganizationId": (422, "invalid_organization", "The organization id is missing"),
    "NotAMember": (422, "unknown_member", "The counterparty is not a member of the ledger"),
    "MemberIsSuspended": (403, "member_suspended", "A party to this action is suspended"),
    "WrongRole": (403, "wrong_role", "A party does not have the role this action needs"),
    "CreditLineExceeded": (
        409,
        "credit_line_exceeded",
        "The credit line does not cover this certificate",
    ),
    "InvoiceAlreadyUsed": (409, "duplicate_invoice", "This invoice already backs a certificate"),
    "DocumentAlreadyUsed": (
        409,
        "duplicate_document",
        "This document already backs a certificate",
    ),
    "ZeroInvoiceKey": (422, "invalid_invoice", "The invoice identity is missing"),
    "ZeroDocumentHash": (422, "invalid_document", "The document hash is missing"),
    "FaceValueTooLarge": (422, "invalid_amount", "The face value is too large"),
    "InvalidMaturity": (422, "invalid_maturity", "The maturity date is out of range"),
    "UnknownCertificate": (404, "unknown_certificate", "No such certificate"),
    "UnknownFragment": (404, "unknown_fragment", "No such fragment"),
    "WrongCertificateStatus": (
        409,
        "wrong_certificate_status",
        "The certificate's status does not allow this",
    ),
    "NotBeneficiary": (403, "not_beneficiary", "Only the beneficiary may do this"),
    "NotIssuer": (403, "not_issuer", "Only the issuer may do this"),
    "NotHolder": (403, "not_holder", "Only the holder of the fragment may do this"),
    "CertificateMatured": (409, "certificate_matured", "The certificate has matured"),
    "NotMatured": (
        409,
        "not_matured",
        "The certificate has not matured yet: before maturity it is repaid in full or not at all",
    ),
    "InvalidSplitAmount": (
        422,
        "insufficient_value",
        "The amount must be above zero and below the fragment's value",
    ),
    "InsufficientFragmentValue": (
        422,
        "insufficient_value",
        "The fragment does not hold that much value",
    ),
    "UnknownOffer": (404, "unknown_offer", "No such financing offer"),
    "OfferNotOpen": (409, "offer_not_open", "The offer is no longer open"),
    "OfferExpired": (409, "offer_expired", "The offer has expired"),
    "InvalidOfferExpiry": (
        422,
        "invalid_expiry",
        "The offer must expire in the future and no later than maturity",
    ),
    "NotOfferSeller": (403, "not_offer_seller", "Only the seller may do this"),
    "NotOfferFinancier": (403, "not_offer_financier", "Only the offer's financier may do this"),
    "InvalidRate": (422, "invalid_rate", "The discount rate is out of range"),
    "DiscountExceedsAmount": (
        422,
        "discount_exceeds_amount",
        "The discount would eat the whole amount",
    ),
    "RepaymentExceedsOutstanding": (
        422,
        "repayment_exceeds_outstanding",
        "The repayment exceeds what is still owed",
    ),
    "NothingOwed": (409, "nothing_owed", "Nothing is owed to this fragment right now"),
    "NotYetOverdue": (409, "not_yet_overdue", "The certificate is not overdue yet"),
    "InvalidGracePeriod": (422, "invalid_grace_period", "The grace period is out of range"),
    "InvalidPage": (422, "invalid_page", "The page of fragments is out of range"),
    "EnforcedPause": (409, "ledger_paused", "The ledger is paused by the operator"),
    "ExpectedPause": (409, "ledger_not_paused", "The ledger is not paused"),
    "AccessControlUnauthorizedAccount": (
        403,
        "wrong_role",
        "Only the platform operator may do this",
    ),
    "ERC20InsufficientBalance": (
        409,
        "insufficient_funds",
        "The settlement-token balance does not cover this payment",
    ),
    "ERC20InsufficientAllowance": (
        409,
        "insufficient_allowance",
        "The ledger may not take that much settlement token",
    ),
    "ReentrancyGuardReentrantCall": (409, "conflict", "The ledger refused a reentrant call"),
    # key rotation (POST /v1/organizations/{org_id}/key-rotation)
    "AccountRetired": (
        409,
        "account_retired",
        "The address was retired by a key rotation and can never be used again",
    ),
    "CreditLineInUse": (
        409,
        "credit_line_in_use",
        "The credit line is in use by certificates that have not moved yet",
    ),
    # standing bids (the ledger's BidBook; the reasons a quote declines, api/services/bids.py)
    "UnknownBid": (404, "unknown_bid", "No such bid"),
    "BidNotOpen": (409, "bid_not_open", "The bid was cancelled"),
    "BidExpired": (409, "bid_expired", "The bid has expired"),
    "NotBidFunder": (403, "not_bid_funder", "Only the bid's funder may do this"),
    "InvalidRateBands": (
        422,
        "invalid_rate_bands",
        "The tenor bands must rise in days, with at most eight, covering the shortest tenor",
    ),
    "InvalidBidLimits": (
        422,
        "invalid_bid_limits",
        "The largest amount per sale must be positive and at least the smallest",
    ),
    "InvalidBidExpiry": (422, "invalid_expiry", "The bid must expire in the future"),
    "NotOwnCertificates": (
        422,
        "not_own_certificates",
        "A core enterprise's bid buys only its own certificates",
    ),
    "IssuerNotCovered": (
        409,
        "issuer_not_covered",
        "The bid does not buy this core enterprise's certificates",
    ),
    "TenorOutOfRange": (409, "tenor_out_of_range", "The fragment's tenor is outside the bid's"),
    "AmountOutsideBidLimits": (
        409,
        "amount_outside_limits",
        "The amount is outside the bid's limits per sale",
    ),
    "BidBudgetExhausted": (409, "budget_exhausted", "The bid's budget cannot pay this sale"),
    "BidBudgetMoved": (
        409,
        "bid_budget_moved",
        "A sale changed the bid's escrow first: read it again and send the change anew",
    ),
    "SellerLimitReached": (
        409,
        "seller_limit_reached",
        "The sale would pass the bid's limit for one seller",
    ),
    "PaymentBelowMinimum": (
        409,
        "payment_below_minimum",
        "The bid would pay less than the minimum asked (its terms changed)",
    ),
    "NotBidBook": (403, "wrong_role", "Only the ledger's bid book may deliver to a bid"),
}


def problem_from_revert(exc: ContractRevert) -> Problem:
    """The problem for a contract refusal (unknown errors become 409 ``chain_refused``)."""
    name = exc.error_name or type(exc).__name__
    status, code, title = REVERT_MAP.get(
        name, (409, "chain_refused", "The ledger refused this action")
    )
    return Problem(
        status,
        code,
        title,
        _detail(name, exc.args, title),
        ledger_error=name,
        ledger_error_args=jsonable(exc.args),
    )


#: What an unreachable node surfaces as beyond what chain_client's retry policy already
#: calls transient (:func:`chain_client.retry.is_transient`: requests' connection errors
#: and timeouts, a gateway's 5xx and 429, the operating system's connection errors, web3's
#: provider connection error, JSON-RPC "internal error"/"server error" answers that are not
#: a refusal, NodeUnavailable): chain_client's NodeError (the node could not be reached or
#: started), and web3's other transport failures (its deadline on a streamed answer, a
#: persistent provider's, an answer that is not JSON-RPC).
NODE_DOWN: tuple[type[BaseException], ...] = (
    NodeError,
    TimeExhausted,
    RequestTimedOut,
    PersistentConnectionError,
    BadResponseFormat,
)


def node_down(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the node is unreachable or failing for now, so that the same
    request later may succeed: the one test behind every 503 ``node_unavailable``.

    The exceptions it was raised from count too: chain_client wraps the transport errors
    it meets with ``raise ... from`` (``TransactionRejected("could not reach the node")``,
    ``BatchCallError``, ``NodeError`` from ``connect``). What is transient is chain_client's
    definition, so that the API's 503 and the client's retries agree; a revert, a definite
    refusal, an error in our own request, or a certificate that does not verify is not the
    node down (a 500 is logged for what is neither a refusal nor the node)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, SignerError):  # the signer's, not the node's: signer_problem
            return False
        if isinstance(exc, NODE_DOWN) or is_transient(exc):
            return True
        exc = exc.__cause__
    return False


def node_unavailable(
    exc: BaseException | None = None, detail: str | None = None, **extra: Any
) -> Problem:
    """The node did not answer (refused, reset, timed out, or failing behind a gateway):
    the service is unavailable for now, not broken, so 503 with Retry-After, never 500.
    ``detail``: what became of the request (a command whose transaction was stored says
    so and carries ``tx_hash``)."""
    cause = f" ({type(exc).__name__})" if exc is not None else ""
    return Problem(
        503,
        "node_unavailable",
        "The ledger's node is unreachable",
        detail
        or f"The blockchain node did not answer{cause}. Retry after Retry-After: a command "
        "retried with the same Idempotency-Key is carried out at most once.",
        **extra,
    )


def signer_problem(exc: SignerError) -> Problem:
    """What an organization's signer service (custody ``remote``) did, as a problem. Each
    comes before anything is journaled or broadcast, so a retry with the same
    Idempotency-Key runs the command anew:

    * :class:`~chain_client.errors.SignerUnavailable` (unreachable, timed out, HTTP 5xx):
      503 ``signer_unavailable`` with Retry-After, like a node down: the same request
      later may succeed;
    * :class:`~chain_client.errors.SignerMismatch` (bytes that are not the transaction
      asked for, or another key's): 502 ``signer_mismatch`` with the ``field``;
    * any other refusal (a JSON-RPC error: a person declined in clef, a rule of the
      signer; the signer's credentials or URL are wrong): 502 ``signer_refused``. 502 and
      not a 4xx: the request was fine, the service the API depends on said no; retrying
      it unchanged helps only once the signer's operator acts.

    Details name the signer by ``scheme://host:port`` only (chain_client's messages)."""
    if isinstance(exc, SignerUnavailable):
        return Problem(
            503,
            "signer_unavailable",
            "The organization's signer is unreachable",
            f"{exc}. Nothing was signed or sent: retry after Retry-After with the same "
            "Idempotency-Key.",
        )
    if isinstance(exc, SignerMismatch):
        return Problem(
            502,
            "signer_mismatch",
            "The signer returned another transaction than the one asked for",
            str(exc),
            field=exc.field,
        )
    return Problem(
        502,
        "signer_refused",
        "The organization's signer refused to sign",
        f"{exc}. Nothing was sent.",
    )


def _detail(name: str, args: dict[str, Any], title: str) -> str:
    """A sentence with the numbers a person needs (amounts are fen)."""
    try:
        if name == "InvalidSplitAmount":
            return (
                f"Cannot split {args['amount']} fen off a fragment worth {args['fragmentValue']}"
                " fen: the amount must be above 0 and below the fragment's value (move all of"
                " it with a transfer)."
            )
        if name == "InsufficientFragmentValue":
            return (
                f"Fragment {args['fragmentId']} holds {args['fragmentValue']} fen, "
                f"less than the {args['amount']} fen asked for."
            )
        if name == "CreditLineExceeded":
            return (
                f"The financier's credit line has {args['available']} fen available, "
                f"{args['requested']} fen were requested."
            )
        if name == "InvoiceAlreadyUsed":
            return (
                f"This invoice already backs certificate {args['certificateId']}; one receivable"
                " can back one certificate only."
            )
        if name == "DocumentAlreadyUsed":
            return (
                f"A document with this hash already backs certificate {args['certificateId']};"
                " a document anchored on chain can back one certificate only."
            )
        if name == "RepaymentExceedsOutstanding":
            return f"Only {args['outstanding']} fen are outstanding, {args['amount']} were sent."
        if name == "OfferExpired":
            return f"Offer {args['offerId']} expired at {args['expiresAt']} (Unix time)."
        if name == "InvalidMaturity":
            return (
                f"Maturity {args['maturity']} must lie between {args['earliest']} and "
                f"{args['latest']} (Unix time, at most one year ahead)."
            )
    except KeyError:
        pass
    return title + "."


#: fields of a JSON *body* that are money (a query ``limit`` is a page size, not money)
_AMOUNT_FIELDS = {"amount", "face_value", "limit", "amount_fen"}


def install_handlers(app: FastAPI) -> None:
    """Every error path of the app answers with application/problem+json."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return exc.response(request.url.path)

    @app.exception_handler(ContractRevert)
    async def _revert(request: Request, exc: ContractRevert) -> JSONResponse:
        return problem_from_revert(exc).response(request.url.path)

    # Every exception type an unreachable node can surface as; each handler answers 503
    # node_unavailable when node_down says so and otherwise raises the exception again, to
    # the 500 handler below (Starlette looks handlers up by the exception's class, so the
    # wrappers, ChainClientError and web3's exceptions, need one too).
    async def _node_down(request: Request, exc: Exception) -> JSONResponse:
        if not node_down(exc):
            raise exc
        log.warning("node unreachable on %s %s: %r", request.method, request.url.path, exc)
        return node_unavailable(exc).response(request.url.path)

    for kind in (OSError, Web3Exception, ChainClientError):  # OSError: requests' and the OS's
        app.add_exception_handler(kind, _node_down)

    @app.exception_handler(SignerError)
    async def _signer(request: Request, exc: SignerError) -> JSONResponse:
        log.warning("signer failed on %s %s: %s", request.method, request.url.path, exc)
        return signer_problem(exc).response(request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "location": [str(part) for part in err.get("loc", ())],
                "message": str(err.get("msg", "")),
            }
            for err in exc.errors()
        ]
        fields = {e["location"][-1] for e in errors if e["location"][:1] == ["body"]}
        if fields & _AMOUNT_FIELDS:
            problem = Problem(
                422,
                "bad_amount_format",
                "Amounts are strings of whole fen",
                "Amounts must be JSON strings of a positive whole number of fen, e.g. "
                '"1050" for 10.50 CNY (no decimals, no floats, no signs).',
                errors=errors,
            )
        else:
            problem = Problem(
                422,
                "validation_error",
                "The request is not valid",
                "; ".join(f"{'.'.join(e['location'])}: {e['message']}" for e in errors)[:1000],
                errors=errors,
            )
        return problem.response(request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {
            404: "not_found",
            405: "method_not_allowed",
            401: "unauthenticated",
            403: "forbidden",
            413: "too_large",
        }
        code = codes.get(exc.status_code, f"http_{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # the router names one route's methods; the path has more
            headers["Allow"] = allowed_methods(request.app, request.url.path)
        return Problem(exc.status_code, code, detail or code, detail, headers=headers).response(
            request.url.path
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return Problem(
            500,
            "internal_error",
            "Internal error",
            "The service failed unexpectedly; the request may be retried with the same "
            "Idempotency-Key.",
        ).response(request.url.path)
