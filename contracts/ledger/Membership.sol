// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {PauseClock} from "./PauseClock.sol";
import {ICreditLedger} from "../interfaces/ICreditLedger.sol";
import {Role} from "./LedgerTypes.sol";

/// @title Membership
/// @notice Who may use the ledger and in which role. The platform operator onboards
/// organizations after off-chain KYC: each member is one address bound to the hash of the
/// organization's unified social credit code (统一社会信用代码), never the code itself.
/// @dev The operator is an AccessControl role so that it can be held by a multisig and
/// rotated; business roles are a one-slot enum so that every permission check on the hot
/// paths (split, transfer) is a single storage read.
abstract contract Membership is AccessControl, PauseClock {
    /// @inheritdoc ICreditLedger
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    struct Member {
        Role role;
        bool suspended;
        bytes32 orgIdHash;
    }

    mapping(address account => Member) private _members;
    mapping(bytes32 orgIdHash => address account) private _accountOfOrganization;

    constructor(address operator) {
        if (operator == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, operator);
        _grantRole(OPERATOR_ROLE, operator);
    }

    /// @inheritdoc ICreditLedger
    function registerMember(address account, bytes32 orgIdHash, Role role)
        external
        onlyRole(OPERATOR_ROLE)
        whenNotPaused
    {
        if (account == address(0)) revert ZeroAddress();
        if (orgIdHash == bytes32(0)) revert ZeroOrganizationId();
        if (role == Role.None) revert InvalidRole(role);
        if (_members[account].role != Role.None) revert MemberAlreadyRegistered(account);
        if (_accountOfOrganization[orgIdHash] != address(0)) revert OrganizationAlreadyRegistered(orgIdHash);
        _members[account] = Member({role: role, suspended: false, orgIdHash: orgIdHash});
        _accountOfOrganization[orgIdHash] = account;
        emit MemberRegistered(account, orgIdHash, role);
    }

    /// @inheritdoc ICreditLedger
    function changeMemberRole(address account, Role role) external onlyRole(OPERATOR_ROLE) whenNotPaused {
        if (role == Role.None) revert InvalidRole(role);
        Member storage member = _existingMember(account);
        Role previous = member.role;
        member.role = role;
        emit MemberRoleChanged(account, previous, role);
    }

    /// @inheritdoc ICreditLedger
    function suspendMember(address account) external onlyRole(OPERATOR_ROLE) {
        _existingMember(account).suspended = true;
        emit MemberSuspended(account);
    }

    /// @inheritdoc ICreditLedger
    function reinstateMember(address account) external onlyRole(OPERATOR_ROLE) {
        _existingMember(account).suspended = false;
        emit MemberReinstated(account);
    }

    /// @inheritdoc ICreditLedger
    function pause() external onlyRole(OPERATOR_ROLE) {
        _pause();
    }

    /// @inheritdoc ICreditLedger
    function unpause() external onlyRole(OPERATOR_ROLE) {
        _unpause();
    }

    /// @inheritdoc ICreditLedger
    function memberOf(address account) external view returns (Role role, bool suspended, bytes32 orgIdHash) {
        Member storage member = _members[account];
        return (member.role, member.suspended, member.orgIdHash);
    }

    /// @inheritdoc ICreditLedger
    function accountOfOrganization(bytes32 orgIdHash) external view returns (address) {
        return _accountOfOrganization[orgIdHash];
    }

    /// @dev Reverts unless `account` is an active member holding `role`.
    function _requireActive(address account, Role role) internal view {
        if (_requireRole(account, role).suspended) revert MemberIsSuspended(account);
    }

    /// @dev Reverts unless `account` is a member holding `role`, suspended or not: for the
    /// few actions a suspension must not block because they only reduce someone's exposure.
    function _requireRole(address account, Role role) internal view returns (Member storage member) {
        member = _members[account];
        if (member.role != role) {
            if (member.role == Role.None) revert NotAMember(account);
            revert WrongRole(account, member.role);
        }
    }

    /// @dev Reverts unless `account` is an active member that may hold fragments: suppliers
    /// of any tier and financiers (who hold what they bought). A core enterprise never holds
    /// its own payable.
    function _requireActiveHolder(address account) internal view {
        Member storage member = _members[account];
        Role role = member.role;
        if (role != Role.Supplier && role != Role.Financier) {
            if (role == Role.None) revert NotAMember(account);
            revert WrongRole(account, role);
        }
        if (member.suspended) revert MemberIsSuspended(account);
    }

    function _existingMember(address account) private view returns (Member storage member) {
        member = _members[account];
        if (member.role == Role.None) revert NotAMember(account);
    }
}
