// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ILedgerErrors} from "./ILedgerErrors.sol";
import {Certificate, Offer, Role} from "../ledger/LedgerTypes.sol";

/// @title ICreditLedger
/// @notice What integrators and verifiers code against: every function, event and error of
/// the supply-chain finance ledger (contracts/CreditLedger.sol). Amounts are in fen (one
/// unit of the settlement token), times in block time (seconds), rates in basis points a
/// year. Fragment ids encode their certificate: id = (certificateId << 32) | seq.
/// @dev Each module under contracts/ledger/ implements its part; PauseClock, the first
/// module, brings the interface into the inheritance chain, so that the compiler checks
/// every declaration here against its implementation. Beyond this interface the ledger has
/// only what OpenZeppelin brings: AccessControl's DEFAULT_ADMIN_ROLE, ERC-165's
/// supportsInterface, Pausable's Paused/Unpaused events and EnforcedPause/ExpectedPause
/// errors, ReentrancyGuardReentrantCall and SafeERC20FailedOperation;
/// tests/contracts/test_interface.py checks that the deployed ABI is exactly that. The
/// Python client (chain_client) calls these functions and decodes these events and errors
/// by name.
interface ICreditLedger is IAccessControl, ILedgerErrors {
    // -- membership (contracts/ledger/Membership.sol) -------------------------------------

    /// @notice A member was onboarded.
    event MemberRegistered(address indexed account, bytes32 indexed orgIdHash, Role role);
    /// @notice A member's role was changed.
    event MemberRoleChanged(address indexed account, Role previousRole, Role newRole);
    /// @notice A member was suspended.
    event MemberSuspended(address indexed account);
    /// @notice A member's suspension was lifted.
    event MemberReinstated(address indexed account);
    /// @notice An organization moved to a new key: its record (role, suspension) is now
    /// `newAccount`'s, and `oldAccount` is retired for good (see `rotateMember`).
    event MemberRotated(address indexed oldAccount, address indexed newAccount, bytes32 indexed orgIdHash);

    /// @notice The platform operator's role: onboarding, suspension, pause, grace period.
    function OPERATOR_ROLE() external view returns (bytes32);

    /// @notice Onboards an organization as a member in one role (operator only). One
    /// organization maps to one address, so a party cannot hide behind a second key.
    /// @param orgIdHash hash of the organization's unified social credit code, never the code.
    function registerMember(address account, bytes32 orgIdHash, Role role) external;

    /// @notice Changes a member's role, e.g. when a supplier becomes a core enterprise (operator only).
    function changeMemberRole(address account, Role role) external;

    /// @notice Stops a member from acting or receiving fragments (fraud, sanctions, a lost
    /// key; operator only). A suspended member is still paid at maturity.
    function suspendMember(address account) external;

    /// @notice Lifts a suspension (operator only).
    function reinstateMember(address account) external;

    /// @notice Key rotation and recovery (operator only): an organization that lost its key,
    /// or whose key is compromised, moves to `newAccount`, a fresh address (never a member
    /// nor retired). Its member record (role, suspension flag, organization) moves there and
    /// `oldAccount` is retired for good: no role, refused as NotAMember by every action, never
    /// registered again, never paid. What the ledger stores by address then follows in the
    /// operator's batches, each to the organization's current key: `moveCertificates`
    /// (before `moveCreditLines`), `moveOffers`, `moveHoldings`. A payout due to a fragment
    /// the old key still holds goes to the current key (`payFragments`, `claim`). A successor
    /// may itself be rotated before those moves are done: moves follow the chain.
    /// @param oldAccount the member's current address, to retire.
    /// @param newAccount the organization's new address.
    function rotateMember(address oldAccount, address newAccount) external;

    /// @notice After a rotation (operator only): each fragment the retired `oldAccount`
    /// holds goes to its organization's current key, whatever the certificate's status
    /// (the holder stays the same organization: this is not a transfer). A fragment already
    /// held by that key is skipped, so a batch may be sent again.
    /// @param oldAccount a retired address.
    /// @param fragmentIds fragments it holds (the read model knows them).
    function moveHoldings(address oldAccount, uint256[] calldata fragmentIds) external;

