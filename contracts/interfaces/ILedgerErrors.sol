// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CertificateStatus, OfferStatus, Role} from "../ledger/LedgerTypes.sol";

/// @title ILedgerErrors
/// @notice Every refusal of the ledger, each defined once, here. A refusal is a business
/// answer, not a fault: the arguments say what was wrong with the request as the ledger saw
/// it in that block, so a caller can explain it without a second read.
/// @dev The Python client decodes these by name and argument list from the ABI into
/// exceptions of the same name (chain_client/ledger_errors.py, checked against the compiled
/// ABI by tests/client/test_ledger.py): renaming an error or changing its parameters is a
/// breaking change for every integrator. The ledger also raises the OpenZeppelin errors of
/// what it inherits (AccessControlUnauthorizedAccount, EnforcedPause,
/// ReentrancyGuardReentrantCall, SafeERC20FailedOperation, ...).
interface ILedgerErrors {
    // -- arguments ------------------------------------------------------------------------

    /// @notice An address that must be set (the operator, the settlement token, a member's
    /// account) is the zero address.
    error ZeroAddress();

    /// @notice An amount that must be positive is zero: a certificate's face value, a repayment.
    error ZeroAmount();

    /// @notice A member cannot be registered as, or changed to, `Role.None`.
    /// @param role the role asked for.
    error InvalidRole(Role role);

    /// @notice A member's organization id hash is zero.
    error ZeroOrganizationId();

    // -- membership -----------------------------------------------------------------------

    /// @notice The account is already a member (in any role); change its role instead.
    /// @param account the account that was to be registered.
    error MemberAlreadyRegistered(address account);

    /// @notice The organization already has its one account on the ledger.
    /// @param orgIdHash the organization's id hash.
    error OrganizationAlreadyRegistered(bytes32 orgIdHash);

    /// @notice The account was never registered.
    /// @param account the caller, counterparty or member acted on.
    error NotAMember(address account);

    /// @notice The member is suspended, and the action needs an active member.
    /// @param account the suspended member (the caller or a counterparty).
    error MemberIsSuspended(address account);

    /// @notice The member's role does not allow the action (e.g. a core enterprise cannot
    /// hold fragments, a supplier cannot grant credit).
    /// @param account the member (the caller or a counterparty).
    /// @param actual the role it holds.
    error WrongRole(address account, Role actual);

    // -- key rotation ---------------------------------------------------------------------

    /// @notice The account was retired by a key rotation: it can never be registered,
    /// rotated or rotated to again.
    /// @param account the retired address.
    /// @param successor the address it was rotated to.
    error AccountRetired(address account, address successor);

    /// @notice A move after a rotation names an account that is not retired.
    /// @param account the account given as the retired one.
    error NotRetired(address account);

    /// @notice The fragment is held neither by the retired account nor by its successor.
    /// @param fragmentId the fragment.
    /// @param account the retired account.
    /// @param holder the fragment's holder now.
    error FragmentNotHeld(uint256 fragmentId, address account, address holder);

    /// @notice The retired account is not the certificate's issuer, beneficiary or credit provider.
    /// @param certificateId the certificate.
    /// @param account the retired account.
    error NotCertificateParty(uint256 certificateId, address account);

    /// @notice The retired account is not the open offer's seller or financier.
    /// @param offerId the offer.
    /// @param account the retired account.
    error NotOfferParty(uint256 offerId, address account);

    /// @notice The retired account has no credit line with the counterparty, in either direction.
    /// @param account the retired account.
    /// @param counterparty the financier or core enterprise named.
    error NoCreditLine(address account, address counterparty);

    /// @notice The credit line is still in use by certificates that name the retired
    /// account: move those certificates first (moveCertificates carries what they owe).
    /// @param financier the line's financier.
    /// @param coreEnterprise the line's core enterprise.
    /// @param used the amount in use, in fen.
    error CreditLineInUse(address financier, address coreEnterprise, uint256 used);

    // -- credit lines ---------------------------------------------------------------------

    /// @notice Issuing would draw more than is left of the financier's line to the core enterprise.
    /// @param financier the credit provider whose line was drawn.
    /// @param coreEnterprise the issuer.
    /// @param requested the face value asked for, in fen.
    /// @param available what is left of the line (limit minus used, or 0), in fen.
    error CreditLineExceeded(address financier, address coreEnterprise, uint256 requested, uint256 available);

    // -- issuance -------------------------------------------------------------------------

    /// @notice The invoice key already backs a certificate (possibly revoked or rejected
    /// since): one receivable backs one certificate, ever.
    /// @param invoiceKey the keyed hash of the invoice identity.
    /// @param certificateId the certificate it backs.
    error InvoiceAlreadyUsed(bytes32 invoiceKey, uint256 certificateId);

    /// @notice The document hash already backs a certificate (possibly revoked or rejected
    /// since): the document anchored for one receivable cannot back a second certificate,
    /// whatever invoice identity comes with it.
    /// @param documentHash the hash of the documents.
    /// @param certificateId the certificate it backs.
    error DocumentAlreadyUsed(bytes32 documentHash, uint256 certificateId);

