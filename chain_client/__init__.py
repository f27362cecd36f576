"""chain_client: the one package of the project that talks to the chain.

Generic EVM JSON-RPC transport (compile, keys, send/track transactions, decode reverts,
follow events, run a local node), and on top of it the ledger's own client:
:class:`Ledger` (typed reads and writes), :func:`deploy_ledger` and the deployment
manifest, the discount rule (:mod:`chain_client.discount`), organization and invoice
identities (:mod:`chain_client.identity`) and the bank's verifier
(:mod:`chain_client.verifier`, ``python -m chain_client.verify``).

A holder of a fragment pays a supplier with part of it (tests/client/test_package_example.py
runs this against a deployed ledger)::

    from chain_client import KeyStore, Ledger, TransactionSender, connect, load_manifest

    w3 = connect(rpc_url)
    manifest = load_manifest(manifest_path, w3)  # ManifestMismatch if the chain differs
    account = KeyStore(keys_dir).load(key_id, passphrase)
    ledger = Ledger(w3, manifest, TransactionSender(w3, account))
    held = ledger.fragment(fragment_id).value  # fen
    new_fragment_id = ledger.split(fragment_id, supplier_address, 10_000).value
    try:
        ledger.split(fragment_id, supplier_address, held)  # all of it: not a split
    except Ledger.errors.InvalidSplitAmount as exc:  # named after the Solidity error
        print(exc.args)  # {'amount': ..., 'fragmentValue': ...}

Every name below is imported on first use (PEP 562), not with the package: the pure
vocabulary (:mod:`chain_client.ledger_types`, :mod:`chain_client.encoding`,
:mod:`chain_client.files`) is imported by the ``scf`` CLI and must not pull in web3.
``chain_client.ledger_errors`` is the module (its error classes and ``ledger_errors``,
the same object as ``Ledger.errors``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what mypy and IDEs see; at run time __getattr__ below imports
    from chain_client.compiler import (
        CompilationResult,
        Compiler,
        CompilerSettings,
        ContractArtifact,
        compile_contracts,
    )
    from chain_client.connection import connect
    from chain_client.contract import ContractHandle, deploy
    from chain_client.deployment import deploy_ledger
    from chain_client.errors import (
        ChainClientError,
        CompilerError,
        ContractRevert,
        EventReaderError,
        KeyAlreadyExists,
        KeyNotFound,
        KeystoreError,
        ManifestError,
        ManifestMismatch,
        NodeBinaryNotFound,
        NodeError,
        NodeStartTimeout,
        NodeUnavailable,
        Panic,
        PortInUse,
        RevertWithReason,
        TamperedKeyFile,
        TransactionError,
        TransactionFailed,
        TransactionRejected,
        TransactionReplaced,
        TransactionTimeout,
        UnknownRevert,
        WrongPassphrase,
    )
    from chain_client.events import (
        Checkpoint,
        CheckpointStore,
        EventReader,
        EventRecord,
        JsonFileCheckpointStore,
        MemoryCheckpointStore,
        ReadResult,
        Reorg,
    )
    from chain_client.fees import AutoFees, Eip1559Fees, FeeStrategy, LegacyFees
    from chain_client.keystore import KeyInfo, KeyStore
    from chain_client.ledger import Ledger, LedgerCall, PendingOutcome
    from chain_client.ledger_errors import LedgerError
    from chain_client.manifest import DeploymentManifest, load_manifest
    from chain_client.node import AnvilNode
    from chain_client.nonces import NonceManager
    from chain_client.reverts import ErrorDecoder, error_decoder
    from chain_client.transactions import PendingTransaction, TransactionSender

#: public name -> the module that defines it
_HOME: dict[str, str] = {
    "CompilationResult": "chain_client.compiler",
    "Compiler": "chain_client.compiler",
    "CompilerSettings": "chain_client.compiler",
    "ContractArtifact": "chain_client.compiler",
    "compile_contracts": "chain_client.compiler",
    "connect": "chain_client.connection",
    "ContractHandle": "chain_client.contract",
    "deploy": "chain_client.contract",
    "deploy_ledger": "chain_client.deployment",
    "ChainClientError": "chain_client.errors",
    "CompilerError": "chain_client.errors",
    "ContractRevert": "chain_client.errors",
    "EventReaderError": "chain_client.errors",
    "KeyAlreadyExists": "chain_client.errors",
    "KeyNotFound": "chain_client.errors",
    "KeystoreError": "chain_client.errors",
    "ManifestError": "chain_client.errors",
    "ManifestMismatch": "chain_client.errors",
    "NodeBinaryNotFound": "chain_client.errors",
    "NodeError": "chain_client.errors",
    "NodeStartTimeout": "chain_client.errors",
    "NodeUnavailable": "chain_client.errors",
    "Panic": "chain_client.errors",
    "PortInUse": "chain_client.errors",
    "RevertWithReason": "chain_client.errors",
    "TamperedKeyFile": "chain_client.errors",
    "TransactionError": "chain_client.errors",
    "TransactionFailed": "chain_client.errors",
    "TransactionRejected": "chain_client.errors",
    "TransactionReplaced": "chain_client.errors",
    "TransactionTimeout": "chain_client.errors",
    "UnknownRevert": "chain_client.errors",
    "WrongPassphrase": "chain_client.errors",
    "Checkpoint": "chain_client.events",
    "CheckpointStore": "chain_client.events",
    "EventReader": "chain_client.events",
    "EventRecord": "chain_client.events",
    "JsonFileCheckpointStore": "chain_client.events",
    "MemoryCheckpointStore": "chain_client.events",
    "ReadResult": "chain_client.events",
    "Reorg": "chain_client.events",
    "AutoFees": "chain_client.fees",
    "Eip1559Fees": "chain_client.fees",
    "FeeStrategy": "chain_client.fees",
    "LegacyFees": "chain_client.fees",
    "KeyInfo": "chain_client.keystore",
    "KeyStore": "chain_client.keystore",
    "Ledger": "chain_client.ledger",
    "LedgerCall": "chain_client.ledger",
    "PendingOutcome": "chain_client.ledger",
    "LedgerError": "chain_client.ledger_errors",
    "DeploymentManifest": "chain_client.manifest",
    "load_manifest": "chain_client.manifest",
    "AnvilNode": "chain_client.node",
    "NonceManager": "chain_client.nonces",
    "ErrorDecoder": "chain_client.reverts",
    "error_decoder": "chain_client.reverts",
    "PendingTransaction": "chain_client.transactions",
    "TransactionSender": "chain_client.transactions",
}

__all__ = [
    "AnvilNode",
    "AutoFees",
    "ChainClientError",
    "Checkpoint",
    "CheckpointStore",
    "CompilationResult",
    "Compiler",
    "CompilerError",
    "CompilerSettings",
    "ContractArtifact",
    "ContractHandle",
    "ContractRevert",
    "DeploymentManifest",
    "Eip1559Fees",
    "ErrorDecoder",
    "EventReader",
    "EventReaderError",
    "EventRecord",
    "FeeStrategy",
    "JsonFileCheckpointStore",
    "KeyAlreadyExists",
    "KeyInfo",
    "KeyNotFound",
    "KeyStore",
    "KeystoreError",
    "Ledger",
    "LedgerCall",
    "LedgerError",
    "LegacyFees",
    "ManifestError",
    "ManifestMismatch",
    "MemoryCheckpointStore",
    "NodeBinaryNotFound",
    "NodeError",
    "NodeStartTimeout",
    "NodeUnavailable",
    "NonceManager",
    "Panic",
    "PendingOutcome",
    "PendingTransaction",
    "PortInUse",
    "ReadResult",
    "Reorg",
    "RevertWithReason",
    "TamperedKeyFile",
    "TransactionError",
    "TransactionFailed",
    "TransactionRejected",
    "TransactionReplaced",
    "TransactionSender",
    "TransactionTimeout",
    "UnknownRevert",
    "WrongPassphrase",
    "compile_contracts",
    "connect",
    "deploy",
    "deploy_ledger",
    "error_decoder",
    "load_manifest",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first asked for, then keep it in
    the package's namespace so the next access is a plain attribute lookup."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
