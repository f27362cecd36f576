// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Settlement} from "./Settlement.sol";
import {ICreditLedger} from "../interfaces/ICreditLedger.sol";
import {Certificate, Fragment, Role} from "./LedgerTypes.sol";

/// @title BidDelivery
/// @notice The ledger's side of a sale to a standing bid: the fragment leg. The bid book
/// (contracts/BidBook.sol) keeps the bids, their escrow and their limits, and pays the
/// seller; the ledger moves the fragment, with the checks every move of a fragment has.
/// Both legs run in the seller's one transaction, so they happen together or not at all.
/// @dev Why two contracts: the ledger and the bid book together are above the 24,576-byte
/// limit of deployed code (EIP-170), which every EVM chain a bank would run enforces. The
/// book is made by the ledger's constructor, so its address is fixed for good and needs
/// no setter, and the only door between them is `deliverToBid`, open to that address only.
abstract contract BidDelivery is Settlement {
    /// @inheritdoc ICreditLedger
    address public immutable bidBook; // solhint-disable-line immutable-vars-naming

    constructor(address bidBook_) {
        bidBook = bidBook_;
    }

    /// @inheritdoc ICreditLedger
    function deliverToBid(address seller, uint256 fragmentId, uint128 amount, address funder)
        external
        whenNotPaused
        returns (uint256 financedFragmentId, address issuer, uint256 maturity)
    {
        if (msg.sender != bidBook) revert NotBidBook(msg.sender);
        Fragment storage fragment;
        (fragment, issuer, maturity) = _checkDelivery(seller, fragmentId, amount, funder);
        if (amount == fragment.value) {
            _transfer(fragmentId, fragment, funder);
            financedFragmentId = fragmentId;
        } else {
            financedFragmentId = _split(fragmentId, fragment, funder, amount);
        }
    }

    /// @inheritdoc ICreditLedger
    function checkDelivery(address seller, uint256 fragmentId, uint128 amount, address funder)
        external
        view
        whenNotPaused
        returns (address issuer, uint256 maturity)
    {
        (, issuer, maturity) = _checkDelivery(seller, fragmentId, amount, funder);
    }

    /// @dev The funder is a financier, or the certificate's own issuer paying its supplier
    /// early (a core enterprise holds only what it bought of its own payables, until it
    /// repays itself at maturity).
    function _checkDelivery(address seller, uint256 fragmentId, uint128 amount, address funder)
        private
        view
        returns (Fragment storage fragment, address issuer, uint256 maturity)
    {
        _requireActiveHolder(seller);
        fragment = _movableFragmentOf(fragmentId, seller);
        if (amount == 0 || amount > fragment.value) {
            revert InsufficientFragmentValue(fragmentId, amount, fragment.value);
        }
        Certificate storage cert = _certificateOfFragment(fragmentId);
        issuer = cert.issuer;
        maturity = cert.maturity;
        _requireActive(funder, funder == issuer ? Role.CoreEnterprise : Role.Financier);
    }
}
