"""Stateful property test: random lifecycles, with DESIGN.md's invariants checked after every step.

Hypothesis drives random sequences of issue / accept / reject / split / transfer / finance /
time passing / repay / claim / pay a page / mark overdue. A plain-Python model follows what
*should* happen; after every step the chain is compared with the model and the invariants
are checked on chain state alone:

- the live fragments of a certificate sum exactly to its face value, none is zero;
- every fragment names its certificate and a parent created before it;
- an invoice backs one certificate;
- repayment paid out never exceeds repayment paid in, per fragment and per certificate, and
  the ledger holds exactly what was paid in and not yet paid out;
- the credit line in use equals what is still owed under it;
- nothing moves after maturity (moves are only attempted by the model when allowed, and a
  move after maturity must revert).

brownie 1.22.2 ships its `state_machine` helper compiled with mypyc, and the compiled class
refuses the machine class it builds itself (a TypeError in execute_step), so this drives
hypothesis's RuleBasedStateMachine directly, the way that helper does: revert the chain to a
snapshot before every example.
"""

from __future__ import annotations

import brownie
from conftest import (
    DAY,
    STATUS_ACTIVE,
    STATUS_DEFAULTED,
    STATUS_ISSUED,
    STATUS_OVERDUE,
    STATUS_REJECTED,
    STATUS_SETTLED,
    document_hash,
    next_invoice_key,
)
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

OWING = (STATUS_ISSUED, STATUS_ACTIVE, STATUS_OVERDUE, STATUS_DEFAULTED)


choice = st.integers(min_value=0, max_value=2**32)
face = st.integers(min_value=1, max_value=10_000_000)
fraction = st.integers(min_value=1, max_value=9_999)
rate = st.integers(min_value=0, max_value=2_000)
days = st.integers(min_value=1, max_value=60)


