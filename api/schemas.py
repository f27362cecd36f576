"""Request bodies and the JSON views of records.

Money rule: amounts are JSON *strings* of whole fen ("1050" is 10.50 CNY). A number, a
decimal point, a sign or an empty string is refused with 422 ``bad_amount_format`` before
anything else happens. Ids that may exceed 2**53 (fragment ids) are strings too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.auth import Duty
from api.models import CertificateRow, FragmentRow, OfferRow, Organization

#: A positive amount of fen, at most uint128.
Fen = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,37}$")]
#: Zero or a positive amount of fen (a credit line may be closed with "0").
FenOrZero = Annotated[str, StringConstraints(pattern=r"^(0|[1-9][0-9]{0,37})$")]
#: A fragment id as a decimal string (ids are (certificate << 32) | seq).
FragmentIdStr = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,19}$")]
DbId = Annotated[int, Field(ge=1, le=2**31 - 1)]
UnixTime = Annotated[int, Field(ge=0, le=2**40 - 1)]
OnboardRole = Literal["core_enterprise", "supplier", "financier", "auditor"]
#: who signs an organization's transactions (api.models.Organization.custody)
Custody = Literal["platform", "self", "remote"]

UINT128_MAX = 2**128 - 1
#: Money in answers: a decimal string of whole fen (never a JSON number).
FenText = Annotated[str, Field(description="whole fen, as a decimal string")]
#: A fragment id in answers: a decimal string (ids exceed 2**53).
FragmentIdText = Annotated[str, Field(description="fragment id, as a decimal string")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OnboardRequest(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    uscc: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    role: OnboardRole
    #: who signs its transactions: ``platform`` (a key the service makes and keeps), ``self``
    #: (the organization, with its own tool: ``address``, ``challenge`` and ``signature``
    #: prove it controls the address) or ``remote`` (a signer service at ``signer_url``)
    custody: Custody = "platform"
    address: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")] | None = None
    challenge: Annotated[str, StringConstraints(max_length=1000)] | None = Field(
        default=None, description="self: the text POST /v1/organizations/address-challenge gave"
    )
    signature: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")] | None = Field(
        default=None, description="self: the address's EIP-191 signature of the challenge"
    )
    signer_url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=500)] | None = (
        None
    )


class KeyRotationRequest(Strict):
    """The new key of an organization (``POST /v1/organizations/{org_id}/key-rotation``),
    by its custody: ``platform``, nothing (the API makes the key); ``self``, ``address``
    with ``challenge`` and ``signature`` as at onboarding; ``remote``, ``address`` (and a
    new ``signer_url``, else the current one) that its signer service signs for."""

    address: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")] | None = None
    challenge: Annotated[str, StringConstraints(max_length=1000)] | None = Field(
        default=None, description="self: the text POST /v1/organizations/address-challenge gave"
    )
    signature: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")] | None = Field(
        default=None, description="self: the new address's EIP-191 signature of the challenge"
    )
    signer_url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=500)] | None = (
        None
    )


class ApiKeyRequest(Strict):
    label: Annotated[str, StringConstraints(max_length=200)] = ""
    #: what the key may do: ``maker`` starts commands, ``checker`` approves others',
    #: ``admin`` manages keys and the approval policy; an empty list makes a viewer (reads
    #: only). Absent: all three, as every key could before duties existed.
    duties: Annotated[list[Duty], Field(max_length=3)] = ["maker", "checker", "admin"]


#: a person's login: letters, digits and ``._@-``, 3 to 100 characters, kept in lower case
Login = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{2,99}$", to_lower=True, strip_whitespace=True
    ),
]
#: a password as typed at sign-in
Password = Annotated[str, StringConstraints(min_length=1, max_length=128)]
#: a new password: 12 to 128 characters (api.people.check_password_rules also refuses the
#: login itself and a repetition, 422 weak_password)
NewPassword = Annotated[str, StringConstraints(min_length=12, max_length=128)]
Language = Literal["zh", "en"]


class SignInRequest(Strict):
    login: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    password: Password


class UserRequest(Strict):
    """A person of the organization. ``duties`` as an API key's: an empty list makes a
    viewer, who only reads."""

    login: Login
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    password: NewPassword
    duties: Annotated[list[Duty], Field(max_length=3)] = ["maker"]
    language: Language = "zh"


class PasswordChange(Strict):
    current_password: Password
    new_password: NewPassword


class PasswordReset(Strict):
    """An admin sets a new password; the user's sessions end and its lock is lifted."""

    password: NewPassword


class LanguageChoice(Strict):
    language: Language


