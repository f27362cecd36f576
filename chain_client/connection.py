"""Open a Web3 connection to any EVM JSON-RPC node.

Why a helper: proof-of-authority consortium chains (Clique, IBFT) put more than 32 bytes
in a block's ``extraData``, which web3 rejects unless the POA middleware is installed. We
detect that on connect, so the same code talks to anvil and to the consortium node.

Why not web3's defaults as they are: the client is CPU-bound when many members send at
once, and stock web3 spends a good part of each request on things we do not need.

* One ``requests.Session`` for every thread, with a connection pool sized for the
  concurrency (``pool_size``), instead of one session per thread. The environment
  (proxies, CA bundle, ``.netrc`` credentials) is read once here for the node's URL
  instead of on every request, with the same result as requests' ``trust_env``.
* ``eth_chainId`` is answered from a per-Web3 cache after the first call. Web3's
  validation middleware asks for it twice per ``eth_estimateGas``/``eth_call`` (to check
  a ``chainId`` field); a node's chain id does not change while we talk to it.
  :func:`forget_chain_id` drops the cached value (e.g. a test node was replaced).
* The middlewares that only act on ``eth_sendTransaction`` (gas price strategy, buffered
  gas estimate; we only ever send locally signed raw transactions) and ENS name
  resolution (addresses here are always hex; consortium chains have no ENS) are left
  out. The validation (chain id, ``extraData``) and attribute-dict middlewares stay, so
  results look exactly as with stock web3.
* web3's built-in retry of failed requests is switched off: :mod:`chain_client.retry` is
  the one retry policy. web3's would retry inside ours (multiplying the waits), and it
  retries the wrong things: not a refused connection (what a restarting node answers),
  but any HTTP error, 400 included, and a timed-out request five times over.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_netrc_auth
from web3 import Web3
from web3.middleware import (
    AttributeDictMiddleware,
    ExtraDataToPOAMiddleware,
    ValidationMiddleware,
)
from web3.middleware.base import Web3Middleware
from web3.types import RPCEndpoint

from chain_client.errors import NodeError

#: Connections kept open to the node; more threads than this still work (they open
#: short-lived extra connections), they just do not reuse one.
DEFAULT_POOL_SIZE = 32

_chain_ids: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_chain_ids_lock = threading.Lock()


class ChainIdCacheMiddleware(Web3Middleware):
    """Answer ``eth_chainId`` from a cache once the node has answered it successfully."""

    def wrap_make_request(self, make_request: Any) -> Any:
        w3 = self._w3

        def middleware(method: Any, params: Any) -> Any:
            if method != "eth_chainId":
                return make_request(method, params)
            cached = _chain_ids.get(w3)
            if cached is not None:
                return dict(cached)
            response = make_request(method, params)
            if isinstance(response, dict) and response.get("result") and "error" not in response:
                with _chain_ids_lock:
                    _chain_ids[w3] = dict(response)
            return response

        return middleware


def forget_chain_id(w3: Web3) -> None:
    """Drop ``w3``'s cached chain id: the next ``eth_chainId`` asks the node again."""
    with _chain_ids_lock:
        _chain_ids.pop(w3, None)


def http_session(rpc_url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> requests.Session:
    """A session for ``rpc_url`` shared by all threads, environment resolved once."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # What requests would work out from the environment on every request (proxies and
    # no_proxy for this URL, REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE, .netrc), once.
    settings = session.merge_environment_settings(rpc_url, {}, None, None, None)
    session.proxies.update(settings.get("proxies") or {})
    if settings.get("verify") is not None:
        session.verify = settings["verify"]
    auth = get_netrc_auth(rpc_url)
    if auth:
        session.auth = auth
    session.trust_env = False
    return session


def connect(
    rpc_url: str,
    *,
    request_timeout: float = 30.0,
    poa: bool | None = None,
    pool_size: int = DEFAULT_POOL_SIZE,
) -> Web3:
    """A connected Web3 for ``rpc_url`` (http/https). ``poa=None`` detects it."""
    provider = Web3.HTTPProvider(
        rpc_url,
        request_kwargs={"timeout": request_timeout},
        session=http_session(rpc_url, pool_size=pool_size),
        exception_retry_configuration=None,  # chain_client.retry decides (module docstring)
    )
    w3 = Web3(
        provider,
        middleware=[
            (AttributeDictMiddleware, "attrdict"),
            (ValidationMiddleware, "validation"),
        ],
    )
    w3.middleware_onion.inject(ChainIdCacheMiddleware, name="chain_id_cache", layer=0)
    try:
        latest: Any = w3.provider.make_request(
            RPCEndpoint("eth_getBlockByNumber"), ["latest", False]
        )
    except Exception as exc:
        raise NodeError(f"cannot reach the node at {rpc_url}: {exc}") from exc
    if "error" in latest or latest.get("result") is None:
        raise NodeError(f"node at {rpc_url} answered eth_getBlockByNumber with {latest}")
    if poa is None:
        extra = str(latest["result"].get("extraData") or "0x")
        poa = len(extra) > 2 + 64
    if poa:
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3
