// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {DiscountMath} from "./ledger/DiscountMath.sol";
import {IBidBook} from "./interfaces/IBidBook.sol";
import {ICreditLedger} from "./interfaces/ICreditLedger.sol";
import {Bid, BidStatus, BidTerms, Role} from "./ledger/LedgerTypes.sol";

/// @title BidBook
/// @notice Financing without people ("310": one second to pay, nobody involved). A funder (a
/// bank, a factor, or a core enterprise paying its own suppliers early) posts a standing bid;
/// any holder of a covered certificate's fragment sells (part of) it to the bid in one
/// transaction: priced by the ledger's ACT/360 rule at the rate of the fragment's tenor
/// band, every limit of the bid checked, the fragment to the funder (the ledger's leg,
/// CreditLedger.deliverToBid) and the cash from the escrow to the seller or the payee it
/// names, together or not at all.
/// @dev Made by the ledger's constructor, one book per ledger (see BidDelivery for why it is
/// a contract of its own). Its cash is escrowed here when a bid is posted or topped up,
/// not drawn on the funder's allowance at sale time. Why: a quote must be payable. With an
/// allowance the funder could spend or revoke the cash after a supplier was quoted, and a
/// sale could fail on the funder's balance; with escrow `remaining` is cash on hand, the
/// budget is the escrow itself (one number, never negative), and a sale is one token
/// transfer without an allowance write. The price is idle cash, which the funder takes back
/// whenever it likes (changeBidBudget, cancelBid). The book's token balance is the sum of
/// the bids' `remaining`. The ledger's pause stops sales (its leg refuses); funders may
/// still change, cancel and take back their bids meanwhile.
contract BidBook is IBidBook, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @inheritdoc IBidBook
    uint256 public constant RATE_BAND_LIMIT = 8;

    /// @inheritdoc IBidBook
    ICreditLedger public immutable ledger; // solhint-disable-line immutable-vars-naming

    /// @inheritdoc IBidBook
    IERC20 public immutable settlementToken; // solhint-disable-line immutable-vars-naming

    /// @dev A sale's price by DiscountMath: whole days to maturity, the discount, the payment.
    struct Price {
        uint256 days_;
        uint256 discount;
        uint256 payment;
    }

    uint256 private _bidCount;
    mapping(uint256 bidId => Bid) private _bids;
    mapping(uint256 bidId => mapping(address issuer => bool)) private _covers;
    mapping(uint256 bidId => mapping(address seller => uint256 amount)) private _sold;

    /// @notice The book of one ledger, made by that ledger's constructor.
    /// @param ledger_ the ledger that makes this book (it has no code yet: not called here).
    /// @param token the ledger's settlement token.
    constructor(ICreditLedger ledger_, IERC20 token) {
        ledger = ledger_;
        settlementToken = token;
    }

    /// @inheritdoc IBidBook
    function postBid(BidTerms calldata terms, address[] calldata issuers, uint96 budget)
        external
        nonReentrant
        returns (uint256 bidId)
    {
        Role role = _requireActiveFunder(msg.sender);
        uint256 rateBands = _checkTerms(terms);
        if (budget == 0) revert ZeroAmount();
        bidId = ++_bidCount;
        _bids[bidId] = Bid({
            funder: msg.sender,
            expiresAt: terms.expiresAt,
            minDays: terms.minDays,
            status: BidStatus.Open,
            remaining: budget,
            perSellerLimit: terms.perSellerLimit,
            minAmount: terms.minAmount,
            maxAmount: terms.maxAmount,
            rateBands: rateBands
        });
        emit BidPosted(bidId, msg.sender, budget);
        emit BidTermsSet(bidId, terms);
        _setIssuers(bidId, issuers, true, role);
        settlementToken.safeTransferFrom(msg.sender, address(this), budget);
    }

    /// @inheritdoc IBidBook
    function changeBidTerms(uint256 bidId, BidTerms calldata terms) external {
        Bid storage bid = _openBidOfFunder(bidId);
        _requireActiveFunder(msg.sender);
        bid.rateBands = _checkTerms(terms);
        bid.expiresAt = terms.expiresAt;
        bid.minDays = terms.minDays;
        bid.perSellerLimit = terms.perSellerLimit;
        bid.minAmount = terms.minAmount;
        bid.maxAmount = terms.maxAmount;
        emit BidTermsSet(bidId, terms);
    }

    /// @inheritdoc IBidBook
    function setBidIssuers(uint256 bidId, address[] calldata issuers, bool covered) external {
        _openBidOfFunder(bidId);
        // covering more needs an active funder; covering less only reduces what it buys
        Role role = covered ? _requireActiveFunder(msg.sender) : Role.None;
        _setIssuers(bidId, issuers, covered, role);
    }

    /// @inheritdoc IBidBook
    function changeBidBudget(uint256 bidId, uint96 expectedRemaining, uint96 newRemaining) external nonReentrant {
        Bid storage bid = _openBidOfFunder(bidId);
        uint96 previous = bid.remaining;
        // compare-and-set: a sale landing first must not turn a take-back into a pull
        if (previous != expectedRemaining) revert BidBudgetMoved(bidId, expectedRemaining, previous);
        if (newRemaining > previous) _requireActiveFunder(msg.sender); // taking back needs no role
        bid.remaining = newRemaining;
        emit BidBudgetChanged(bidId, previous, newRemaining);
        if (newRemaining > previous) {
            settlementToken.safeTransferFrom(msg.sender, address(this), newRemaining - previous);
        } else if (newRemaining < previous) {
            settlementToken.safeTransfer(msg.sender, previous - newRemaining);
        }
    }

    /// @inheritdoc IBidBook
    function cancelBid(uint256 bidId) external nonReentrant {
        Bid storage bid = _openBidOfFunder(bidId);
        uint96 refunded = bid.remaining;
        bid.status = BidStatus.Cancelled;
        bid.remaining = 0;
        emit BidCancelled(bidId, refunded);
        if (refunded != 0) settlementToken.safeTransfer(msg.sender, refunded);
    }

    /// @inheritdoc IBidBook
    /// @dev The fragment leg runs first (the ledger checks the move and answers the issuer and
    /// maturity the price needs), then the bid's checks, then the bid's effects and the cash:
    /// a refusal after the ledger's leg reverts it with everything else. The ledger is this
    /// book's maker and calls nothing back; the guard is there all the same.
    function sellToBid(uint256 bidId, uint256 fragmentId, uint128 amount, uint128 minPayment, address payee)
        external
        nonReentrant
        returns (uint256 financedFragmentId)
    {
        Bid storage bid = _biddable(bidId, amount);
        address funder = bid.funder;
        address issuer;
        uint256 maturity;
        (financedFragmentId, issuer, maturity) = ledger.deliverToBid(msg.sender, fragmentId, amount, funder);
        Price memory price = _price(bid, bidId, issuer, maturity, amount, msg.sender);
        if (price.payment < minPayment) revert PaymentBelowMinimum(bidId, price.payment, minPayment);
        if (payee == address(0)) {
            payee = msg.sender;
        } else if (payee != msg.sender) {
            _requireActivePayee(payee);
        }

        bid.remaining -= uint96(price.payment); // payment <= remaining, checked by _price
        if (bid.perSellerLimit != 0) _sold[bidId][msg.sender] += amount;
        emit SoldToBid(
            bidId,
            fragmentId,
            funder,
            msg.sender,
            payee,
            financedFragmentId,
            amount,
            price.discount,
            price.days_,
            price.payment
        );
        settlementToken.safeTransfer(payee, price.payment);
    }

    /// @inheritdoc IBidBook
    function moveBids(address oldAccount, uint256[] calldata bidIds) external {
        bytes32 operatorRole = ledger.OPERATOR_ROLE();
        if (!ledger.hasRole(operatorRole, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, operatorRole);
        }
        address successor = ledger.successorOf(oldAccount);
        if (successor == address(0)) revert NotRetired(oldAccount);
        for (address next = ledger.successorOf(successor); next != address(0); next = ledger.successorOf(next)) {
            successor = next;
        }
        for (uint256 i = 0; i < bidIds.length; ++i) {
            uint256 bidId = bidIds[i];
            Bid storage bid = _existingBid(bidId);
            if (bid.funder != oldAccount) revert NotBidFunder(bidId, oldAccount);
            bid.funder = successor;
            emit BidFunderMoved(bidId, oldAccount, successor);
        }
    }

    /// @inheritdoc IBidBook
    function quoteBid(uint256 bidId, uint256 fragmentId, uint128 amount, address seller)
        external
        view
        returns (uint256 days_, uint256 discount, uint256 payment)
    {
        Bid storage bid = _biddable(bidId, amount);
        (address issuer, uint256 maturity) = ledger.checkDelivery(seller, fragmentId, amount, bid.funder);
        Price memory price = _price(bid, bidId, issuer, maturity, amount, seller);
        return (price.days_, price.discount, price.payment);
    }

    /// @inheritdoc IBidBook
    function bidCount() external view returns (uint256) {
        return _bidCount;
    }

    /// @inheritdoc IBidBook
    function getBid(uint256 bidId) external view returns (Bid memory) {
        return _existingBid(bidId);
    }

    /// @inheritdoc IBidBook
    function bidCovers(uint256 bidId, address issuer) external view returns (bool) {
        return _covers[bidId][issuer];
    }

    /// @inheritdoc IBidBook
    function soldToBid(uint256 bidId, address seller) external view returns (uint256) {
        return _sold[bidId][seller];
    }

    /// @dev The bid's own checks that need no fragment: open, not expired, the amount within
    /// its limits per sale.
    function _biddable(uint256 bidId, uint128 amount) private view returns (Bid storage bid) {
        bid = _bids[bidId];
        if (bid.status != BidStatus.Open) {
            if (bid.status == BidStatus.None) revert UnknownBid(bidId);
            revert BidNotOpen(bidId);
        }
        if (block.timestamp > bid.expiresAt) revert BidExpired(bidId, bid.expiresAt);
        if (amount < bid.minAmount || amount > bid.maxAmount) {
            revert AmountOutsideBidLimits(bidId, amount, bid.minAmount, bid.maxAmount);
        }
    }

    /// @dev The checks that need the fragment's certificate, and the price: the issuer
    /// covered, the tenor within a band, the discount below the amount, the escrow enough,
    /// the seller within its limit. Shared by the sale and its quote, so a quote that
    /// answers is a sale that goes through while the chain stays as it is (the seller's
    /// minPayment guards the price against a change of terms in between).
    function _price(Bid storage bid, uint256 bidId, address issuer, uint256 maturity, uint128 amount, address seller)
        private
        view
        returns (Price memory price)
    {
        if (!_covers[bidId][issuer]) revert IssuerNotCovered(bidId, issuer);
        uint256 days_ = DiscountMath.daysToMaturity(block.timestamp, maturity);
        uint256 discount = DiscountMath.discount(amount, _rateFor(bid, bidId, days_), days_);
        if (discount >= amount) revert DiscountExceedsAmount(amount, discount);
        uint256 payment = amount - discount;
        if (payment > bid.remaining) revert BidBudgetExhausted(bidId, payment, bid.remaining);
        uint256 limit = bid.perSellerLimit;
        if (limit != 0) {
            uint256 sold = _sold[bidId][seller] + amount;
            if (sold > limit) revert SellerLimitReached(bidId, seller, sold, limit);
        }
        price = Price({days_: days_, discount: discount, payment: payment});
    }

    /// @dev The rate of the first band whose upToDays covers `days_` (see BidTerms).
    function _rateFor(Bid storage bid, uint256 bidId, uint256 days_) private view returns (uint256) {
        uint256 bands = bid.rateBands;
        uint256 longest = 0;
        for (uint256 i = 0; i < RATE_BAND_LIMIT; ++i) {
            uint256 band = (bands >> (32 * i)) & 0xffffffff;
            if (band == 0) break;
            longest = band >> 16;
            if (days_ <= longest && days_ >= bid.minDays) return band & 0xffff;
        }
        revert TenorOutOfRange(bidId, days_, bid.minDays, longest);
    }

    /// @dev Checks the terms (see BidTerms) and returns their bands.
    function _checkTerms(BidTerms calldata terms) private view returns (uint256 bands) {
        bands = terms.rateBands;
        uint256 previousDays = 0;
        uint256 i = 0;
        for (; i < RATE_BAND_LIMIT; ++i) {
            uint256 band = (bands >> (32 * i)) & 0xffffffff;
            if (band == 0) break;
            uint256 upTo = band >> 16;
            if (upTo <= previousDays) revert InvalidRateBands();
            if (band & 0xffff > DiscountMath.MAX_RATE_BPS) revert InvalidRate(band & 0xffff);
            previousDays = upTo;
        }
        // at least one band, nothing after the first empty lane, minDays within the bands
        if (i == 0 || bands >> (32 * i) != 0 || terms.minDays > previousDays) revert InvalidRateBands();
        if (terms.maxAmount == 0 || terms.minAmount > terms.maxAmount) {
            revert InvalidBidLimits(terms.minAmount, terms.maxAmount);
        }
        if (terms.expiresAt <= block.timestamp) revert InvalidBidExpiry(terms.expiresAt);
    }

    /// @dev A core enterprise's bid buys only its own certificates (early payment of its own
    /// payables); a financier's bid any core enterprise's. `funderRole` is the funder's
    /// role when covering more, unused when covering less.
    function _setIssuers(uint256 bidId, address[] calldata issuers, bool covered, Role funderRole) private {
        for (uint256 i = 0; i < issuers.length; ++i) {
            address issuer = issuers[i];
            if (covered) {
                (Role role,,) = ledger.memberOf(issuer);
                if (role != Role.CoreEnterprise) {
                    if (role == Role.None) revert NotAMember(issuer);
                    revert WrongRole(issuer, role);
                }
                if (funderRole == Role.CoreEnterprise && issuer != msg.sender) revert NotOwnCertificates(bidId, issuer);
            }
            _covers[bidId][issuer] = covered;
            emit BidIssuerSet(bidId, issuer, covered);
        }
    }

    /// @dev Reverts unless `account` is an active financier or core enterprise; its role.
    function _requireActiveFunder(address account) private view returns (Role role) {
        bool suspended;
        (role, suspended,) = ledger.memberOf(account);
        if (role != Role.Financier && role != Role.CoreEnterprise) {
            if (role == Role.None) revert NotAMember(account);
            revert WrongRole(account, role);
        }
        if (suspended) revert MemberIsSuspended(account);
    }

    /// @dev Reverts unless `account` is an active member of any role: who may receive the
    /// proceeds of a sale its seller directs to it (受托支付), e.g. the seller's own supplier.
    function _requireActivePayee(address account) private view {
        (Role role, bool suspended,) = ledger.memberOf(account);
        if (role == Role.None) revert NotAMember(account);
        if (suspended) revert MemberIsSuspended(account);
    }

    /// @dev An open bid of the caller, who is still a member (a retired key moves nothing).
    function _openBidOfFunder(uint256 bidId) private view returns (Bid storage bid) {
        bid = _existingBid(bidId);
        if (bid.status != BidStatus.Open) revert BidNotOpen(bidId);
        if (bid.funder != msg.sender) revert NotBidFunder(bidId, msg.sender);
        (Role role,,) = ledger.memberOf(msg.sender);
        if (role == Role.None) revert NotAMember(msg.sender);
    }

    function _existingBid(uint256 bidId) private view returns (Bid storage bid) {
        bid = _bids[bidId];
        if (bid.status == BidStatus.None) revert UnknownBid(bidId);
    }
}
