"""Stable exception classes for every custom error the ledger (and its token) can raise.

Why static: the reverts module creates one class per error *per ABI*, on first use. Code
that catches ledger errors (the API maps them to HTTP answers) needs the classes before
any ABI is loaded, and needs the same class whichever handle decoded the revert. So every
error of CreditLedger, its BidBook and SettlementToken is declared here, once, from its
signature, and registered with :func:`chain_client.reverts.declare_error_bases`: the
per-ABI classes are subclasses of these, so ``except ledger_errors.InvalidSplitAmount``
always works.

These mirror contracts/interfaces/ILedgerErrors.sol plus the OpenZeppelin
errors the contracts inherit; tests/client/test_ledger.py checks the list against the
compiled ABIs, so a new Solidity error cannot be forgotten here.
"""

from __future__ import annotations

from collections.abc import Iterator

from eth_utils import function_signature_to_4byte_selector

from chain_client.errors import ContractRevert
from chain_client.reverts import declare_error_bases


class LedgerError(ContractRevert):
    """Any refusal by CreditLedger, its BidBook or SettlementToken: a business rejection, not a
    fault."""


#: signature -> argument names, as in the compiled ABIs.
LEDGER_ERROR_SIGNATURES: dict[str, tuple[str, ...]] = {
    "AccessControlBadConfirmation()": (),
    "AccessControlUnauthorizedAccount(address,bytes32)": ("account", "neededRole"),
    "AccountRetired(address,address)": ("account", "successor"),
    "AmountOutsideBidLimits(uint256,uint256,uint256,uint256)": (
        "bidId",
        "amount",
        "minAmount",
        "maxAmount",
    ),
    "BidBudgetExhausted(uint256,uint256,uint256)": ("bidId", "payment", "remaining"),
    "BidBudgetMoved(uint256,uint256,uint256)": ("bidId", "expected", "remaining"),
    "BidExpired(uint256,uint256)": ("bidId", "expiresAt"),
    "BidNotOpen(uint256)": ("bidId",),
    "CertificateMatured(uint256,uint256)": ("certificateId", "maturity"),
    "CreditLineExceeded(address,address,uint256,uint256)": (
        "financier",
        "coreEnterprise",
        "requested",
        "available",
    ),
    "CreditLineInUse(address,address,uint256)": ("financier", "coreEnterprise", "used"),
    "DiscountExceedsAmount(uint256,uint256)": ("amount", "discount"),
    "DocumentAlreadyUsed(bytes32,uint256)": ("documentHash", "certificateId"),
    "ERC20InsufficientAllowance(address,uint256,uint256)": ("spender", "allowance", "needed"),
    "ERC20InsufficientBalance(address,uint256,uint256)": ("sender", "balance", "needed"),
    "ERC20InvalidApprover(address)": ("approver",),
    "ERC20InvalidReceiver(address)": ("receiver",),
    "ERC20InvalidSender(address)": ("sender",),
    "ERC20InvalidSpender(address)": ("spender",),
    "EnforcedPause()": (),
    "ExpectedPause()": (),
    "FaceValueTooLarge(uint256)": ("faceValue",),
    "FragmentNotHeld(uint256,address,address)": ("fragmentId", "account", "holder"),
    "InsufficientFragmentValue(uint256,uint256,uint256)": ("fragmentId", "amount", "fragmentValue"),
    "InvalidBidExpiry(uint256)": ("expiresAt",),
    "InvalidBidLimits(uint256,uint256)": ("minAmount", "maxAmount"),
    "InvalidGracePeriod(uint256)": ("gracePeriod",),
    "InvalidMaturity(uint256,uint256,uint256)": ("maturity", "earliest", "latest"),
    "InvalidOfferExpiry(uint256)": ("expiresAt",),
    "InvalidPage(uint256,uint256,uint256)": ("certificateId", "fromSeq", "fragmentCount"),
    "InvalidRate(uint256)": ("rateBps",),
    "InvalidRateBands()": (),
    "InvalidRole(uint8)": ("role",),
    "InvalidSplitAmount(uint256,uint256)": ("amount", "fragmentValue"),
    "InvoiceAlreadyUsed(bytes32,uint256)": ("invoiceKey", "certificateId"),
    "IssuerNotCovered(uint256,address)": ("bidId", "issuer"),
    "MemberAlreadyRegistered(address)": ("account",),
    "MemberIsSuspended(address)": ("account",),
    "NoCreditLine(address,address)": ("account", "counterparty"),
    "NotAMember(address)": ("account",),
    "NotBeneficiary(uint256,address)": ("certificateId", "caller"),
    "NotBidBook(address)": ("caller",),
    "NotBidFunder(uint256,address)": ("bidId", "account"),
    "NotCertificateParty(uint256,address)": ("certificateId", "account"),
    "NotHolder(uint256,address)": ("fragmentId", "caller"),
    "NotIssuer(uint256,address)": ("certificateId", "caller"),
    "NotMatured(uint256,uint256)": ("certificateId", "maturity"),
    "NotOfferFinancier(uint256,address)": ("offerId", "caller"),
    "NotOfferParty(uint256,address)": ("offerId", "account"),
    "NotOfferSeller(uint256,address)": ("offerId", "caller"),
    "NotOwnCertificates(uint256,address)": ("bidId", "issuer"),
    "NotRetired(address)": ("account",),
    "NotYetOverdue(uint256,uint256)": ("certificateId", "overdueAt"),
    "NothingOwed(uint256)": ("fragmentId",),
    "OfferExpired(uint256,uint256)": ("offerId", "expiresAt"),
    "OfferNotOpen(uint256,uint8)": ("offerId", "status"),
    "OrganizationAlreadyRegistered(bytes32)": ("orgIdHash",),
    "PaymentBelowMinimum(uint256,uint256,uint256)": ("bidId", "payment", "minPayment"),
    "ReentrancyGuardReentrantCall()": (),
    "RepaymentExceedsOutstanding(uint256,uint256,uint256)": (
        "certificateId",
        "amount",
        "outstanding",
    ),
    "SafeERC20FailedOperation(address)": ("token",),
    "SellerLimitReached(uint256,address,uint256,uint256)": ("bidId", "seller", "total", "limit"),
    "TenorOutOfRange(uint256,uint256,uint256,uint256)": ("bidId", "days_", "minDays", "maxDays"),
    "UnknownBid(uint256)": ("bidId",),
    "UnknownCertificate(uint256)": ("certificateId",),
    "UnknownFragment(uint256)": ("fragmentId",),
    "UnknownOffer(uint256)": ("offerId",),
    "WrongCertificateStatus(uint256,uint8)": ("certificateId", "status"),
    "WrongRole(address,uint8)": ("account", "actual"),
    "ZeroAddress()": (),
    "ZeroAmount()": (),
    "ZeroDocumentHash()": (),
    "ZeroInvoiceKey()": (),
    "ZeroOrganizationId()": (),
}


