"""Checksummed addresses, memoized.

``to_checksum_address`` hashes the address with keccak every time; a sender formats the
same few addresses (its own, the ledger's, the token's) for every transaction.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address


@lru_cache(maxsize=8192)
def _checksum_str(address: str) -> ChecksumAddress:
    return to_checksum_address(address)


def checksum(address: Any) -> ChecksumAddress:
    """``to_checksum_address(address)``, cached for str input (same errors for bad input)."""
    if isinstance(address, str):
        return _checksum_str(address)
    return to_checksum_address(address)


#: "no address": what a contract reads as "not given" (e.g. sellToBid's payee: the seller)
ZERO_ADDRESS: ChecksumAddress = checksum("0x" + "00" * 20)
