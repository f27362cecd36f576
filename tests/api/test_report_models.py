"""The verifier's report through its response model: the JSON sent is what
``VerificationReport.to_dict`` wrote, key for key, so a field the verifier adds or
renames fails here instead of disappearing from the API's answer.

No chain: the report is built from the verifier's own pure checks on doctored data, with
fragment ids past 2**53 (written as decimal strings) and below it (numbers), and the node's
freshness judged from doctored heads (stale and allowed, with a reference behind it)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from api.schemas import VerificationView
from chain_client.discount import discount
from chain_client.errors import ManifestError
from chain_client.events import FinancingAccepted, SoldToBid
from chain_client.freshness import Head, ReferenceComparison, judge
from chain_client.ledger_types import Certificate, CertificateStatus, Fragment, fragment_id_of
from chain_client.verifier import (
    Check,
    VerificationReport,
    check_financing,
    check_node_freshness,
    check_repayment,
    failed_manifest_report,
)

ISSUER = "0x" + "11" * 20
SUPPLIER = "0x" + "22" * 20
BANK = "0x" + "33" * 20


def full_report(certificate_id: int) -> VerificationReport:
    """A report of a financed fragment, every section filled in by the verifier's checks."""
    root, child = fragment_id_of(certificate_id, 0), fragment_id_of(certificate_id, 1)
    certificate = Certificate(
        id=certificate_id,
        issuer=ISSUER,
        beneficiary=SUPPLIER,
        credit_provider=BANK,
        face_value=1_000_000,
        maturity=1_900_000_000,
        issued_at=1_800_000_000,
        status=CertificateStatus.ACTIVE,
        fragment_count=2,
        repaid=0,
        paid_out=0,
        invoice_key=b"\x01" * 32,
        document_hash=b"\x02" * 32,
    )
    fragments = [
        Fragment(root, certificate_id, None, SUPPLIER, 600_000, 0),
        Fragment(child, certificate_id, root, BANK, 400_000, 0),
    ]
    financed = [
        FinancingAccepted(
            offer_id=7,
            fragment_id=root,
            financier=BANK,
            seller=SUPPLIER,
            financed_fragment_id=child,
            amount=400_000,
            discount=3_287,
            days=30,
            payment=396_713,
            block_number=12,
            log_index=0,
        )
    ]
    # and a piece of the root sold to a standing bid (its rows have a bid, not an offer)
    sale_discount = discount(100_000, 1_200, 30)
    sales = [
        SoldToBid(
            bid_id=3,
            fragment_id=root,
            funder=BANK,
            seller=SUPPLIER,
            payee=SUPPLIER,
            financed_fragment_id=fragment_id_of(certificate_id, 2),
            amount=100_000,
            discount=sale_discount,
            days=30,
            payment=100_000 - sale_discount,
            block_number=13,
            log_index=1,
        )
    ]
    financing_check, financing = check_financing(
        [child, root], financed, {7: 1_000}, sales, {(13, 1): 1_200}
    )
    assert {"bid_id", "offer_id"} <= {k for f in financing for k in f}
    repayment_check, repayment = check_repayment(certificate, fragments, fragments[1], 0)
    head = Head(number=20, hash="0x" + "55" * 32, timestamp=1_800_000_100)
    freshness = judge(
        head,
        chain_id=31337,
        now=1_800_000_107.5,
        max_head_age=75.0,
        max_head_age_source="measured",
        mining="geth on chain 31337 seals blocks on its period",
        block_period_seconds=15.0,
        references=[
            ReferenceComparison(
                "https://node.other-bank.cn:8545",
                chain_id=31337,
                head_number=37,
                lag_blocks=17,
                compared_block=20,
                our_hash=head.hash,
                their_hash=head.hash,
                hashes_match=True,
            ),
            ReferenceComparison("http://127.0.0.1:9", error="NodeError: cannot reach the node"),
        ],
        allow_stale=True,
    )
    return VerificationReport(
        fragment_id=child,
        certificate_id=certificate_id,
        chain_id=31337,
        ledger_address="0x" + "44" * 20,
        block_number=20,
        checks=[
            check_node_freshness(freshness),
            Check("lineage", True, "1 split(s) back to the root"),
            financing_check,
            repayment_check,
        ],
        lineage=[child, root],
        fragment=dataclasses.asdict(fragments[1]),
        certificate=dataclasses.asdict(certificate),
        financing=financing,
        repayment=repayment,
        freshness=dataclasses.asdict(freshness),
        fragments_read=2,
        elapsed_seconds=0.125,
    )


def sent(report: VerificationReport) -> str:
    """The JSON the endpoint sends: the report validated into its model, then dumped."""
    view = VerificationView.model_validate(report.to_dict())
    return json.dumps(view.model_dump(mode="json"))


@pytest.mark.parametrize("certificate_id", [3, 2**21 + 5], ids=["small ids", "ids past 2**53"])
def test_a_full_report_is_sent_as_the_verifier_wrote_it(certificate_id: int) -> None:
    report = full_report(certificate_id)
    assert sent(report) == json.dumps(report.to_dict())


def test_fragment_ids_past_2_53_stay_strings_and_small_ones_numbers() -> None:
    large = json.loads(sent(full_report(2**21 + 5)))
    small = json.loads(sent(full_report(3)))
    assert isinstance(large["fragment_id"], str)
    assert all(isinstance(f, str) for f in large["lineage"])
    assert isinstance(large["financing"][0]["financed_fragment"], str)
    assert isinstance(small["fragment_id"], int)
    assert small["fragment"]["parent_id"] == fragment_id_of(3, 0)


def test_the_freshness_numbers_are_sent_with_their_types() -> None:
    data = json.loads(sent(full_report(3)))
    freshness = data["freshness"]
    assert freshness["stale"] is True and freshness["stale_allowed"] is True
    assert freshness["age_seconds"] == 7 and freshness["max_head_age_seconds"] == 75.0
    assert [r["lag_blocks"] for r in freshness["references"]] == [17, None]
    # allowed: the check passes, and the freshness says why the answer may be out of date
    assert "node_freshness" not in data["failed_checks"]


def test_a_report_whose_manifest_failed_is_sent_as_the_verifier_wrote_it() -> None:
    report = failed_manifest_report(fragment_id_of(3, 1), ManifestError("no such file"))
    data = json.loads(sent(report))
    assert data["fragment"] is None and data["repayment"] is None and not data["ok"]
    assert data["freshness"] is None
    assert sent(report) == json.dumps(report.to_dict())