class UserView(BaseModel):
    id: int
    org_id: int
    login: str
    name: str
    #: empty: a viewer
    duties: list[Duty]
    language: Language
    #: the key row that stands for the user in commands, approvals and the audit log
    api_key_id: int
    disabled: bool
    locked_until: str | None
    last_sign_in_at: str | None
    created_at: str


class ApprovalRuleItem(Strict):
    """Commands of ``action`` of at least ``min_amount`` fen (every one, when null) wait
    for a checker."""

    action: Literal[
        "issue",
        "accept",
        "split",
        "transfer",
        "offer",
        "accept_offer",
        "repay",
        "set_credit_line",
        "post_bid",
        "change_bid_budget",
        "sell_to_bid",
    ]
    min_amount: FenOrZero | None = None


class ApprovalPolicy(Strict):
    """An organization's four-eyes policy: the whole list (a PUT replaces it)."""

    rules: Annotated[list[ApprovalRuleItem], Field(max_length=16)]


class RejectRequest(Strict):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


class MintRequest(Strict):
    amount: Fen


class CreditLineRequest(Strict):
    core_enterprise_id: DbId
    limit: FenOrZero


class IssueRequest(Strict):
    beneficiary_id: DbId
    credit_provider_id: DbId
    face_value: Fen
    maturity: UnixTime
    document_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    invoice_number: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    #: The legacy 发票代码 (10 or 12 digits) that goes with an 8-digit invoice number; absent
    #: for a fully digital e-invoice. The rule: chain_client.identity, docs/invoice-identity.md.
    invoice_code: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    #: Optional confirmation only: the seller is always the beneficiary's registered code.
    seller_tax_id: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None


class SplitRequest(Strict):
    to_org_id: DbId
    amount: Fen


class TransferRequest(Strict):
    to_org_id: DbId


class OfferRequest(Strict):
    fragment_id: FragmentIdStr
    financier_id: DbId
    amount: Fen
    rate_bps: Annotated[int, Field(ge=0, le=10_000)]
    expires_at: UnixTime


class RepayRequest(Strict):
    amount: Fen
    #: before maturity: repay all that is outstanding now (it settles the certificate)
    early: bool = False


class QuotePreviewRequest(Strict):
    fragment_id: FragmentIdStr
    amount: Fen
    rate_bps: Annotated[int, Field(ge=0, le=10_000)]


def fen(value: str) -> int:
    """A validated fen string as int (the pattern already excludes everything else)."""
    return int(value)


# -- views ----------------------------------------------------------------------------------
# What the read endpoints send, declared as models so the OpenAPI document describes it.


class OrganizationView(BaseModel):
    id: int
    name: str
    uscc: str | None
    role: str
    address: str | None
    status: str
    created_at: str | None
    custody: Custody = "platform"


def org_view(org: Organization) -> OrganizationView:
    assert org.id is not None
    return OrganizationView(
        id=org.id,
        name=org.name,
        uscc=org.uscc,
        role=org.role,
        address=org.address,
        status=org.status,
        created_at=org.created_at.isoformat() if org.created_at else None,
        custody=org.custody,  # type: ignore[arg-type]
    )


class SessionView(BaseModel):
    """Who is signed in, and the token every request of the page that changes something
    must send as ``X-CSRF-Token``."""

    user: UserView
    organization: OrganizationView
    csrf_token: str
    expires_at: str
    idle_timeout_seconds: int


class CertificateView(BaseModel):
    id: int
    issuer: str
    beneficiary: str
    credit_provider: str
    face_value: FenText
    outstanding: FenText
    maturity: int
    issued_at: int
    status: str
    fragment_count: int
    repaid: FenText
    paid_out: FenText
    document_hash: str
    indexed_at_block: int


class FragmentHolding(BaseModel):
    """A fragment as its certificate's issuer and credit provider see it."""

    id: FragmentIdText
    holder: str
    value: FenText
    paid: FenText


class CertificateDetail(CertificateView):
    """``fragments`` and ``offers`` only for the operator, auditors, the issuer and the
    credit provider (absent otherwise)."""

    fragments: list[FragmentHolding] | None = None
    offers: list[int] | None = None


def certificate_view(row: CertificateRow) -> CertificateView:
    outstanding = int(row.face_value) - int(row.repaid)
    return CertificateView(
        id=row.id,
        issuer=row.issuer,
        beneficiary=row.beneficiary,
        credit_provider=row.credit_provider,
        face_value=row.face_value,
        outstanding=str(outstanding if row.status not in ("rejected", "revoked") else 0),
        maturity=row.maturity,
        issued_at=row.issued_at,
        status=row.status,
        fragment_count=row.fragment_count,
        repaid=row.repaid,
        paid_out=row.paid_out,
        document_hash=row.document_hash,
        indexed_at_block=row.block_number,
    )


