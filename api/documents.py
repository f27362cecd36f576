"""Documents encrypted at rest (AES-256-GCM) and the hashes that anchor them on chain.

Why the document id as associated data: a ciphertext copied onto another row fails to
decrypt instead of silently serving the wrong invoice. Why keccak256 on chain and sha256
beside it: keccak is what Solidity tooling and verifiers compute; sha256 is what a bank's
ordinary tools (sha256sum) compute. Both are shown on download.
"""

from __future__ import annotations

import hashlib
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_utils import keccak

from chain_client.encoding import to_hex


def seal(key: bytes, document_id: str, content: bytes) -> tuple[bytes, bytes]:
    """(nonce, ciphertext) of ``content``."""
    nonce = secrets.token_bytes(12)
    return nonce, AESGCM(key).encrypt(nonce, content, document_id.encode())


def unseal(key: bytes, document_id: str, nonce: bytes, ciphertext: bytes) -> bytes:
    return AESGCM(key).decrypt(nonce, ciphertext, document_id.encode())


def hashes(content: bytes) -> tuple[str, str]:
    """(sha256 hex, 0x keccak256 hex) of the clear content."""
    return hashlib.sha256(content).hexdigest(), to_hex(keccak(content))
