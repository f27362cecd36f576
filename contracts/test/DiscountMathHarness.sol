// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {DiscountMath} from "../ledger/DiscountMath.sol";

/// @title DiscountMathHarness
/// @notice Test-only: exposes the internal DiscountMath library so that the worked examples
/// in tests/data/discount_examples.json are checked against the exact on-chain rule.
contract DiscountMathHarness {
    /// @notice DiscountMath.daysToMaturity, callable.
    function daysToMaturity(uint256 valueDate, uint256 maturity) external pure returns (uint256) {
        return DiscountMath.daysToMaturity(valueDate, maturity);
    }

    /// @notice DiscountMath.discount, callable.
    function discount(uint256 amount, uint256 rateBps, uint256 days_) external pure returns (uint256) {
        return DiscountMath.discount(amount, rateBps, days_);
    }
}
