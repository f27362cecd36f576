"""Issuance, acceptance, rejection, revocation, credit lines and the invoice registry."""

import brownie

from tests.contracts.helpers import (
    CREDIT_LIMIT,
    DAY,
    FACE_VALUE,
    ROLE_CORE,
    ROLE_FINANCIER,
    ROLE_SUPPLIER,
    STATUS_ACTIVE,
    STATUS_ISSUED,
    STATUS_REJECTED,
    STATUS_REVOKED,
    custom_error,
    document_hash,
    next_invoice_key,
)


def test_issue_records_certificate_and_draws_credit(ledger, chain, core, bank, tier1):
    maturity = chain.time() + 180 * DAY
    key = next_invoice_key()
    tx = ledger.issue(bank, tier1, FACE_VALUE, maturity, key, document_hash(), {"from": core})
    certificate_id = tx.return_value
    assert certificate_id == 1
    event = tx.events["CertificateIssued"]
    assert event["issuer"] == core and event["beneficiary"] == tier1
    assert event["faceValue"] == FACE_VALUE and event["maturity"] == maturity
    cert = ledger.getCertificate(certificate_id)
    assert cert["status"] == STATUS_ISSUED
    assert cert["faceValue"] == FACE_VALUE
    assert cert["fragmentCount"] == 0
    assert cert["creditProvider"] == bank
    assert ledger.certificateOfInvoice(key) == certificate_id
    limit, used = ledger.creditLine(bank, core)
    assert (limit, used) == (CREDIT_LIMIT, FACE_VALUE)


def test_issue_beyond_credit_line_reverts(ledger, chain, core, bank, bank2, tier1):
    maturity = chain.time() + 90 * DAY
    with brownie.reverts(
        custom_error("CreditLineExceeded", bank, core, CREDIT_LIMIT + 1, CREDIT_LIMIT)
    ):
        ledger.issue(
            bank,
            tier1,
            CREDIT_LIMIT + 1,
            maturity,
            next_invoice_key(),
            document_hash(),
            {"from": core},
        )
    with brownie.reverts(custom_error("CreditLineExceeded", bank2, core, 1, 0)):
        ledger.issue(bank2, tier1, 1, maturity, next_invoice_key(), document_hash(), {"from": core})


def test_same_invoice_backs_one_certificate_ever(ledger, issue, core, tier1):
    key = next_invoice_key()
    first = issue(invoice_key=key)
    ledger.revoke(first, {"from": core})
    with brownie.reverts(custom_error("InvoiceAlreadyUsed", key, first)):
        issue(invoice_key=key)


def test_issue_validates_input(ledger, chain, core, bank, tier1):
    # the latest block's time, not chain.time(): brownie's clock can run ahead of the next
    # block's, and a maturity of "now - 1" then lies in the future of the block that mines it
    now = chain[-1].timestamp
    good = (bank, tier1, FACE_VALUE, now + 30 * DAY, next_invoice_key(), document_hash())
    with brownie.reverts(custom_error("ZeroAmount")):
        ledger.issue(*good[:2], 0, *good[3:], {"from": core})
    with brownie.reverts(revert_pattern=r"InvalidMaturity: .*"):
        ledger.issue(*good[:3], now - 1, *good[4:], {"from": core})
    with brownie.reverts(revert_pattern=r"InvalidMaturity: .*"):
        ledger.issue(*good[:3], now + 400 * DAY, *good[4:], {"from": core})
    with brownie.reverts(custom_error("ZeroInvoiceKey")):
        ledger.issue(*good[:4], b"\x00" * 32, good[5], {"from": core})
    with brownie.reverts(custom_error("ZeroDocumentHash")):
        ledger.issue(*good[:5], b"\x00" * 32, {"from": core})


def test_only_core_enterprise_issues_to_a_supplier(ledger, chain, core, bank, tier1, outsider):
    maturity = chain.time() + 30 * DAY
    with brownie.reverts(custom_error("WrongRole", tier1, ROLE_SUPPLIER)):
        ledger.issue(bank, tier1, 1, maturity, next_invoice_key(), document_hash(), {"from": tier1})
    with brownie.reverts(custom_error("NotAMember", outsider)):
        ledger.issue(
            bank, tier1, 1, maturity, next_invoice_key(), document_hash(), {"from": outsider}
        )
    with brownie.reverts(custom_error("WrongRole", bank, ROLE_FINANCIER)):
        ledger.issue(bank, bank, 1, maturity, next_invoice_key(), document_hash(), {"from": core})
    with brownie.reverts(custom_error("WrongRole", core, ROLE_CORE)):
        ledger.issue(core, tier1, 1, maturity, next_invoice_key(), document_hash(), {"from": core})


