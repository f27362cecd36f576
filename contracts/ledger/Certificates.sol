// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CreditLines} from "./CreditLines.sol";
import {FragmentIds} from "./FragmentIds.sol";
import {ICreditLedger} from "../interfaces/ICreditLedger.sol";
import {Certificate, CertificateStatus, Fragment, Role} from "./LedgerTypes.sol";

/// @title Certificates
/// @notice Digital credit certificates (电子债权凭证) and their fragments. A certificate is
/// a core enterprise's irrevocable promise to pay its face value at maturity. Once the
/// tier-1 supplier accepts it, it lives as a tree of fragments: every split carves a new
/// fragment off a parent, so each fragment can be traced back to the one confirmed debt
/// (穿透), and the values of all fragments always sum to the face value.
/// @dev Leaner than ERC-3525 on purpose: no approvals, no enumeration by owner, no receiver
/// callbacks (holders are vetted members, and the read model follows events), which is
/// what makes a split cost less than half of the reference implementation's.
abstract contract Certificates is CreditLines {
    /// @inheritdoc ICreditLedger
    /// @dev One year, as platforms and regulators in practice allow for supply-chain payables.
    uint256 public constant MAX_TENOR = 366 days;

    // Private: the other modules read certificates and fragments through the internal
    // getters below, so every lookup (and its existence check) is written once, here.
    uint256 private _certificateCount;
    mapping(uint256 certificateId => Certificate) private _certificates;
    mapping(uint256 fragmentId => Fragment) private _fragments;
    mapping(bytes32 invoiceKey => uint256 certificateId) private _certificateOfInvoice;
    mapping(bytes32 documentHash => uint256 certificateId) private _certificateOfDocument;

    /// @inheritdoc ICreditLedger
    function issue(
        address creditProvider,
        address beneficiary,
        uint128 faceValue,
        uint40 maturity,
        bytes32 invoiceKey,
        bytes32 documentHash
    ) external whenNotPaused returns (uint256 certificateId) {
        _requireActive(msg.sender, Role.CoreEnterprise);
        _requireActive(beneficiary, Role.Supplier);
        _requireActive(creditProvider, Role.Financier);
        if (faceValue == 0) revert ZeroAmount();
        if (faceValue > type(uint96).max) revert FaceValueTooLarge(faceValue);
        if (maturity <= block.timestamp || maturity > block.timestamp + MAX_TENOR) {
            revert InvalidMaturity(maturity, block.timestamp + 1, block.timestamp + MAX_TENOR);
        }
        if (invoiceKey == bytes32(0)) revert ZeroInvoiceKey();
        if (documentHash == bytes32(0)) revert ZeroDocumentHash();
        uint256 previous = _certificateOfInvoice[invoiceKey];
        if (previous != 0) revert InvoiceAlreadyUsed(invoiceKey, previous);
        previous = _certificateOfDocument[documentHash];
        if (previous != 0) revert DocumentAlreadyUsed(documentHash, previous);

        _drawCredit(creditProvider, msg.sender, faceValue);
        certificateId = ++_certificateCount;
        _certificateOfInvoice[invoiceKey] = certificateId;
        _certificateOfDocument[documentHash] = certificateId;
        _certificates[certificateId] = Certificate({
            issuer: msg.sender,
            maturity: maturity,
            fragmentCount: 0,
            status: CertificateStatus.Issued,
            beneficiary: beneficiary,
            issuedAt: uint40(block.timestamp),
            creditProvider: creditProvider,
            faceValue: faceValue,
            repaid: 0,
            paidOut: 0,
            invoiceKey: invoiceKey,
            documentHash: documentHash
        });
        emit CertificateIssued(
            certificateId, msg.sender, beneficiary, creditProvider, faceValue, maturity, invoiceKey, documentHash
        );
    }

    /// @inheritdoc ICreditLedger
    function accept(uint256 certificateId) external whenNotPaused returns (uint256 rootFragmentId) {
        Certificate storage cert = _pendingCertificateOfBeneficiary(certificateId);
        if (block.timestamp >= cert.maturity) revert CertificateMatured(certificateId, cert.maturity);
        cert.status = CertificateStatus.Active;
        cert.fragmentCount = 1;
        rootFragmentId = FragmentIds.make(certificateId, 0);
        _fragments[rootFragmentId] = Fragment({holder: msg.sender, parentSeq: 0, value: cert.faceValue, paid: 0});
        emit CertificateAccepted(certificateId, msg.sender, rootFragmentId);
    }

    /// @inheritdoc ICreditLedger
    function reject(uint256 certificateId) external whenNotPaused {
        Certificate storage cert = _pendingCertificateOfBeneficiary(certificateId);
        cert.status = CertificateStatus.Rejected;
        _restoreCredit(cert.creditProvider, cert.issuer, cert.faceValue);
        emit CertificateRejected(certificateId, msg.sender);
    }

    /// @inheritdoc ICreditLedger
    function revoke(uint256 certificateId) external whenNotPaused {
        Certificate storage cert = _existingCertificate(certificateId);
        if (cert.issuer != msg.sender) revert NotIssuer(certificateId, msg.sender);
        _requireMember(msg.sender); // a retired issuer's key revokes nothing
        if (cert.status != CertificateStatus.Issued) revert WrongCertificateStatus(certificateId, cert.status);
        cert.status = CertificateStatus.Revoked;
        _restoreCredit(cert.creditProvider, cert.issuer, cert.faceValue);
        emit CertificateRevoked(certificateId, msg.sender);
    }

    /// @inheritdoc ICreditLedger
    function split(uint256 fragmentId, address to, uint128 amount)
        external
        whenNotPaused
        returns (uint256 newFragmentId)
    {
        _requireActiveHolder(msg.sender);
        _requireActiveHolder(to);
        Fragment storage parent = _movableFragmentOf(fragmentId, msg.sender);
        if (amount == 0 || amount >= parent.value) revert InvalidSplitAmount(amount, parent.value);
        newFragmentId = _split(fragmentId, parent, to, amount);
    }

    /// @inheritdoc ICreditLedger
    function transferFragment(uint256 fragmentId, address to) external whenNotPaused {
        _requireActiveHolder(msg.sender);
        _requireActiveHolder(to);
        Fragment storage fragment = _movableFragmentOf(fragmentId, msg.sender);
        _transfer(fragmentId, fragment, to);
    }

    /// @inheritdoc ICreditLedger
    /// @dev Not a transfer (no FragmentTransferred, and allowed whatever the certificate's
    /// status, after maturity and settlement too): the organization that holds the fragment
    /// stays the same, only its key changed, and its payouts must reach the new key.
    function moveHoldings(address oldAccount, uint256[] calldata fragmentIds)
        external
        onlyRole(OPERATOR_ROLE)
        whenNotPaused
    {
        address successor = _successorForMove(oldAccount);
        for (uint256 i = 0; i < fragmentIds.length; ++i) {
            uint256 fragmentId = fragmentIds[i];
            Fragment storage fragment = _existingFragment(fragmentId);
            address holder = fragment.holder;
            if (holder == oldAccount) {
                _moveHolding(fragmentId, fragment, oldAccount, successor);
            } else if (holder != successor) {
                revert FragmentNotHeld(fragmentId, oldAccount, holder);
            }
            // held by the successor already (moved by a payout, or a batch sent again): skipped
        }
    }

    /// @inheritdoc ICreditLedger
    /// @dev The certificate's debt follows it: the amount still owed moves from the line of
    /// (old credit provider, old issuer) to the line of the new pair, so every line's
    /// `used` stays what is owed under it.
    function moveCertificates(address oldAccount, uint256[] calldata certificateIds)
        external
        onlyRole(OPERATOR_ROLE)
        whenNotPaused
    {
        address successor = _successorForMove(oldAccount);
        for (uint256 i = 0; i < certificateIds.length; ++i) {
            uint256 certificateId = certificateIds[i];
            Certificate storage cert = _existingCertificate(certificateId);
            address issuer = cert.issuer;
            address provider = cert.creditProvider;
            bool moved = false;
            if (cert.beneficiary == oldAccount) {
                cert.beneficiary = successor;
                moved = true;
            }
            if (issuer == oldAccount || provider == oldAccount) {
                address newIssuer = issuer == oldAccount ? successor : issuer;
                address newProvider = provider == oldAccount ? successor : provider;
                cert.issuer = newIssuer;
                cert.creditProvider = newProvider;
                uint128 owing = _owing(cert);
                if (owing != 0) _moveCredit(provider, issuer, newProvider, newIssuer, owing);
                moved = true;
            }
            if (!moved) revert NotCertificateParty(certificateId, oldAccount);
            emit CertificatePartyMoved(certificateId, oldAccount, successor);
        }
    }

    /// @inheritdoc ICreditLedger
    function fragmentIdOf(uint256 certificateId, uint256 seq) external pure returns (uint256) {
        return FragmentIds.make(certificateId, seq);
    }

    /// @inheritdoc ICreditLedger
    function certificateCount() external view returns (uint256) {
        return _certificateCount;
    }

    /// @inheritdoc ICreditLedger
    function getCertificate(uint256 certificateId) external view returns (Certificate memory) {
        return _existingCertificate(certificateId);
    }

    /// @inheritdoc ICreditLedger
    function getFragment(uint256 fragmentId)
        external
        view
        returns (uint256 certificateId, uint256 parentFragmentId, address holder, uint256 value, uint256 paid)
    {
        Fragment storage fragment = _existingFragment(fragmentId);
        certificateId = FragmentIds.certificateOf(fragmentId);
        bool isRoot = FragmentIds.seqOf(fragmentId) == 0;
        parentFragmentId = isRoot ? 0 : FragmentIds.make(certificateId, fragment.parentSeq);
        return (certificateId, parentFragmentId, fragment.holder, fragment.value, fragment.paid);
    }

    /// @inheritdoc ICreditLedger
    function certificateOfInvoice(bytes32 invoiceKey) external view returns (uint256) {
        return _certificateOfInvoice[invoiceKey];
    }

    /// @inheritdoc ICreditLedger
    function certificateOfDocument(bytes32 documentHash) external view returns (uint256) {
        return _certificateOfDocument[documentHash];
    }

    function _split(uint256 fragmentId, Fragment storage parent, address to, uint128 amount)
        internal
        returns (uint256 newFragmentId)
    {
        uint256 certificateId = FragmentIds.certificateOf(fragmentId);
        Certificate storage cert = _certificates[certificateId];
        uint32 seq = cert.fragmentCount;
        cert.fragmentCount = seq + 1;
        parent.value -= amount;
        newFragmentId = FragmentIds.make(certificateId, seq);
        _fragments[newFragmentId] =
            Fragment({holder: to, parentSeq: FragmentIds.seqOf(fragmentId), value: amount, paid: 0});
        emit FragmentSplit(certificateId, fragmentId, newFragmentId, parent.holder, to, amount);
    }

    /// @dev A rotation's move of one fragment from a retired key to its organization's
    /// current one (the operator's moveHoldings, or a payout on the way).
    function _moveHolding(uint256 fragmentId, Fragment storage fragment, address from, address to) internal {
        fragment.holder = to;
        emit HoldingMoved(fragmentId, from, to);
    }

    /// @dev What the certificate's issuer still owes under its credit line: the face value
    /// less repayments while it is owed (issued, active, overdue, defaulted), else nothing
    /// (a rejected or revoked certificate gave its line back; a settled one is repaid).
    function _owing(Certificate storage cert) private view returns (uint128) {
        CertificateStatus status = cert.status;
        if (status == CertificateStatus.Rejected || status == CertificateStatus.Revoked) return 0;
        return cert.faceValue - cert.repaid;
    }

    function _transfer(uint256 fragmentId, Fragment storage fragment, address to) internal {
        address from = fragment.holder;
        fragment.holder = to;
        emit FragmentTransferred(fragmentId, from, to);
    }

    /// @dev A fragment of an active, not yet matured certificate, held by `holder`.
    function _movableFragmentOf(uint256 fragmentId, address holder) internal view returns (Fragment storage fragment) {
        fragment = _fragments[fragmentId];
        if (fragment.holder != holder) {
            if (fragment.value == 0) revert UnknownFragment(fragmentId);
            revert NotHolder(fragmentId, holder);
        }
        uint256 certificateId = FragmentIds.certificateOf(fragmentId);
        Certificate storage cert = _certificates[certificateId];
        if (cert.status != CertificateStatus.Active) revert WrongCertificateStatus(certificateId, cert.status);
        if (block.timestamp >= cert.maturity) revert CertificateMatured(certificateId, cert.maturity);
    }

    function _existingCertificate(uint256 certificateId) internal view returns (Certificate storage cert) {
        cert = _certificates[certificateId];
        if (cert.status == CertificateStatus.None) revert UnknownCertificate(certificateId);
    }

    /// @dev The record of the certificate a fragment belongs to (the root of its tree), for
    /// the other modules. Callers hold an existing fragment, so the certificate exists and
    /// is not checked again. (The split and transfer paths here, which need the certificate
    /// id too, index the mapping with it directly: one internal call less on the hot path.)
    function _certificateOfFragment(uint256 fragmentId) internal view returns (Certificate storage) {
        return _certificates[FragmentIds.certificateOf(fragmentId)];
    }

    /// @dev The stored record, unchecked: all zero if the id was never created. For loops
    /// over seq < fragmentCount, where every id exists and a check per fragment is waste.
    function _fragment(uint256 fragmentId) internal view returns (Fragment storage) {
        return _fragments[fragmentId];
    }

    function _existingFragment(uint256 fragmentId) internal view returns (Fragment storage fragment) {
        fragment = _fragments[fragmentId];
        if (fragment.value == 0) revert UnknownFragment(fragmentId);
    }

    function _pendingCertificateOfBeneficiary(uint256 certificateId) private view returns (Certificate storage cert) {
        cert = _existingCertificate(certificateId);
        if (cert.beneficiary != msg.sender) revert NotBeneficiary(certificateId, msg.sender);
        if (cert.status != CertificateStatus.Issued) revert WrongCertificateStatus(certificateId, cert.status);
        _requireActive(msg.sender, Role.Supplier);
    }
}
