"""chain_client: the one package of the project that talks to the chain.

Generic EVM JSON-RPC transport (compile, keys, send/track transactions, decode reverts,
follow events, run a local node). Contract-specific clients are built on top of it and
take an ABI + address; nothing in here knows the ledger's contracts.

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
from chain_client.errors import (
    ChainClientError,
    CompilerError,
    ContractRevert,
    EventReaderError,
    KeyAlreadyExists,
    KeyNotFound,
    KeystoreError,
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
    "LegacyFees",
    "MemoryCheckpointStore",
    "NodeBinaryNotFound",
    "NodeError",
    "NodeStartTimeout",
    "NonceManager",
    "Panic",
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
    "error_decoder",
]
