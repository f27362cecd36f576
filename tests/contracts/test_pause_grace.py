"""Pause and grace: time the ledger spends paused does not run the grace period down.

While paused, nobody can repay (every state change is halted), so a grace period that kept
running would let a keeper mark a certificate overdue the moment the operator unpauses. The
rule (Repayment.overdueAt): the grace period counts only unpaused seconds after maturity, so
a certificate may be marked overdue once maturity + gracePeriod + the seconds paused between
its maturity and that (extended) moment have passed. A pause before maturity changes
nothing; a pause after the grace has already run out changes nothing either.
"""

import brownie

from tests.contracts.helpers import DAY, GRACE_PERIOD, STATUS_OVERDUE, custom_error

MARGIN = 60  # seconds: block times follow the wall clock, so stay clear of the boundary


def _time_of(chain, tx) -> int:
    return chain[tx.block_number].timestamp


def _pause_for(ledger, chain, operator, seconds) -> tuple[int, int]:
    """Pauses for about `seconds`; returns the (pause, unpause) block times."""
    paused = ledger.pause({"from": operator})
    chain.sleep(seconds)
    resumed = ledger.unpause({"from": operator})
    return _time_of(chain, paused), _time_of(chain, resumed)


def _sleep_until(chain, moment) -> None:
    """Moves the node's clock so that the next block is mined at about `moment` (measured
    from the latest block: brownie's chain.time() can run ahead of the node)."""
    chain.sleep(max(0, moment - chain[-1].timestamp))


def _matured_certificate(ledger, active_certificate):
    certificate_id, _ = active_certificate(tenor_days=10)
    return certificate_id, ledger.getCertificate(certificate_id)["maturity"]


def test_a_pause_during_the_grace_period_extends_it(
    ledger, chain, operator, active_certificate, tier1
):
    certificate_id, maturity = _matured_certificate(ledger, active_certificate)
    _sleep_until(chain, maturity + DAY)  # one day into the three-day grace period
    start, end = _pause_for(ledger, chain, operator, 5 * DAY)
    overdue_at = maturity + GRACE_PERIOD + (end - start)
    # before the fix the grace period ran out during the pause: marking succeeded at once
    with brownie.reverts(custom_error("NotYetOverdue", certificate_id, overdue_at)):
        ledger.markOverdue(certificate_id, {"from": tier1})
    assert ledger.overdueAt(certificate_id) == overdue_at
    _sleep_until(chain, overdue_at - MARGIN)
    with brownie.reverts(custom_error("NotYetOverdue", certificate_id, overdue_at)):
        ledger.markOverdue(certificate_id, {"from": tier1})
    _sleep_until(chain, overdue_at + MARGIN)
    tx = ledger.markOverdue(certificate_id, {"from": tier1})
    assert "CertificateOverdue" in tx.events
    assert ledger.getCertificate(certificate_id)["status"] == STATUS_OVERDUE


def test_a_pause_before_maturity_does_not_extend_the_grace_period(
    ledger, chain, operator, active_certificate, tier1
):
    certificate_id, maturity = _matured_certificate(ledger, active_certificate)
    _pause_for(ledger, chain, operator, 2 * DAY)
    assert chain[-1].timestamp < maturity
    assert ledger.overdueAt(certificate_id) == maturity + GRACE_PERIOD
    _sleep_until(chain, maturity + GRACE_PERIOD + MARGIN)
    ledger.markOverdue(certificate_id, {"from": tier1})


def test_a_pause_across_maturity_counts_from_maturity_on(
    ledger, chain, operator, active_certificate, tier1
):
    certificate_id, maturity = _matured_certificate(ledger, active_certificate)
    _sleep_until(chain, maturity - DAY)
    start, end = _pause_for(ledger, chain, operator, 6 * DAY)
    assert start < maturity < end
    overdue_at = maturity + GRACE_PERIOD + (end - maturity)
    with brownie.reverts(custom_error("NotYetOverdue", certificate_id, overdue_at)):
        ledger.markOverdue(certificate_id, {"from": tier1})
    assert ledger.overdueAt(certificate_id) == overdue_at
    _sleep_until(chain, overdue_at + MARGIN)
    ledger.markOverdue(certificate_id, {"from": tier1})


def test_several_pauses_add_up_and_a_pause_after_the_grace_ran_out_changes_nothing(
    ledger, chain, operator, active_certificate, tier1
):
    certificate_id, maturity = _matured_certificate(ledger, active_certificate)
    _sleep_until(chain, maturity + DAY)
    first = _pause_for(ledger, chain, operator, DAY)
    chain.sleep(DAY // 2)
    second = _pause_for(ledger, chain, operator, 2 * DAY)
    overdue_at = maturity + GRACE_PERIOD + (first[1] - first[0]) + (second[1] - second[0])
    assert ledger.overdueAt(certificate_id) == overdue_at
    with brownie.reverts(custom_error("NotYetOverdue", certificate_id, overdue_at)):
        ledger.markOverdue(certificate_id, {"from": tier1})
    # while paused, the answer assumes the pause ends now
    _sleep_until(chain, overdue_at - DAY)
    paused = _time_of(chain, ledger.pause({"from": operator}))
    chain.sleep(DAY)
    chain.mine()
    assert ledger.overdueAt(certificate_id) == overdue_at + chain[-1].timestamp - paused
    ledger.unpause({"from": operator})
    extended = ledger.overdueAt(certificate_id)
    _sleep_until(chain, extended + MARGIN)
    # the grace has run out; a later pause does not give it back
    _pause_for(ledger, chain, operator, 4 * DAY)
    assert ledger.overdueAt(certificate_id) == extended
    ledger.markOverdue(certificate_id, {"from": tier1})


def test_other_certificates_are_unaffected_by_a_pause_before_their_maturity(
    ledger, chain, operator, active_certificate
):
    early, early_maturity = _matured_certificate(ledger, active_certificate)
    late, _ = active_certificate(tenor_days=30)
    late_maturity = ledger.getCertificate(late)["maturity"]
    _sleep_until(chain, early_maturity + DAY)
    start, end = _pause_for(ledger, chain, operator, 2 * DAY)
    assert ledger.overdueAt(early) == early_maturity + GRACE_PERIOD + (end - start)
    assert ledger.overdueAt(late) == late_maturity + GRACE_PERIOD