class FragmentView(BaseModel):
    id: FragmentIdText
    certificate_id: int
    seq: int
    parent_id: FragmentIdText | None
    holder: str
    value: FenText
    paid: FenText
    indexed_at_block: int


class FragmentDetail(FragmentView):
    owed: FenText = Field(description="what a claim would pay now (read from the chain)")


def fragment_view(row: FragmentRow) -> FragmentView:
    return FragmentView(
        id=str(row.id),
        certificate_id=row.certificate_id,
        seq=row.seq,
        parent_id=str(row.parent_id) if row.parent_id is not None else None,
        holder=row.holder,
        value=row.value,
        paid=row.paid,
        indexed_at_block=row.block_number,
    )


class OfferView(BaseModel):
    id: int
    fragment_id: FragmentIdText
    seller: str
    financier: str
    amount: FenText
    rate_bps: int
    expires_at: int
    status: str
    financed_fragment_id: FragmentIdText | None
    discount: FenText | None
    payment: FenText | None
    days: int | None


def offer_view(row: OfferRow) -> OfferView:
    return OfferView(
        id=row.id,
        fragment_id=str(row.fragment_id),
        seller=row.seller,
        financier=row.financier,
        amount=row.amount,
        rate_bps=row.rate_bps,
        expires_at=row.expires_at,
        status=row.status,
        financed_fragment_id=(
            str(row.financed_fragment_id) if row.financed_fragment_id is not None else None
        ),
        discount=row.discount,
        payment=row.payment,
        days=row.days,
    )


class CreditLineView(BaseModel):
    financier_id: int
    core_enterprise_id: int
    limit: FenText
    used: FenText
    available: FenText


class HistoryEvent(BaseModel):
    """An indexed ledger event (its arguments as the indexer stored them)."""

    event: str
    block_number: int
    tx_hash: str
    log_index: int
    args: dict[str, Any]


class QuoteStep(BaseModel):
    step: str
    rule: str
    computation: str
    result: str


class QuoteView(BaseModel):
    """A price by the discount rule (:meth:`chain_client.discount.DiscountQuote.to_dict`)."""

    amount_fen: FenText
    rate_bps: int
    value_date: int
    maturity: int
    days: int
    discount_fen: FenText
    payment_fen: FenText
    steps: list[QuoteStep]


class ChainQuote(BaseModel):
    days: int
    discount_fen: FenText
    payment_fen: FenText


class OfferQuote(BaseModel):
    """An offer's price now: the rule step by step beside the contract's own quote."""

    offer_id: int
    amount_fen: FenText
    rate_bps: int
    value_date: int
    maturity: int
    days: int
    discount_fen: FenText
    payment_fen: FenText
    steps: list[QuoteStep]
    chain: ChainQuote
    agrees_with_chain: bool


class ApiKeyView(BaseModel):
    id: int
    label: str
    prefix: str
    duties: list[Duty]
    created_at: str
    revoked_at: str | None


class RevokedApiKey(BaseModel):
    id: int
    revoked_at: str


class BalanceView(BaseModel):
    org_id: int
    balance: FenText


class DocumentView(BaseModel):
    id: str
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    keccak256: str
    certificate_id: int | None
    chain_document_hash: str | None = Field(description="what its certificate anchors")
    matches_chain: bool | None


class AuditEntryView(BaseModel):
    id: int
    at: str
    org_id: int | None
    api_key_id: int | None
    action: str
    target: str
    params: dict[str, Any]
    outcome: str
    code: str | None
    tx_hash: str | None
    block_number: int | None


class HealthView(BaseModel):
    """``status`` "degraded" when the node does not answer: ``head`` and ``block_time``
    are then null, and the rest (the deployment, the read model's block) comes from what
    the service holds itself (see :func:`api.routes.admin.health`)."""

    class NodeHealth(BaseModel):
        reachable: bool
        #: why not, when it is not: the kind of failure (the node's address stays private)
        error: str | None = None

    status: Literal["ok", "degraded"]
    chain_id: int
    ledger: str
    head: int | None
    block_time: int | None
    indexed_block: int
    indexing: bool
    node: NodeHealth


class MaturityRun(BaseModel):
    pages_paid: int
    fen_paid: FenText
    marked_overdue: list[int]


class IndexerRun(BaseModel):
    """Where the read model stands after waiting for the indexing process."""

    caught_up: bool  # False: the chain's head was not covered within the wait
    indexed_block: int


# -- reports for auditors and regulators (api.routes.reports) -------------------------------


