// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Settlement} from "./Settlement.sol";
import {DiscountMath} from "./DiscountMath.sol";
import {ICreditLedger} from "../interfaces/ICreditLedger.sol";
import {Certificate, Fragment, Offer, OfferStatus, Role} from "./LedgerTypes.sol";

/// @title Financing
/// @notice Discounting (融资/贴现): a holder offers part or all of a fragment to a bank at a
/// rate; when the bank accepts, in one transaction the bank's settlement tokens go to the
/// holder and the fragment goes to the bank (delivery versus payment), or neither moves.
abstract contract Financing is Settlement {
    using SafeERC20 for IERC20;

    /// @inheritdoc ICreditLedger
    uint256 public constant MAX_RATE_BPS = DiscountMath.MAX_RATE_BPS;

    uint256 private _offerCount;
    mapping(uint256 offerId => Offer) private _offers;

    /// @inheritdoc ICreditLedger
    function offerFinancing(uint256 fragmentId, address financier, uint128 amount, uint16 rateBps, uint40 expiresAt)
        external
        whenNotPaused
        returns (uint256 offerId)
    {
        _requireActiveHolder(msg.sender);
        _requireActive(financier, Role.Financier);
        Fragment storage fragment = _movableFragmentOf(fragmentId, msg.sender);
        if (amount == 0 || amount > fragment.value) {
            revert InsufficientFragmentValue(fragmentId, amount, fragment.value);
        }
        if (rateBps > MAX_RATE_BPS) revert InvalidRate(rateBps);
        uint256 maturity = _certificateOfFragment(fragmentId).maturity;
        if (expiresAt <= block.timestamp || expiresAt > maturity) revert InvalidOfferExpiry(expiresAt);

        offerId = ++_offerCount;
        _offers[offerId] = Offer({
            fragmentId: fragmentId,
            seller: msg.sender,
            rateBps: rateBps,
            expiresAt: expiresAt,
            status: OfferStatus.Open,
            financier: financier,
            amount: amount
        });
        emit FinancingOffered(offerId, fragmentId, financier, msg.sender, amount, rateBps, expiresAt);
    }

    /// @inheritdoc ICreditLedger
    function withdrawOffer(uint256 offerId) external whenNotPaused {
        Offer storage offer = _openOffer(offerId);
        if (offer.seller != msg.sender) revert NotOfferSeller(offerId, msg.sender);
        _requireMember(msg.sender); // a retired seller's key withdraws nothing
        offer.status = OfferStatus.Withdrawn;
        emit FinancingWithdrawn(offerId);
    }

    /// @inheritdoc ICreditLedger
    function acceptOffer(uint256 offerId) external whenNotPaused nonReentrant returns (uint256 financedFragmentId) {
        Offer storage offer = _openOffer(offerId);
        if (offer.financier != msg.sender) revert NotOfferFinancier(offerId, msg.sender);
        if (block.timestamp > offer.expiresAt) revert OfferExpired(offerId, offer.expiresAt);
        _requireActive(msg.sender, Role.Financier);
        address seller = offer.seller;
        _requireActiveHolder(seller);
        uint256 fragmentId = offer.fragmentId;
        Fragment storage fragment = _movableFragmentOf(fragmentId, seller);
        uint128 amount = offer.amount;
        if (amount > fragment.value) revert InsufficientFragmentValue(fragmentId, amount, fragment.value);
        (uint256 days_, uint256 discount, uint256 payment) = _price(offer);

        offer.status = OfferStatus.Accepted;
        if (amount == fragment.value) {
            _transfer(fragmentId, fragment, msg.sender);
            financedFragmentId = fragmentId;
        } else {
            financedFragmentId = _split(fragmentId, fragment, msg.sender, amount);
        }
        emit FinancingAccepted(
            offerId, fragmentId, msg.sender, seller, financedFragmentId, amount, discount, days_, payment
        );
        settlementToken.safeTransferFrom(msg.sender, seller, payment);
    }

    /// @inheritdoc ICreditLedger
    /// @dev Only open offers move: an accepted or withdrawn one is history. An open offer of
    /// a retired seller or to a retired financier cannot be accepted meanwhile (acceptance
    /// checks both parties' roles), so no cash goes to the old key.
    function moveOffers(address oldAccount, uint256[] calldata offerIds)
        external
        onlyRole(OPERATOR_ROLE)
        whenNotPaused
    {
        address successor = _successorForMove(oldAccount);
        for (uint256 i = 0; i < offerIds.length; ++i) {
            uint256 offerId = offerIds[i];
            Offer storage offer = _openOffer(offerId);
            bool moved = false;
            if (offer.seller == oldAccount) {
                offer.seller = successor;
                moved = true;
            }
            if (offer.financier == oldAccount) {
                offer.financier = successor;
                moved = true;
            }
            if (!moved) revert NotOfferParty(offerId, oldAccount);
            emit OfferPartyMoved(offerId, oldAccount, successor);
        }
    }

    /// @inheritdoc ICreditLedger
    function quote(uint256 offerId) external view returns (uint256 days_, uint256 discount, uint256 payment) {
        Offer storage offer = _offers[offerId];
        if (offer.status == OfferStatus.None) revert UnknownOffer(offerId);
        return _price(offer);
    }

    /// @inheritdoc ICreditLedger
    function getOffer(uint256 offerId) external view returns (Offer memory) {
        Offer storage offer = _offers[offerId];
        if (offer.status == OfferStatus.None) revert UnknownOffer(offerId);
        return offer;
    }

    function _price(Offer storage offer) private view returns (uint256 days_, uint256 discount, uint256 payment) {
        Certificate storage cert = _certificateOfFragment(offer.fragmentId);
        days_ = DiscountMath.daysToMaturity(block.timestamp, cert.maturity);
        discount = DiscountMath.discount(offer.amount, offer.rateBps, days_);
        if (discount >= offer.amount) revert DiscountExceedsAmount(offer.amount, discount);
        payment = offer.amount - discount;
    }

    function _openOffer(uint256 offerId) private view returns (Offer storage offer) {
        offer = _offers[offerId];
        if (offer.status != OfferStatus.Open) {
            if (offer.status == OfferStatus.None) revert UnknownOffer(offerId);
            revert OfferNotOpen(offerId, offer.status);
        }
    }
}