def test_accept_creates_root_fragment(ledger, issue, tier1):
    certificate_id = issue()
    tx = ledger.accept(certificate_id, {"from": tier1})
    root = tx.return_value
    assert root == certificate_id << 32
    assert tx.events["CertificateAccepted"]["rootFragmentId"] == root
    cert_id, parent, holder, value, paid = ledger.getFragment(root)
    assert (cert_id, parent, holder, value, paid) == (certificate_id, 0, tier1, FACE_VALUE, 0)
    cert = ledger.getCertificate(certificate_id)
    assert cert["status"] == STATUS_ACTIVE and cert["fragmentCount"] == 1


def test_only_beneficiary_accepts_once(ledger, issue, tier1, tier2):
    certificate_id = issue()
    with brownie.reverts(custom_error("NotBeneficiary", certificate_id, tier2)):
        ledger.accept(certificate_id, {"from": tier2})
    ledger.accept(certificate_id, {"from": tier1})
    with brownie.reverts(custom_error("WrongCertificateStatus", certificate_id, STATUS_ACTIVE)):
        ledger.accept(certificate_id, {"from": tier1})
    with brownie.reverts(custom_error("UnknownCertificate", 99)):
        ledger.accept(99, {"from": tier1})


def test_accept_after_maturity_reverts(ledger, issue, chain, tier1):
    certificate_id = issue(tenor_days=10)
    chain.sleep(11 * DAY)
    with brownie.reverts(revert_pattern=r"CertificateMatured: .*"):
        ledger.accept(certificate_id, {"from": tier1})


def test_reject_restores_credit(ledger, issue, core, bank, tier1):
    certificate_id = issue()
    tx = ledger.reject(certificate_id, {"from": tier1})
    assert "CertificateRejected" in tx.events
    assert ledger.getCertificate(certificate_id)["status"] == STATUS_REJECTED
    assert ledger.creditLine(bank, core)[1] == 0
    with brownie.reverts(custom_error("WrongCertificateStatus", certificate_id, STATUS_REJECTED)):
        ledger.accept(certificate_id, {"from": tier1})


def test_revoke_only_by_issuer_before_acceptance(ledger, issue, core, bank, tier1):
    certificate_id = issue()
    with brownie.reverts(custom_error("NotIssuer", certificate_id, tier1)):
        ledger.revoke(certificate_id, {"from": tier1})
    tx = ledger.revoke(certificate_id, {"from": core})
    assert "CertificateRevoked" in tx.events
    assert ledger.getCertificate(certificate_id)["status"] == STATUS_REVOKED
    assert ledger.creditLine(bank, core)[1] == 0
    accepted = issue()
    ledger.accept(accepted, {"from": tier1})
    with brownie.reverts(custom_error("WrongCertificateStatus", accepted, STATUS_ACTIVE)):
        ledger.revoke(accepted, {"from": core})


def test_credit_line_only_by_financier_to_core(ledger, core, bank, tier1):
    tx = ledger.setCreditLine(core, 5, {"from": bank})
    assert tx.events["CreditLineSet"]["limit"] == 5
    with brownie.reverts(custom_error("WrongRole", tier1, ROLE_SUPPLIER)):
        ledger.setCreditLine(core, 5, {"from": tier1})
    with brownie.reverts(custom_error("WrongRole", tier1, ROLE_SUPPLIER)):
        ledger.setCreditLine(tier1, 5, {"from": bank})


def test_lowering_a_line_below_use_stops_new_issuance_only(ledger, issue, core, bank):
    issue()
    ledger.setCreditLine(core, 1, {"from": bank})
    limit, used = ledger.creditLine(bank, core)
    assert (limit, used) == (1, FACE_VALUE)
    with brownie.reverts(custom_error("CreditLineExceeded", bank, core, FACE_VALUE, 0)):
        issue()