    /// @notice After a rotation (operator only): the retired `oldAccount` is replaced by its
    /// organization's current key wherever it is the issuer, beneficiary or credit provider
    /// of these certificates, so that the new key repays, accepts or rejects. What the
    /// certificate still owes moves with it between credit lines.
    /// @param oldAccount a retired address.
    /// @param certificateIds certificates naming it.
    function moveCertificates(address oldAccount, uint256[] calldata certificateIds) external;

    /// @notice A member's retired address's successor (the key it was rotated to), or zero
    /// if `account` is not retired. Follow it again for an organization rotated twice.
    function successorOf(address account) external view returns (address);

    /// @notice Halts every state change of the ledger in an emergency (operator only).
    function pause() external;

    /// @notice Resumes after an emergency (operator only).
    function unpause() external;

    /// @notice Whether the ledger is paused now.
    function paused() external view returns (bool);

    /// @notice How many times the ledger was paused (including a pause under way).
    function pauseCount() external view returns (uint256);

    /// @notice The `index`-th pause: its start and end in block time (end 0 while it lasts).
    function pauseAt(uint256 index) external view returns (uint256 start, uint256 end);

    /// @notice A member's role, suspension flag and organization hash (all zero for a non-member).
    function memberOf(address account) external view returns (Role role, bool suspended, bytes32 orgIdHash);

    /// @notice The address registered for an organization, or zero.
    function accountOfOrganization(bytes32 orgIdHash) external view returns (address);

    // -- credit lines (contracts/ledger/CreditLines.sol) ----------------------------------

    /// @notice A financier set its limit for a core enterprise.
    event CreditLineSet(address indexed financier, address indexed coreEnterprise, uint256 limit);
    /// @notice After a rotation, the line of (financier, coreEnterprise) moved to
    /// (newFinancier, newCoreEnterprise), one of them the retired party's successor; the old
    /// line's limit is now zero and `limit` is the new line's.
    event CreditLineMoved(
        address indexed financier,
        address indexed coreEnterprise,
        address newFinancier,
        address newCoreEnterprise,
        uint256 limit
    );

    /// @notice Sets (grants, raises, lowers or closes) the limit the caller, a financier,
    /// extends to a core enterprise. A limit below what is used stops new issuance but
    /// cancels nothing issued. Raising needs both parties active; lowering or closing only
    /// their roles (a suspension stops risk from growing, never keeps it open).
    function setCreditLine(address coreEnterprise, uint128 limit) external;

    /// @notice After a rotation (operator only): the credit lines between the retired
    /// `oldAccount` and each counterparty, in both directions (its lines to core enterprises
    /// as a financier, its lines from financiers as a core enterprise), move to its
    /// organization's current key. Only the limit moves: a line still in use is refused
    /// until its certificates have moved (`moveCertificates` carries what they owe). If the
    /// new line already has a limit (set by its financier since the rotation), that limit stays.
    /// @param oldAccount a retired address.
    /// @param counterparties the financiers or core enterprises it has lines with.
    function moveCreditLines(address oldAccount, address[] calldata counterparties) external;

    /// @notice The limit and the amount in use of a financier's line to a core enterprise.
    function creditLine(address financier, address coreEnterprise) external view returns (uint256 limit, uint256 used);

    // -- certificates and fragments (contracts/ledger/Certificates.sol) -------------------

