// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Settlement} from "./Settlement.sol";
import {FragmentIds} from "./FragmentIds.sol";
import {ICreditLedger} from "../interfaces/ICreditLedger.sol";
import {Certificate, CertificateStatus, Fragment} from "./LedgerTypes.sol";

/// @title Repayment
/// @notice At maturity the core enterprise pays the face value once, in full or in parts,
/// into the ledger; each fragment is then owed `value * repaid / faceValue` (rounded down),
/// so holders are paid pro rata, and what was paid in always covers what is paid out.
/// @dev The issuer's cost is O(1) whatever the number of fragments: repaying only raises
/// the certificate's `repaid` total. Payouts are pulled per fragment, by the holder
/// (`claim`) or by anyone for a page of fragments (`payFragments`), which is what a keeper
/// runs to make repayment automatic. A part payment is accepted only from maturity on, when
/// no fragment can move or split any more, so a fragment's share never changes under it;
/// before maturity the issuer may repay in full (early repayment), which settles the
/// certificate at once and so stops its fragments moving too (docs/design.md, Early
/// repayment, for what a discounting funder earns then).
/// No payout ever goes to a retired key (docs/design.md, Key rotation): `claim` refuses
/// it, and `payFragments` pays its organization's current key, moving the fragment there.
/// A retired issuer may still repay a certificate not yet moved to its successor: that only
/// brings the organization's money in, and refusing it would cost every repayment a
/// storage read.
abstract contract Repayment is Settlement {
    using SafeERC20 for IERC20;

    /// @inheritdoc ICreditLedger
    uint256 public constant MAX_GRACE_PERIOD = 90 days;

    /// @inheritdoc ICreditLedger
    uint256 public gracePeriod;

    constructor(uint256 gracePeriod_) {
        _setGracePeriod(gracePeriod_);
    }

    /// @inheritdoc ICreditLedger
    function repay(uint256 certificateId, uint128 amount) external whenNotPaused nonReentrant {
        Certificate storage cert = _existingCertificate(certificateId);
        if (cert.issuer != msg.sender) revert NotIssuer(certificateId, msg.sender);
        CertificateStatus status = cert.status;
        if (status != CertificateStatus.Active && status != CertificateStatus.Overdue
            && status != CertificateStatus.Defaulted) {
            revert WrongCertificateStatus(certificateId, status);
        }
        if (amount == 0) revert ZeroAmount();
        uint128 outstanding = cert.faceValue - cert.repaid;
        if (amount > outstanding) revert RepaymentExceedsOutstanding(certificateId, amount, outstanding);
        // early repayment only in full: it settles the certificate, so nothing moves after it
        if (amount != outstanding && block.timestamp < cert.maturity) revert NotMatured(certificateId, cert.maturity);

        uint128 totalRepaid = cert.repaid + amount;
        cert.repaid = totalRepaid;
        _restoreCredit(cert.creditProvider, msg.sender, amount);
        emit RepaymentReceived(certificateId, msg.sender, amount, totalRepaid);
        if (totalRepaid == cert.faceValue) {
            cert.status = CertificateStatus.Settled;
            emit CertificateSettled(certificateId);
        }
        settlementToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc ICreditLedger
    function claim(uint256 fragmentId) external whenNotPaused nonReentrant returns (uint256 amount) {
        Fragment storage fragment = _existingFragment(fragmentId);
        address holder = fragment.holder;
        if (holder != msg.sender) {
            // the organization's current key collects a fragment its retired key still
            // holds, without waiting for the operator's move (moved here, with its event)
            if (_currentAccount(holder) != msg.sender) revert NotHolder(fragmentId, msg.sender);
            _moveHolding(fragmentId, fragment, holder, msg.sender);
        } else {
            _requireMember(msg.sender); // a retired key is never paid
        }
        Certificate storage cert = _certificateOfFragment(fragmentId);
        amount = _owed(cert, fragment);
        if (amount == 0) revert NothingOwed(fragmentId);
        fragment.paid += uint128(amount);
        cert.paidOut += uint96(amount); // paidOut <= repaid <= faceValue < 2**96
        emit FragmentPaid(FragmentIds.certificateOf(fragmentId), fragmentId, msg.sender, amount);
        settlementToken.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc ICreditLedger
    function payFragments(uint256 certificateId, uint256 fromSeq, uint256 count)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 total)
    {
        Certificate storage cert = _existingCertificate(certificateId);
        uint256 fragmentCount = cert.fragmentCount;
        if (fromSeq >= fragmentCount) revert InvalidPage(certificateId, fromSeq, fragmentCount);
        uint256 end = fromSeq + count < fragmentCount ? fromSeq + count : fragmentCount;
        uint256 repaid = cert.repaid;
        uint256 faceValue = cert.faceValue;
        address current; // the last holder known to be a current key: checked once per run
        for (uint256 seq = fromSeq; seq < end; ++seq) {
            uint256 fragmentId = FragmentIds.make(certificateId, seq);
            Fragment storage fragment = _fragment(fragmentId);
            uint256 amount = (uint256(fragment.value) * repaid) / faceValue - fragment.paid;
            if (amount == 0) continue;
            fragment.paid += uint128(amount);
            total += amount;
            {
                address holder = fragment.holder;
                if (holder != current) {
                    current = holder;
                    // cash never goes to a retired key: the fragment moves to its
                    // organization's current key first, and that key is paid
                    if (_isRetired(holder)) {
                        current = _currentAccount(holder);
                        _moveHolding(fragmentId, fragment, holder, current);
                    }
                }
            }
            emit FragmentPaid(certificateId, fragmentId, current, amount);
            settlementToken.safeTransfer(current, amount);
        }
        cert.paidOut += uint96(total); // paidOut <= repaid <= faceValue < 2**96
    }

    /// @inheritdoc ICreditLedger
    function markOverdue(uint256 certificateId) external whenNotPaused {
        Certificate storage cert = _existingCertificate(certificateId);
        if (cert.status != CertificateStatus.Active) revert WrongCertificateStatus(certificateId, cert.status);
        uint256 overdueAt_ = _overdueAt(cert);
        if (block.timestamp <= overdueAt_) revert NotYetOverdue(certificateId, overdueAt_);
        cert.status = CertificateStatus.Overdue;
        emit CertificateOverdue(certificateId, cert.faceValue - cert.repaid);
    }

    /// @inheritdoc ICreditLedger
    function declareDefault(uint256 certificateId) external onlyRole(OPERATOR_ROLE) whenNotPaused {
        Certificate storage cert = _existingCertificate(certificateId);
        if (cert.status != CertificateStatus.Overdue) revert WrongCertificateStatus(certificateId, cert.status);
        cert.status = CertificateStatus.Defaulted;
        emit CertificateDefaulted(certificateId, cert.faceValue - cert.repaid);
    }

    /// @inheritdoc ICreditLedger
    function setGracePeriod(uint256 newGracePeriod) external onlyRole(OPERATOR_ROLE) {
        _setGracePeriod(newGracePeriod);
    }

    /// @inheritdoc ICreditLedger
    /// @dev Why: while the ledger is paused nobody can repay, so the grace period counts
    /// only unpaused time. A pause before maturity does not count (the tenor is not the
    /// grace period), the part of a pause after maturity does, and a pause that begins
    /// after the grace period has run out gives nothing back. While a pause lasts, the
    /// answer assumes it ends now (it grows with the pause). The current gracePeriod
    /// applies, as for marking.
    function overdueAt(uint256 certificateId) external view returns (uint256) {
        return _overdueAt(_existingCertificate(certificateId));
    }

    /// @inheritdoc ICreditLedger
    function owed(uint256 fragmentId) external view returns (uint256) {
        Fragment storage fragment = _existingFragment(fragmentId);
        return _owed(_certificateOfFragment(fragmentId), fragment);
    }

    function _overdueAt(Certificate storage cert) private view returns (uint256) {
        uint256 maturity = cert.maturity;
        return _extendByPauses(maturity, maturity + gracePeriod);
    }

    function _owed(Certificate storage cert, Fragment storage fragment) private view returns (uint256) {
        return (uint256(fragment.value) * cert.repaid) / cert.faceValue - fragment.paid;
    }

    function _setGracePeriod(uint256 newGracePeriod) private {
        if (newGracePeriod > MAX_GRACE_PERIOD) revert InvalidGracePeriod(newGracePeriod);
        emit GracePeriodChanged(gracePeriod, newGracePeriod);
        gracePeriod = newGracePeriod;
    }
}