    /// @notice The invoice key is zero.
    error ZeroInvoiceKey();

    /// @notice The document hash is zero.
    error ZeroDocumentHash();

    /// @notice The face value does not fit in 96 bits (the cap that keeps payout sums packed).
    /// @param faceValue the face value asked for, in fen.
    error FaceValueTooLarge(uint256 faceValue);

    /// @notice The maturity is not in (now, now + MAX_TENOR].
    /// @param maturity the maturity asked for, in block time.
    /// @param earliest the earliest maturity allowed in this block.
    /// @param latest the latest maturity allowed in this block.
    error InvalidMaturity(uint256 maturity, uint256 earliest, uint256 latest);

    // -- certificates and fragments -------------------------------------------------------

    /// @notice No certificate has this id.
    /// @param certificateId the id asked for.
    error UnknownCertificate(uint256 certificateId);

    /// @notice No fragment has this id.
    /// @param fragmentId the id asked for.
    error UnknownFragment(uint256 fragmentId);

    /// @notice The certificate's status does not allow the action (e.g. accepting a revoked
    /// certificate, splitting a settled one, defaulting one that is not overdue).
    /// @param certificateId the certificate.
    /// @param status its status now.
    error WrongCertificateStatus(uint256 certificateId, CertificateStatus status);

    /// @notice Only the certificate's beneficiary may accept or reject it.
    /// @param certificateId the certificate.
    /// @param caller who asked.
    error NotBeneficiary(uint256 certificateId, address caller);

    /// @notice Only the certificate's issuer may revoke or repay it.
    /// @param certificateId the certificate.
    /// @param caller who asked.
    error NotIssuer(uint256 certificateId, address caller);

    /// @notice Only the fragment's holder may move, split, offer or claim it.
    /// @param fragmentId the fragment.
    /// @param caller who asked (for an offer's acceptance: the seller, who no longer holds it).
    error NotHolder(uint256 fragmentId, address caller);

    /// @notice The certificate has matured: it can no longer be accepted, and its fragments
    /// no longer move, split or get financed.
    /// @param certificateId the certificate.
    /// @param maturity its maturity, in block time.
    error CertificateMatured(uint256 certificateId, uint256 maturity);

    /// @notice The certificate has not matured yet, so it can only be repaid in full (an
    /// early repayment settles it at once; a part of it would change fragments' shares
    /// while they still move).
    /// @param certificateId the certificate.
    /// @param maturity its maturity, in block time.
    error NotMatured(uint256 certificateId, uint256 maturity);

    /// @notice A split must carve off a positive amount below the fragment's value (moving
    /// all of it is a transfer; no fragment may hold zero).
    /// @param amount the amount asked for, in fen.
    /// @param fragmentValue the fragment's value, in fen.
    error InvalidSplitAmount(uint256 amount, uint256 fragmentValue);

    /// @notice An offer's amount is zero or more than the fragment holds (when offered, or
    /// when accepted after the holder split some of it away).
    /// @param fragmentId the fragment offered.
    /// @param amount the amount offered, in fen.
    /// @param fragmentValue the fragment's value now, in fen.
    error InsufficientFragmentValue(uint256 fragmentId, uint256 amount, uint256 fragmentValue);

    // -- financing ------------------------------------------------------------------------

    /// @notice No offer has this id.
    /// @param offerId the id asked for.
    error UnknownOffer(uint256 offerId);

    /// @notice The offer was already accepted or withdrawn.
    /// @param offerId the offer.
    /// @param status its status now.
    error OfferNotOpen(uint256 offerId, OfferStatus status);

    /// @notice The offer's acceptance window has passed.
    /// @param offerId the offer.
    /// @param expiresAt its expiry, in block time.
    error OfferExpired(uint256 offerId, uint256 expiresAt);

    /// @notice An offer must expire after now and no later than the certificate's maturity.
    /// @param expiresAt the expiry asked for, in block time.
    error InvalidOfferExpiry(uint256 expiresAt);

    /// @notice Only the offer's seller may withdraw it.
    /// @param offerId the offer.
    /// @param caller who asked.
    error NotOfferSeller(uint256 offerId, address caller);

    /// @notice Only the financier an offer was made to may accept it.
    /// @param offerId the offer.
    /// @param caller who asked.
    error NotOfferFinancier(uint256 offerId, address caller);

    /// @notice The discount rate is above MAX_RATE_BPS.
    /// @param rateBps the rate asked for, in basis points a year.
    error InvalidRate(uint256 rateBps);

    /// @notice The discount would take the whole amount (nothing left to pay the seller).
    /// @param amount the amount financed, in fen.
    /// @param discount the discount by DiscountMath's rule, in fen.
    error DiscountExceedsAmount(uint256 amount, uint256 discount);

    // -- standing bids (contracts/BidBook.sol, and the ledger's side of a sale) ------------

    /// @notice Only the ledger's bid book may deliver a fragment to a bid.
    /// @param caller who asked.
    error NotBidBook(address caller);

