"""Encrypted signing keys at rest, one JSON file per key.

Why our own format (and not only Ethereum keystore V3): V3 uses AES-CTR + a keccak MAC and
cannot tell a wrong passphrase from a corrupted file; operators asked for exactly that
distinction. Here:

* scrypt (memory-hard) derives 64 bytes from the passphrase: 32 for the AEAD key and 32
  for a *passphrase verifier* (an HMAC stored in the file).
* The private key is sealed with AES-256-GCM; the file's header (id, label, address, KDF
  and cipher parameters) is the associated data, so editing the clear-text address or
  label is detected, not silently trusted.
* A plain sha256 checksum over the whole document catches accidental corruption early.

Decision table on load: checksum or structure bad -> TamperedKeyFile; verifier mismatch ->
WrongPassphrase; verifier ok but AEAD tag or decrypted address bad -> TamperedKeyFile.
(An attacker who rewrites the salt *and* the checksum is reported as WrongPassphrase: with
no secret beyond the passphrase those two cases cannot be told apart, and either way the
key is not released.)

Key material is never logged, never put in exception messages, and files are created
0600. V3 import/export (eth_account) is provided for interop with wallets and tools.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address

from chain_client.errors import (
    KeyAlreadyExists,
    KeyNotFound,
    KeystoreError,
    TamperedKeyFile,
    WrongPassphrase,
)
from chain_client.files import atomic_write_text

FORMAT = "scf-keystore"
VERSION = 1
#: scrypt cost. 2**15 with r=8 is ~32 MiB and ~0.1 s: interactive unlocks stay fast while
#: offline guessing stays expensive. Tests may lower it.
DEFAULT_SCRYPT_N = 2**15
_VERIFIER_CONTEXT = b"scf-keystore passphrase verifier v1"

Passphrase = str | bytes


@dataclass(frozen=True)
class KeyInfo:
    """Public facts about a stored key (no secret in here)."""

    id: str
    label: str
    address: str
    created_at: str
    path: Path


class KeyStore:
    """A directory of encrypted key files, named ``<id>.json``."""

    def __init__(self, directory: str | os.PathLike[str], *, scrypt_n: int = DEFAULT_SCRYPT_N):
        if scrypt_n < 2**10 or scrypt_n & (scrypt_n - 1):
            raise ValueError("scrypt_n must be a power of two >= 1024")
        self.directory = Path(directory)
        self.scrypt_n = scrypt_n
        #: address -> key file, as last listed (a service looks up one address per
        #: member; listing reads every file)
        self._paths: dict[str, Path] = {}

    # -- creating ------------------------------------------------------------------------

    def create(self, passphrase: Passphrase, *, label: str = "") -> KeyInfo:
        """Generate a fresh key and store it encrypted."""
        return self._store(secrets.token_bytes(32), passphrase, label)

    def import_key(
        self, private_key: bytes | str, passphrase: Passphrase, *, label: str = ""
    ) -> KeyInfo:
        """Store an existing private key (32 bytes, or hex with or without 0x)."""
        if isinstance(private_key, str):
            text = private_key[2:] if private_key.startswith(("0x", "0X")) else private_key
            try:
                private_key = bytes.fromhex(text)
            except ValueError:
                raise KeystoreError("private key is not valid hex") from None
        if len(private_key) != 32:
            raise KeystoreError("private key must be 32 bytes")
        return self._store(private_key, passphrase, label)

    def import_v3(
        self,
        keyfile: Mapping[str, Any] | str,
        v3_password: Passphrase,
        passphrase: Passphrase,
        *,
        label: str = "",
    ) -> KeyInfo:
        """Import a standard Ethereum V3 keystore document (geth, MetaMask export ...)."""
        document = json.loads(keyfile) if isinstance(keyfile, str) else dict(keyfile)
        try:
            private_key = Account.decrypt(document, _as_str(v3_password))
        except ValueError as exc:  # eth_account: "MAC mismatch" for a wrong password
            raise WrongPassphrase("V3 key file: wrong password or corrupt file") from exc
        return self._store(bytes(private_key), passphrase, label)

    # -- reading -------------------------------------------------------------------------

    def list(self) -> list[KeyInfo]:
        """All readable key files, sorted by label then address."""
        infos = []
        if self.directory.is_dir():
            for path in sorted(self.directory.glob("*.json")):
                try:
                    infos.append(_info(_read_document(path), path))
                except TamperedKeyFile:
                    continue  # list what can be listed; load() reports the broken one
        return sorted(infos, key=lambda i: (i.label, i.address))

    def get(self, key: str) -> KeyInfo:
        """Find a key by id or by address (any case)."""
        path = self._path_for(key)
        return _info(_read_document(path), path)

    def load(self, key: str, passphrase: Passphrase) -> LocalAccount:
        """Decrypt a key (by id or address) and return a signing account."""
        path = self._path_for(key)
        document = _read_document(path)
        try:
            kdf, cipher = document["kdf"], document["cipher"]
            salt = bytes.fromhex(kdf["salt"])
            nonce = bytes.fromhex(cipher["nonce"])
            ciphertext = bytes.fromhex(document["ciphertext"])
            verifier = bytes.fromhex(document["verifier"])
            n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        except (KeyError, ValueError, TypeError):
            raise TamperedKeyFile(f"key file {path.name} is malformed") from None
        if kdf.get("name") != "scrypt" or cipher.get("name") != "aes-256-gcm":
            raise TamperedKeyFile(f"key file {path.name}: unsupported KDF or cipher")
        if not (2**10 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16):
            raise TamperedKeyFile(f"key file {path.name}: KDF parameters out of range")
        enc_key, mac_key = _derive(passphrase, salt, n, r, p)
        if not hmac.compare_digest(_verifier(mac_key), verifier):
            raise WrongPassphrase(f"wrong passphrase for key {document.get('id')}")
        try:
            private_key = AESGCM(enc_key).decrypt(nonce, ciphertext, _aad(document))
        except InvalidTag:
            raise TamperedKeyFile(f"key file {path.name} was modified") from None
        account: LocalAccount = Account.from_key(private_key)
        if account.address != document.get("address"):
            raise TamperedKeyFile(f"key file {path.name}: address does not match the key")
        return account

    def export_v3(
        self, key: str, passphrase: Passphrase, v3_password: Passphrase
    ) -> dict[str, Any]:
        """Export a key as a standard V3 keystore document (scrypt KDF)."""
        account = self.load(key, passphrase)
        return dict(Account.encrypt(account.key, _as_str(v3_password), kdf="scrypt"))

    def delete(self, key: str) -> None:
        """Remove a key file. There is no undo: export it first if in doubt."""
        self._path_for(key).unlink()

    # -- internals -----------------------------------------------------------------------

    def _path_for(self, key: str) -> Path:
        if is_address(key):
            wanted = to_checksum_address(key)
            known = self._paths.get(wanted)
            if known is not None and known.exists():
                return known
            self._paths = {}
            for info in self.list():  # the first in list order wins, as before
                self._paths.setdefault(info.address, info.path)
            if wanted in self._paths:
                return self._paths[wanted]
            raise KeyNotFound(f"no key for address {wanted}")
        try:
            key_id = str(uuid.UUID(key))
        except ValueError:
            raise KeyNotFound(f"{key!r} is neither a key id nor an address") from None
        path = self.directory / f"{key_id}.json"
        if not path.is_file():
            raise KeyNotFound(f"no key with id {key_id}")
        return path

    def _store(self, private_key: bytes, passphrase: Passphrase, label: str) -> KeyInfo:
        account = Account.from_key(private_key)
        if any(info.address == account.address for info in self.list()):
            raise KeyAlreadyExists(f"a key for {account.address} is already stored")
        key_id = str(uuid.uuid4())
        salt = secrets.token_bytes(16)
        nonce = secrets.token_bytes(12)
        enc_key, mac_key = _derive(passphrase, salt, self.scrypt_n, 8, 1)
        document: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "id": key_id,
            "label": label,
            "address": account.address,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "kdf": {"name": "scrypt", "n": self.scrypt_n, "r": 8, "p": 1, "salt": salt.hex()},
            "cipher": {"name": "aes-256-gcm", "nonce": nonce.hex()},
            "verifier": _verifier(mac_key).hex(),
        }
        document["ciphertext"] = AESGCM(enc_key).encrypt(nonce, private_key, _aad(document)).hex()
        document["checksum"] = _checksum(document)
        path = self.directory / f"{key_id}.json"
        atomic_write_text(path, json.dumps(document, indent=2, sort_keys=True), private=True)
        return _info(document, path)


def _as_str(passphrase: Passphrase) -> str:
    return passphrase.decode() if isinstance(passphrase, bytes) else passphrase


def _derive(passphrase: Passphrase, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    material = Scrypt(salt=salt, length=64, n=n, r=r, p=p).derive(secret)
    return material[:32], material[32:]


def _verifier(mac_key: bytes) -> bytes:
    return hmac.new(mac_key, _VERIFIER_CONTEXT, hashlib.sha256).digest()


def _aad(document: Mapping[str, Any]) -> bytes:
    """The authenticated header: everything in clear that a consumer may rely on."""
    header = {
        k: document[k]
        for k in ("format", "version", "id", "label", "address", "created_at", "kdf", "cipher")
    }
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def _checksum(document: Mapping[str, Any]) -> str:
    body = {k: v for k, v in document.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _read_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise TamperedKeyFile(f"key file {path.name} is not readable JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise TamperedKeyFile(f"{path.name} is not an {FORMAT} file")
    if document.get("version") != VERSION:
        raise TamperedKeyFile(f"{path.name}: unsupported version {document.get('version')!r}")
    if not hmac.compare_digest(str(document.get("checksum", "")), _checksum(document)):
        raise TamperedKeyFile(f"key file {path.name} is corrupt (checksum mismatch)")
    if not isinstance(document.get("address"), str) or not is_address(document["address"]):
        raise TamperedKeyFile(f"key file {path.name}: invalid address")
    return document


def _info(document: Mapping[str, Any], path: Path) -> KeyInfo:
    return KeyInfo(
        id=str(document["id"]),
        label=str(document.get("label", "")),
        address=to_checksum_address(document["address"]),
        created_at=str(document.get("created_at", "")),
        path=path,
    )
