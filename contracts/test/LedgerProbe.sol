// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CreditLedger} from "../CreditLedger.sol";
import {IBidBook} from "../interfaces/IBidBook.sol";
import {Bid, Certificate, Role} from "../ledger/LedgerTypes.sol";

// `words[at++] = ...` appends a word: the post-increment is the meaning, and the probe is a
// test-only view that is never sent in a transaction, so gas hints do not apply.
// solhint-disable gas-increment-by-one

/// @title LedgerProbe
/// @notice Test-only: reads, in one eth_call, everything the stateful property test
/// (tests/contracts/test_invariants_stateful.py) compares with its model after every step.
/// Why: the invariants cover every certificate and fragment, and one JSON-RPC round trip
/// per value read made the test spend most of its time in HTTP; one call keeps checking
/// every invariant after every step affordable for ten thousand steps.
/// @dev The answer is one flat array of words, in this order:
///   header:      block.timestamp, certificateCount, paused, gracePeriod, ledger token balance
///   per account: role, suspended, token balance
///   per line:    limit, used                      (financiers x coreEnterprises)
///   per certificate 1..certificateCount:
///                status, issuer, beneficiary, creditProvider, faceValue, repaid, paidOut,
///                maturity, issuedAt, fragmentCount, invoiceKey, documentHash,
///                certificateOfInvoice(invoiceKey), certificateOfDocument(documentHash),
///                overdueAt, then per fragment seq 0..fragmentCount-1:
///                holder, parentFragmentId, value, paid, owed
contract LedgerProbe {
    uint256 internal constant HEADER_WORDS = 5;
    uint256 internal constant ACCOUNT_WORDS = 3;
    uint256 internal constant LINE_WORDS = 2;
    uint256 internal constant CERTIFICATE_WORDS = 15;
    uint256 internal constant FRAGMENT_WORDS = 5;

    /// @notice Every value the property test checks, as one flat array (layout above).
    function snapshot(
        CreditLedger ledger,
        address[] calldata accounts,
        address[] calldata financiers,
        address[] calldata coreEnterprises
    ) external view returns (uint256[] memory words) {
        uint256 count = ledger.certificateCount();
        Certificate[] memory certs = new Certificate[](count);
        uint256 size = HEADER_WORDS + accounts.length * ACCOUNT_WORDS
            + financiers.length * coreEnterprises.length * LINE_WORDS + count * CERTIFICATE_WORDS;
        for (uint256 i = 0; i < count; ++i) {
            certs[i] = ledger.getCertificate(i + 1);
            size += uint256(certs[i].fragmentCount) * FRAGMENT_WORDS;
        }
        words = new uint256[](size);
        uint256 at = 0;
        words[at++] = block.timestamp;
        words[at++] = count;
        words[at++] = ledger.paused() ? 1 : 0;
        words[at++] = ledger.gracePeriod();
        words[at++] = ledger.settlementToken().balanceOf(address(ledger));
        for (uint256 i = 0; i < accounts.length; ++i) {
            (Role role, bool suspended,) = ledger.memberOf(accounts[i]);
            words[at++] = uint256(role);
            words[at++] = suspended ? 1 : 0;
            words[at++] = ledger.settlementToken().balanceOf(accounts[i]);
        }
        for (uint256 f = 0; f < financiers.length; ++f) {
            for (uint256 c = 0; c < coreEnterprises.length; ++c) {
                (uint256 limit, uint256 used) = ledger.creditLine(financiers[f], coreEnterprises[c]);
                words[at++] = limit;
                words[at++] = used;
            }
        }
        for (uint256 i = 0; i < count; ++i) {
            at = _writeCertificate(ledger, i + 1, certs[i], words, at);
        }
    }

    /// @notice The bid book's state the property test checks, as one flat array: the book's
    /// token balance, then per bid 1..count: funder, expiresAt, minDays, status, remaining,
    /// perSellerLimit, minAmount, maxAmount, rateBands, then soldToBid of each seller.
    function bidSnapshot(IBidBook book, uint256 count, address[] calldata sellers)
        external
        view
        returns (uint256[] memory words)
    {
        words = new uint256[](1 + count * (9 + sellers.length));
        uint256 at = 0;
        words[at++] = book.settlementToken().balanceOf(address(book));
        for (uint256 id = 1; id <= count; ++id) {
            Bid memory bid = book.getBid(id);
            words[at++] = uint256(uint160(bid.funder));
            words[at++] = bid.expiresAt;
            words[at++] = bid.minDays;
            words[at++] = uint256(bid.status);
            words[at++] = bid.remaining;
            words[at++] = bid.perSellerLimit;
            words[at++] = bid.minAmount;
            words[at++] = bid.maxAmount;
            words[at++] = bid.rateBands;
            for (uint256 i = 0; i < sellers.length; ++i) {
                words[at++] = book.soldToBid(id, sellers[i]);
            }
        }
    }

    function _writeCertificate(
        CreditLedger ledger,
        uint256 certificateId,
        Certificate memory cert,
        uint256[] memory words,
        uint256 at
    ) private view returns (uint256) {
        words[at++] = uint256(cert.status);
        words[at++] = uint256(uint160(cert.issuer));
        words[at++] = uint256(uint160(cert.beneficiary));
        words[at++] = uint256(uint160(cert.creditProvider));
        words[at++] = cert.faceValue;
        words[at++] = cert.repaid;
        words[at++] = cert.paidOut;
        words[at++] = cert.maturity;
        words[at++] = cert.issuedAt;
        words[at++] = cert.fragmentCount;
        words[at++] = uint256(cert.invoiceKey);
        words[at++] = uint256(cert.documentHash);
        words[at++] = ledger.certificateOfInvoice(cert.invoiceKey);
        words[at++] = ledger.certificateOfDocument(cert.documentHash);
        words[at++] = ledger.overdueAt(certificateId);
        for (uint256 seq = 0; seq < cert.fragmentCount; ++seq) {
            uint256 fragmentId = ledger.fragmentIdOf(certificateId, seq);
            (, uint256 parent, address holder, uint256 value, uint256 paid) = ledger.getFragment(fragmentId);
            words[at++] = uint256(uint160(holder));
            words[at++] = parent;
            words[at++] = value;
            words[at++] = paid;
            words[at++] = ledger.owed(fragmentId);
        }
        return at;
    }
}
