"""Splitting and transferring fragments: the provenance tree and the value invariant."""

import brownie

from tests.contracts.helpers import DAY, FACE_VALUE, ROLE_CORE, STATUS_ISSUED, custom_error


def test_split_creates_child_with_provenance(ledger, active_certificate, tier1, tier2):
    certificate_id, root = active_certificate()
    tx = ledger.split(root, tier2, 30_000_000, {"from": tier1})
    child = tx.return_value
    assert child == (certificate_id << 32) | 1
    event = tx.events["FragmentSplit"]
    assert (event["parentFragmentId"], event["fragmentId"], event["value"]) == (
        root,
        child,
        30_000_000,
    )
    assert (event["from"], event["to"]) == (tier1, tier2)
    cert_id, parent, holder, value, paid = ledger.getFragment(child)
    assert (cert_id, parent, holder, value, paid) == (certificate_id, root, tier2, 30_000_000, 0)
    assert ledger.getFragment(root)[3] == FACE_VALUE - 30_000_000


def test_multi_tier_split_keeps_lineage(ledger, active_certificate, tier1, tier2, tier3):
    certificate_id, root = active_certificate()
    tier2_piece = ledger.split(root, tier2, 30_000_000, {"from": tier1}).return_value
    tier3_piece = ledger.split(tier2_piece, tier3, 12_000_000, {"from": tier2}).return_value
    assert ledger.getFragment(tier3_piece)[1] == tier2_piece
    assert ledger.getFragment(tier2_piece)[1] == root
    total = sum(ledger.getFragment(ledger.fragmentIdOf(certificate_id, s))[3] for s in range(3))
    assert total == FACE_VALUE


def test_split_one_fen(ledger, active_certificate, tier1, tier2):
    _, root = active_certificate()
    child = ledger.split(root, tier2, 1, {"from": tier1}).return_value
    assert ledger.getFragment(child)[3] == 1


def test_split_refuses_zero_whole_and_more(ledger, active_certificate, tier1, tier2):
    _, root = active_certificate()
    for amount in (0, FACE_VALUE, FACE_VALUE + 1):
        with brownie.reverts(custom_error("InvalidSplitAmount", amount, FACE_VALUE)):
            ledger.split(root, tier2, amount, {"from": tier1})


def test_split_only_by_holder_to_a_holder_role(
    ledger, active_certificate, core, tier1, tier2, outsider
):
    _, root = active_certificate()
    with brownie.reverts(custom_error("NotHolder", root, tier2)):
        ledger.split(root, tier2, 5, {"from": tier2})
    with brownie.reverts(custom_error("NotAMember", outsider)):
        ledger.split(root, outsider, 5, {"from": tier1})
    with brownie.reverts(custom_error("WrongRole", core, ROLE_CORE)):
        ledger.split(root, core, 5, {"from": tier1})
    with brownie.reverts(custom_error("UnknownFragment", root + 7)):
        ledger.split(root + 7, tier2, 5, {"from": tier1})


def test_transfer_moves_whole_fragment(ledger, active_certificate, tier1, tier2, tier3):
    _, root = active_certificate()
    tx = ledger.transferFragment(root, tier2, {"from": tier1})
    event = tx.events["FragmentTransferred"]
    assert (event["fragmentId"], event["from"], event["to"]) == (root, tier1, tier2)
    assert ledger.getFragment(root)[2] == tier2
    with brownie.reverts(custom_error("NotHolder", root, tier1)):
        ledger.transferFragment(root, tier3, {"from": tier1})


def test_nothing_moves_before_acceptance_or_after_maturity(
    ledger, issue, active_certificate, chain, tier1, tier2
):
    pending = issue()
    pending_root = pending << 32
    with brownie.reverts(custom_error("UnknownFragment", pending_root)):
        ledger.transferFragment(pending_root, tier2, {"from": tier1})
    certificate_id, root = active_certificate(tenor_days=30)
    chain.sleep(30 * DAY)
    chain.mine()
    maturity = ledger.getCertificate(certificate_id)["maturity"]
    with brownie.reverts(custom_error("CertificateMatured", certificate_id, maturity)):
        ledger.split(root, tier2, 5, {"from": tier1})
    with brownie.reverts(custom_error("CertificateMatured", certificate_id, maturity)):
        ledger.transferFragment(root, tier2, {"from": tier1})
    assert ledger.getCertificate(pending)["status"] == STATUS_ISSUED


def test_getters_refuse_unknown_ids(ledger):
    with brownie.reverts(custom_error("UnknownFragment", 12345)):
        ledger.getFragment(12345)
    with brownie.reverts(custom_error("UnknownCertificate", 3)):
        ledger.getCertificate(3)
