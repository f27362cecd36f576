"""chain_client: the one package of the project that talks to the chain.

Generic EVM JSON-RPC transport (compile, keys, send/track transactions, decode reverts,
follow events, run a local node), and on top of it the ledger's own client:
:class:`Ledger` (typed reads and writes), :func:`deploy_ledger` and the deployment
manifest, the discount rule (:mod:`chain_client.discount`), organization and invoice
identities (:mod:`chain_client.identity`) and the bank's verifier
(:mod:`chain_client.verifier`, ``python -m chain_client.verify``).

Ledger use::

    w3 = connect(rpc_url)
    manifest = load_manifest("deployments/local.json", w3)     # ManifestMismatch if stale
    ledger = Ledger(w3, manifest, TransactionSender(w3, account))
    new_id = ledger.split(fragment_id, supplier_address, 10_000).value
    try:
        ledger.split(fragment_id, supplier_address, 10**12)
    except Ledger.errors.InvalidSplitAmount as exc:            # == ledger_errors.*
        print(exc.args)                                         # {"amount": ..., ...}

Typical use::

    w3 = connect(rpc_url)
    sender = TransactionSender(w3, keystore.load(key_id, passphrase))
    artifact = compile_contracts()["Ledger"]
    ledger = deploy(sender, artifact.abi, artifact.bytecode, *constructor_args)
    try:
        ledger.transact("split", fragment_id, amount)
    except ledger.errors.InsufficientBalance as exc:   # named after the Solidity error
        print(exc.args)                                 # {"available": ..., "requested": ...}
"""

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
from chain_client.ledger_errors import LedgerError, ledger_errors
from chain_client.manifest import DeploymentManifest, load_manifest
from chain_client.node import AnvilNode
from chain_client.nonces import NonceManager
from chain_client.reverts import ErrorDecoder, error_decoder
from chain_client.transactions import PendingTransaction, TransactionSender

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
    "ledger_errors",
    "load_manifest",
]