    /// @notice No bid has this id.
    /// @param bidId the id asked for.
    error UnknownBid(uint256 bidId);

    /// @notice The bid was cancelled.
    /// @param bidId the bid.
    error BidNotOpen(uint256 bidId);

    /// @notice The bid's time to buy has passed.
    /// @param bidId the bid.
    /// @param expiresAt its last moment of sale, in block time.
    error BidExpired(uint256 bidId, uint256 expiresAt);

    /// @notice Only the bid's funder may change or cancel it (or, for moveBids, the retired
    /// account was not its funder).
    /// @param bidId the bid.
    /// @param account who asked.
    error NotBidFunder(uint256 bidId, address account);

    /// @notice A bid's bands must be 1 to RATE_BAND_LIMIT, with as many rates as days, days
    /// strictly increasing from above zero, and minDays no more than the last band's days.
    error InvalidRateBands();

    /// @notice A bid's largest amount per sale must be positive and at least its smallest.
    /// @param minAmount the smallest amount asked for, in fen.
    /// @param maxAmount the largest amount asked for, in fen.
    error InvalidBidLimits(uint256 minAmount, uint256 maxAmount);

    /// @notice A bid must expire after now.
    /// @param expiresAt the expiry asked for.
    error InvalidBidExpiry(uint256 expiresAt);

    /// @notice A core enterprise's bid buys only its own certificates.
    /// @param bidId the bid.
    /// @param issuer the other issuer asked for.
    error NotOwnCertificates(uint256 bidId, address issuer);

    /// @notice The bid does not buy certificates of the fragment's issuer.
    /// @param bidId the bid.
    /// @param issuer the fragment's issuer.
    error IssuerNotCovered(uint256 bidId, address issuer);

    /// @notice The fragment's whole days to maturity are outside the bid's tenors.
    /// @param bidId the bid.
    /// @param days_ the fragment's whole days to maturity.
    /// @param minDays the bid's shortest tenor.
    /// @param maxDays the bid's longest tenor (its last band).
    error TenorOutOfRange(uint256 bidId, uint256 days_, uint256 minDays, uint256 maxDays);

    /// @notice The amount is outside the bid's smallest and largest amount per sale.
    /// @param bidId the bid.
    /// @param amount the amount asked for, in fen.
    /// @param minAmount the bid's smallest, in fen.
    /// @param maxAmount the bid's largest, in fen.
    error AmountOutsideBidLimits(uint256 bidId, uint256 amount, uint256 minAmount, uint256 maxAmount);

    /// @notice The bid's escrow is no longer what the funder's change expected (a sale
    /// landed first): read it again and send the change anew.
    /// @param bidId the bid.
    /// @param expected the escrow the change was computed from, in fen.
    /// @param remaining the escrow now, in fen.
    error BidBudgetMoved(uint256 bidId, uint256 expected, uint256 remaining);

    /// @notice The bid's escrow left cannot pay this sale.
    /// @param bidId the bid.
    /// @param payment what the sale would pay, in fen.
    /// @param remaining the bid's escrow left, in fen.
    error BidBudgetExhausted(uint256 bidId, uint256 payment, uint256 remaining);

    /// @notice The sale would take the seller past the bid's per-seller limit.
    /// @param bidId the bid.
    /// @param seller the seller.
    /// @param total what the bid would have bought from it with this sale, in fen.
    /// @param limit the bid's per-seller limit, in fen.
    error SellerLimitReached(uint256 bidId, address seller, uint256 total, uint256 limit);

    /// @notice The sale would pay less than the seller's minimum (the bid changed under it).
    /// @param bidId the bid.
    /// @param payment what the sale would pay, in fen.
    /// @param minPayment the seller's minimum, in fen.
    error PaymentBelowMinimum(uint256 bidId, uint256 payment, uint256 minPayment);

    // -- repayment ------------------------------------------------------------------------

    /// @notice The repayment is more than the certificate still owes.
    /// @param certificateId the certificate.
    /// @param amount the amount offered, in fen.
    /// @param outstanding face value minus what was repaid, in fen.
    error RepaymentExceedsOutstanding(uint256 certificateId, uint256 amount, uint256 outstanding);

    /// @notice The fragment has been paid everything repaid so far for it.
    /// @param fragmentId the fragment.
    error NothingOwed(uint256 fragmentId);

    /// @notice The certificate's grace period has not run out yet (see `overdueAt`).
    /// @param certificateId the certificate.
    /// @param overdueAt the moment after which it may be marked overdue, in block time.
    error NotYetOverdue(uint256 certificateId, uint256 overdueAt);

    /// @notice The grace period is above MAX_GRACE_PERIOD.
    /// @param gracePeriod the grace period asked for, in seconds.
    error InvalidGracePeriod(uint256 gracePeriod);

    /// @notice A payout page must start at an existing fragment.
    /// @param certificateId the certificate.
    /// @param fromSeq the first seq asked for.
    /// @param fragmentCount how many fragments the certificate has.
    error InvalidPage(uint256 certificateId, uint256 fromSeq, uint256 fragmentCount);
}
