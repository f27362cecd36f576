"""Deploy SettlementToken + CreditLedger once, and remember it in a manifest.

Why idempotent: `make deploy`, the API's first start and the test fixtures all call
:func:`deploy_ledger`; running it twice against the same chain must not create a second
ledger (balances and certificates would silently split across two contracts). If the
manifest exists and the chain still holds exactly that code at those addresses, it is
returned untouched; otherwise (fresh dev chain, another network) we deploy and rewrite it.

Why resumable: a run can die between its transactions (a node that refuses the second one,
a crash, a lost connection). Each step is recorded in the partial manifest
(:func:`~chain_client.manifest.partial_manifest_path`) as it happens: the signed
transaction, its hash, sender and nonce *before* the broadcast, the block and code hash
once its receipt is in. The next run finishes that deployment: it checks that each
contract recorded as landed still has its code, waits for (and if need be sends again) a
transaction recorded as pending, and deploys only what is missing, so a chain never gets
a second token because the first run failed after the first one landed. A recorded
address that holds no code or other code is an error naming it, never a reason to deploy
again over it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hexbytes import HexBytes
from web3 import Web3
from web3.types import TxReceipt
from web3.utils.address import get_create_address

from chain_client.addresses import checksum
from chain_client.compiler import Compiler, ContractArtifact
from chain_client.contract import ContractHandle
from chain_client.encoding import to_hex
from chain_client.errors import (
    ManifestError,
    ManifestMismatch,
    TransactionFailed,
    TransactionRejected,
    TransactionReplaced,
)
from chain_client.manifest import (
    BID_BOOK,
    EMPTY_CODE_HASH,
    LEDGER,
    TOKEN,
    DeploymentManifest,
    DeploymentProgress,
    DeploymentStep,
    code_hash,
    load_manifest,
    partial_manifest_path,
)
from chain_client.transactions import PendingTransaction, SignedTransaction, TransactionSender

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
    token's admin and minter. ``force`` deploys anew even if the manifest matches. A
    deployment left unfinished by an earlier run (its partial manifest exists) is finished,
    with or without ``force``, and only with the parameters it was started with
    (:class:`~chain_client.errors.ManifestMismatch` otherwise, as when a contract it
    recorded is no longer on the chain).
    """
    path = Path(manifest_path)
    partial = partial_manifest_path(path)
    if path.exists() and not force and not partial.exists():
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
    run = _Run(
        operator_sender,
        partial,
        DeploymentProgress(
            chain_id=int(w3.eth.chain_id),
            deployer=operator,
            source_hash=result.cache_key,
            grace_period=grace_period,
            token_name=token_name,
            token_symbol=token_symbol,
        ),
    )
    token = run.contract(TOKEN, token_artifact, token_name, token_symbol, operator)
    ledger = run.contract(LEDGER, ledger_artifact, operator, token.address, grace_period)
    if ledger.call("settlementToken") != token.address:  # belt and braces
        raise ManifestError("the deployed ledger is not bound to the deployed token")
    # the ledger's constructor made its bid book: read where, and pin its code like the rest
    bid_book_address = checksum(ledger.call("bidBook"))
    bid_book_code = code_hash(w3, bid_book_address)
    if bid_book_code == EMPTY_CODE_HASH:
        raise ManifestError(f"the ledger's bid book at {bid_book_address} has no code")

    steps = run.progress.steps
    manifest = DeploymentManifest(
        chain_id=run.progress.chain_id,
        ledger_address=ledger.address,
        token_address=token.address,
        bid_book_address=bid_book_address,
        deployment_block=_block_of(steps[LEDGER]),
        token_deployment_block=_block_of(steps[TOKEN]),
        compiler_version=compiler.compiler_version(),
        source_hash=result.cache_key,
        code_hashes={
            **{name: str(steps[name].code_hash) for name in (LEDGER, TOKEN)},
            BID_BOOK: bid_book_code,
        },
        deployer=operator,
        grace_period=grace_period,
        token_name=token_name,
        token_symbol=token_symbol,
        abis={
            LEDGER: ledger_artifact.abi,
            TOKEN: token_artifact.abi,
            BID_BOOK: result[BID_BOOK].abi,
        },
    )
    manifest.write(path)
    # A crash here leaves both files: the next run finds every step landed, sends nothing
    # and writes the same manifest again.
    partial.unlink(missing_ok=True)
    log.info("deployed CreditLedger at %s, SettlementToken at %s", ledger.address, token.address)
    return manifest