class CertificatesCheck(BaseModel):
    """A report's certificates re-read from the chain (the first 500 of them)."""

    checked_certificates: int
    mismatches: list[int] = Field(
        description="ids of certificates whose repaid, face value or fragment count differ"
    )
    consistent_with_chain: bool
    indexed_block: int = Field(description="the block the read model had indexed")


class ExposureRow(BaseModel):
    core_enterprise: str
    name: str | None
    outstanding: FenText = Field(description="face value minus repaid, over open certificates")
    certificates: int


class ExposureReport(BaseModel):
    exposure: list[ExposureRow]
    check: CertificatesCheck


class FinancedVolumeRow(BaseModel):
    financier: str
    name: str | None
    amount: FenText = Field(description="face amount bought")
    payment: FenText = Field(description="cash paid")
    discount: FenText = Field(description="discount earned")
    financings: int


class FinancingsCheck(BaseModel):
    """The financings indexed (accepted offers, sales to standing bids) against the
    FinancingAccepted and SoldToBid events on the chain."""

    indexed_financings: int
    chain_financings: int
    consistent_with_chain: bool


class FinancedVolumeReport(BaseModel):
    volume: list[FinancedVolumeRow]
    check: FinancingsCheck


class MaturingReport(BaseModel):
    as_of: int = Field(description="the chain's time the window starts at")
    certificates: list[CertificateView]
    check: CertificatesCheck


class OverdueReport(BaseModel):
    as_of: int = Field(description="the moment the ledger's rule was applied at")
    grace_period: int
    certificates: list[CertificateView]
    check: CertificatesCheck


# -- a fragment's provenance and the verifier's report (api.routes.fragments) ----------------


class ProvenanceStep(BaseModel):
    """A fragment on the path to the root, read from the chain. ``holder``,
    ``holder_name`` and ``value`` are null, and ``masked`` true, unless the caller may see
    that fragment."""

    id: FragmentIdText
    parent_id: FragmentIdText | None
    holder: str | None
    holder_name: str | None
    value: FenText | None
    masked: bool


class ProvenanceNode(BaseModel):
    """A fragment of the subtree, from the read model, masked like :class:`ProvenanceStep`
    (the subtree stops 64 levels down)."""

    id: FragmentIdText
    holder: str | None
    value: FenText | None
    masked: bool
    children: list[ProvenanceNode]


class ProvenanceView(BaseModel):
    fragment_id: FragmentIdText
    certificate_id: int
    path_to_root: list[ProvenanceStep] = Field(description="child first, root last")
    subtree: ProvenanceNode


#: An integer of the verifier's report: a JSON number, or a decimal string past 2**53
#: (chain_client.encoding.jsonable), which fragment ids of certificates from 2**21 on are.
ReportInt = Annotated[
    int | str, Field(description="an integer; a decimal string when it exceeds 2**53")
]


class VerifierCheck(BaseModel):
    """One of :data:`chain_client.verifier.CHECK_ORDER`'s checks."""

    name: str
    passed: bool
    detail: str
    skipped: bool = Field(description="not run because an earlier check it needs failed")


class VerifiedFragment(BaseModel):
    """The fragment as the chain's state has it (chain_client.ledger_types.Fragment)."""

    id: ReportInt
    certificate_id: int
    parent_id: ReportInt | None
    holder: str
    value: FenText
    paid: FenText


class VerifiedCertificate(BaseModel):
    """Its certificate as the chain's state has it (chain_client.ledger_types.Certificate)."""

    id: int
    issuer: str
    beneficiary: str
    credit_provider: str
    face_value: FenText
    maturity: int
    issued_at: int
    status: str = Field(description="the CertificateStatus name, e.g. ACTIVE")
    fragment_count: int
    repaid: FenText
    paid_out: FenText
    invoice_key: str = Field(description="bytes32, 0x-prefixed hex")
    document_hash: str = Field(description="bytes32, 0x-prefixed hex")


class VerifiedFinancing(BaseModel):
    """A financing touching the lineage, re-priced by the discount rule: an accepted offer
    (FinancingAccepted: ``offer_id``) or a sale to a standing bid (SoldToBid: ``bid_id``,
    and the ``payee`` it paid)."""

    offer_id: int | None = Field(default=None, description="an accepted offer's")
    bid_id: int | None = Field(default=None, description="a sale to a standing bid's")
    payee: str | None = Field(default=None, description="a sale's: who was paid")
    from_fragment: ReportInt
    financed_fragment: ReportInt
    financier: str
    seller: str
    amount_fen: FenText
    discount_fen: FenText
    payment_fen: FenText
    days: int
    rate_bps: int | None = Field(
        description="the offer's rate, or the bid's for the sale's days; null if unknown"
    )
    block_number: int
    in_lineage: bool = Field(description="the financed fragment is on this fragment's path")


