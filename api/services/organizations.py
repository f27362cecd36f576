"""Onboarding: an organization row, a signing key in the encrypted key store, gas if the
chain charges for it, registration on chain, and the settlement-token allowance its role
will need. Every step checks the chain first, so re-running after a crash finishes the
job instead of doing anything twice."""

from __future__ import annotations

from sqlmodel import Session, select

from api.auth import AUDITOR, CORE_ENTERPRISE, FINANCIER, SUPPLIER
from api.chain import MAX_UINT256, ChainGateway
from api.models import Organization
from api.problems import Problem
from chain_client import identity
from chain_client.ledger_types import Role

CHAIN_ROLES = {
    CORE_ENTERPRISE: Role.CORE_ENTERPRISE,
    SUPPLIER: Role.SUPPLIER,
    FINANCIER: Role.FINANCIER,
}


def validated_uscc(uscc: str) -> str:
    try:
        return identity.validate_uscc(uscc)
    except (ValueError, TypeError) as exc:
        raise Problem(422, "invalid_uscc", "Invalid unified social credit code", str(exc)) from None


def onboard(
    engine_session: Session,
    gateway: ChainGateway,
    name: str,
    uscc: str,
    role: str,
    *,
    custody: str = "platform",
    address: str | None = None,
    signer_url: str | None = None,
) -> Organization:
    """``custody`` ``self`` or ``remote``: the organization signs for ``address`` (proven
    by the caller, :mod:`api.services.custody`) with its own tool or its signer service at
    ``signer_url``; no key is made. A ``self`` organization's settlement allowance is left
    to it (``approve_settlement``, a command it signs); a remote signer signs it here."""
    code = validated_uscc(uscc)
    session = engine_session
    org = session.exec(select(Organization).where(Organization.uscc == code)).first()
    if org is not None and org.status != "onboarding":
        raise Problem(
            409,
            "organization_already_registered",
            "Already a member",
            f"An organization with code {code} is already onboarded (id {org.id}).",
        )
    if address is not None:
        taken = session.exec(select(Organization).where(Organization.address == address)).first()
        if taken is not None and taken.uscc != code:
            raise Problem(
                409,
                "address_in_use",
                "The address belongs to another organization",
                f"{address} is the signing address of organization {taken.id}.",
            )
    if org is None:
        org = Organization(
            name=name,
            uscc=code,
            role=role,
            status="onboarding",
            custody=custody,
            address=address,
            signer_url=signer_url,
        )
        session.add(org)
        session.commit()
        if address is not None:
            gateway.forget(address)  # its custody is known now
    if role == AUDITOR:  # reads only: no key, nothing on chain
        org.status = "active"
        session.add(org)
        session.commit()
        return org
    if org.address is None:
        key_id, address = gateway.create_key(label=f"org:{code}")
        org.key_id, org.address = key_id, address
        session.add(org)
        session.commit()
    assert org.address is not None
    gateway.fund_gas(org.address)
    operator = gateway.ledger_as(gateway.operator.address)
    member = gateway.ledger.member(org.address)
    if member.role == Role.NONE:
        existing = gateway.ledger.account_of_organization(identity.org_id_hash(code))
        if existing is not None:
            raise Problem(
                409,
                "organization_already_registered",
                "Already on the ledger",
                f"Organization {code} is already registered on chain as {existing}.",
            )
        operator.register_member(org.address, identity.org_id_hash(code), CHAIN_ROLES[role])
    if role in (CORE_ENTERPRISE, FINANCIER) and org.custody != "self":
        member_ledger = gateway.ledger_as(org.address)
        if member_ledger.allowance() < MAX_UINT256 // 2:
            member_ledger.approve_settlement(MAX_UINT256)  # repay / accept offers without a
            # second transaction each time; the ledger only pulls what a call prices
    org.status = "active"
    session.add(org)
    session.commit()
    return org
