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
    /// @dev Only the limit moves here: what is used moves with each certificate
    /// (moveCertificates), so that a line's `used` is always what is owed under it, address
    /// by address. A line still in use is refused (CreditLineInUse): its certificates must
    /// move first, so the successor can never draw on a limit whose debts it does not carry
    /// yet, and the refusal names a line whose certificates the operator has missed.
    function moveCreditLines(address oldAccount, address[] calldata counterparties)
        external
        onlyRole(OPERATOR_ROLE)
        whenNotPaused
    {
        address successor = _successorForMove(oldAccount);
        for (uint256 i = 0; i < counterparties.length; ++i) {
            address counterparty = counterparties[i];
            // the old account as financier, then as core enterprise (a role change may
            // have left lines in both directions)
            bool moved = _moveLine(oldAccount, counterparty, successor, counterparty);
            if (_moveLine(counterparty, oldAccount, counterparty, successor)) moved = true;
            if (!moved) revert NoCreditLine(oldAccount, counterparty);
        }
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

    /// @dev Moves `amount` in use from one line to another: a certificate's debt follows
    /// the certificate when its issuer or credit provider is rotated.
    function _moveCredit(address fromFinancier, address fromCore, address toFinancier, address toCore, uint128 amount)
        internal
    {
        _creditLines[fromFinancier][fromCore].used -= amount;
        _creditLines[toFinancier][toCore].used += amount;
    }

    /// @dev Moves a line's limit to the successor's line; false if there is no line. The
    /// successor's own limit wins if it has one (its financier set it after the rotation:
    /// the later decision), else it takes the old limit.
    function _moveLine(address fromFinancier, address fromCore, address toFinancier, address toCore)
        private
        returns (bool)
    {
        CreditLine storage from = _creditLines[fromFinancier][fromCore];
        uint128 limit = from.limit;
        if (from.used != 0) revert CreditLineInUse(fromFinancier, fromCore, from.used);
        if (limit == 0) return false;
        from.limit = 0;
        CreditLine storage to = _creditLines[toFinancier][toCore];
        if (to.limit == 0) {
            to.limit = limit;
        } else {
            limit = to.limit;
        }
        emit CreditLineMoved(fromFinancier, fromCore, toFinancier, toCore, limit);
        return true;
    }
}