class VerifiedRepayment(BaseModel):
    status: str
    face_value_fen: FenText
    repaid_fen: FenText
    paid_out_fen: FenText
    outstanding_fen: FenText
    fragment_value_fen: FenText
    fragment_paid_fen: FenText
    fragment_owed_fen: FenText


class ReferenceHeadView(BaseModel):
    """The node's head against one reference node's
    (:class:`chain_client.freshness.ReferenceComparison`)."""

    url: str = Field(description="scheme://host:port only; a URL's path or query may hold a key")
    chain_id: int | None
    head_number: int | None
    lag_blocks: int | None = Field(
        description="the reference's head minus this node's; negative if this node is ahead"
    )
    compared_block: int | None = Field(description="the lower of the two heads")
    our_hash: str | None
    their_hash: str | None
    hashes_match: bool | None = Field(description="false: this node is on another fork")
    error: str | None = Field(description="why the reference could not be compared")


class NodeFreshnessView(BaseModel):
    """Whether the node's view is current (:class:`chain_client.freshness.Freshness`)."""

    chain_id: int
    head_number: int
    head_hash: str
    head_timestamp: int
    checked_at: int = Field(description="the wall clock's time, seconds since the epoch")
    age_seconds: int = Field(description="checked_at - head_timestamp")
    wall_clock_applies: bool = Field(
        description="false on a chain that mines only per transaction (automine)"
    )
    mining: str = Field(description="why the wall clock applies or not")
    block_period_seconds: float | None = Field(description="measured from the last blocks")
    max_head_age_seconds: float
    max_head_age_source: Literal["given", "measured", "floor"]
    max_lag_blocks: int
    references: list[ReferenceHeadView]
    problems: list[str]
    stale: bool
    stale_allowed: bool = Field(description="stale, and the verifier was told to allow it")


class VerificationView(BaseModel):
    """The verifier's report (:meth:`chain_client.verifier.VerificationReport.to_dict`),
    computed from the chain alone; ``ok`` only if every check passed."""

    fragment_id: ReportInt
    certificate_id: int
    chain_id: int | None
    ledger_address: str
    block_number: int | None = Field(description="the block every read was pinned to")
    checks: list[VerifierCheck]
    lineage: list[ReportInt] = Field(description="fragment ids, child first")
    fragment: VerifiedFragment | None
    certificate: VerifiedCertificate | None
    financing: list[VerifiedFinancing]
    repayment: VerifiedRepayment | None
    freshness: NodeFreshnessView | None = Field(
        description="whether the node's view was current; null if its head could not be read"
    )
    fragments_read: int
    elapsed_seconds: float
    ok: bool
    failed_checks: list[str]


# -- answers of chain commands (api.services.responders builds them) ---------------------------


class CommandAnswer(BaseModel):
    """What every chain command answers: its transaction, once mined."""

    action: str
    tx_hash: str
    block_number: int
    gas_used: int


class IssueAnswer(CommandAnswer):
    action: Literal["issue"]
    certificate_id: int
    face_value: FenText
    maturity: int
    status: Literal["issued"]


class AcceptAnswer(CommandAnswer):
    action: Literal["accept"]
    certificate_id: int
    root_fragment_id: FragmentIdText
    status: Literal["active"]


class CertificateAnswer(CommandAnswer):
    """reject, revoke"""

    action: Literal["reject", "revoke"]
    certificate_id: int


class RepayAnswer(CommandAnswer):
    action: Literal["repay"]
    certificate_id: int
    amount: FenText


class SplitAnswer(CommandAnswer):
    action: Literal["split"]
    parent_fragment_id: FragmentIdText
    fragment_id: FragmentIdText
    amount: FenText
    to_org_id: int


class TransferAnswer(CommandAnswer):
    action: Literal["transfer"]
    fragment_id: FragmentIdText
    to_org_id: int


class ClaimAnswer(CommandAnswer):
    action: Literal["claim"]
    fragment_id: FragmentIdText
    paid: FenText


class CreditLineAnswer(CommandAnswer):
    action: Literal["set_credit_line"]
    core_enterprise_id: int
    limit: FenText


class OfferAnswer(CommandAnswer):
    action: Literal["offer"]
    offer_id: int
    fragment_id: FragmentIdText
    amount: FenText
    rate_bps: int
    expires_at: int
    status: Literal["open"]


class WithdrawOfferAnswer(CommandAnswer):
    action: Literal["withdraw_offer"]
    offer_id: int


