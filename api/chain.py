"""The service's one door to the chain: the ledger, the organizations' signing keys, and a
journaled way to send transactions.

Why not simply ``Ledger.split(...)``: an idempotent command must survive the process dying
between "the node has the transaction" and "the database knows it". So a command's
transaction goes through the client's one send path (:meth:`Ledger.submit
<chain_client.ledger.Ledger.submit>`) with a ``before_broadcast`` hook, ``on_signed``, which
commits the raw transaction and its hash to the database before the broadcast, all under
the account's nonce lock.
After a crash the stored hash tells whether it was mined, and the stored raw bytes can be
broadcast again as they are (same nonce, same hash: it can never be sent twice). What the
transaction returned (a new id, fen paid) comes from its receipt through the same
:class:`~chain_client.ledger.LedgerCall` extractors the typed client uses.

Where keys, nonce counters and the manifest live is chosen by the database: on SQLite
(one machine) in the data folder (key files, counter files under an ``flock``, the
manifest file); on PostgreSQL, where instances on several machines share only the
database and the chain, in the database (:mod:`api.keys_db`, :mod:`api.nonces_pg`, the
``deployments`` row), so a key made by one instance signs through another at once, two
instances never sign one nonce, and every instance serves the one ledger.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from sqlalchemy import Engine, insert, select, text
from sqlmodel import col
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from api.db import is_postgres
from api.keys_db import DbKeyDocuments, copy_folder_keys
from api.models import Deployment, Organization
from api.nonces_pg import PgNonceCounter
from api.settings import Settings
from api.timeutil import utcnow
from chain_client import KeyStore, TransactionSender, connect
from chain_client.deployment import deploy_ledger
from chain_client.encoding import to_hex
from chain_client.errors import KeyAlreadyExists, KeyNotFound, ManifestMismatch, SignerRefused
from chain_client.fees import AutoFees
from chain_client.ledger import Ledger, LedgerCall
from chain_client.ledger_types import TxOutcome
from chain_client.manifest import DeploymentManifest, load_manifest
from chain_client.nonces import NonceManager
from chain_client.signers import OwnSigner, RemoteSigner, Signer
from chain_client.transactions import PendingTransaction, SignedTransaction

log = logging.getLogger(__name__)

MAX_UINT256 = 2**256 - 1
#: held by the instance that looks for the recorded manifest and deploys (one at a time)
_DEPLOY_LOCK = text(
    "SELECT pg_advisory_xact_lock(hashtext('scf-api:deploy:' || coalesce(current_schema(), '')))"
)


@dataclass(frozen=True)
class SignedTx:
    """What is journaled before broadcasting: a command row's columns (text, for the
    database), which turn back into the client's
    :class:`~chain_client.transactions.SignedTransaction` to wait for or send again."""

    sender: str
    nonce: int
    tx_hash: str
    raw: str  # 0x hex of the signed bytes

    @classmethod
    def of(cls, signed: SignedTransaction) -> SignedTx:
        return cls(signed.sender, signed.nonce, signed.tx_hash, to_hex(signed.raw))

    def signed(self) -> SignedTransaction:
        return SignedTransaction(self.sender, self.nonce, self.tx_hash, bytes(HexBytes(self.raw)))


class ChainGateway:
    """Connection, deployment manifest, key store, one sender per account."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        """``engine``: the service's database; on PostgreSQL the keys, the nonce counters
        and the manifest are kept there (see the module text), else in the data folder."""
        self.settings = settings
        self.w3: Web3 = connect(settings.rpc_url)
        self.engine = engine if engine is not None and is_postgres(engine) else None
        #: the service's database, whichever it is: whose key is where (_signing_of)
        self.db = engine
        folder_keys = KeyStore(settings.keystore_dir, scrypt_n=settings.keystore_scrypt_n)
        if self.engine is not None:
            self.keystore = KeyStore(
                documents=DbKeyDocuments(self.engine), scrypt_n=settings.keystore_scrypt_n
            )
            copy_folder_keys(folder_keys, self.keystore)  # a folder from before, once
            # every process of every instance signs for every account
            self.nonces = NonceManager(self.w3, counter=PgNonceCounter(self.engine))
        else:
            self.keystore = folder_keys
            # shared through files: every worker process of a server signs for every account
            self.nonces = NonceManager(self.w3, shared_dir=settings.nonce_dir)
        self.fees = AutoFees()
        self._accounts: dict[str, Signer] = {}
        self._senders: dict[str, TransactionSender] = {}
        self._ledgers: dict[str, Ledger] = {}
        self._lock = threading.Lock()
        #: receipts :meth:`wait` just saw, by tx hash (the command's responder and its
        #: read-model update use them without asking the node again)
        self._mined: OrderedDict[str, TxReceipt] = OrderedDict()
        self.operator = self._operator_account()
        self._accounts[self.operator.address] = self.operator
        if self.engine is not None:
            self.manifest: DeploymentManifest = self._shared_manifest(self.engine)
        else:
            self.manifest = self._folder_manifest()
        self.ledger = Ledger(self.w3, self.manifest)

    def _folder_manifest(self) -> DeploymentManifest:
        manifest_path = self.settings.resolved_manifest_path
        if self.settings.deploy_if_missing:
            return deploy_ledger(
                self.w3, self.sender_for(self.operator.address), manifest_path=manifest_path
            )
        return load_manifest(manifest_path, self.w3)

    def _shared_manifest(self, engine: Engine) -> DeploymentManifest:
        """The ledger the database follows, recorded by the first instance (which
        deployed it, or read it from its folder), under a lock that lets one instance at
        a time look and deploy: two instances started at once on a fresh chain deploy one
        ledger. An instance whose folder names another ledger refuses to start (it would
        serve one ledger from a read model of another); one without a manifest gets the
        recorded one written to its folder."""
        path = self.settings.resolved_manifest_path
        with engine.connect() as conn, conn.begin():
            conn.execute(_DEPLOY_LOCK)
            recorded = conn.execute(
                select(col(Deployment.manifest)).where(col(Deployment.name) == "ledger")
            ).scalar()
            if recorded is None:
                manifest = self._folder_manifest()
                conn.execute(
                    insert(Deployment).values(
                        name="ledger", manifest=manifest.to_json(), recorded_at=utcnow()
                    )
                )
                return manifest
        shared = DeploymentManifest.from_dict(json.loads(recorded))
        if path.exists():
            local = DeploymentManifest.read(path)
            if (local.chain_id, local.ledger_address) != (shared.chain_id, shared.ledger_address):
                raise ManifestMismatch(
                    f"manifest {path} names the ledger {local.ledger_address} on chain "
                    f"{local.chain_id}, but the database serves {shared.ledger_address} on "
                    f"chain {shared.chain_id}"
                )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            shared.write(path)
        return load_manifest(path, self.w3)  # checked against the chain

    # -- keys and senders -----------------------------------------------------------------

    def _operator_account(self) -> LocalAccount:
        """The chain operator: an explicit key (imported into the key store once) or the
        key store's key labelled "operator"."""
        passphrase = self.settings.master_passphrase.get_secret_value()
        if self.settings.operator_private_key is not None:
            account: LocalAccount = Account.from_key(
                self.settings.operator_private_key.get_secret_value()
            )
            if not any(i.address == account.address for i in self.keystore.list()):
                # another instance may store it meanwhile
                with contextlib.suppress(KeyAlreadyExists):
                    self.keystore.import_key(account.key, passphrase, label="operator")
            return account
        for info in self.keystore.list():
            if info.label == "operator":
                return self.keystore.load(info.id, passphrase)
        raise RuntimeError(
            "no operator key: set SCF_OPERATOR_PRIVATE_KEY or store a key labelled 'operator'"
        )

    def create_key(self, label: str) -> tuple[str, str]:
        """A new signing key in the encrypted key store: (key id, address)."""
        info = self.keystore.create(self.settings.master_passphrase.get_secret_value(), label=label)
        return info.id, info.address

    def _signing_of(self, address: str) -> tuple[str, str | None] | None:
        """(custody, signer URL) of the organization whose address it is, None when no
        organization has it: ``platform`` (the key store), ``self`` (its organization,
        outside the service) or ``remote`` (a signer service; its URL may carry
        credentials: never logged in full, see :class:`RemoteSigner`)."""
        if self.db is None:
            return ("platform", None)
        with self.db.connect() as conn:
            found = conn.execute(
                select(col(Organization.custody), col(Organization.signer_url)).where(
                    col(Organization.address) == address
                )
            ).first()
        return None if found is None else (str(found[0] or "platform"), found[1] or None)

    def account(self, address: str) -> Signer:
        """What signs for ``address``: its key from the key store, a signer that
        refuses (:class:`~chain_client.signers.SignatureRequired`) for an organization
        that signs its own transactions, or its signer service
        (:class:`~chain_client.signers.RemoteSigner`) for custody ``remote``."""
        address = to_checksum_address(address)
        with self._lock:
            account = self._accounts.get(address)
        if account is None:
            signing = (
                ("platform", None)
                if address == self.operator.address
                else self._signing_of(address)
            )
            custody, url = signing or ("platform", None)
            if custody == "self":
                account = OwnSigner(address)
            elif custody == "remote":
                if url is None:
                    raise SignerRefused(f"{address} is signed for remotely but has no signer URL")
                account = RemoteSigner(url, address)
                log.info("%s signs through %s", address, account.shown_url)
            else:
                account = self._stored_key(address, known=signing is not None)
            with self._lock:
                self._accounts[address] = account
        return account

    def _stored_key(self, address: str, *, known: bool) -> Signer:
        """The key store's key for ``address``. An address no organization has any more
        (``known`` false: rotated away from a key the service never held, custody ``self``
        or ``remote``) has none; its commands still journaled are tracked by hash and never
        signed again, so it gets a signer that refuses."""
        passphrase = self.settings.master_passphrase.get_secret_value()
        try:
            return self.keystore.load(address, passphrase)
        except KeyNotFound:
            if self.db is None or known:
                raise
            return OwnSigner(address)

    def forget(self, address: str) -> None:
        """Drop what is cached for ``address`` (its custody changed)."""
        address = to_checksum_address(address)
        with self._lock:
            account = self._accounts.pop(address, None)
            self._senders.pop(address, None)
            self._ledgers.pop(address, None)
        if isinstance(account, RemoteSigner):
            account.close()  # its HTTP connections

    def sender_for(self, address: str) -> TransactionSender:
        address = to_checksum_address(address)
        with self._lock:
            sender = self._senders.get(address)
        if sender is None:
            sender = TransactionSender(
                self.w3,
                self.account(address),
                fee_strategy=self.fees,
                nonce_manager=self.nonces,
                confirmations=self.settings.confirmations,
                timeout=self.settings.tx_timeout,
                poll_interval=0.02,
            )
            with self._lock:
                sender = self._senders.setdefault(address, sender)
        return sender

    def ledger_as(self, address: str) -> Ledger:
        """The ledger signing as ``address``; one per account, built once (building one
        parses the ABIs again: milliseconds of CPU that every command paid twice)."""
        address = to_checksum_address(address)
        with self._lock:
            ledger = self._ledgers.get(address)
        if ledger is None:
            ledger = self.ledger.as_member(self.sender_for(address))
            with self._lock:
                ledger = self._ledgers.setdefault(address, ledger)
        return ledger

    # -- chain facts ------------------------------------------------------------------------

    def block_time(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def gas_costs_something(self) -> bool:
        fees = self.fees.fees(self.w3)
        return any(v > 0 for v in fees.values())

    def fund_gas(self, address: str) -> str | None:
        """Send the operator's ether to a new account when the chain charges for gas."""
        wanted = self.settings.gas_funding_wei
        if wanted <= 0 or not self.gas_costs_something():
            return None
        if int(self.w3.eth.get_balance(to_checksum_address(address))) >= wanted // 2:
            return None
        receipt = self.sender_for(self.operator.address).send(
            {"to": to_checksum_address(address), "value": wanted}
        )
        return to_hex(receipt["transactionHash"])

    # -- journaled sending ------------------------------------------------------------------

    def send_journaled(
        self,
        address: str,
        call: LedgerCall,
        on_signed: Callable[[SignedTx], None],
    ) -> SignedTx:
        """Estimate (a revert raises its custom error, nothing is signed), sign, journal
        through ``on_signed``, then broadcast (:meth:`Ledger.submit
        <chain_client.ledger.Ledger.submit>` with ``on_signed`` as its ``before_broadcast``
        hook). Returns what was journaled last (a taken nonce means signing again: the hook
        then sees the new transaction too)."""
        journaled: list[SignedTx] = []

        def journal(signed: SignedTransaction) -> None:
            record = SignedTx.of(signed)
            on_signed(record)
            journaled.append(record)

        self.ledger_as(address).submit(call, before_broadcast=journal)
        return journaled[-1]

    def wait(self, journal: SignedTx, call: LedgerCall) -> TxOutcome:
        """Wait for a journaled transaction; a mined revert raises its custom error."""
        ledger = self.ledger_as(journal.sender)
        receipt = ledger.track(call, journal.signed()).receipt()
        with self._lock:
            self._mined[to_hex(receipt["transactionHash"])] = receipt
            while len(self._mined) > 1024:
                self._mined.popitem(last=False)
        return ledger.outcome(call, receipt)

    def outcome(self, call: LedgerCall, receipt: TxReceipt) -> TxOutcome:
        return self.ledger.outcome(call, receipt)

    def receipt(self, tx_hash: str, *, just_mined: bool = False) -> TxReceipt | None:
        """``just_mined``: the receipt :meth:`wait` returned for it, if it did."""
        if just_mined:
            with self._lock:
                seen = self._mined.get(tx_hash)
            if seen is not None:
                return seen
        try:
            return self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
        except TransactionNotFound:
            return None

    def broadcast_raw(self, journal: SignedTx) -> None:
        """Re-send journaled bytes (after a restart); "already known" is fine."""
        self.sender_for(journal.sender).rebroadcast(PendingTransaction.of(journal.signed()))

    def mined_nonce(self, address: str) -> int:
        return int(self.w3.eth.get_transaction_count(to_checksum_address(address), "latest"))