    /// @notice A core enterprise issued a certificate; it waits for the beneficiary.
    event CertificateIssued(
        uint256 indexed certificateId,
        address indexed issuer,
        address indexed beneficiary,
        address creditProvider,
        uint256 faceValue,
        uint256 maturity,
        bytes32 invoiceKey,
        bytes32 documentHash
    );
    /// @notice The beneficiary accepted: the certificate is one fragment, `rootFragmentId`.
    event CertificateAccepted(uint256 indexed certificateId, address indexed beneficiary, uint256 rootFragmentId);
    /// @notice The beneficiary refused the certificate.
    event CertificateRejected(uint256 indexed certificateId, address indexed beneficiary);
    /// @notice The issuer withdrew the certificate before acceptance.
    event CertificateRevoked(uint256 indexed certificateId, address indexed issuer);
    /// @notice `value` fen of `parentFragmentId` became the new fragment `fragmentId`, held by `to`.
    event FragmentSplit(
        uint256 indexed certificateId,
        uint256 indexed parentFragmentId,
        uint256 indexed fragmentId,
        address from,
        address to,
        uint256 value
    );
    /// @notice A whole fragment changed hands.
    event FragmentTransferred(uint256 indexed fragmentId, address indexed from, address indexed to);
    /// @notice After a rotation, a fragment held by the retired `from` moved to `to`, the same
    /// organization's current key (by the operator, or on the way to a payout).
    event HoldingMoved(uint256 indexed fragmentId, address indexed from, address indexed to);
    /// @notice After a rotation, the retired `from` was replaced by `to` as the certificate's
    /// issuer, beneficiary or credit provider (whichever it was).
    event CertificatePartyMoved(uint256 indexed certificateId, address indexed from, address indexed to);

    /// @notice Longest tenor a certificate may have, in seconds.
    function MAX_TENOR() external view returns (uint256);

    /// @notice Issues a certificate to a tier-1 supplier against the caller's credit line
    /// from `creditProvider`, bound to one underlying receivable.
    /// @param creditProvider the financier whose line is drawn: it must be an active member
    /// in the financier role now (a suspended bank's line is frozen, not drawable).
    /// @param beneficiary the tier-1 supplier, who must accept.
    /// @param faceValue what the issuer promises to pay at maturity, in fen (below 2**96).
    /// @param maturity when it is due, within MAX_TENOR from now.
    /// @param invoiceKey keyed hash of the normalized invoice identity (seller tax id and
    /// invoice number), computed off chain so the invoice itself stays private; one
    /// receivable can back one certificate, ever, even if that certificate is later revoked.
    /// @param documentHash hash of the invoice/contract documents kept encrypted off chain;
    /// like the invoice key, it backs one certificate ever, so the same document cannot be
    /// presented for a second certificate under another invoice identity.
    /// @return certificateId the new certificate's id (sequential, from 1).
    function issue(
        address creditProvider,
        address beneficiary,
        uint128 faceValue,
        uint40 maturity,
        bytes32 invoiceKey,
        bytes32 documentHash
    ) external returns (uint256 certificateId);

    /// @notice The beneficiary signs for the certificate (签收): it becomes one fragment
    /// holding the whole face value, and from now on it can be split, transferred, financed.
    /// @return rootFragmentId the id of the certificate's first fragment.
    function accept(uint256 certificateId) external returns (uint256 rootFragmentId);

    /// @notice The beneficiary refuses the certificate; the issuer's credit line is restored.
    function reject(uint256 certificateId) external;

    /// @notice The issuer withdraws a certificate the beneficiary has not accepted yet; the
    /// credit line is restored.
    function revoke(uint256 certificateId) external;

    /// @notice Carves `amount` fen off one of the caller's fragments into a new fragment
    /// held by `to` (a supplier paying its own supplier, or keeping a piece to finance).
    /// `amount` must be below the fragment's value: moving all of it is a transfer, and no
    /// fragment may ever hold zero.
    /// @return newFragmentId the id of the fragment created.
    function split(uint256 fragmentId, address to, uint128 amount) external returns (uint256 newFragmentId);

    /// @notice Moves a whole fragment to another member.
    function transferFragment(uint256 fragmentId, address to) external;

    /// @notice The fragment id of the `seq`-th fragment of a certificate.
    function fragmentIdOf(uint256 certificateId, uint256 seq) external pure returns (uint256);

    /// @notice How many certificates were ever issued (ids run from 1 to this number).
    function certificateCount() external view returns (uint256);

    /// @notice A certificate's full record.
    function getCertificate(uint256 certificateId) external view returns (Certificate memory);

    /// @notice A fragment, with its place in the provenance tree.
    /// @return certificateId the root certificate.
    /// @return parentFragmentId the fragment it was split from, 0 for the root fragment.
    /// @return holder the current holder.
    /// @return value the fragment's face value in fen.
    /// @return paid what has been paid out to it from repayments.
    function getFragment(uint256 fragmentId)
        external
        view
        returns (uint256 certificateId, uint256 parentFragmentId, address holder, uint256 value, uint256 paid);