class LedgerStateMachine(RuleBasedStateMachine):
    ledger = token = chain = core = bank = None
    holders: tuple = ()

    def __init__(self):
        self.chain.revert()
        super().__init__()
        self.certs = {}  # id -> dict(face, maturity, status, repaid, invoice)
        self.fragments = {}  # id -> dict(cert, holder, value, paid, parent)
        self.paid_in = 0
        self.paid_out = 0

    # -- helpers -----------------------------------------------------------------------
    def _pick(self, items, choice):
        items = sorted(items)
        return items[choice % len(items)] if items else None

    def _now(self):
        return self.chain[-1].timestamp

    def _movable_fragments(self):
        now = self._now()
        return [
            f
            for f, rec in self.fragments.items()
            if self.certs[rec["cert"]]["status"] == STATUS_ACTIVE
            and now < self.certs[rec["cert"]]["maturity"]
        ]

    def _holder(self, choice):
        return self.holders[choice % len(self.holders)]

    # -- rules ---------------------------------------------------------------------------
    @rule(face=face, days=days, choice=choice)
    def rule_issue(self, face, days, choice):
        maturity = self._now() + days * DAY
        key = next_invoice_key()
        tx = self.ledger.issue(
            self.bank, self.holders[0], face, maturity, key, document_hash(), {"from": self.core}
        )
        self.certs[tx.return_value] = {
            "face": face,
            "maturity": maturity,
            "status": STATUS_ISSUED,
            "repaid": 0,
            "invoice": key,
        }

    @rule(choice=choice)
    def rule_accept_or_reject(self, choice):
        pending = [
            c
            for c, rec in self.certs.items()
            if rec["status"] == STATUS_ISSUED and self._now() < rec["maturity"]
        ]
        cert = self._pick(pending, choice)
        if cert is None:
            return
        if choice % 5 == 0:
            self.ledger.reject(cert, {"from": self.holders[0]})
            self.certs[cert]["status"] = STATUS_REJECTED
            return
        root = self.ledger.accept(cert, {"from": self.holders[0]}).return_value
        self.certs[cert]["status"] = STATUS_ACTIVE
        self.fragments[root] = {
            "cert": cert,
            "holder": self.holders[0],
            "value": self.certs[cert]["face"],
            "paid": 0,
            "parent": 0,
        }

    @rule(choice=choice, fraction=fraction)
    def rule_split(self, choice, fraction):
        fragment = self._pick(self._movable_fragments(), choice)
        if fragment is None:
            return
        rec = self.fragments[fragment]
        amount = rec["value"] * fraction // 10_000
        if amount == 0 or amount >= rec["value"]:
            with brownie.reverts(revert_pattern=r"InvalidSplitAmount: .*"):
                self.ledger.split(
                    fragment, self._holder(choice >> 3), amount, {"from": rec["holder"]}
                )
            return
        to = self._holder(choice >> 3)
        child = self.ledger.split(fragment, to, amount, {"from": rec["holder"]}).return_value
        rec["value"] -= amount
        self.fragments[child] = {
            "cert": rec["cert"],
            "holder": to,
            "value": amount,
            "paid": 0,
            "parent": fragment,
        }

    @rule(choice=choice)
    def rule_transfer(self, choice):
        fragment = self._pick(self._movable_fragments(), choice)
        if fragment is None:
            return
        rec = self.fragments[fragment]
        to = self._holder(choice >> 5)
        self.ledger.transferFragment(fragment, to, {"from": rec["holder"]})
        rec["holder"] = to

    @rule(choice=choice, fraction=fraction, rate=rate)
    def rule_finance(self, choice, fraction, rate):
        candidates = [
            f for f in self._movable_fragments() if self.fragments[f]["holder"] != self.bank
        ]
        fragment = self._pick(candidates, choice)
        if fragment is None:
            return
        rec = self.fragments[fragment]
        amount = max(1, rec["value"] * fraction // 10_000)
        maturity = self.certs[rec["cert"]]["maturity"]
        offer = self.ledger.offerFinancing(
            fragment, self.bank, amount, rate, maturity, {"from": rec["holder"]}
        ).return_value
        days, discount, _payment = self.ledger.quote(offer)
        if discount >= amount:
            return
        seller = rec["holder"]
        before = self.token.balanceOf(seller)
        tx = self.ledger.acceptOffer(offer, {"from": self.bank})
        financed = tx.return_value
        # priced at the block that mines the acceptance, which may start a new day after
        # the quote's block: whole days from that block's time, ACT/360, rounded down
        priced_days = (maturity - self.chain[tx.block_number].timestamp) // 86_400
        assert priced_days in (days, days - 1)
        assert tx.events["FinancingAccepted"]["days_"] == priced_days
        payment = amount - amount * rate * priced_days // 3_600_000
        assert self.token.balanceOf(seller) - before == payment
        if financed == fragment:
            rec["holder"] = self.bank
        else:
            rec["value"] -= amount
            self.fragments[financed] = {
                "cert": rec["cert"],
                "holder": self.bank,
                "value": amount,
                "paid": 0,
                "parent": fragment,
            }

    @rule(days=days)
    def rule_time_passes(self, days):
        self.chain.sleep(days * DAY)
        self.chain.mine()
        fragment = self._pick(self.fragments, days)
        if fragment is not None:
            rec = self.fragments[fragment]
            if self._now() >= self.certs[rec["cert"]]["maturity"]:
                with brownie.reverts(
                    revert_pattern=r"(CertificateMatured|WrongCertificateStatus): .*"
                ):
                    self.ledger.transferFragment(fragment, self.holders[1], {"from": rec["holder"]})

    @rule(choice=choice, fraction=fraction)
    def rule_repay(self, choice, fraction):
        now = self._now()
        due = [
            c
            for c, rec in self.certs.items()
            if rec["status"] in (STATUS_ACTIVE, STATUS_OVERDUE) and now >= rec["maturity"]
        ]
        cert = self._pick(due, choice)
        if cert is None:
            return
        rec = self.certs[cert]
        outstanding = rec["face"] - rec["repaid"]
        amount = outstanding if choice % 3 == 0 else max(1, outstanding * fraction // 10_000)
        self.ledger.repay(cert, amount, {"from": self.core})
        rec["repaid"] += amount
        self.paid_in += amount
        if rec["repaid"] == rec["face"]:
            rec["status"] = STATUS_SETTLED

    @rule(choice=choice)
    def rule_pay_page(self, choice):
        repaid = [c for c, rec in self.certs.items() if rec["repaid"] > 0]
        cert = self._pick(repaid, choice)
        if cert is None:
            return
        count = self.ledger.getCertificate(cert)["fragmentCount"]
        start = choice % count
        total = self.ledger.payFragments(
            cert, start, 1 + choice % 4, {"from": self.core}
        ).return_value
        self._record_payouts(cert, total)

    @rule(choice=choice)
    def rule_claim(self, choice):
        owed = [
            f
            for f, rec in self.fragments.items()
            if rec["value"] * self.certs[rec["cert"]]["repaid"] // self.certs[rec["cert"]]["face"]
            > rec["paid"]
        ]
        fragment = self._pick(owed, choice)
        if fragment is None:
            return
        rec = self.fragments[fragment]
        total = self.ledger.claim(fragment, {"from": rec["holder"]}).return_value
        self._record_payouts(rec["cert"], total)

    @rule(choice=choice)
    def rule_mark_overdue(self, choice):
        now = self._now()
        grace = self.ledger.gracePeriod()
        late = [
            c
            for c, rec in self.certs.items()
            if rec["status"] == STATUS_ACTIVE and now > rec["maturity"] + grace
        ]
        cert = self._pick(late, choice)
        if cert is None:
            return
        self.ledger.markOverdue(cert, {"from": self.holders[1]})
        self.certs[cert]["status"] = STATUS_OVERDUE

    def _record_payouts(self, cert, total):
        self.paid_out += total
        for fragment_id, rec in self.fragments.items():
            if rec["cert"] == cert:
                rec["paid"] = self.ledger.getFragment(fragment_id)[4]

    # -- invariants ------------------------------------------------------------------------
    @invariant()
    def invariant_fragments_sum_to_face_value(self):
        for cert, rec in self.certs.items():
            on_chain = self.ledger.getCertificate(cert)
            assert on_chain["status"] == rec["status"]
            count = on_chain["fragmentCount"]
            total = 0
            for seq in range(count):
                fragment_id = self.ledger.fragmentIdOf(cert, seq)
                certificate_id, parent, holder, value, paid = self.ledger.getFragment(fragment_id)
                model = self.fragments[fragment_id]
                assert value > 0
                assert (certificate_id, holder, value, paid) == (
                    cert,
                    model["holder"],
                    model["value"],
                    model["paid"],
                )
                assert parent == model["parent"]
                assert seq == 0 or (parent >> 32 == cert and parent < fragment_id)
                assert paid * on_chain["faceValue"] <= value * on_chain["repaid"]
                total += value
            if count:
                assert total == rec["face"]

    @invariant()
    def invariant_repayment_conserved(self):
        total_in = total_out = 0
        for cert in self.certs:
            on_chain = self.ledger.getCertificate(cert)
            assert on_chain["paidOut"] <= on_chain["repaid"] <= on_chain["faceValue"]
            total_in += on_chain["repaid"]
            total_out += on_chain["paidOut"]
        assert (total_in, total_out) == (self.paid_in, self.paid_out)
        assert self.token.balanceOf(self.ledger) == total_in - total_out

    @invariant()
    def invariant_credit_line_matches_debt(self):
        owing = sum(
            rec["face"] - rec["repaid"] for rec in self.certs.values() if rec["status"] in OWING
        )
        assert self.ledger.creditLine(self.bank, self.core)[1] == owing

    @invariant()
    def invariant_invoice_backs_one_certificate(self):
        for cert, rec in self.certs.items():
            assert self.ledger.certificateOfInvoice(rec["invoice"]) == cert


def test_ledger_invariants(ledger, token, chain, core, bank, tier1, tier2, tier3):
    class Machine(LedgerStateMachine):
        pass

    Machine.ledger, Machine.token, Machine.chain = ledger, token, chain
    Machine.core, Machine.bank, Machine.holders = core, bank, (tier1, tier2, tier3)
    chain.snapshot()
    run_state_machine_as_test(
        Machine, settings=settings(max_examples=30, stateful_step_count=25, deadline=None)
    )
