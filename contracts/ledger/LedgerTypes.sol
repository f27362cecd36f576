// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice What a member may do on the ledger. One organization, one role: a bank that is
/// also a supplier registers two addresses, so that every permission check is one storage read.
enum Role {
    None,
    CoreEnterprise,
    Supplier,
    Financier
}

/// @notice Lifecycle of a certificate. `Matured` is not stored: it is `Active` with
/// block.timestamp >= maturity, so no transaction is needed for time to pass.
enum CertificateStatus {
    None,
    Issued, // waiting for the beneficiary to accept
    Active, // accepted: fragments may be split, transferred and financed until maturity
    Rejected, // the beneficiary refused it; the credit line is restored
    Revoked, // the issuer withdrew it before acceptance; the credit line is restored
    Settled, // repaid in full; every fragment can be paid out
    Overdue, // past maturity plus the grace period and not repaid in full
    Defaulted // declared in default by the operator after being overdue
}

enum OfferStatus {
    None,
    Open,
    Accepted,
    Withdrawn
}

/// @dev Packed into six slots, every one non-zero from issuance on, so that later writes
/// (repayment, the first payout) never pay for a fresh slot. The hot fields of
/// split/transfer (maturity, fragmentCount, status) share the first slot. Amounts that are
/// summed (paidOut) fit in 96 bits because face values are capped at type(uint96).max fen.
struct Certificate {
    address issuer;
    uint40 maturity;
    uint32 fragmentCount;
    CertificateStatus status;
    address beneficiary;
    uint96 paidOut;
    address creditProvider;
    uint40 issuedAt;
    uint128 faceValue;
    uint128 repaid;
    bytes32 invoiceKey;
    bytes32 documentHash;
}

/// @dev Two slots. A fragment's id encodes its certificate and its seq (see FragmentIds),
/// so neither is stored. The parent is always in the same certificate, so its seq is enough.
struct Fragment {
    address holder;
    uint32 parentSeq;
    uint128 value;
    uint128 paid;
}

struct Offer {
    uint256 fragmentId;
    address seller;
    uint16 rateBps;
    uint40 expiresAt;
    OfferStatus status;
    address financier;
    uint128 amount;
}

/// @notice Every refusal of the ledger, as custom errors the Python client decodes into
/// exceptions of the same name.
interface ILedgerErrors {
    error ZeroAddress();
    error ZeroAmount();
    error InvalidRole(Role role);
    error MemberAlreadyRegistered(address account);
    error OrganizationAlreadyRegistered(bytes32 orgIdHash);
    error ZeroOrganizationId();
    error NotAMember(address account);
    error MemberIsSuspended(address account);
    error WrongRole(address account, Role actual);
    error CreditLineExceeded(address financier, address coreEnterprise, uint256 requested, uint256 available);
    error InvoiceAlreadyUsed(bytes32 invoiceKey, uint256 certificateId);
    /// @notice The document hash already backs `certificateId` (possibly revoked or
    /// rejected since): the document anchored for one receivable cannot back a second
    /// certificate, whatever invoice identity comes with it.
    error DocumentAlreadyUsed(bytes32 documentHash, uint256 certificateId);
    error ZeroInvoiceKey();
    error ZeroDocumentHash();
    error FaceValueTooLarge(uint256 faceValue);
    error InvalidMaturity(uint256 maturity, uint256 earliest, uint256 latest);
    error UnknownCertificate(uint256 certificateId);
    error UnknownFragment(uint256 fragmentId);
    error WrongCertificateStatus(uint256 certificateId, CertificateStatus status);
    error NotBeneficiary(uint256 certificateId, address caller);
    error NotIssuer(uint256 certificateId, address caller);
    error NotHolder(uint256 fragmentId, address caller);
    error CertificateMatured(uint256 certificateId, uint256 maturity);
    error NotMatured(uint256 certificateId, uint256 maturity);
    error InvalidSplitAmount(uint256 amount, uint256 fragmentValue);
    error InsufficientFragmentValue(uint256 fragmentId, uint256 amount, uint256 fragmentValue);
    error UnknownOffer(uint256 offerId);
    error OfferNotOpen(uint256 offerId, OfferStatus status);
    error OfferExpired(uint256 offerId, uint256 expiresAt);
    error InvalidOfferExpiry(uint256 expiresAt);
    error NotOfferSeller(uint256 offerId, address caller);
    error NotOfferFinancier(uint256 offerId, address caller);
    error InvalidRate(uint256 rateBps);
    error DiscountExceedsAmount(uint256 amount, uint256 discount);
    error RepaymentExceedsOutstanding(uint256 certificateId, uint256 amount, uint256 outstanding);
    error NothingOwed(uint256 fragmentId);
    error NotYetOverdue(uint256 certificateId, uint256 overdueAt);
    error InvalidGracePeriod(uint256 gracePeriod);
    error InvalidPage(uint256 certificateId, uint256 fromSeq, uint256 fragmentCount);
}
