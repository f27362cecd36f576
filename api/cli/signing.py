"""Signing a prepared command with a key of the local encrypted key store: `scf sign`, and
a ledger command of a self-custody organization run end to end (prepare, show, confirm,
sign, submit).

The API answers a command of an organization that keeps its own key with 202
``awaiting_signature``: what the command does (``summary``, ``stake``), the transaction
with every field settled (``transaction``, :func:`chain_client.unsigned.to_json`'s form),
the hash its signer signs (``signing_hash``) and the address that must sign (``signer``).
Before anything is decrypted this module proves that the transaction shown is the one
signed: the signing hash computed here from the fields must equal the one given (a file
edited on its way is refused, ``signing_hash_mismatch``), and the key must be the
organization's (``wrong_key``). The passphrase comes from SCF_KEY_PASSPHRASE, a file
(--passphrase-file) or a prompt that does not echo; it is never an option's value, never
printed.

Why its own module, imported only when a command waits for a signature: it needs
chain_client.unsigned and the key store (eth-account, cryptography), which `scf --help`
and every other command must not load (tests/cli/test_startup.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from api.cli import output
from api.cli.commands_base import (
    Cli,
    CommandWaitingError,
    LocalRefusalError,
    SignOptions,
    UsageProblemError,
)

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

PASSPHRASE_ENV = "SCF_KEY_PASSPHRASE"


@dataclass(frozen=True)
class Prepared:
    """A command waiting for its organization's signature, as the API describes it."""

    transaction: dict[str, Any]
    signing_hash: str
    command_id: str | None = None
    action: str | None = None
    summary: str | None = None
    stake: str | None = None
    signer: str | None = None
    expires_at: str | None = None

    @classmethod
    def of(cls, document: Any) -> Prepared:
        """From the API's 202 answer or command view (or a file holding one)."""
        if not isinstance(document, dict):
            raise UsageProblemError("a prepared command is a JSON object")
        transaction, given_hash = document.get("transaction"), document.get("signing_hash")
        if not isinstance(transaction, dict) or not isinstance(given_hash, str):
            raise UsageProblemError(
                "not a prepared command: it needs a 'transaction' object and a 'signing_hash'"
            )
        text = {k: (str(v) if v is not None else None) for k, v in document.items()}
        return cls(
            # GET /v1/commands/ID shows the fields a transaction's type does not have as
            # null (gasPrice of an EIP-1559 one): they are not part of it
            transaction={k: v for k, v in transaction.items() if v is not None},
            signing_hash=given_hash,
            command_id=text.get("command_id"),
            action=text.get("action"),
            summary=text.get("summary"),
            stake=text.get("stake"),
            signer=text.get("signer"),
            expires_at=text.get("expires_at"),
        )


@dataclass(frozen=True)
class Signature:
    raw: str  # 0x hex of the signed transaction
    tx_hash: str
    signer: str


def show(prepared: Prepared) -> None:
    """What is about to be signed, on stderr (stdout stays the answer or the raw bytes)."""
    tx = prepared.transaction
    data = str(tx.get("data") or "0x")
    shown_data = data if len(data) <= 74 else f"{data[:74]}... ({(len(data) - 2) // 2} bytes)"
    fees: list[tuple[str, Any]] = (
        [
            ("max fee per gas (wei)", tx.get("maxFeePerGas")),
            ("max priority fee (wei)", tx.get("maxPriorityFeePerGas")),
        ]
        if tx.get("maxFeePerGas") is not None
        else [("gas price (wei)", tx.get("gasPrice"))]
    )
    pairs: list[tuple[str, Any]] = [
        ("command", prepared.command_id or "-"),
        ("action", prepared.action or "-"),
        ("summary", prepared.summary or "-"),
    ]
    if prepared.stake is not None:
        pairs.append(("at stake", f"{output.yuan(prepared.stake)} CNY"))
    pairs += [
        ("signer", prepared.signer or "-"),
        ("chain id", tx.get("chainId")),
        ("nonce", tx.get("nonce")),
        ("to", tx.get("to")),
        ("value (wei)", tx.get("value")),
        ("data", shown_data),
        ("gas", tx.get("gas")),
        *fees,
        ("signing hash", prepared.signing_hash),
    ]
    if prepared.expires_at:
        pairs.append(("sign before", prepared.expires_at))
    output.stderr().print(output.fields("To sign", pairs))


def key_reference(options: SignOptions) -> str | None:
    """The key named by --sign-with / SCF_SIGNING_KEY, else by the profile."""
    if options.sign_with:
        return options.sign_with
    from api.cli.profile import ProfileError, read_profile

    try:
        profile = read_profile()
    except ProfileError:
        return None
    return profile.signing_key if profile else None


