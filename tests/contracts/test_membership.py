"""Membership: only the operator onboards, changes roles, suspends and pauses."""

import brownie

from tests.contracts.helpers import (
    ROLE_CORE,
    ROLE_FINANCIER,
    ROLE_NONE,
    ROLE_SUPPLIER,
    custom_error,
    org_hash,
)


def test_register_member_records_role_and_org(ledger, operator, outsider):
    tx = ledger.registerMember(outsider, org_hash("new"), ROLE_SUPPLIER, {"from": operator})
    assert tx.events["MemberRegistered"]["account"] == outsider
    role, suspended, org = ledger.memberOf(outsider)
    assert (role, suspended, org) == (ROLE_SUPPLIER, False, "0x" + org_hash("new").hex())
    assert ledger.accountOfOrganization(org_hash("new")) == outsider


def test_only_operator_registers(ledger, core, outsider):
    with brownie.reverts():
        ledger.registerMember(outsider, org_hash("x"), ROLE_SUPPLIER, {"from": core})
    assert ledger.memberOf(outsider)[0] == ROLE_NONE


def test_register_refuses_duplicates_and_bad_input(ledger, operator, tier1, outsider):
    with brownie.reverts(custom_error("MemberAlreadyRegistered", tier1)):
        ledger.registerMember(tier1, org_hash("other"), ROLE_SUPPLIER, {"from": operator})
    with brownie.reverts(custom_error("OrganizationAlreadyRegistered", org_hash("tier1"))):
        ledger.registerMember(outsider, org_hash("tier1"), ROLE_SUPPLIER, {"from": operator})
    with brownie.reverts(custom_error("ZeroOrganizationId")):
        ledger.registerMember(outsider, b"\x00" * 32, ROLE_SUPPLIER, {"from": operator})
    with brownie.reverts(custom_error("InvalidRole", ROLE_NONE)):
        ledger.registerMember(outsider, org_hash("y"), ROLE_NONE, {"from": operator})
    with brownie.reverts(custom_error("ZeroAddress")):
        ledger.registerMember(
            "0x0000000000000000000000000000000000000000",
            org_hash("z"),
            ROLE_SUPPLIER,
            {"from": operator},
        )


def test_change_role(ledger, operator, tier1, outsider):
    tx = ledger.changeMemberRole(tier1, ROLE_CORE, {"from": operator})
    event = tx.events["MemberRoleChanged"]
    assert (event["account"], event["previousRole"], event["newRole"]) == (
        tier1,
        ROLE_SUPPLIER,
        ROLE_CORE,
    )
    assert ledger.memberOf(tier1)[0] == ROLE_CORE
    with brownie.reverts(custom_error("NotAMember", outsider)):
        ledger.changeMemberRole(outsider, ROLE_CORE, {"from": operator})
    with brownie.reverts(custom_error("InvalidRole", ROLE_NONE)):
        ledger.changeMemberRole(tier1, ROLE_NONE, {"from": operator})
    with brownie.reverts():
        ledger.changeMemberRole(tier1, ROLE_FINANCIER, {"from": tier1})


def test_suspend_blocks_acting_and_receiving(ledger, operator, active_certificate, tier1, tier2):
    _, root = active_certificate()
    tx = ledger.suspendMember(tier2, {"from": operator})
    assert "MemberSuspended" in tx.events
    with brownie.reverts(custom_error("MemberIsSuspended", tier2)):
        ledger.split(root, tier2, 100, {"from": tier1})
    ledger.reinstateMember(tier2, {"from": operator})
    ledger.split(root, tier2, 100, {"from": tier1})
    ledger.suspendMember(tier1, {"from": operator})
    with brownie.reverts(custom_error("MemberIsSuspended", tier1)):
        ledger.split(root, tier2, 100, {"from": tier1})


def test_only_operator_suspends_and_pauses(ledger, tier1, tier2):
    with brownie.reverts():
        ledger.suspendMember(tier2, {"from": tier1})
    with brownie.reverts():
        ledger.reinstateMember(tier2, {"from": tier1})
    with brownie.reverts():
        ledger.pause({"from": tier1})


def test_pause_halts_every_state_change(
    ledger, operator, active_certificate, tier1, tier2, outsider
):
    _, root = active_certificate()
    ledger.pause({"from": operator})
    paused = custom_error("EnforcedPause")
    with brownie.reverts(paused):
        ledger.split(root, tier2, 100, {"from": tier1})
    with brownie.reverts(paused):
        ledger.transferFragment(root, tier2, {"from": tier1})
    with brownie.reverts(paused):
        ledger.registerMember(outsider, org_hash("p"), ROLE_SUPPLIER, {"from": operator})
    ledger.unpause({"from": operator})
    ledger.split(root, tier2, 100, {"from": tier1})
