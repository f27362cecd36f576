"""Fixtures for the contract tests: a deployed ledger with a small supply chain (the
constants and hashes they use are in tests/contracts/helpers.py).

Roles map onto anvil's funded accounts: the operator, one core enterprise, two banks,
three tiers of suppliers, and an outsider who was never registered.
"""

from __future__ import annotations

import pytest

from tests.contracts.helpers import (
    CREDIT_LIMIT,
    DAY,
    FACE_VALUE,
    GRACE_PERIOD,
    ROLE_CORE,
    ROLE_FINANCIER,
    ROLE_SUPPLIER,
    document_hash,
    next_invoice_key,
    org_hash,
)


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    """Every test starts from the same deployed state."""


@pytest.fixture(scope="module")
def operator(accounts):
    return accounts[0]


@pytest.fixture(scope="module")
def core(accounts):
    return accounts[1]


@pytest.fixture(scope="module")
def bank(accounts):
    return accounts[2]


@pytest.fixture(scope="module")
def bank2(accounts):
    return accounts[3]


@pytest.fixture(scope="module")
def tier1(accounts):
    return accounts[4]


@pytest.fixture(scope="module")
def tier2(accounts):
    return accounts[5]


@pytest.fixture(scope="module")
def tier3(accounts):
    return accounts[6]


@pytest.fixture(scope="module")
def outsider(accounts):
    return accounts[9]


@pytest.fixture(scope="module")
def token(SettlementToken, operator):
    return SettlementToken.deploy("Settlement CNY", "dCNY", operator, {"from": operator})


@pytest.fixture(scope="module")
def ledger(CreditLedger, token, operator, core, bank, bank2, tier1, tier2, tier3):
    ledger = CreditLedger.deploy(operator, token, GRACE_PERIOD, {"from": operator})
    members = [
        (core, "core", ROLE_CORE),
        (bank, "bank", ROLE_FINANCIER),
        (bank2, "bank2", ROLE_FINANCIER),
        (tier1, "tier1", ROLE_SUPPLIER),
        (tier2, "tier2", ROLE_SUPPLIER),
        (tier3, "tier3", ROLE_SUPPLIER),
    ]
    for account, name, role in members:
        ledger.registerMember(account, org_hash(name), role, {"from": operator})
    ledger.setCreditLine(core, CREDIT_LIMIT, {"from": bank})
    for payer in (core, bank, bank2):
        token.mint(payer, 10 * CREDIT_LIMIT, {"from": operator})
        token.approve(ledger, 2**256 - 1, {"from": payer})
    return ledger


@pytest.fixture(scope="module")
def issue(ledger, chain, core, bank, tier1):
    """Issues a certificate; returns its id."""

    def _issue(
        face_value=FACE_VALUE,
        tenor_days=180,
        beneficiary=None,
        invoice_key=None,
        document=None,
        credit_provider=None,
    ):
        maturity = chain.time() + tenor_days * DAY
        tx = ledger.issue(
            credit_provider or bank,
            beneficiary or tier1,
            face_value,
            maturity,
            invoice_key or next_invoice_key(),
            document or document_hash(),
            {"from": core},
        )
        return tx.return_value

    return _issue


@pytest.fixture(scope="module")
def active_certificate(ledger, issue, tier1):
    """Issues and accepts a certificate; returns (certificate id, root fragment id)."""

    def _active(face_value=FACE_VALUE, tenor_days=180):
        certificate_id = issue(face_value=face_value, tenor_days=tenor_days)
        root = ledger.accept(certificate_id, {"from": tier1}).return_value
        return certificate_id, root

    return _active
