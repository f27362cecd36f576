// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Membership} from "./Membership.sol";
import {ICreditLedger} from "../interfaces/ICreditLedger.sol";
import {Role} from "./LedgerTypes.sol";

/// @title CreditLines
/// @notice A financier's issuance limit (授信额度) for a core enterprise. Issuing a
/// certificate draws on one line; repayment, revocation and rejection give it back, so the
/// line always equals what the core enterprise still owes under it.
abstract contract CreditLines is Membership {
    struct CreditLine {
        uint128 limit;
        uint128 used;
    }

    mapping(address financier => mapping(address coreEnterprise => CreditLine)) private _creditLines;

    /// @inheritdoc ICreditLedger
    /// @dev Raising needs both parties active. Lowering or closing (any limit up to the
    /// current one) needs only their roles: a suspended bank must be able to stop its
    /// exposure, and a bank must be able to close its line to a suspended core enterprise;
    /// a suspension exists to stop risk from growing, never to keep it open. (A suspended
    /// bank's line cannot be drawn in any case: `issue` requires an active financier.)
    function setCreditLine(address coreEnterprise, uint128 limit) external whenNotPaused {
        CreditLine storage line = _creditLines[msg.sender][coreEnterprise];
        if (limit > line.limit) {
            _requireActive(msg.sender, Role.Financier);
            _requireActive(coreEnterprise, Role.CoreEnterprise);
        } else {
            _requireRole(msg.sender, Role.Financier);
            _requireRole(coreEnterprise, Role.CoreEnterprise);
        }
        line.limit = limit;
        emit CreditLineSet(msg.sender, coreEnterprise, limit);
    }

    /// @inheritdoc ICreditLedger
    function creditLine(address financier, address coreEnterprise)
        external
        view
        returns (uint256 limit, uint256 used)
    {
        CreditLine storage line = _creditLines[financier][coreEnterprise];
        return (line.limit, line.used);
    }

    function _drawCredit(address financier, address coreEnterprise, uint128 amount) internal {
        CreditLine storage line = _creditLines[financier][coreEnterprise];
        uint256 available = line.limit > line.used ? line.limit - line.used : 0;
        if (amount > available) revert CreditLineExceeded(financier, coreEnterprise, amount, available);
        line.used += amount;
    }

    function _restoreCredit(address financier, address coreEnterprise, uint128 amount) internal {
        _creditLines[financier][coreEnterprise].used -= amount;
    }
}