def test_face_value_is_capped_at_96_bits(ledger, chain, core, bank, tier1):
    too_large = 2**96
    ledger.setCreditLine(core, 2**128 - 1, {"from": bank})
    with brownie.reverts(custom_error("FaceValueTooLarge", too_large)):
        ledger.issue(
            bank,
            tier1,
            too_large,
            chain.time() + DAY,
            next_invoice_key(),
            document_hash(),
            {"from": core},
        )


def test_same_document_backs_one_certificate_ever(ledger, issue, core, tier1):
    """A document hash anchored on chain cannot back a second certificate, even after the
    first was revoked or rejected (as for the invoice key)."""
    doc = document_hash("invoice 12345678 and its purchase contract")
    first = issue(document=doc)
    assert ledger.certificateOfDocument(doc) == first
    ledger.revoke(first, {"from": core})
    with brownie.reverts(custom_error("DocumentAlreadyUsed", doc, first)):
        issue(document=doc)
    other = document_hash("another contract")
    second = issue(document=other)
    ledger.reject(second, {"from": tier1})
    with brownie.reverts(custom_error("DocumentAlreadyUsed", other, second)):
        issue(document=other)
    assert ledger.certificateOfDocument(document_hash("never anchored")) == 0


def test_issue_refuses_a_credit_provider_that_is_not_an_active_financier(
    ledger, issue, operator, core, bank, bank2, tier1, outsider
):
    ledger.setCreditLine(core, FACE_VALUE, {"from": bank2})
    ledger.suspendMember(bank2, {"from": operator})
    with brownie.reverts(custom_error("MemberIsSuspended", bank2)):
        issue(credit_provider=bank2)
    limit, used = ledger.creditLine(bank2, core)
    assert (limit, used) == (FACE_VALUE, 0)
    with brownie.reverts(custom_error("NotAMember", outsider)):
        issue(credit_provider=outsider)
    with brownie.reverts(custom_error("WrongRole", tier1, ROLE_SUPPLIER)):
        issue(credit_provider=tier1)
    # a bank whose role was changed away from financier no longer backs new certificates
    ledger.changeMemberRole(bank, ROLE_SUPPLIER, {"from": operator})
    with brownie.reverts(custom_error("WrongRole", bank, ROLE_SUPPLIER)):
        issue(credit_provider=bank)
    ledger.reinstateMember(bank2, {"from": operator})
    assert ledger.getCertificate(issue(credit_provider=bank2))["creditProvider"] == bank2


def test_suspended_financier_may_lower_or_close_its_line_never_raise(
    ledger, issue, operator, core, bank
):
    issue()
    ledger.suspendMember(bank, {"from": operator})
    with brownie.reverts(custom_error("MemberIsSuspended", bank)):
        ledger.setCreditLine(core, CREDIT_LIMIT + 1, {"from": bank})
    tx = ledger.setCreditLine(core, CREDIT_LIMIT // 2, {"from": bank})
    assert tx.events["CreditLineSet"]["limit"] == CREDIT_LIMIT // 2
    ledger.setCreditLine(core, CREDIT_LIMIT // 2, {"from": bank})  # unchanged: allowed
    tx = ledger.setCreditLine(core, 0, {"from": bank})
    assert tx.events["CreditLineSet"]["limit"] == 0
    limit, used = ledger.creditLine(bank, core)
    assert (limit, used) == (0, FACE_VALUE)
    with brownie.reverts(custom_error("MemberIsSuspended", bank)):
        ledger.setCreditLine(core, 1, {"from": bank})
    ledger.reinstateMember(bank, {"from": operator})
    ledger.setCreditLine(core, CREDIT_LIMIT, {"from": bank})


def test_a_bank_may_lower_or_close_its_line_to_a_suspended_core_enterprise(
    ledger, operator, core, bank
):
    ledger.suspendMember(core, {"from": operator})
    with brownie.reverts(custom_error("MemberIsSuspended", core)):
        ledger.setCreditLine(core, CREDIT_LIMIT + 1, {"from": bank})
    tx = ledger.setCreditLine(core, 0, {"from": bank})
    assert tx.events["CreditLineSet"]["limit"] == 0
    limit, used = ledger.creditLine(bank, core)
    assert (limit, used) == (0, 0)
