// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Certificates} from "./Certificates.sol";
import {ICreditLedger} from "../interfaces/ICreditLedger.sol";

/// @title Settlement
/// @notice The cash leg shared by financing and repayment: one ERC-20 settlement token,
/// fixed at deployment, so that a certificate is always paid in the money it was priced in.
/// @dev Every function that moves the token is nonReentrant and writes its state before the
/// token call (checks-effects-interactions), even though the token is a known contract:
/// a consortium may swap in a deposit token with hooks.
abstract contract Settlement is Certificates, ReentrancyGuard {
    /// @inheritdoc ICreditLedger
    /// @dev Not SETTLEMENT_TOKEN, as solhint's naming rule for immutables asks: the getter
    /// settlementToken() is part of the ABI every client calls.
    IERC20 public immutable settlementToken; // solhint-disable-line immutable-vars-naming

    constructor(IERC20 token) {
        if (address(token) == address(0)) revert ZeroAddress();
        settlementToken = token;
    }
}
