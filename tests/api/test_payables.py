"""Issuing from a payables file (issue 15): a CSV or Excel file checked row by row before
anything is sent, then each valid row issued once, anchoring a record of the row."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from api.services.payables import idempotency_key
from api.timeutil import china_date
from chain_client.node import AnvilNode
from tests.api.helpers import World, open_world, populate


@pytest.fixture(scope="module")
def w(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    for world in open_world(anvil, tmp_path_factory.mktemp("payables")):
        yield populate(world)


def preview(w: World, name: str, content: bytes, bank: int | None = None, who: Any = None) -> Any:
    data = {"bank_id": str(bank)} if bank else {}
    return w.client.post(
        "/v1/payables/preview",
        files={"file": (name, content, "text/csv")},
        data=data,
        headers=(who or w.core).headers,
    )


def day(w: World, days: int) -> str:
    return china_date(w.block_time() + days * 86_400)


def invoice() -> str:
    return "INV-" + uuid.uuid4().hex[:10]


def test_every_row_is_checked_before_anything_is_sent(w: World) -> None:
    count = len(w.client.get("/v1/certificates", headers=w.core.headers).json())
    dup = invoice()
    lines = [
        "供应商,金额（元）,到期日,发票号码,授信银行",
        f'tier1,"1,234.50",{day(w, 90)},{invoice()},bank',
        f"tier2,88,{day(w, 30)},{dup},bank",
        f"nobody,10,{day(w, 30)},{invoice()},bank",
        f"tier1,12.345,{day(w, 30)},{invoice()},bank",
        f"tier1,10,next month,{invoice()},bank",
        f"tier1,10,{day(w, 400)},{invoice()},bank",
        f"tier2,10,{day(w, 30)},{dup},bank",
        f"tier1,10,{day(w, 30)},,bank",
        f"tier1,10,{day(w, 30)},{invoice()},",
        ",,,,",
    ]
    # Chinese spreadsheet programs save CSV as GB18030
    r = preview(w, "应付账款.csv", "\n".join(lines).encode("gb18030"))
    assert r.status_code == 200, r.text
    body = r.json()
    codes = {row["row"]: [e["code"] for e in row["errors"]] for row in body["rows"]}
    assert codes == {
        2: [],
        3: [],
        4: ["unknown_supplier"],
        5: ["bad_amount"],
        6: ["bad_date"],
        7: ["invalid_maturity"],
        8: ["duplicate_invoice"],
        9: ["missing_invoice"],
        10: ["unknown_credit_provider"],
    }
    first = body["rows"][0]
    assert first["face_value"] == "123450" and first["beneficiary_id"] == w.tier1.org_id
    assert first["maturity_date"] == day(w, 90)
    assert body["valid_rows"] == 2 and body["rows_with_errors"] == 7
    assert body["total_face_value"] == "132250"
    assert [c["credit_provider_id"] for c in body["credit"]] == [w.bank.org_id]
    # nothing was sent
    assert len(w.client.get("/v1/certificates", headers=w.core.headers).json()) == count


def test_an_excel_file_and_the_bank_chosen_for_the_whole_file(w: World) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Supplier", "Amount", "Due date", "Invoice number"])
    maturity = datetime.fromisoformat(day(w, 60))
    sheet.append(["tier1", 1234.5, maturity, invoice()])
    sheet.append(["tier2", 20000, maturity, invoice()])
    sheet.append(["tier2", 12.345, maturity, invoice()])
    out = io.BytesIO()
    book.save(out)
    r = preview(w, "payables.xlsx", out.getvalue(), bank=w.bank.org_id)
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert [row["face_value"] for row in rows[:2]] == ["123450", "2000000"]
    assert [row["credit_provider_id"] for row in rows[:2]] == [w.bank.org_id] * 2
    assert rows[2]["errors"][0]["code"] == "bad_amount"  # a third decimal is never rounded


def test_valid_rows_are_issued_once_each_and_anchor_their_record(w: World) -> None:
    lines = ["supplier,amount,maturity,invoice_number,bank"] + [
        f"tier1,{100 + n},{day(w, 45)},{invoice()},bank" for n in range(3)
    ]
    content = "\n".join(lines).encode()
    body = preview(w, "march.csv", content).json()
    assert body["valid_rows"] == 3
    issued = []
    for row in body["rows"]:
        request = {
            "beneficiary_id": row["beneficiary_id"],
            "credit_provider_id": row["credit_provider_id"],
            "face_value": row["face_value"],
            "maturity": row["maturity"],
            "invoice_number": row["invoice_number"],
            "source_file": body["file_name"],
            "source_sha256": body["file_sha256"],
            "row": row["row"],
        }
        headers = {
            **w.core.headers,
            "Idempotency-Key": idempotency_key(body["file_sha256"], row["row"]),
        }
        r = w.client.post("/v1/payables/issue", json=request, headers=headers)
        assert r.status_code == 201, r.text
        again = w.client.post("/v1/payables/issue", json=request, headers=headers)
        assert again.json() == r.json() and again.headers["Idempotent-Replayed"] == "true"
        issued.append(r.json()["certificate_id"])
    # the supplier sees each certificate, and can check the row's record against the chain
    for cert in issued:
        docs = w.client.get(f"/v1/certificates/{cert}", headers=w.tier1.headers).json()
        assert docs["status"] == "issued"
    listed = w.client.get("/v1/certificates", headers=w.tier1.headers).json()
    assert set(issued) <= {c["id"] for c in listed}
    # the same file again: every row is named as issued, nothing is left to send
    again = preview(w, "march.csv", content).json()
    assert [row["issued_certificate_id"] for row in again["rows"]] == issued
    assert again["valid_rows"] == 0 and again["already_issued"] == 3


def test_a_row_outside_the_ledgers_window_is_refused_before_its_record_is_made(w: World) -> None:
    """The fuzzer sent a maturity in the year 35477: the row's record could not write its
    date and the answer was 500. Now the ledger's window is checked first: 422."""
    for maturity in (2**40 - 1, w.block_time() - 1):
        r = w.client.post(
            "/v1/payables/issue",
            json={
                "beneficiary_id": w.tier1.org_id,
                "credit_provider_id": w.bank.org_id,
                "face_value": "100",
                "maturity": maturity,
                "invoice_number": invoice(),
                "source_file": "far.csv",
                "source_sha256": "ab" * 32,
                "row": 2,
            },
            headers={**w.core.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 422 and r.json()["code"] == "invalid_maturity", r.text


def test_rows_beyond_the_credit_line_are_refused_in_the_preview(w: World) -> None:
    line = w.client.get("/v1/credit-lines", headers=w.core.headers).json()[0]
    available = int(line["available"])
    half = available // 2 + 1  # two such rows do not fit
    lines = ["supplier,amount,maturity,invoice_number,bank"] + [
        f"tier1,{half // 100}.{half % 100:02d},{day(w, 45)},{invoice()},bank" for _ in range(2)
    ]
    rows = preview(w, "big.csv", "\n".join(lines).encode()).json()["rows"]
    assert rows[0]["errors"] == []
    assert rows[1]["errors"][0]["code"] == "credit_line_exceeded"


def test_the_answer_carries_every_field_of_a_checked_row() -> None:
    """PayableRowView is the service's PayableRow field for field: a field added to one and
    not the other would vanish from the answer without a word."""
    from dataclasses import fields

    from api.schemas import PayableRowView
    from api.services.payables import PayableRow

    assert list(PayableRowView.model_fields) == [f.name for f in fields(PayableRow)]


def test_only_a_core_enterprise_maker_previews_and_a_bad_file_is_refused(w: World) -> None:
    r = preview(w, "x.csv", b"supplier,amount\n", who=w.tier1)
    assert r.status_code == 403 and r.json()["code"] == "wrong_role"
    r = preview(w, "x.csv", b"name,total\nfoo,1\n")
    assert r.status_code == 422 and r.json()["code"] == "unreadable_payables"
    assert "supplier" in r.json()["detail"]
    r = preview(w, "x.xlsx", b"PK\x03\x04 not really a workbook")
    assert r.status_code == 422 and r.json()["code"] == "unreadable_payables"
