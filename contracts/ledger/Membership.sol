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
/// Key rotation (docs/design.md, Key rotation): `rotateMember` moves an organization's
/// record to a fresh address and leaves the old one retired, with Role.None and its
/// successor in the same slot as the role, so every existing role check refuses the old
/// address (NotAMember) at no extra gas. What other modules store by address (fragments,
/// certificates, offers, credit lines) is moved by the operator's `move*` calls, each to
/// the end of the chain of successors (`_successorForMove`).
abstract contract Membership is AccessControl, PauseClock {
    /// @inheritdoc ICreditLedger
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    /// @dev role, suspended and successor share one slot: the role checks of the hot paths
    /// read it anyway, so knowing that an address is retired costs them nothing.
    struct Member {
        Role role;
        bool suspended;
        address successor; // set once the account is retired by a rotation, else zero
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
        _requireFresh(account);
        if (_accountOfOrganization[orgIdHash] != address(0)) revert OrganizationAlreadyRegistered(orgIdHash);
        _members[account] = Member({role: role, suspended: false, successor: address(0), orgIdHash: orgIdHash});
        _accountOfOrganization[orgIdHash] = account;
        emit MemberRegistered(account, orgIdHash, role);
    }

    /// @inheritdoc ICreditLedger
    /// @dev Why a retired address keeps nothing but its successor (its memberOf is all zero,
    /// as for a non-member): every check of a caller or counterparty reads the role, so
    /// Role.None refuses the old key everywhere with no new check on the hot paths. A
    /// suspension moves with the record, so a key suspended in an emergency stays stopped
    /// until the operator reinstates its successor.
    function rotateMember(address oldAccount, address newAccount) external onlyRole(OPERATOR_ROLE) whenNotPaused {
        Member storage old = _members[oldAccount];
        if (old.role == Role.None) {
            if (old.successor != address(0)) revert AccountRetired(oldAccount, old.successor);
            revert NotAMember(oldAccount);
        }
        if (newAccount == address(0)) revert ZeroAddress();
        _requireFresh(newAccount);
        bytes32 orgIdHash = old.orgIdHash;
        _members[newAccount] =
            Member({role: old.role, suspended: old.suspended, successor: address(0), orgIdHash: orgIdHash});
        _members[oldAccount] =
            Member({role: Role.None, suspended: false, successor: newAccount, orgIdHash: bytes32(0)});
        _accountOfOrganization[orgIdHash] = newAccount;
        emit MemberRotated(oldAccount, newAccount, orgIdHash);
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

    /// @inheritdoc ICreditLedger
    function successorOf(address account) external view returns (address) {
        return _members[account].successor;
    }

    /// @dev For the operator's moves after a rotation: reverts unless `oldAccount` is
    /// retired, and returns where its things go, the end of its chain of successors (an
    /// organization may rotate again before the moves of its first rotation are done; the
    /// chain is as long as its rotations, walked once per call).
    function _successorForMove(address oldAccount) internal view returns (address successor) {
        successor = _members[oldAccount].successor;
        if (successor == address(0)) revert NotRetired(oldAccount);
        successor = _currentAccount(successor);
    }

    /// @dev Whether `account` was retired by a rotation.
    function _isRetired(address account) internal view returns (bool) {
        return _members[account].successor != address(0);
    }

    /// @dev `account` itself unless it is retired, else the end of its chain of successors.
    function _currentAccount(address account) internal view returns (address) {
        address next = _members[account].successor;
        while (next != address(0)) {
            account = next;
            next = _members[account].successor;
        }
        return account;
    }

    /// @dev Reverts unless `account` is a member now (suspended or not): what the few
    /// actions that need no particular role ask, so that a retired key is refused there too.
    function _requireMember(address account) internal view {
        if (_members[account].role == Role.None) revert NotAMember(account);
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

    /// @dev Reverts unless `account` was never registered: neither a member nor retired (a
    /// retired key stays retired for good, so that it can never act again).
    function _requireFresh(address account) private view {
        Member storage member = _members[account];
        if (member.role != Role.None) revert MemberAlreadyRegistered(account);
        if (member.successor != address(0)) revert AccountRetired(account, member.successor);
    }

    function _existingMember(address account) private view returns (Member storage member) {
        member = _members[account];
        if (member.role == Role.None) revert NotAMember(account);
    }
}
