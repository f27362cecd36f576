// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ILedgerErrors} from "./ILedgerErrors.sol";
import {ICreditLedger} from "./ICreditLedger.sol";
import {Bid, BidTerms} from "../ledger/LedgerTypes.sol";

/// @title IBidBook
/// @notice Standing bids on the ledger's certificates (contracts/BidBook.sol): what funders,
/// sellers and verifiers code against. A funder (a bank or factor, or a core enterprise
/// paying its own suppliers early) posts a bid with escrowed cash; any holder of a covered
/// certificate's fragment sells to it in one transaction, nobody at the funder acting.
/// Amounts in fen, times in block time, rates in basis points a year, as on the ledger.
/// @dev Its refusals are the ledger's (ILedgerErrors): one catalogue, decoded by one list
/// in chain_client. The book is made by the ledger (CreditLedger's constructor) and is
/// found as `ledger.bidBook()`.
interface IBidBook is ILedgerErrors {
    /// @notice The ledger whose fragments this book's bids buy.
    function ledger() external view returns (ICreditLedger);

    /// @notice The token bids escrow and sales pay in: the ledger's settlement token.
    function settlementToken() external view returns (IERC20);

    /// @notice A funder posted a standing bid, escrowing `budget` fen (its terms follow in
    /// BidTermsSet, its issuers in BidIssuerSet, in the same transaction).
    event BidPosted(uint256 indexed bidId, address indexed funder, uint256 budget);
    /// @notice A bid's terms, when posted and each time the funder changes them.
    event BidTermsSet(uint256 indexed bidId, BidTerms terms);
    /// @notice The bid now buys (`covered`) or no longer buys certificates of `issuer`.
    event BidIssuerSet(uint256 indexed bidId, address indexed issuer, bool covered);
    /// @notice The funder topped up or took back escrow: `remaining` fen are left to buy with.
    event BidBudgetChanged(uint256 indexed bidId, uint256 previousRemaining, uint256 remaining);
    /// @notice The funder cancelled the bid; `refunded` fen of escrow went back to it.
    event BidCancelled(uint256 indexed bidId, uint256 refunded);
    /// @notice After a rotation, the retired `from` was replaced by `to` as the bid's funder.
    event BidFunderMoved(uint256 indexed bidId, address indexed from, address indexed to);
    /// @notice `seller` sold `amount` fen of `fragmentId` to the bid: `funder` now holds
    /// `financedFragmentId` (the same fragment if all of it was sold, else a new one) and
    /// `payee` (the seller, or the member it named) was paid `payment` from the escrow.
    event SoldToBid(
        uint256 indexed bidId,
        uint256 indexed fragmentId,
        address indexed funder,
        address seller,
        address payee,
        uint256 financedFragmentId,
        uint256 amount,
        uint256 discount,
        uint256 days_,
        uint256 payment
    );

    /// @notice Most tenor bands a bid may have.
    function RATE_BAND_LIMIT() external view returns (uint256);

    /// @notice Posts a standing bid (a financier, or a core enterprise for its own
    /// certificates only) and escrows `budget` fen from the caller (approve the bid book
    /// first). Anyone holding a covered certificate's fragment may then sell to it.
    /// @param issuers the core enterprises whose certificates it buys.
    /// @return bidId the new bid's id (sequential, from 1).
    function postBid(BidTerms calldata terms, address[] calldata issuers, uint96 budget)
        external
        returns (uint256 bidId);

    /// @notice The funder replaces the open bid's terms; every sale after this transaction
    /// uses them (a seller's minPayment guards against a change under its sale).
    function changeBidTerms(uint256 bidId, BidTerms calldata terms) external;

    /// @notice The funder starts (`covered`) or stops buying these issuers' certificates.
    function setBidIssuers(uint256 bidId, address[] calldata issuers, bool covered) external;

    /// @notice The funder sets the open bid's escrow to `newRemaining` fen: a top-up is
    /// pulled from it (approve the bid book first), a reduction paid back to it. Only if
    /// the escrow is still `expectedRemaining` (BidBudgetMoved otherwise): sales may land
    /// first, and a take-back computed before them must not turn into a pull.
    function changeBidBudget(uint256 bidId, uint96 expectedRemaining, uint96 newRemaining) external;

    /// @notice The funder closes the bid for good; its remaining escrow is paid back. An
    /// expired bid's escrow is taken back the same way.
    function cancelBid(uint256 bidId) external;

    /// @notice The caller sells `amount` fen of its fragment to the bid, in one transaction:
    /// priced by DiscountMath at the band of the fragment's days to maturity, every limit of
    /// the bid checked, the fragment (or a split of it) to the funder and `amount - discount`
    /// from the escrow to `payee` (the caller if zero; else a member it names, 受托支付).
    /// @param minPayment the least the seller accepts: PaymentBelowMinimum if the bid's terms
    /// changed under it.
    /// @return financedFragmentId the fragment the funder now holds.
    function sellToBid(uint256 bidId, uint256 fragmentId, uint128 amount, uint128 minPayment, address payee)
        external
        returns (uint256 financedFragmentId);

    /// @notice After a rotation (the ledger's operator only): the retired `oldAccount` is replaced by its
    /// organization's current key as the funder of these bids (open or not).
    function moveBids(address oldAccount, uint256[] calldata bidIds) external;

    /// @notice What `seller` selling `amount` fen of `fragmentId` to the bid would be paid
    /// now, with every check of the sale: a refusal reverts with the same error the sale would.
    function quoteBid(uint256 bidId, uint256 fragmentId, uint128 amount, address seller)
        external
        view
        returns (uint256 days_, uint256 discount, uint256 payment);

    /// @notice How many bids were ever posted: their ids are 1..bidCount (a funder's
    /// bids, open or not, are found by their BidPosted events).
    function bidCount() external view returns (uint256);

    /// @notice A bid's full record.
    function getBid(uint256 bidId) external view returns (Bid memory);

    /// @notice Whether the bid buys certificates of `issuer`.
    function bidCovers(uint256 bidId, address issuer) external view returns (bool);

    /// @notice Fen the bid has bought from `seller` so far (counted only while the bid has a
    /// per-seller limit).
    function soldToBid(uint256 bidId, address seller) external view returns (uint256);
}
