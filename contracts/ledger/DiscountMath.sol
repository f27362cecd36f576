// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title DiscountMath
/// @notice The one place the discount (贴现利息) is computed. Convention of Chinese banks:
/// simple interest, ACT/360, rate in basis points. Both roundings go against the financier,
/// who writes the price: whole days only (a started day is not charged) and the interest is
/// rounded down to the fen. The Python client mirrors this rule and is tested against it.
library DiscountMath {
    uint256 internal constant SECONDS_PER_DAY = 86_400;
    uint256 internal constant BPS_DENOMINATOR = 10_000;
    uint256 internal constant DAY_COUNT_BASIS = 360;
    /// @dev The highest rate an offer or a bid may carry: 100% a year.
    uint256 internal constant MAX_RATE_BPS = 10_000;

    /// @notice Whole days from `valueDate` to `maturity` (0 if already matured).
    function daysToMaturity(uint256 valueDate, uint256 maturity) internal pure returns (uint256) {
        return maturity > valueDate ? (maturity - valueDate) / SECONDS_PER_DAY : 0;
    }

    /// @notice floor(amount * rateBps * days / (10_000 * 360)), in fen.
    function discount(uint256 amount, uint256 rateBps, uint256 days_) internal pure returns (uint256) {
        return (amount * rateBps * days_) / (BPS_DENOMINATOR * DAY_COUNT_BASIS);
    }
}