def sign_prepared(
    prepared: Prepared, options: SignOptions, expected: str | None, *, question: str
) -> Signature:
    """Check the signing hash and the key's address, ask ``question`` (unless --yes), ask
    for the passphrase, sign, and check the signed bytes are the prepared transaction."""
    from eth_utils import to_checksum_address

    from chain_client.errors import KeystoreError
    from chain_client.unsigned import SignedMismatch, check_signed, from_json, signing_hash

    try:
        fields = from_json(prepared.transaction)
        computed = signing_hash(fields)
    except (ValueError, TypeError, KeyError) as exc:
        raise LocalRefusalError(
            "bad_transaction", f"The prepared transaction cannot be read: {exc}"
        ) from None
    if computed.lower() != prepared.signing_hash.lower():
        raise LocalRefusalError(
            "signing_hash_mismatch",
            f"The transaction's signing hash is {computed}, not the {prepared.signing_hash} "
            "given with it: the fields were changed after the API prepared them. Nothing "
            "was signed.",
        )
    reference = key_reference(options)
    if reference is None:
        raise UsageProblemError(
            "no signing key: pass --sign-with KEY (a key file, or a key id or address in "
            "--keystore DIR) or set SCF_SIGNING_KEY"
        )
    store, key_id = _key_store(reference, options.keystore)
    try:
        address = store.get(key_id).address
    except KeystoreError as exc:
        raise UsageProblemError(f"the signing key {reference}: {exc}") from None
    if expected is not None and to_checksum_address(expected) != address:
        raise LocalRefusalError(
            "wrong_key",
            f"The key {reference} is {address}'s; this transaction must be signed by "
            f"{to_checksum_address(expected)}. Nothing was signed.",
        )
    if not options.yes and not typer.confirm(question, default=False, err=True):
        raise LocalRefusalError("not_signed", "Not signed: you declined.")
    try:
        account: LocalAccount = store.load(key_id, _passphrase(options, address))
    except KeystoreError as exc:  # wrong passphrase, a damaged file: no key material in it
        raise LocalRefusalError("key_not_opened", f"The key was not opened: {exc}") from None
    signed = account.sign_transaction(fields)
    raw = bytes(signed.raw_transaction)
    try:
        facts = check_signed(raw, fields, address)
    except SignedMismatch as exc:  # would be a bug of eth-account: never submitted
        raise LocalRefusalError("signing_failed", str(exc)) from None
    return Signature("0x" + raw.hex(), facts.tx_hash, address)


def sign_and_submit(cli: Cli, answer: dict[str, Any]) -> Any:
    """A ledger command answered 202 ``awaiting_signature``: show it; with a signing key
    (the options or the profile) confirm, sign and submit it, returning the command's
    own answer; without one, :class:`CommandWaitingError` saying how to sign it."""
    prepared = Prepared.of(answer)
    show(prepared)
    command_id = prepared.command_id
    options = cli.signing or SignOptions()
    if key_reference(options) is None:
        until = f" before {prepared.expires_at}" if prepared.expires_at else ""
        raise CommandWaitingError(
            f"command {command_id} awaits your organization's signature",
            answer,
            f"sign it{until} with: scf sign --command {command_id} --sign-with KEY --submit",
        )
    expected = prepared.signer or cli.me().get("address")
    signature = sign_prepared(
        prepared, options, expected, question=f"Sign and submit command {command_id}?"
    )
    cli.note(f"signed by {signature.signer}: transaction {signature.tx_hash}; submitting")
    return cli.api.post(f"/commands/{command_id}/signature", {"raw": signature.raw})


def read_prepared_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageProblemError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageProblemError(f"{path} is not JSON: {exc}") from None


def _key_store(reference: str, keystore: Path | None) -> tuple[Any, str]:
    """(the key store, the key's id or address) of a reference: a key file's path (its
    folder is the store), or an id or address in ``keystore``."""
    from chain_client.keystore import KeyStore

    path = Path(reference).expanduser()
    if path.is_file():
        try:
            key_id = str(json.loads(path.read_text(encoding="utf-8"))["id"])
        except (OSError, ValueError, KeyError, TypeError):
            raise UsageProblemError(f"{path} is not a key file of the key store") from None
        return KeyStore(path.parent), key_id
    if keystore is None:
        raise UsageProblemError(
            f"no key file at {reference}: give a key file's path, or the key store's folder "
            "with --keystore (SCF_KEYSTORE) and a key id or address"
        )
    if not keystore.is_dir():
        raise UsageProblemError(f"no key store folder at {keystore}")
    return KeyStore(keystore), reference


def _passphrase(options: SignOptions, address: str) -> str:
    """--passphrase-file, else SCF_KEY_PASSPHRASE, else a prompt that does not echo (an
    option given wins over the environment, as everywhere in `scf`)."""
    given = os.environ.get(PASSPHRASE_ENV)
    if given and options.passphrase_file is None:
        return given
    if options.passphrase_file is not None:
        try:
            return options.passphrase_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise UsageProblemError(
                f"cannot read the passphrase file {options.passphrase_file}: {exc.strerror or exc}"
            ) from None
    return str(typer.prompt(f"Passphrase of the key of {address}", hide_input=True, err=True))
