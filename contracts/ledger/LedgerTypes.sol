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

enum BidStatus {
    None,
    Open,
    Cancelled
}

/// @notice A funder's standing bid (contracts/BidBook.sol): it buys fragments of the
/// certificates of the issuers it covers, at the rate of the tenor band the fragment's days
/// to maturity fall in, from any holder, within its limits, out of its escrowed budget.
/// @dev Four slots; a sale reads all of them and writes the second. Amounts fit in 96 bits
/// because face values are capped at type(uint96).max fen. `rateBands` as in BidTerms.
struct Bid {
    address funder;
    uint40 expiresAt;
    uint16 minDays;
    BidStatus status;
    uint96 remaining;
    uint96 perSellerLimit;
    uint96 minAmount;
    uint96 maxAmount;
    uint256 rateBands;
}

/// @notice What a funder sets and may change on a standing bid (its budget and the issuers it
/// covers are set apart).
/// @param rateBands the rate by tenor band, packed in 32-bit lanes, lowest first: lane i is
/// (upToDays << 16) | rateBps; a fragment with d whole days to maturity is priced at the
/// rate of the first lane with d <= upToDays. Lanes strictly increasing in upToDays, at most
/// RATE_BAND_LIMIT, the first empty lane ends them; one lane is a flat rate. Packed so that
/// a sale reads one slot for them (chain_client.bids packs and unpacks them).
/// @param minDays shortest tenor bought, in whole days (the last band is the longest).
/// @param minAmount smallest amount per sale, in fen.
/// @param maxAmount largest amount per sale, in fen.
/// @param perSellerLimit most fen bought from one seller in all, 0 for no such limit (then
/// a sale writes no per-seller record).
/// @param expiresAt last moment of sale, in block time.
struct BidTerms {
    uint256 rateBands;
    uint16 minDays;
    uint96 minAmount;
    uint96 maxAmount;
    uint96 perSellerLimit;
    uint40 expiresAt;
}
