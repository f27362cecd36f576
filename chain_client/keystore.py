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

Where the sealed documents live is the :class:`KeyDocuments` given to the store: a folder
of files (:class:`KeyFiles`, the default) or, for a service whose instances run on several
machines, a database table every instance reaches (the API's ``api/keys_db.py``). The
sealing, the checks and the decision table above are the same for every place.
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
from typing import Any, Protocol

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
    #: the key's file (None where the documents are not files)
    path: Path | None


class KeyDocuments(Protocol):
    """Where a :class:`KeyStore` keeps its sealed documents (JSON text, one per key id).
    The store checks and opens what it reads: a place only stores and hands back text."""

    def ids(self) -> list[str]:
        """The ids of the stored documents (sorted)."""
        ...

    def read(self, key_id: str) -> str:
        """A document's text; :class:`KeyNotFound` if there is none with that id,
        :class:`TamperedKeyFile` if it cannot be read."""
        ...

    def add(self, key_id: str, address: str, text: str) -> None:
        """Store a new document; :class:`KeyAlreadyExists` if a key for ``address`` is
        stored (a place shared by several processes checks that atomically)."""
        ...

    def remove(self, key_id: str) -> None:
        """Delete a document; :class:`KeyNotFound` if there is none."""
        ...

    #: whether :meth:`find` knows every stored address (None then means "no such key");
    #: otherwise the store looks through the documents
    finds_every_address: bool

    def find(self, address: str) -> str | None:
        """The id of the key for a checksummed ``address``, if the place can tell without
        reading every document (None: there is none, or look through them)."""
        ...

    def name(self, key_id: str) -> str:
        """How errors name the document ("key file <id>.json")."""
        ...

    def location(self, key_id: str) -> Path | None:
        """The document's file, if it is one."""
        ...


class KeyFiles:
    """Documents as files ``<id>.json`` in a directory (0600, written atomically)."""

    finds_every_address = False

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def ids(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(path.stem for path in self.directory.glob("*.json"))

    def read(self, key_id: str) -> str:
        path = self.directory / f"{key_id}.json"
        if not path.is_file():
            raise KeyNotFound(f"no key with id {key_id}")
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise TamperedKeyFile(f"key file {path.name} is not readable JSON") from None

    def add(self, key_id: str, address: str, text: str) -> None:
        atomic_write_text(self.directory / f"{key_id}.json", text, private=True)

    def remove(self, key_id: str) -> None:
        path = self.directory / f"{key_id}.json"
        if not path.is_file():
            raise KeyNotFound(f"no key with id {key_id}")
        path.unlink()

    def find(self, address: str) -> str | None:
        return None

    def name(self, key_id: str) -> str:
        return f"key file {key_id}.json"

    def location(self, key_id: str) -> Path | None:
        return self.directory / f"{key_id}.json"


class KeyStore:
    """Encrypted keys: by default a directory of key files named ``<id>.json``; or
    ``documents``, another place for the same sealed documents."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        scrypt_n: int = DEFAULT_SCRYPT_N,
        documents: KeyDocuments | None = None,
    ):
        if scrypt_n < 2**10 or scrypt_n & (scrypt_n - 1):
            raise ValueError("scrypt_n must be a power of two >= 1024")
        if (directory is None) == (documents is None):
            raise ValueError("give a directory or documents, one of them")
        self.directory = Path(directory) if directory is not None else None
        self.documents: KeyDocuments = documents or KeyFiles(Path(directory or "."))
        self.scrypt_n = scrypt_n
        #: address -> key id, as last listed (a service looks up one address per
        #: member; listing reads every document)
        self._ids: dict[str, str] = {}

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
        """All readable keys, sorted by label then address."""
        infos = []
        for key_id in self.documents.ids():
            try:
                infos.append(self._info(key_id))
            except (TamperedKeyFile, KeyNotFound):
                continue  # list what can be listed; load() reports the broken one
        return sorted(infos, key=lambda i: (i.label, i.address))

    def get(self, key: str) -> KeyInfo:
        """Find a key by id or by address (any case)."""
        return self._info(self._id_for(key))

    def load(self, key: str, passphrase: Passphrase) -> LocalAccount:
        """Decrypt a key (by id or address) and return a signing account."""
        key_id = self._id_for(key)
        name = self.documents.name(key_id)
        document = self._read(key_id)
        try:
            kdf, cipher = document["kdf"], document["cipher"]
            salt = bytes.fromhex(kdf["salt"])
            nonce = bytes.fromhex(cipher["nonce"])
            ciphertext = bytes.fromhex(document["ciphertext"])
            verifier = bytes.fromhex(document["verifier"])
            n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        except (KeyError, ValueError, TypeError):
            raise TamperedKeyFile(f"{name} is malformed") from None
        if kdf.get("name") != "scrypt" or cipher.get("name") != "aes-256-gcm":
            raise TamperedKeyFile(f"{name}: unsupported KDF or cipher")
        if not (2**10 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16):
            raise TamperedKeyFile(f"{name}: KDF parameters out of range")
        enc_key, mac_key = _derive(passphrase, salt, n, r, p)
        if not hmac.compare_digest(_verifier(mac_key), verifier):
            raise WrongPassphrase(f"wrong passphrase for key {document.get('id')}")
        try:
            private_key = AESGCM(enc_key).decrypt(nonce, ciphertext, _aad(document))
        except InvalidTag:
            raise TamperedKeyFile(f"{name} was modified") from None
        account: LocalAccount = Account.from_key(private_key)
        if account.address != document.get("address"):
            raise TamperedKeyFile(f"{name}: address does not match the key")
        return account

    def export_v3(
        self, key: str, passphrase: Passphrase, v3_password: Passphrase
    ) -> dict[str, Any]:
        """Export a key as a standard V3 keystore document (scrypt KDF)."""
        account = self.load(key, passphrase)
        return dict(Account.encrypt(account.key, _as_str(v3_password), kdf="scrypt"))

    def delete(self, key: str) -> None:
        """Remove a key. There is no undo: export it first if in doubt."""
        self.documents.remove(self._id_for(key))

    def sealed(self, key: str) -> tuple[str, str]:
        """(id, the sealed document's text) of a key: to copy it to another place as
        it is (nothing is decrypted; the same passphrase opens it there)."""
        key_id = self._id_for(key)
        self._read(key_id)  # checked before it travels
        return key_id, self.documents.read(key_id)

    def add_sealed(self, text: str) -> KeyInfo:
        """Store a sealed document copied from another place (:meth:`sealed`), checked
        first; :class:`KeyAlreadyExists` if a key for its address is stored here."""
        document = _parse_document(text, "the copied key document")
        address = to_checksum_address(document["address"])
        if self._stored_address(address):
            raise KeyAlreadyExists(f"a key for {address} is already stored")
        key_id = str(uuid.UUID(str(document["id"])))
        self.documents.add(key_id, address, text)
        return self._info(key_id)

    # -- internals -----------------------------------------------------------------------

    def _read(self, key_id: str) -> dict[str, Any]:
        return _parse_document(self.documents.read(key_id), self.documents.name(key_id))

    def _info(self, key_id: str) -> KeyInfo:
        return _info(self._read(key_id), self.documents.location(key_id))

    def _stored_address(self, address: str) -> bool:
        if self.documents.find(address) is not None:
            return True
        if self.documents.finds_every_address:
            return False
        return any(info.address == address for info in self.list())

    def _id_for(self, key: str) -> str:
        if is_address(key):
            wanted = to_checksum_address(key)
            found = self.documents.find(wanted)
            if found is not None:
                return found
            if self.documents.finds_every_address:
                raise KeyNotFound(f"no key for address {wanted}")
            known = self._ids.get(wanted)
            if known is not None and known in self.documents.ids():
                return known
            self._ids = {}
            for info in self.list():  # the first in list order wins, as before
                self._ids.setdefault(info.address, info.id)
            if wanted in self._ids:
                return self._ids[wanted]
            raise KeyNotFound(f"no key for address {wanted}")
        try:
            return str(uuid.UUID(key))
        except ValueError:
            raise KeyNotFound(f"{key!r} is neither a key id nor an address") from None

    def _store(self, private_key: bytes, passphrase: Passphrase, label: str) -> KeyInfo:
        account = Account.from_key(private_key)
        if self._stored_address(account.address):
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
        self.documents.add(key_id, account.address, json.dumps(document, indent=2, sort_keys=True))
        return _info(document, self.documents.location(key_id))


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


def _parse_document(text: str, name: str) -> dict[str, Any]:
    """A sealed document checked for structure and accidental corruption (``name``: how
    errors call it)."""
    try:
        document = json.loads(text)
    except ValueError:
        raise TamperedKeyFile(f"{name} is not readable JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise TamperedKeyFile(f"{name} is not an {FORMAT} document")
    if document.get("version") != VERSION:
        raise TamperedKeyFile(f"{name}: unsupported version {document.get('version')!r}")
    if not hmac.compare_digest(str(document.get("checksum", "")), _checksum(document)):
        raise TamperedKeyFile(f"{name} is corrupt (checksum mismatch)")
    if not isinstance(document.get("address"), str) or not is_address(document["address"]):
        raise TamperedKeyFile(f"{name}: invalid address")
    return document


def _info(document: Mapping[str, Any], path: Path | None) -> KeyInfo:
    return KeyInfo(
        id=str(document["id"]),
        label=str(document.get("label", "")),
        address=to_checksum_address(document["address"]),
        created_at=str(document.get("created_at", "")),
        path=path,
    )
