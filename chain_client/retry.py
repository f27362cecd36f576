"""Which failed JSON-RPC requests are worth asking again, and for how long: the one retry
policy of chain_client.

Why a policy at all: a real network's nodes fail briefly all the time. @ethereumjs/client
answers a receipt read with -32603 "value for 0x.. not found in DB" for a moment after each
block; geth answers -32000 "header not found" when a read lands between two blocks; a node
behind a load balancer answers 502/503 while it restarts, or 429 when rate-limited; a node
that restarts refuses connections for seconds. Giving up on the first such answer killed
deployments and commands whose transactions were fine.

Why one place: the send path (:mod:`chain_client.transactions`, :mod:`chain_client.head`)
and anyone else who reads the chain must agree on what "transient" means; a read retried
at two levels (ours around web3's own) multiplies the waits, so :func:`chain_client.
connection.connect` switches web3's built-in retry off and this module is the only one.

Transient (:func:`is_transient`): the node could not answer this time.

- the transport: connection refused or reset, timeouts, HTTP 5xx and 429;
- JSON-RPC errors -32603 (internal error), -32000 (geth's and Besu's generic server error)
  and -32005 (limit exceeded), unless their words say the request itself is refused;
- :class:`~chain_client.errors.NodeUnavailable`: chain_client already gave up on the node
  once, and a caller with more patience may try again.

Sending (:func:`is_transient_send`) is stricter: only the transport and -32603. geth and
Besu refuse a transaction with -32000 and their reason ("max fee per gas less than block
base fee", "transaction type not supported"), which is an answer about the transaction to
be read by :mod:`chain_client.transactions`, never a reason to send the same bytes again.

Never transient: a revert (the contract decided; it decides the same again), a definite
refusal of a transaction (nonce, price, funds, already known: their meaning is decided by
:mod:`chain_client.transactions`), a "not found" answer (it is an answer), and an error in
our own request (-32602 invalid params, -32601 no such method).

How long: exponential back-off with jitter (0.1 s doubling up to 2 s, so a node back from
a restart is asked again within about 2 s), for :data:`DEFAULT_BUDGET` seconds, or, inside
``with patience(deadline):``, until that deadline: :meth:`TransactionSender.wait
<chain_client.transactions.TransactionSender.wait>` keeps its reads going until its own
timeout, so a node that is down for a while delays a command instead of failing it.

Use it as ``retry.call(w3.eth.get_block, "latest")``, as a decorator (``@retry.transient``),
or as a tenacity ``Retrying`` object (:func:`retrying`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay
from tenacity.wait import wait_base, wait_exponential_jitter
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    TransactionNotFound,
    Web3RPCError,
)

from chain_client.errors import ContractRevert, NodeUnavailable

log = logging.getLogger(__name__)

#: Seconds a read keeps trying when no :func:`patience` deadline is set.
DEFAULT_BUDGET = 5.0
#: JSON-RPC error codes that mean "the node failed", not "your request is wrong".
TRANSIENT_RPC_CODES = frozenset({-32603, -32000, -32005})
#: Words in an error with one of those codes that make it a definite answer after all
#: (normalized to lower case): a revert, or a refusal of a transaction.
DEFINITE_WORDS = (
    "revert",
    "nonce",
    "underpriced",
    "fee too low",
    "insufficient",
    "already known",
    "known transaction",
    "intrinsic gas",
    "exceeds block gas limit",
    "invalid",
)
#: The back-off between attempts: 0.1 s doubling to 2 s, +-0.1 s of jitter so that many
#: waiting threads do not knock on a restarted node at the same instant.
BACKOFF = wait_exponential_jitter(initial=0.1, max=2.0, jitter=0.1)

P = ParamSpec("P")
T = TypeVar("T")

_deadline: ContextVar[float | None] = ContextVar("chain_client_retry_deadline", default=None)


def rpc_error(exc: BaseException) -> tuple[int | None, str]:
    """(code, message) of a JSON-RPC error answer, as far as ``exc`` carries them."""
    response = getattr(exc, "rpc_response", None) or {}
    error = response.get("error") if isinstance(response, Mapping) else None
    if isinstance(error, Mapping):
        code = error.get("code")
        return (code if isinstance(code, int) else None), str(error.get("message") or exc)
    return None, str(getattr(exc, "message", None) or exc)


def is_transient(exc: BaseException) -> bool:
    """Whether asking the node again may give another answer (see the module docstring)."""
    if isinstance(exc, ContractRevert | ContractLogicError | TransactionNotFound):
        return False
    if isinstance(exc, NodeUnavailable):
        return True
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else None
        return status is not None and (status == 429 or 500 <= status < 600)
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a certificate that does not verify will not verify next time
    if isinstance(
        exc,
        requests.ConnectionError
        | requests.Timeout
        | ConnectionError
        | TimeoutError
        | ProviderConnectionError,
    ):
        return True
    if isinstance(exc, Web3RPCError):
        code, message = rpc_error(exc)
        if code not in TRANSIENT_RPC_CODES:
            return False
        lowered = message.lower()
        return not any(word in lowered for word in DEFINITE_WORDS)
    return False


def is_transient_send(exc: BaseException) -> bool:
    """Whether ``eth_sendRawTransaction`` failing with ``exc`` is worth sending the same
    bytes again: the transport failed, or the node answered -32603 (internal error)."""
    if isinstance(exc, Web3RPCError):
        return rpc_error(exc)[0] == -32603 and is_transient(exc)
    return is_transient(exc)


@contextmanager
def patience(deadline: float) -> Iterator[None]:
    """Inside this block (in this thread), retries go on until ``deadline`` (a
    ``time.monotonic()`` instant) instead of for :data:`DEFAULT_BUDGET` seconds.

    Why a context and not an argument: the reads that need it sit deep in the send path
    (receipts, nonces, blocks, the period measurement), and each should keep trying exactly
    as long as the caller's wait has left.
    """
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def retrying(
    budget: float | None = None, *, when: Callable[[BaseException], bool] = is_transient
) -> Retrying:
    """A tenacity ``Retrying`` that retries errors ``when`` says are transient with
    :data:`BACKOFF` for ``budget`` seconds (default: until the :func:`patience` deadline,
    or :data:`DEFAULT_BUDGET`), then raises the last error as it was."""
    if budget is None:
        deadline = _deadline.get()
        budget = DEFAULT_BUDGET if deadline is None else deadline - time.monotonic()
    budget = max(0.0, budget)
    return Retrying(
        retry=retry_if_exception(when),
        stop=stop_after_delay(budget),
        wait=_within(budget),
        reraise=True,
        before_sleep=_log_retry,
    )


def call(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)``, retried while it raises a transient error."""
    return retrying()(fn, *args, **kwargs)