class AcceptOfferAnswer(CommandAnswer):
    """The price paid, from the transaction's FinancingAccepted event."""

    action: Literal["accept_offer"]
    offer_id: int
    financed_fragment_id: FragmentIdText
    status: Literal["accepted"]
    amount: FenText | None = None
    discount: FenText | None = None
    payment: FenText | None = None
    days: int | None = None


class MintAnswer(CommandAnswer):
    action: Literal["mint"]
    org_id: int
    amount: FenText


class MemberAnswer(CommandAnswer):
    """suspend, reinstate"""

    action: Literal["suspend", "reinstate"]
    org_id: int


class MovedItems(BaseModel):
    """What moved from a retired key: how many distinct items, by which transactions."""

    count: int
    tx_hashes: list[str]


class KeyRotationAnswer(BaseModel):
    """A key rotation: the organization's new address and what moved to it on chain (the
    operator's moves, and fragments a payout moved on the way), read from the ledger's
    events of the old address."""

    action: Literal["rotate_key"]
    org_id: int
    custody: Custody
    old_address: str
    new_address: str
    rotation_tx_hash: str | None
    certificates: MovedItems
    credit_lines: MovedItems
    offers: MovedItems
    holdings: MovedItems


class LedgerAnswer(CommandAnswer):
    """pause, unpause"""

    action: Literal["pause", "unpause"]


class UnsignedTransaction(BaseModel):
    """A transaction prepared for an organization's own signer
    (:func:`chain_client.unsigned.to_json`): wei amounts as decimal strings, gas, nonce and
    chain id as numbers, as JSON-RPC signers take them."""

    chainId: int  # noqa: N815 - the transaction field's own name
    nonce: int
    to: str
    value: str
    data: str
    gas: int
    type: int | None = None
    maxFeePerGas: str | None = None  # noqa: N815
    maxPriorityFeePerGas: str | None = None  # noqa: N815
    gasPrice: str | None = None  # noqa: N815


class WaitingCommand(BaseModel):
    """A command that waits: for a checker of its organization (``pending_approval``,
    four-eyes) or for the organization's own signature (``awaiting_signature``). The
    maker's replay of its Idempotency-Key answers this until the command is decided; then
    the command's own answer."""

    command_id: str
    status: Literal["pending_approval", "awaiting_signature"]
    action: str
    target: str
    summary: str | None = Field(description="what the command does, in words")
    stake: FenText | None = Field(description="the fen it moves or commits")
    request: dict[str, Any]
    maker_key_id: int | None
    created_at: str
    expires_at: str | None
    transaction: UnsignedTransaction | None = Field(
        default=None,
        description="awaiting_signature: the transaction to sign, every field settled",
    )
    signing_hash: str | None = Field(
        default=None, description="awaiting_signature: the hash the signer signs (0x hex)"
    )
    signer: str | None = Field(
        default=None, description="awaiting_signature: the address that must sign"
    )


class ApprovalDecision(BaseModel):
    """A checker's rejection, as recorded (the maker's replay answers 409
    ``command_rejected`` with the reason)."""

    command_id: str
    status: Literal["rejected"]
    reason: str
    checker_key_id: int | None
    decided_at: str


# -- answers of local commands ----------------------------------------------------------------


class NewApiKey(BaseModel):
    """A new API key: ``api_key`` is shown in this answer only (a replay of the same
    Idempotency-Key withholds it)."""

    id: int
    org_id: int
    label: str
    prefix: str
    duties: list[Duty]
    api_key: str
    note: str


# -- self-custody (api/commands/signatures.py) --------------------------------------------------


class SignatureRequest(Strict):
    """The organization's signed transaction: the raw bytes, 0x hex (what
    ``eth_signTransaction`` returns)."""

    raw: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{2,65536}$")]


class CommandView(BaseModel):
    """One of your organization's commands: what it does, where it stands and, while it
    awaits your signature, the transaction to sign; once finished, its stored answer."""

    command_id: str
    status: str = Field(
        description="pending, pending_approval, awaiting_signature, signed, succeeded, "
        "refused or aborted"
    )
    action: str
    target: str
    summary: str | None
    stake: FenText | None
    request: dict[str, Any]
    maker_key_id: int | None
    created_at: str
    expires_at: str | None
    transaction: UnsignedTransaction | None = None
    signing_hash: str | None = None
    signer: str | None = None
    tx_hash: str | None = Field(default=None, description="its journaled transaction")
    response_status: int | None = Field(default=None, description="a finished command's")
    response: dict[str, Any] | None = Field(
        default=None, description="a finished command's stored answer (or problem)"
    )


class AddressChallengeRequest(Strict):
    uscc: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    address: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")]