def _make(signature: str) -> type[LedgerError]:
    name = signature.split("(", 1)[0]
    return type(
        name,
        (LedgerError,),
        {
            "error_name": name,
            "error_signature": signature,
            "selector": function_signature_to_4byte_selector(signature),
            "__doc__": f"CreditLedger custom error {signature}.",
            "__module__": __name__,
        },
    )


class LedgerErrors:
    """Attribute access to the classes: ``ledger_errors.InvalidSplitAmount``."""

    def __init__(self, classes: dict[str, type[LedgerError]]) -> None:
        self._classes = classes
        for name, cls in classes.items():
            setattr(self, name, cls)

    def __getattr__(self, name: str) -> type[LedgerError]:
        # Only reached for names not set in __init__.
        raise AttributeError(f"the ledger declares no error named {name!r}")

    def __iter__(self) -> Iterator[type[LedgerError]]:
        return iter(self._classes.values())

    def __contains__(self, name: object) -> bool:
        return name in self._classes


_CLASSES = {s.split("(", 1)[0]: _make(s) for s in LEDGER_ERROR_SIGNATURES}
declare_error_bases(list(_CLASSES.values()))
ledger_errors = LedgerErrors(_CLASSES)
# Module-level names too: ``from chain_client.ledger_errors import InvalidSplitAmount``.
globals().update(_CLASSES)

__all__ = ["LEDGER_ERROR_SIGNATURES", "LedgerError", "LedgerErrors", "ledger_errors", *_CLASSES]
