// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ICreditLedger} from "./interfaces/ICreditLedger.sol";
import {Membership} from "./ledger/Membership.sol";
import {Settlement} from "./ledger/Settlement.sol";
import {Financing} from "./ledger/Financing.sol";
import {Repayment} from "./ledger/Repayment.sol";
import {BidDelivery} from "./ledger/BidDelivery.sol";
import {BidBook} from "./BidBook.sol";

/// @title CreditLedger
/// @notice The supply-chain finance ledger: members and roles, credit lines, the invoice
/// registry, certificates as provenance trees of fragments, discounting as
/// delivery-versus-payment (negotiated offers here, standing bids in its BidBook), and
/// pro-rata repayment. Each concern lives in its own module under ledger/; this contract
/// only wires them together. What it offers
/// integrators is declared, with the events and errors, in interfaces/ICreditLedger.sol.
/// @dev Not upgradeable on purpose: a bank verifying a certificate verifies this code.
contract CreditLedger is Financing, BidDelivery, Repayment {
    /// @notice Deploys the ledger for one operator and one settlement token, both fixed for good.
    /// @param operator the platform operator (may be a multisig): registers members, pauses.
    /// @param token the settlement token every financing and repayment is paid in.
    /// @param gracePeriod_ seconds after maturity before an unpaid certificate is overdue.
    /// @dev Also makes the ledger's bid book (see BidDelivery), which pays in the same token.
    constructor(address operator, IERC20 token, uint256 gracePeriod_)
        Membership(operator)
        Settlement(token)
        BidDelivery(address(new BidBook(ICreditLedger(address(this)), token)))
        Repayment(gracePeriod_)
    {}
}