def transient(fn: Callable[P, T]) -> Callable[P, T]:
    """Decorator: every call of ``fn`` is :func:`call`-ed."""

    @functools.wraps(fn)
    def retried(*args: P.args, **kwargs: P.kwargs) -> T:
        return retrying()(fn, *args, **kwargs)

    return retried


class _within(wait_base):  # noqa: N801 - named like tenacity's wait strategies
    """:data:`BACKOFF`, but never past the budget: the last attempt lands on the deadline
    instead of a sleep before it overshooting it (or stopping a back-off early)."""

    def __init__(self, budget: float) -> None:
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> float:
        left = self.budget - (retry_state.seconds_since_start or 0.0)
        return max(0.0, min(BACKOFF(retry_state), left))


def _log_retry(retry_state: RetryCallState) -> None:
    """The first retry of a call at INFO (a blip is worth a line), later ones at DEBUG (a
    node that is down would otherwise log every two seconds per waiting thread)."""
    outcome = retry_state.outcome
    exc = outcome.exception() if outcome is not None else None
    level = logging.INFO if retry_state.attempt_number == 1 else logging.DEBUG
    log.log(
        level,
        "transient node error (%s: %s), retry %d of %s in %.1f s",
        type(exc).__name__,
        rpc_error(exc)[1] if exc is not None else "",
        retry_state.attempt_number,
        retry_state.get_fn_name(),
        retry_state.upcoming_sleep,
    )
