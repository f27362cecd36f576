"""Fee strategies: how much a transaction offers to pay for gas.

Why an abstraction: anvil and public chains price gas with EIP-1559 (base fee + tip), while
the production consortium node runs with a zero gas price and only accepts legacy (type-0)
transactions. :class:`AutoFees` picks per chain by looking for ``baseFeePerGas`` in the
latest block; deployments can force :class:`LegacyFees` (e.g. ``LegacyFees(gas_price=0)``)
or :class:`Eip1559Fees`, or plug in their own :class:`FeeStrategy`.

Fee dicts use web3's transaction field names, so they can be merged into a transaction.

Prices the node is asked for (base fee, priority fee, legacy gas price) are reused for
``max_age`` seconds (default 1 s, per Web3; ``max_age=0`` asks every time): with many
transactions per second a fresh lookup each time doubles the round trips for nothing. A
base fee at most that old is safe to price with: it rises by at most 12.5 % per block and
the offered ``maxFeePerGas`` is twice the base fee plus the tip; a transaction priced too
low anyway waits in the pool and is bumped like any other (``bump_after``).
"""

from __future__ import annotations

import time
import weakref
from typing import Any, Protocol, runtime_checkable

from web3 import Web3

from chain_client.head import DEFAULT_MAX_AGE, latest_block

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


class _Recent:
    """One node-reported number per Web3, reused for ``max_age`` seconds."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._values: weakref.WeakKeyDictionary[Any, tuple[float, int]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, w3: Web3, fetch: Any) -> int:
        if self.max_age > 0:
            entry = self._values.get(w3)
            if entry is not None and time.monotonic() - entry[0] <= self.max_age:
                return entry[1]
        fetched_at = time.monotonic()
        value = int(fetch())
        self._values[w3] = (fetched_at, value)
        return value


class LegacyFees:
    """Type-0 pricing: a fixed ``gas_price`` (0 on a consortium chain) or the node's own."""

    def __init__(
        self,
        gas_price: int | None = None,
        *,
        bump_percent: int = DEFAULT_BUMP_PERCENT,
        max_age: float = DEFAULT_MAX_AGE,
    ):
        if gas_price is not None and gas_price < 0:
            raise ValueError("gas_price must be >= 0")
        self.gas_price = gas_price
        self.bump_percent = bump_percent
        self._node_price = _Recent(max_age)

    def fees(self, w3: Web3) -> Fees:
        if self.gas_price is not None:
            return {"gasPrice": self.gas_price}
        return {"gasPrice": self._node_price.get(w3, lambda: w3.eth.gas_price)}

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
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        self.priority_fee = priority_fee
        self.base_fee_multiplier = base_fee_multiplier
        self.default_priority_fee = default_priority_fee
        self.bump_percent = bump_percent
        self.max_age = max_age
        self._node_tip = _Recent(max_age)

    def fees(self, w3: Web3) -> Fees:
        base_fee = int(latest_block(w3, self.max_age).get("baseFeePerGas") or 0)
        tip = self.priority_fee
        if tip is None:
            tip = self._node_tip.get(w3, lambda: self._ask_tip(w3))
        return {
            "maxFeePerGas": base_fee * self.base_fee_multiplier + tip,
            "maxPriorityFeePerGas": tip,
        }

    def _ask_tip(self, w3: Web3) -> int:
        try:
            return int(w3.eth.max_priority_fee)
        except Exception:  # any failure here means: the node lacks the method
            return self.default_priority_fee

    def bump(self, fees: Fees) -> Fees:
        return bump_fees(fees, self.bump_percent)


class AutoFees:
    """EIP-1559 if the chain reports ``baseFeePerGas``, else legacy at the node's price.

    The choice is read from the same shared latest block as the base fee (see
    :mod:`chain_client.head`), so it costs no extra round trip and follows a hard fork that
    introduces EIP-1559 within ``max_age`` seconds.
    """

    def __init__(
        self,
        legacy: LegacyFees | None = None,
        eip1559: Eip1559Fees | None = None,
        *,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        self.legacy = legacy or LegacyFees(max_age=max_age)
        self.eip1559 = eip1559 or Eip1559Fees(max_age=max_age)
        self.max_age = max_age

    def uses_eip1559(self, w3: Web3) -> bool:
        return latest_block(w3, self.max_age).get("baseFeePerGas") is not None

    def fees(self, w3: Web3) -> Fees:
        return (self.eip1559 if self.uses_eip1559(w3) else self.legacy).fees(w3)

    def bump(self, fees: Fees) -> Fees:
        return (self.legacy if is_legacy(fees) else self.eip1559).bump(fees)
