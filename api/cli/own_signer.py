"""The bank's own signer in the network `scf up` seeds: a bank that keeps its own key
(custody ``self``, docs/api.md "Who signs"), so the demo shows a bank signing every one of
its transactions itself.

Where it lives, and why: ``<data>/bank-signer/``, 0700, holds the bank's key in a key
store of its own (chain_client/keystore.py, scrypt + AES-256-GCM, ``<id>.json``) and the
key's passphrase in ``passphrase`` beside it (0600). It is the bank's signing tool, not the
API's: the API's key store (``<data>/keys/``, under the master passphrase) never holds the
bank's key, and nothing the API serves can sign for it. The passphrase is generated and
kept beside the key for the same reason the master passphrase is in demo mode: the demo
runs unattended on one machine; a real bank keeps its key on its own machine (an HSM, a
USB key) and types the passphrase. `scf up` writes the key file into the profile as the
CLI's ``signing_key``, so `scf finance accept ... --as BANK` signs with it, asking for the
passphrase (or ``--passphrase-file <data>/bank-signer/passphrase``). Nothing here prints or
logs the passphrase or the key.

Signing goes through the CLI's own code (api.cli.signing.sign_prepared: the signing-hash
check, the key's address, the check of the signed bytes), not a copy of it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.cli.client import ApiClient
from api.cli.commands_base import LocalRefusalError, SignOptions, UsageProblemError
from chain_client.files import atomic_write_text
from chain_client.keystore import KeyStore

#: the bank's own signer, in the data folder
SIGNER_DIR = "bank-signer"
PASSPHRASE_FILE = "passphrase"
LABEL = "the bank's own key"


class OwnSignerError(Exception):
    """The own signer could not sign (its key store damaged, a refused transaction)."""


@dataclass(frozen=True)
class SignedCommand:
    """A command the own signer signed and submitted: what it was, and its transaction."""

    command_id: str
    action: str
    summary: str
    tx_hash: str


@dataclass(frozen=True)
class OwnSigner:
    folder: Path
    key_file: Path
    address: str

    @property
    def passphrase_file(self) -> Path:
        return self.folder / PASSPHRASE_FILE

    @classmethod
    def open(cls, folder: Path) -> OwnSigner | None:
        """The signer kept in ``folder``, or None if there is none."""
        if not (folder / PASSPHRASE_FILE).is_file():
            return None
        keys = KeyStore(folder).list()
        if len(keys) != 1 or keys[0].path is None:
            raise OwnSignerError(f"{folder} should hold exactly one key, and holds {len(keys)}")
        return cls(folder, keys[0].path, keys[0].address)

    @classmethod
    def create(cls, folder: Path, *, scrypt_n: int = 2**15) -> OwnSigner:
        """The signer in ``folder``, made there (a fresh key and passphrase) if missing."""
        found = cls.open(folder)
        if found is not None:
            return found
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        passphrase = secrets.token_urlsafe(32)
        atomic_write_text(folder / PASSPHRASE_FILE, passphrase + "\n", private=True)
        info = KeyStore(folder, scrypt_n=scrypt_n).create(passphrase, label=LABEL)
        assert info.path is not None
        return cls(folder, info.path, info.address)

    def options(self) -> SignOptions:
        """How api.cli.signing signs with this key: no question, the passphrase file."""
        return SignOptions(
            sign_with=str(self.key_file), passphrase_file=self.passphrase_file, yes=True
        )

    def prove(self, challenge: str) -> str:
        """The key's EIP-191 signature of an onboarding challenge (0x hex)."""
        from eth_account.messages import encode_defunct

        passphrase = self.passphrase_file.read_text(encoding="utf-8").rstrip("\r\n")
        account = KeyStore(self.folder).load(self.address, passphrase)
        return "0x" + bytes(account.sign_message(encode_defunct(text=challenge)).signature).hex()

    def submit(self, client: ApiClient, answer: Any) -> tuple[Any, SignedCommand | None]:
        """A command's answer: one awaiting this organization's signature is signed with
        the key and submitted with ``client`` (a key with the maker duty); returns the
        command's own answer, and what was signed (None for an answer that awaited none)."""
        from api.cli.signing import Prepared, sign_prepared

        if not isinstance(answer, dict) or answer.get("status") != "awaiting_signature":
            return answer, None
        prepared = Prepared.of(answer)
        try:
            signature = sign_prepared(
                prepared, self.options(), self.address, question="sign the prepared command?"
            )
        except (LocalRefusalError, UsageProblemError) as exc:
            raise OwnSignerError(f"command {prepared.command_id} was not signed: {exc}") from exc
        done = client.post(f"/commands/{prepared.command_id}/signature", {"raw": signature.raw})
        return done, SignedCommand(
            str(prepared.command_id),
            str(prepared.action),
            str(prepared.summary or prepared.action),
            signature.tx_hash,
        )
