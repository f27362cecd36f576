"""Open a Web3 connection to any EVM JSON-RPC node.

Why a helper: proof-of-authority consortium chains (Clique, IBFT) put more than 32 bytes
in a block's ``extraData``, which web3 rejects unless the POA middleware is installed. We
detect that on connect, so the same code talks to anvil and to the consortium node.
"""

from __future__ import annotations

from typing import Any

from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware

from chain_client.errors import NodeError


def connect(rpc_url: str, *, request_timeout: float = 30.0, poa: bool | None = None) -> Web3:
    """A connected Web3 for ``rpc_url`` (http/https). ``poa=None`` detects it."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": request_timeout}))
    try:
        latest: Any = w3.provider.make_request("eth_getBlockByNumber", ["latest", False])
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
