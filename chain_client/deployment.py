"""Deploy SettlementToken + CreditLedger once, and remember it in a manifest.

Why idempotent: `make deploy`, the API's first start and the test fixtures all call
:func:`deploy_ledger`; running it twice against the same chain must not create a second
ledger (balances and certificates would silently split across two contracts). If the
manifest exists and the chain still holds exactly that code at those addresses, it is
returned untouched; otherwise (fresh dev chain, another network) we deploy and rewrite it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from web3 import Web3

from chain_client.compiler import Compiler
from chain_client.contract import ContractHandle
from chain_client.errors import ManifestError, ManifestMismatch, TransactionFailed
from chain_client.manifest import (
    LEDGER,
    TOKEN,
    DeploymentManifest,
    code_hash,
    load_manifest,
)
from chain_client.transactions import TransactionSender

log = logging.getLogger(__name__)

DEFAULT_GRACE_PERIOD = 3 * 86_400
DEFAULT_TOKEN_NAME = "Settlement CNY (fen)"
DEFAULT_TOKEN_SYMBOL = "sCNY"


def deploy_ledger(
    w3: Web3,
    operator_sender: TransactionSender,
    *,
    manifest_path: str | os.PathLike[str],
    grace_period: int = DEFAULT_GRACE_PERIOD,
    token_name: str = DEFAULT_TOKEN_NAME,
    token_symbol: str = DEFAULT_TOKEN_SYMBOL,
    compiler: Compiler | None = None,
    force: bool = False,
) -> DeploymentManifest:
    """The manifest of the ledger on ``w3``'s chain, deploying it first if needed.

    ``operator_sender`` deploys both contracts and becomes the ledger's operator and the
    token's admin and minter. ``force`` deploys anew even if the manifest matches.
    """
    path = Path(manifest_path)
    if path.exists() and not force:
        try:
            manifest = load_manifest(path, w3)
            log.info("ledger already deployed at %s (manifest %s)", manifest.ledger_address, path)
            return manifest
        except ManifestMismatch as exc:
            log.warning("%s; deploying a new ledger", exc)
        except ManifestError as exc:
            log.warning("unusable manifest (%s); deploying a new ledger", exc)

    compiler = compiler or Compiler("contracts")
    result = compiler.compile()
    token_artifact, ledger_artifact = result[TOKEN], result[LEDGER]
    operator = operator_sender.address

    token, token_block = _deploy(
        operator_sender,
        token_artifact.abi,
        token_artifact.bytecode,
        token_name,
        token_symbol,
        operator,
    )
    ledger, ledger_block = _deploy(
        operator_sender,
        ledger_artifact.abi,
        ledger_artifact.bytecode,
        operator,
        token.address,
        grace_period,
    )
    if ledger.call("settlementToken") != token.address:  # belt and braces
        raise ManifestError("the deployed ledger is not bound to the deployed token")

    manifest = DeploymentManifest(
        chain_id=int(w3.eth.chain_id),
        ledger_address=ledger.address,
        token_address=token.address,
        deployment_block=ledger_block,
        token_deployment_block=token_block,
        compiler_version=compiler.compiler_version(),
        source_hash=result.cache_key,
        code_hashes={
            LEDGER: code_hash(w3, ledger.address),
            TOKEN: code_hash(w3, token.address),
        },
        deployer=operator,
        grace_period=grace_period,
        token_name=token_name,
        token_symbol=token_symbol,
        abis={LEDGER: ledger_artifact.abi, TOKEN: token_artifact.abi},
    )
    manifest.write(path)
    log.info("deployed CreditLedger at %s, SettlementToken at %s", ledger.address, token.address)
    return manifest


def _deploy(
    sender: TransactionSender, abi: list[dict[str, Any]], bytecode: str, *args: Any
) -> tuple[ContractHandle, int]:
    """Deploy and return the handle with the block that created the contract."""
    factory = sender.w3.eth.contract(abi=abi, bytecode=bytecode)
    receipt = sender.send({"data": factory.constructor(*args).data_in_transaction}, abi=abi)
    address = receipt.get("contractAddress")
    if not address:
        raise TransactionFailed("deployment receipt has no contract address", None, receipt)
    return ContractHandle(sender.w3, address, abi, sender=sender), int(receipt["blockNumber"])