class AddressChallenge(BaseModel):
    """The text the organization signs (EIP-191 ``personal_sign``) to prove it controls
    the address; valid until ``expires_at`` (unix seconds)."""

    challenge: str
    address: str
    expires_at: int


class SettlementAllowanceRequest(Strict):
    amount: FenOrZero
    #: who may draw it: the ledger (repaying, buying offers) or its bid book (escrowing a
    #: standing bid's budget)
    spender: Literal["ledger", "bid_book"] = "ledger"


class SettlementAllowanceAnswer(CommandAnswer):
    action: Literal["approve_settlement"]
    amount: FenText


# -- standing bids (issue 14) -----------------------------------------------------------------


class RateBandItem(Strict):
    """Fragments with up to ``up_to_days`` whole days to maturity (and more than the band
    before) are bought at ``rate_bps`` a year."""

    up_to_days: Annotated[int, Field(ge=1, le=65_535)]
    rate_bps: Annotated[int, Field(ge=0, le=10_000)]


class BidTermsRequest(Strict):
    """A standing bid's terms (contracts/ledger/LedgerTypes.sol, BidTerms): rates by tenor
    band (lowest first, at most eight), the shortest tenor, the smallest and largest
    amount per sale, the most bought from one seller ("0": no such limit), the last
    moment of sale."""

    bands: Annotated[list[RateBandItem], Field(min_length=1, max_length=8)]
    min_days: Annotated[int, Field(ge=0, le=65_535)] = 0
    min_amount: Fen = "1"
    max_amount: Fen
    per_seller_limit: FenOrZero = "0"
    expires_at: UnixTime


class BidRequest(BidTermsRequest):
    """A new standing bid: its terms, whose certificates it buys (core enterprises' ids;
    a core enterprise's own bid: itself, the default), and the budget escrowed now."""

    issuer_ids: Annotated[list[DbId], Field(min_length=1, max_length=50)] | None = None
    budget: Fen


class BidBudgetRequest(Strict):
    """The escrow the bid should hold from now on: more is pulled, less paid back."""

    remaining: FenOrZero


class FinanceRequest(Strict):
    """Sell ``amount`` fen of the fragment to a standing bid now: the best one
    (``"best"``: the highest payment) or one by id, at no more than ``max_rate_bps`` a
    year if given, the cash to ``payee_id`` (a member; default: yourself)."""

    amount: Fen
    bid: Literal["best"] | Annotated[int, Field(ge=1, le=2**31 - 1)] = "best"
    max_rate_bps: Annotated[int, Field(ge=0, le=10_000)] | None = None
    payee_id: DbId | None = None


class RateBandView(BaseModel):
    up_to_days: int
    rate_bps: int


class BidView(BaseModel):
    """A standing bid as the chain has it, with its use from the sales the API indexed."""

    id: int
    funder: str
    funder_id: int | None
    funder_name: str | None
    status: Literal["open", "cancelled"]
    expired: bool
    remaining: FenText
    bought: FenText = Field(description="face value bought so far, whole fen")
    paid: FenText = Field(description="cash paid out for it so far, whole fen")
    sales: int
    bands: list[RateBandView]
    min_days: int
    min_amount: FenText
    max_amount: FenText
    per_seller_limit: FenText
    expires_at: int
    issuer_ids: list[int]


class BidQuoteView(BaseModel):
    """What one bid pays now for the fragment, and the all-in cost as a yearly rate on the
    cash received (discount / payment x 360 / days; a loan's rate is comparable)."""

    bid_id: int
    funder_id: int | None
    funder_name: str | None
    rate_bps: int
    days: int
    discount: FenText
    payment: FenText
    annual_cost_bps: int
    annual_cost_percent: str


class DeclinedBidView(BaseModel):
    """A bid that would not buy, and why: issuer_not_covered, tenor_out_of_range,
    amount_above_limit, amount_below_limit, budget_exhausted, seller_limit_reached,
    rate_above_max, bid_expired, or the problem code of the ledger's refusal."""

    bid_id: int
    funder_id: int | None
    funder_name: str | None
    reason: str
    detail: str


class FragmentQuotes(BaseModel):
    """Every open bid's answer for selling ``amount`` of the fragment now, best first."""

    fragment_id: FragmentIdText
    amount: FenText
    quotes: list[BidQuoteView]
    declined: list[DeclinedBidView]


class PostBidAnswer(CommandAnswer):
    action: Literal["post_bid"]
    bid_id: int
    budget: FenText
    status: Literal["open"]


class BidTermsAnswer(CommandAnswer):
    action: Literal["change_bid_terms"]
    bid_id: int


