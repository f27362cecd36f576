"""Fee strategies: how much a transaction offers to pay for gas.

Why an abstraction: anvil and public chains price gas with EIP-1559 (base fee + tip), while
the production consortium node runs with a zero gas price and only accepts legacy (type-0)
transactions. :class:`AutoFees` picks per chain by looking for ``baseFeePerGas`` in the
latest block; deployments can force :class:`LegacyFees` (e.g. ``LegacyFees(gas_price=0)``)
or :class:`Eip1559Fees`, or plug in their own :class:`FeeStrategy`.

Fee dicts use web3's transaction field names, so they can be merged into a transaction.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from web3 import Web3

Fees = dict[str, int]  # {"gasPrice": ..} or {"maxFeePerGas": .., "maxPriorityFeePerGas": ..}

#: geth and most clients require >= 10 % more on every fee field to replace a pending tx.
DEFAULT_BUMP_PERCENT = 12


@runtime_checkable
class FeeStrategy(Protocol):
    def fees(self, w3: Web3) -> Fees:
        """Fee fields for a new transaction."""
        ...

    def bump(self, fees: Fees) -> Fees:
        """Fee fields for a replacement of a transaction that offered ``fees``."""
        ...


def bump_fees(fees: Fees, percent: int = DEFAULT_BUMP_PERCENT) -> Fees:
    """Raise every fee field by ``percent`` (rounded up, at least +1 wei).

    A zero fee stays zero: on a zero-gas-price chain a replacement cannot outbid anything,
    and the sender may hold no ether at all; the node has to accept a plain rebroadcast.
    """
    return {
        k: (v if v == 0 else max(v + 1, -(-v * (100 + percent) // 100))) for k, v in fees.items()
    }


def is_legacy(fees: Fees) -> bool:
    return "gasPrice" in fees


class LegacyFees:
    """Type-0 pricing: a fixed ``gas_price`` (0 on a consortium chain) or the node's own."""

    def __init__(self, gas_price: int | None = None, *, bump_percent: int = DEFAULT_BUMP_PERCENT):
        if gas_price is not None and gas_price < 0:
            raise ValueError("gas_price must be >= 0")
        self.gas_price = gas_price
        self.bump_percent = bump_percent

    def fees(self, w3: Web3) -> Fees:
        price = self.gas_price if self.gas_price is not None else int(w3.eth.gas_price)
        return {"gasPrice": price}

    def bump(self, fees: Fees) -> Fees:
        return bump_fees(fees, self.bump_percent)


class Eip1559Fees:
    """Type-2 pricing: ``maxFee = base_fee_multiplier * baseFee + tip``.

    ``priority_fee=None`` asks the node (eth_maxPriorityFeePerGas), falling back to
    ``default_priority_fee`` if the method is missing.
    """

    def __init__(
        self,
        priority_fee: int | None = None,
        *,
        base_fee_multiplier: int = 2,
        default_priority_fee: int = 10**9,
        bump_percent: int = DEFAULT_BUMP_PERCENT,
    ) -> None:
        self.priority_fee = priority_fee
        self.base_fee_multiplier = base_fee_multiplier
        self.default_priority_fee = default_priority_fee
        self.bump_percent = bump_percent

    def fees(self, w3: Web3) -> Fees:
        base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
        tip = self.priority_fee
        if tip is None:
            try:
                tip = int(w3.eth.max_priority_fee)
            except Exception:  # any failure here means: the node lacks the method
                tip = self.default_priority_fee
        return {
            "maxFeePerGas": base_fee * self.base_fee_multiplier + tip,
            "maxPriorityFeePerGas": tip,
        }

    def bump(self, fees: Fees) -> Fees:
        return bump_fees(fees, self.bump_percent)


class AutoFees:
    """EIP-1559 if the chain reports ``baseFeePerGas``, else legacy at the node's price.

    The choice is made once per chain id (a chain does not switch between the two) and
    cached; the prices themselves are fetched for every transaction.
    """

    def __init__(
        self,
        legacy: LegacyFees | None = None,
        eip1559: Eip1559Fees | None = None,
    ) -> None:
        self.legacy = legacy or LegacyFees()
        self.eip1559 = eip1559 or Eip1559Fees()
        self._mode: dict[int, bool] = {}
        self._lock = threading.Lock()

    def uses_eip1559(self, w3: Web3) -> bool:
        chain_id = int(w3.eth.chain_id)
        with self._lock:
            known = self._mode.get(chain_id)
        if known is None:
            known = w3.eth.get_block("latest").get("baseFeePerGas") is not None
            with self._lock:
                self._mode[chain_id] = known
        return known

    def fees(self, w3: Web3) -> Fees:
        return (self.eip1559 if self.uses_eip1559(w3) else self.legacy).fees(w3)

    def bump(self, fees: Fees) -> Fees:
        return (self.legacy if is_legacy(fees) else self.eip1559).bump(fees)