class _Run:
    """One run of a deployment: the steps an earlier run recorded, and the record kept."""

    def __init__(
        self, sender: TransactionSender, partial: Path, requested: DeploymentProgress
    ) -> None:
        self.sender = sender
        self.w3 = sender.w3
        self.partial = partial
        self.progress = requested
        if partial.exists():
            recorded = DeploymentProgress.read(partial)
            differences = recorded.differences(requested)
            if differences:
                raise ManifestMismatch(
                    f"the unfinished deployment recorded in {partial} was started with "
                    + "; ".join(differences)
                    + ": run it again with those settings to finish it, or move the file "
                    "away to abandon it (what it deployed stays on the chain)"
                )
            self.progress = recorded
            log.info("finishing the deployment recorded in %s", partial)

    def contract(self, name: str, artifact: ContractArtifact, *args: Any) -> ContractHandle:
        """``name`` on the chain: the one recorded (checked, or waited for), or a new one."""
        step = self.progress.steps.get(name)
        if step is not None and step.landed:
            self._check_code(name, step)
        elif step is not None:
            step = self._settle(name, step, artifact.abi)
        if step is None:
            step = self._deploy(name, artifact, args)
        return ContractHandle(self.w3, step.address, artifact.abi, sender=self.sender)

    def _record(self, name: str, step: DeploymentStep | None) -> None:
        self.progress = self.progress.with_step(name, step)
        self.progress.write(self.partial)

    def _deploy(
        self, name: str, artifact: ContractArtifact, args: tuple[Any, ...]
    ) -> DeploymentStep:
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        prepared = self.sender.prepare(
            {"data": factory.constructor(*args).data_in_transaction}, abi=artifact.abi
        )
        recorded: list[DeploymentStep] = []

        def before_broadcast(signed: SignedTransaction) -> None:
            # Called again with the next nonce if this one was taken: the last call is the
            # transaction that went out.
            step = _pending_step(signed)
            self._record(name, step)
            recorded.append(step)

        pending = self.sender.submit_prepared(prepared, before_broadcast=before_broadcast)
        log.info("deploying %s at %s (transaction %s)", name, recorded[-1].address, pending.tx_hash)
        return self._landed(name, recorded[-1], self.sender.wait(pending))

    def _settle(
        self, name: str, step: DeploymentStep, abi: list[dict[str, Any]]
    ) -> DeploymentStep | None:
        """Wait for the deployment an earlier run broadcast (or was about to): its landed
        step, or None if it never will be mined and nothing is at its address."""
        log.info("waiting for %s's deployment %s from an earlier run", name, step.tx_hash)
        pending = PendingTransaction(
            step.sender,
            step.nonce,
            _fields_from_json(step.fields or {}),
            bytes(HexBytes(step.raw or "0x")),
            step.tx_hash,
            abi,
        )
        try:
            # Sends the bytes again if the node does not know them (never broadcast, or
            # dropped) and the nonce is still free. The same bytes, never a new signature:
            # another node may still hold them, and a second deployment signed meanwhile
            # would be pushed to the next nonce when they are mined.
            receipt = self.sender.wait(pending, raise_on_failure=False)
        except TransactionRejected as exc:
            raise TransactionRejected(
                f"{exc}; {name}'s deployment recorded in {self.partial} is sent again on "
                f"each run until it is mined, or until nonce {step.nonce} of {step.sender} "
                "goes to another transaction (then it is deployed anew)",
                step.tx_hash,
            ) from exc
        except TransactionReplaced:
            if code_hash(self.w3, step.address) != EMPTY_CODE_HASH:
                raise ManifestMismatch(
                    f"{name}'s deployment {step.tx_hash} recorded in {self.partial} was not "
                    f"mined, but nonce {step.nonce} of {step.sender} was used and "
                    f"{step.address}, the address that nonce creates, holds code (a "
                    "fee-bumped copy of the deployment?): check that contract, then move "
                    f"{self.partial} away"
                ) from None
            log.warning(
                "%s's deployment %s was never mined (nonce %d went to another transaction); "
                "deploying it again",
                name,
                step.tx_hash,
                step.nonce,
            )
            self._record(name, None)
            return None
        if receipt["status"] != 1:
            log.warning(
                "%s's deployment %s failed in block %d, creating nothing; deploying it again",
                name,
                to_hex(receipt["transactionHash"]),
                receipt["blockNumber"],
            )
            self._record(name, None)
            return None
        return self._landed(name, step, receipt)

    def _landed(self, name: str, step: DeploymentStep, receipt: TxReceipt) -> DeploymentStep:
        address = receipt.get("contractAddress")
        if not address:
            raise TransactionFailed("deployment receipt has no contract address", None, receipt)
        if checksum(address) != step.address:
            raise ManifestError(
                f"{name}'s deployment created {address}, not {step.address} as its sender "
                f"{step.sender} and nonce {step.nonce} say"
            )
        landed = step.as_landed(
            to_hex(receipt["transactionHash"]),
            int(receipt["blockNumber"]),
            code_hash(self.w3, step.address),
        )
        self._record(name, landed)
        return landed

    def _check_code(self, name: str, step: DeploymentStep) -> None:
        actual = code_hash(self.w3, step.address)
        if actual == EMPTY_CODE_HASH:
            raise ManifestMismatch(
                f"no contract code at {name} address {step.address}, which {self.partial} "
                f"records as created in block {step.block} by {step.tx_hash}: this is not "
                f"the chain that deployment started on (a node restarted empty?); move "
                f"{self.partial} away to deploy anew"
            )
        if actual != step.code_hash:
            raise ManifestMismatch(
                f"{name} at {step.address} has code hash {actual}, {self.partial} recorded "
                f"{step.code_hash}; move {self.partial} away to deploy anew"
            )


def _pending_step(signed: SignedTransaction) -> DeploymentStep:
    return DeploymentStep(
        sender=checksum(signed.sender),
        nonce=signed.nonce,
        tx_hash=signed.tx_hash,
        address=get_create_address(checksum(signed.sender), signed.nonce),  # type: ignore[arg-type]
        raw=to_hex(signed.raw),
        fields=_fields_to_json(signed.fields),
    )


def _fields_to_json(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_hex(v) if isinstance(v, bytes | bytearray) else v for k, v in fields.items()}


def _fields_from_json(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The signed fields as a sender signs them (``data`` as bytes), to re-price them."""
    return {k: HexBytes(v) if k == "data" else v for k, v in fields.items()}


def _block_of(step: DeploymentStep) -> int:
    assert step.block is not None  # every step has landed by the time the manifest is made
    return step.block