class BidBudgetAnswer(CommandAnswer):
    action: Literal["change_bid_budget"]
    bid_id: int
    remaining: FenText


class CancelBidAnswer(CommandAnswer):
    action: Literal["cancel_bid"]
    bid_id: int
    refunded: FenText
    status: Literal["cancelled"]


class FinanceAnswer(CommandAnswer):
    """The sale, from the transaction's SoldToBid event: one transaction, the cash paid."""

    action: Literal["sell_to_bid"]
    bid_id: int | None
    fragment_id: FragmentIdText
    financed_fragment_id: FragmentIdText
    amount: FenText
    payee_id: int | None = None
    payee: str | None = None
    discount: FenText | None = None
    payment: FenText | None = None
    days: int | None = None


class PortfolioHolding(BaseModel):
    """What the funder holds of one core enterprise's certificates maturing on one day
    (China time): the face value still owed to it and what was paid already."""

    issuer_id: int | None
    issuer_name: str | None
    maturity_date: str
    fragments: int
    face_value: FenText
    paid: FenText


class PortfolioExposure(BaseModel):
    """Per core enterprise: what the funder holds of its certificates, unpaid, next to the
    credit line it extends to it (limit, used by issued certificates, available)."""

    core_enterprise_id: int | None
    name: str | None
    held_unpaid: FenText
    credit_limit: FenText
    credit_used: FenText
    credit_available: FenText


class Portfolio(BaseModel):
    """A funder's book: bought fragments by issuer and maturity, exposure per core
    enterprise next to its credit lines (its standing bids: GET /v1/bids?mine=true)."""

    holdings: list[PortfolioHolding]
    exposure: list[PortfolioExposure]


class PayableRowError(BaseModel):
    field: str
    code: str
    message: str


class PayableRowView(BaseModel):
    """One row of a payables file as read and checked (api.services.payables): what was
    typed, what it resolved to, and why it would be refused (``errors``, empty if none)."""

    row: int = Field(description="the row's line in the file (the header is line 1)")
    supplier: str
    amount: str
    maturity_text: str
    invoice_number: str
    invoice_code: str | None
    credit_provider: str
    beneficiary_id: int | None
    beneficiary_name: str | None
    face_value: FenText | None
    maturity: int | None
    maturity_date: str | None
    credit_provider_id: int | None
    credit_provider_name: str | None
    issued_certificate_id: int | None = Field(
        description="the certificate this row of this file already became"
    )
    errors: list[PayableRowError]


class PayablesCredit(BaseModel):
    credit_provider_id: int
    name: str
    available: FenText
    needed: FenText


class PayablesPreview(BaseModel):
    """A payables file checked before anything is sent: issue its valid rows one by one
    with ``POST /v1/payables/issue``."""

    file_name: str
    file_sha256: str
    rows: list[PayableRowView]
    valid_rows: int
    rows_with_errors: int
    already_issued: int
    total_face_value: FenText = Field(description="of the valid rows not yet issued")
    credit: list[PayablesCredit]


class PayableIssueRequest(Strict):
    """One checked row of a payables file, issued as a certificate that anchors a record
    of the row (a JSON document made from it: the same row, the same document)."""

    beneficiary_id: DbId
    credit_provider_id: DbId
    face_value: Fen
    maturity: UnixTime
    invoice_number: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    invoice_code: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    source_file: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    source_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    row: Annotated[int, Field(ge=2, le=1_000_000)]


NotificationKind = Literal[
    "certificate_received",
    "fragment_received",
    "financing_paid",
    "payout_received",
    "maturity_soon",
    "overdue",
]


class NotificationView(BaseModel):
    """Something the organization should know (api.notifier); ``data``'s amounts are
    strings of whole fen, its addresses the ledger's."""

    id: int
    kind: NotificationKind
    subject: str
    data: dict[str, Any]
    created_at: str
    read_at: str | None


class MarkReadRequest(Strict):
    """Mark the organization's notifications up to this id read."""

    up_to_id: DbId


class MarkReadAnswer(BaseModel):
    marked: int


class WebhookRequest(Strict):
    url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=500)]


class WebhookView(BaseModel):
    id: int
    url: str
    created_at: str
    disabled: bool


class NewWebhook(WebhookView):
    secret: str | None = Field(
        description="the signing secret (SCF-Signature), shown this once; null in a replay"
    )
    note: str


class DeliveryAttempt(BaseModel):
    at: str
    status_code: int | None
    error: str | None
    ms: int


class DeliveryView(BaseModel):
    id: int
    webhook_id: int
    event: str
    notification_id: int | None
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    log: list[DeliveryAttempt]
    created_at: str
    delivered_at: str | None
