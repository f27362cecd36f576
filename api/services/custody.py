"""Proof that an organization controls the address it signs with (self-custody onboarding).

The operator onboards a bank that keeps its own key with that key's address; no key is
made for it. So that a typing error (or a borrowed address) cannot make some other
account a member, the organization signs a challenge with the key (EIP-191
``personal_sign``, what a hardware wallet, clef and most HSM front ends offer), and
:func:`verify_proof` recovers the signer.

The challenge is stateless: a text naming what it proves (the organization's USCC, the
address, the chain id and the ledger's address, so a signature for one ledger or chain
proves nothing on another) and an expiry, with an HMAC of all of it under a key derived
from the service's master passphrase. Any instance can check it, none stores it; a
signature is good only for the organization and address it names, and only until the
challenge expires.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from functools import lru_cache

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import to_checksum_address

from api.problems import Problem
from api.settings import Settings

#: seconds a challenge may be signed and used in
CHALLENGE_SECONDS = 15 * 60
_HEAD = "scf-ledger: proof of control of a signing address"


@lru_cache(maxsize=8)
def _key(passphrase: str) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", passphrase.encode(), b"scf-api/address-challenge", 200_000)


def _lines(uscc: str, address: str, chain_id: int, ledger: str, expires: int) -> list[str]:
    return [
        _HEAD,
        f"organization USCC: {uscc}",
        f"address: {to_checksum_address(address)}",
        f"chain id: {chain_id}",
        f"ledger: {to_checksum_address(ledger)}",
        f"expires: {expires}",
    ]


def _tag(settings: Settings, lines: list[str]) -> str:
    key = _key(settings.master_passphrase.get_secret_value())
    return hmac.new(key, "\n".join(lines).encode(), hashlib.sha256).hexdigest()


def challenge(
    settings: Settings,
    uscc: str,
    address: str,
    chain_id: int,
    ledger: str,
    now: float | None = None,
) -> tuple[str, int]:
    """(the text to sign, its expiry in unix seconds)."""
    expires = int(now if now is not None else time.time()) + CHALLENGE_SECONDS
    lines = _lines(uscc, address, chain_id, ledger, expires)
    return "\n".join([*lines, f"tag: {_tag(settings, lines)}"]), expires


def invalid_proof(detail: str) -> Problem:
    return Problem(422, "invalid_proof", "The proof of the address does not hold", detail)


def verify_proof(
    settings: Settings,
    uscc: str,
    address: str,
    chain_id: int,
    ledger: str,
    text: str,
    signature: str,
) -> str:
    """The checksummed ``address``, if ``text`` is a challenge this service made for this
    organization, address, chain and ledger, not expired, and ``signature`` is the
    address's EIP-191 signature of it; else 422 ``invalid_proof`` saying which part fails."""
    lines = text.split("\n")
    if len(lines) != 7 or lines[0] != _HEAD or not lines[6].startswith("tag: "):
        raise invalid_proof("The challenge is not one this service made; ask for a new one.")
    try:
        expires = int(lines[5].removeprefix("expires: "))
    except ValueError:
        raise invalid_proof("The challenge's expiry is unreadable; ask for a new one.") from None
    expected = _lines(uscc, address, chain_id, ledger, expires)
    if not hmac.compare_digest(lines[6].removeprefix("tag: "), _tag(settings, lines[:6])):
        raise invalid_proof("The challenge was altered or made elsewhere; ask for a new one.")
    if lines[:6] != expected:
        raise invalid_proof(
            "The challenge names another organization, address, chain or ledger than this "
            "onboarding."
        )
    if expires < time.time():
        raise invalid_proof("The challenge expired; ask for a new one and sign it.")
    try:
        signer = Account.recover_message(encode_defunct(text=text), signature=signature)
    except Exception as exc:  # eth-account raises several kinds for a malformed signature
        raise invalid_proof(f"The signature is unreadable: {exc}") from None
    if to_checksum_address(signer) != to_checksum_address(address):
        raise invalid_proof(
            f"The challenge was signed by {to_checksum_address(signer)}, not by "
            f"{to_checksum_address(address)}."
        )
    return to_checksum_address(address)


def verify_remote(url: str, address: str, chain_id: int) -> str:
    """The checksummed ``address``, if the signer service at ``url`` signs for it: it is
    asked (``eth_signTransaction``) to sign a throwaway transaction of the address (to
    itself, no value, no fee, the highest nonce an account can have: it can never be
    mined), and the signer recovered from the bytes must be the address; a signer that
    declines or signs as another key proves nothing (422 ``invalid_proof``). A signer
    that cannot be reached proves nothing either (422 ``invalid_proof`` naming its host):
    the URL is the request's own, and a mistyped one must not read as a service outage
    (503 is for a signer on record that is down, when a command needs it). Nothing is
    stored either way."""
    from chain_client.errors import SignerMismatch, SignerRefused, SignerUnavailable
    from chain_client.signers import RemoteSigner
    from chain_client.unsigned import SignedMismatch, read_signed

    claimed = to_checksum_address(address)
    throwaway = {
        "to": claimed,
        "value": 0,
        "data": b"",
        "gas": 21_000,
        "nonce": 2**64 - 2,
        "chainId": chain_id,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        "type": 2,
    }
    try:
        signed = RemoteSigner(url, claimed).sign_transaction(throwaway)
        facts = read_signed(bytes(signed.raw_transaction))
    except (SignerMismatch, SignerRefused, SignedMismatch) as exc:  # declined: no proof
        raise invalid_proof(f"The signer did not sign for {claimed}: {exc}") from None
    except SignerUnavailable as exc:  # its message shows scheme://host:port only
        raise invalid_proof(
            f"The signer could not be reached ({exc}): check signer_url, or try again once it "
            "answers."
        ) from None
    if facts.sender != claimed:
        raise invalid_proof(f"The signer signs as {facts.sender}, not as {claimed}.")
    return claimed
