"""Service configuration, read once from the environment (``SCF_*``).

Why one frozen object passed to :func:`api.app.create_app`: tests build several apps in one
process (SQLite and PostgreSQL, a "crashed" and a restarted instance) and each must carry
its own database, key directory and secrets, never a global read at import time.

Secrets (master passphrase, document key, invoice secret, bootstrap operator API key) are
``SecretStr`` so that they never show up in a repr, a log line or an error message.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from api.private_files import read_secret_file

DEFAULT_DATA_DIR = Path(os.path.expanduser("~")) / ".scf-ledger"


class Settings(BaseModel):
    """Everything the service needs; see :meth:`from_env` for the variable names."""

    model_config = ConfigDict(frozen=True)

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None  # default: sqlite file under data_dir
    database_schema: str | None = None  # PostgreSQL only: run inside this schema
    rpc_url: str = "http://127.0.0.1:8545"
    manifest_path: Path | None = None  # default: data_dir/manifest.json
    deploy_if_missing: bool = True  # a fresh dev chain gets the contracts on first start
    master_passphrase: SecretStr = SecretStr("")  # unlocks the organizations' signing keys
    #: or the file holding it (0600 or stricter, else refused), e.g. a systemd credential:
    #: the passphrase then need not sit in the environment or beside the keys it opens
    master_passphrase_file: Path | None = None
    operator_private_key: SecretStr | None = None  # the chain operator account
    bootstrap_operator_api_key: SecretStr | None = None  # the first operator API key
    document_key: SecretStr | None = None  # 64 hex chars; default derived from passphrase
    invoice_secret: SecretStr | None = None  # HMAC key of invoice identities
    keystore_scrypt_n: int = 2**15
    gas_funding_wei: int = 10**18  # ether sent to a new member when gas costs something
    #: blocks a command's transaction needs before it answers; None: by the chain's block
    #: period (chain_client.transactions.pacing: 1 on a dev chain, enough blocks to outlast
    #: a brief fork between Clique sealers on a consortium chain)
    confirmations: int | None = None
    tx_timeout: float = 60.0
    background: bool = True  # run the indexer and the maturity job as lifespan tasks
    indexer_interval: float = 1.0
    maturity_interval: float = 5.0
    payout_page_size: int = 50
    max_upload_bytes: int = 10 * 1024 * 1024
    #: largest JSON request body (api.body_limits: refused unread, before authentication)
    max_json_bytes: int = 64 * 1024
    worker_threads: int = 100  # threads serving requests (blocking on the chain, mostly)
    #: worker processes of ``python -m api`` (one machine: they share locks in data_dir)
    workers: int = 1
    host: str = "127.0.0.1"
    port: int = 8000
    # -- abuse limits (api.ratelimit, api.quotas; 0 turns the rate limit or a quota off) --
    #: commands a second an organization may send after a burst (the operator: unlimited)
    rate_limit_per_second: float = 10.0
    rate_limit_burst: int = 100
    #: documents an organization may keep, and their bytes in all
    document_quota_count: int = 10_000
    document_quota_bytes: int = 2 * 1024**3
    #: the smallest amount a split (or a partial financing offer) may carve off, and leave
    min_split_fen: int = 1  # docs/design.md: splits down to 0.01 CNY
    #: refusal rows: one window's length in seconds, and the sources itemized per window
    refusal_window: float = 60.0
    refusal_sources: int = 1000
    #: seconds a command may wait for a checker's approval (four-eyes) before it expires
    approval_window: float = 24 * 3600.0
    #: seconds a transaction prepared for an organization's own signer keeps its nonce
    signature_window: float = 15 * 60.0
    # -- people in the portal (api.people) --
    #: wrong passwords in a row that lock an account, and for how long
    sign_in_attempts: int = 5
    lockout_minutes: float = 15.0
    #: a browser session ends after this long without a request, or this long after sign-in
    session_idle_minutes: float = 30.0
    session_hours: float = 12.0
    # -- webhooks (api.webhooks) --
    #: http and private addresses allowed (a network on one machine: scf up sets it)
    webhook_allow_private: bool = False
    #: the first retry's wait; each next one is 4 times longer (at most 6 hours)
    webhook_retry_seconds: float = 30.0
    webhook_attempts: int = 8
    webhook_timeout: float = 5.0

    @model_validator(mode="before")
    @classmethod
    def _passphrase_from_file(cls, values: object) -> object:
        """SCF_MASTER_PASSPHRASE_FILE is read here, once per process (worker processes get
        the file's name, not its content, in their environment: see :meth:`to_env`)."""
        if not isinstance(values, dict) or not values.get("master_passphrase_file"):
            return values
        given = values.get("master_passphrase")
        if isinstance(given, SecretStr):
            given = given.get_secret_value()
        if given:
            raise ValueError("set SCF_MASTER_PASSPHRASE or SCF_MASTER_PASSPHRASE_FILE, not both")
        path = Path(values["master_passphrase_file"]).expanduser()
        return {**values, "master_passphrase": read_secret_file(path, "SCF_MASTER_PASSPHRASE_FILE")}

    # -- derived -------------------------------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'scf-api.sqlite3'}"

    @property
    def resolved_manifest_path(self) -> Path:
        return self.manifest_path or self.data_dir / "manifest.json"

    @property
    def keystore_dir(self) -> Path:
        return self.data_dir / "keys"

    def document_key_bytes(self) -> bytes:
        """AES-256 key for documents at rest (explicit, or derived from the passphrase)."""
        if self.document_key is not None:
            key = bytes.fromhex(self.document_key.get_secret_value())
            if len(key) != 32:
                raise ValueError("SCF_DOCUMENT_KEY must be 64 hex characters (32 bytes)")
            return key
        return _derive(self.master_passphrase.get_secret_value(), b"documents")

    def invoice_secret_bytes(self) -> bytes:
        """The HMAC secret of invoice keys (shared with verifying banks)."""
        if self.invoice_secret is not None:
            return self.invoice_secret.get_secret_value().encode()
        return _derive(self.master_passphrase.get_secret_value(), b"invoice-keys")

    @property
    def several_workers(self) -> bool:
        return self.workers > 1

    @property
    def nonce_dir(self) -> Path:
        """Where the worker processes share each account's next nonce."""
        return self.data_dir / "nonces"

    @property
    def background_lock(self) -> Path:
        return self.data_dir / "background.lock"

    @property
    def indexer_wakeup(self) -> Path:
        """The indexing process's socket for "a command waits for block N"."""
        return self.data_dir / "indexer.sock"

    @property
    def rate_limit_file(self) -> Path:
        """Where the worker processes share each organization's rate-limit bucket."""
        return self.data_dir / "rate-limits"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``SCF_*`` variables (``env`` defaults to ``os.environ``)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {k: env[v] for k, v in ENV_NAMES.items() if env.get(v)}
        values.update(overrides)
        return cls.model_validate(values)

    def to_env(self) -> dict[str, str]:
        """The ``SCF_*`` variables :meth:`from_env` reads back as these settings (how
        worker processes, started by uvicorn, get the parent's settings)."""
        env = {}
        for field, name in ENV_NAMES.items():
            value = getattr(self, field)
            if value is None:
                continue
            if field == "master_passphrase" and self.master_passphrase_file is not None:
                continue  # the workers read the file themselves
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[name] = str(value).lower() if isinstance(value, bool) else str(value)
        return env


#: setting -> environment variable (every setting can come from the environment)
ENV_NAMES: dict[str, str] = {
    "data_dir": "SCF_DATA_DIR",
    "database_url": "SCF_DATABASE_URL",
    "database_schema": "SCF_DATABASE_SCHEMA",
    "rpc_url": "SCF_RPC_URL",
    "manifest_path": "SCF_MANIFEST",
    "deploy_if_missing": "SCF_DEPLOY_IF_MISSING",
    "master_passphrase": "SCF_MASTER_PASSPHRASE",
    "master_passphrase_file": "SCF_MASTER_PASSPHRASE_FILE",
    "operator_private_key": "SCF_OPERATOR_PRIVATE_KEY",
    "bootstrap_operator_api_key": "SCF_OPERATOR_API_KEY",
    "document_key": "SCF_DOCUMENT_KEY",
    "invoice_secret": "SCF_INVOICE_SECRET",
    "keystore_scrypt_n": "SCF_KEYSTORE_SCRYPT_N",
    "gas_funding_wei": "SCF_GAS_FUNDING_WEI",
    "confirmations": "SCF_CONFIRMATIONS",
    "tx_timeout": "SCF_TX_TIMEOUT",
    "background": "SCF_BACKGROUND",
    "indexer_interval": "SCF_INDEXER_INTERVAL",
    "maturity_interval": "SCF_MATURITY_INTERVAL",
    "payout_page_size": "SCF_PAYOUT_PAGE_SIZE",
    "max_upload_bytes": "SCF_MAX_UPLOAD_BYTES",
    "max_json_bytes": "SCF_MAX_JSON_BYTES",
    "worker_threads": "SCF_WORKER_THREADS",
    "workers": "SCF_WORKERS",
    "host": "SCF_HOST",
    "port": "SCF_PORT",
    "rate_limit_per_second": "SCF_RATE_LIMIT",
    "rate_limit_burst": "SCF_RATE_BURST",
    "document_quota_count": "SCF_DOCUMENT_QUOTA_COUNT",
    "document_quota_bytes": "SCF_DOCUMENT_QUOTA_BYTES",
    "min_split_fen": "SCF_MIN_SPLIT_FEN",
    "refusal_window": "SCF_REFUSAL_WINDOW",
    "refusal_sources": "SCF_REFUSAL_SOURCES",
    "approval_window": "SCF_APPROVAL_WINDOW",
    "signature_window": "SCF_SIGNATURE_WINDOW",
    "sign_in_attempts": "SCF_SIGN_IN_ATTEMPTS",
    "lockout_minutes": "SCF_LOCKOUT_MINUTES",
    "session_idle_minutes": "SCF_SESSION_IDLE_MINUTES",
    "session_hours": "SCF_SESSION_HOURS",
    "webhook_allow_private": "SCF_WEBHOOK_ALLOW_PRIVATE",
    "webhook_retry_seconds": "SCF_WEBHOOK_RETRY_SECONDS",
    "webhook_attempts": "SCF_WEBHOOK_ATTEMPTS",
    "webhook_timeout": "SCF_WEBHOOK_TIMEOUT",
}


def _derive(passphrase: str, purpose: bytes) -> bytes:
    if not passphrase:
        raise ValueError("SCF_MASTER_PASSPHRASE is required (it protects keys and documents)")
    return hashlib.pbkdf2_hmac("sha256", passphrase.encode(), b"scf-api/" + purpose, 200_000)