    /// @notice The certificate an invoice key backs (whatever became of it since), or 0.
    function certificateOfInvoice(bytes32 invoiceKey) external view returns (uint256);

    /// @notice The certificate a document hash backs (whatever became of it since), or 0.
    function certificateOfDocument(bytes32 documentHash) external view returns (uint256);

    // -- settlement (contracts/ledger/Settlement.sol) -------------------------------------

    /// @notice The ERC-20 every financing and repayment is paid in (one unit = one fen).
    function settlementToken() external view returns (IERC20);

    // -- financing (contracts/ledger/Financing.sol) ---------------------------------------

    /// @notice A holder offered part or all of a fragment to a financier.
    event FinancingOffered(
        uint256 indexed offerId,
        uint256 indexed fragmentId,
        address indexed financier,
        address seller,
        uint256 amount,
        uint256 rateBps,
        uint256 expiresAt
    );
    /// @notice The seller withdrew an open offer.
    event FinancingWithdrawn(uint256 indexed offerId);
    /// @notice After a rotation, the retired `from` was replaced by `to` as the open offer's
    /// seller or financier (whichever it was).
    event OfferPartyMoved(uint256 indexed offerId, address indexed from, address indexed to);
    /// @notice The financier bought `amount` fen of `fragmentId` for `payment`; it now holds
    /// `financedFragmentId` (the same fragment if the whole of it was offered, else a new one).
    event FinancingAccepted(
        uint256 indexed offerId,
        uint256 indexed fragmentId,
        address indexed financier,
        address seller,
        uint256 financedFragmentId,
        uint256 amount,
        uint256 discount,
        uint256 days_,
        uint256 payment
    );

    /// @notice Highest discount rate an offer or a bid's band may carry, in basis points a year.
    function MAX_RATE_BPS() external view returns (uint256);

    /// @notice Offers `amount` fen of one of the caller's fragments to `financier` at
    /// `rateBps` a year, until `expiresAt`. The fragment is not locked: the holder keeps
    /// using it, and acceptance checks that the amount is still there.
    /// @return offerId the new offer's id (sequential, from 1).
    function offerFinancing(uint256 fragmentId, address financier, uint128 amount, uint16 rateBps, uint40 expiresAt)
        external
        returns (uint256 offerId);

    /// @notice The seller withdraws an open offer.
    function withdrawOffer(uint256 offerId) external;

    /// @notice The financier buys the offered amount: it pays `amount - discount` in the
    /// settlement token to the seller and receives a fragment of `amount` fen, atomically
    /// (delivery versus payment). The financier must have approved the ledger for the
    /// payment beforehand.
    /// @return financedFragmentId the fragment the financier now holds.
    function acceptOffer(uint256 offerId) external returns (uint256 financedFragmentId);

    /// @notice After a rotation (operator only): the retired `oldAccount` is replaced by its
    /// organization's current key as the seller or financier of these open offers.
    /// @param oldAccount a retired address.
    /// @param offerIds open offers naming it.
    function moveOffers(address oldAccount, uint256[] calldata offerIds) external;

    /// @notice What accepting an offer now would cost: whole days to maturity, the discount
    /// and the payment to the seller, all by DiscountMath's rule (simple interest, ACT/360,
    /// both roundings against the financier).
    function quote(uint256 offerId) external view returns (uint256 days_, uint256 discount, uint256 payment);

    /// @notice An offer's full record.
    function getOffer(uint256 offerId) external view returns (Offer memory);

    // -- standing bids' delivery (contracts/ledger/BidDelivery.sol) -----------------------

    /// @notice The ledger's bid book (contracts/BidBook.sol, interfaces/IBidBook.sol), made by
    /// the ledger's constructor: standing bids, their escrow, and the sales to them.
    function bidBook() external view returns (address);

    /// @notice The fragment side of a sale to a standing bid, for the bid book only: moves
    /// `amount` fen of `seller`'s fragment (all of it, or a split) to `funder`, after the
    /// checks of any move (both parties active in their roles, the fragment the seller's and
    /// movable, the amount there). A core enterprise funds only its own certificates.
    /// @return financedFragmentId the fragment the funder now holds.
    /// @return issuer the certificate's issuer, whose coverage the bid book checks.
    /// @return maturity the certificate's maturity, which prices the sale.
    function deliverToBid(address seller, uint256 fragmentId, uint128 amount, address funder)
        external
        returns (uint256 financedFragmentId, address issuer, uint256 maturity);

    /// @notice What deliverToBid would check and answer, without moving anything (for quotes;
    /// EnforcedPause while the ledger is paused, as the sale would be refused).
    function checkDelivery(address seller, uint256 fragmentId, uint128 amount, address funder)
        external
        view
        returns (address issuer, uint256 maturity);

    // -- repayment (contracts/ledger/Repayment.sol) ---------------------------------------

    /// @notice The operator changed the grace period.
    event GracePeriodChanged(uint256 previousGracePeriod, uint256 newGracePeriod);
    /// @notice The issuer paid `amount` towards a certificate; `totalRepaid` so far.
    event RepaymentReceived(uint256 indexed certificateId, address indexed payer, uint256 amount, uint256 totalRepaid);
    /// @notice The certificate is repaid in full.
    event CertificateSettled(uint256 indexed certificateId);
    /// @notice A fragment's holder was paid `amount` of what the fragment is owed.
    event FragmentPaid(uint256 indexed certificateId, uint256 indexed fragmentId, address indexed holder, uint256 amount);
    /// @notice The certificate was marked overdue with `outstanding` unpaid.
    event CertificateOverdue(uint256 indexed certificateId, uint256 outstanding);
    /// @notice The operator declared the certificate in default with `outstanding` unpaid.
    event CertificateDefaulted(uint256 indexed certificateId, uint256 outstanding);

    /// @notice Longest grace period the operator may set, in seconds.
    function MAX_GRACE_PERIOD() external view returns (uint256);

    /// @notice Time after maturity before an unpaid certificate may be marked overdue, in seconds.
    function gracePeriod() external view returns (uint256);

    /// @notice The issuer pays `amount` fen towards a matured certificate (pulled from its
    /// settlement-token balance; approve the ledger first), or all it owes before maturity
    /// (early repayment: the certificate is settled at once). Late payment of an overdue or
    /// defaulted certificate is accepted too. The issuer's credit line is restored by as much.
    function repay(uint256 certificateId, uint128 amount) external;

    /// @notice The holder collects what its fragment is owed so far. A retired key is refused
    /// (NotAMember); its organization's current key may claim a fragment the retired key
    /// still holds, which moves it (HoldingMoved) and pays it.
    /// @return amount fen paid.
    function claim(uint256 fragmentId) external returns (uint256 amount);

    /// @notice Pays every fragment with seq in [fromSeq, fromSeq + count) of a certificate
    /// what it is owed, to its current holder. Anyone may call it; fragments owed nothing
    /// are skipped, so running it twice pays nobody twice. A fragment held by a retired key
    /// is moved to its organization's current key (HoldingMoved), which is paid.
    /// @return total fen paid by this call.
    function payFragments(uint256 certificateId, uint256 fromSeq, uint256 count) external returns (uint256 total);

    /// @notice Marks a certificate overdue once its grace period has run out (see
    /// `overdueAt`) without full repayment. Anyone may call it (a keeper, a bank, a regulator).
    function markOverdue(uint256 certificateId) external;

    /// @notice The operator declares an overdue certificate in default (a legal step taken
    /// off chain, recorded here so every holder and bank sees it). Late repayment still counts.
    function declareDefault(uint256 certificateId) external;

    /// @notice Sets the grace period for certificates marked overdue from now on (operator only).
    function setGracePeriod(uint256 newGracePeriod) external;

    /// @notice The moment after which a certificate not repaid in full may be marked
    /// overdue: maturity + gracePeriod, extended by every second the ledger was paused
    /// between maturity and that moment (while a pause lasts, as if it ended now).
    function overdueAt(uint256 certificateId) external view returns (uint256);

    /// @notice What a fragment is owed now and has not been paid yet.
    function owed(uint256 fragmentId) external view returns (uint256);
}
