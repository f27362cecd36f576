"""A core enterprise's payables file (CSV or Excel): read, and checked row by row before
anything is sent, so that the treasurer sees every row's problem at once.

The file has a header row naming its columns, in Chinese or English (:data:`COLUMNS`):
the supplier (its name or its unified social credit code), the amount in yuan, the
maturity date (China's calendar), the invoice number, optionally the legacy invoice code
and the bank whose credit line backs the certificate (else the one chosen for the whole
file). Each row becomes one certificate; what the ledger would refuse and can be known
beforehand is refused here, per row: an unknown supplier, an amount that is not yuan with
at most two decimals, a maturity outside the ledger's window, an invoice that is not one
(:func:`chain_client.identity.invoice_key`), the same invoice twice in the file, and rows
beyond what the bank's credit line has left.

Why Excel cells are read as text: money is never a float here. openpyxl hands a numeric
cell over as a float; its shortest decimal form (``repr``) is what was typed for any
amount of up to 15 digits, and that text goes through the same yuan parser as a CSV cell
(a cell holding 12.345 is refused, never rounded).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from api.cli.money import AmountError, parse_cny
from api.timeutil import CST, china_date
from chain_client import identity

#: a row's field -> the header names it may have (compared without case and spaces)
COLUMNS: dict[str, tuple[str, ...]] = {
    "supplier": ("supplier", "beneficiary", "供应商", "收款方", "收款单位"),
    "amount": ("amount", "amount(cny)", "金额", "金额(元)", "金额（元）", "应付金额"),
    "maturity": ("maturity", "duedate", "due", "到期日", "付款日", "到期日期"),
    "invoice_number": ("invoicenumber", "invoice", "发票号码", "发票号"),
    "invoice_code": ("invoicecode", "发票代码"),
    "credit_provider": ("bank", "creditprovider", "授信银行", "银行"),
}
REQUIRED = ("supplier", "amount", "maturity", "invoice_number")
#: rows one file may hold (an automaker's month of payables to its suppliers)
MAX_ROWS = 2000
#: the ledger's longest tenor (contracts/ledger/Certificates.sol MAX_TENOR)
MAX_TENOR_SECONDS = 366 * 86_400
#: the namespace of a row record's document id (:func:`record_document_id`)
RECORD_NAMESPACE = uuid.UUID("9b6f1c1e-4a59-4e0c-8c55-2f1f3f0b8a31")


class PayablesFileError(ValueError):
    """The file as a whole cannot be read (not CSV or Excel, no header, too many rows)."""


@dataclass
class RowError:
    field: str
    code: str
    message: str


@dataclass
class PayableRow:
    row: int  # the row's line in the file, the header being line 1
    supplier: str
    amount: str
    maturity_text: str
    invoice_number: str
    invoice_code: str | None
    credit_provider: str
    beneficiary_id: int | None = None
    beneficiary_name: str | None = None
    face_value: str | None = None  # whole fen
    maturity: int | None = None  # Unix time, 00:00 China time of the day
    maturity_date: str | None = None
    credit_provider_id: int | None = None
    credit_provider_name: str | None = None
    #: the certificate this row of this file already became (a file sent again)
    issued_certificate_id: int | None = None
    errors: list[RowError] = field(default_factory=list)

    def refuse(self, field_name: str, code: str, message: str) -> None:
        self.errors.append(RowError(field_name, code, message))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Member:
    id: int
    name: str
    uscc: str | None
    role: str
    status: str


def _key(header: str) -> str:
    return "".join(header.split()).lower().replace("_", "")


def _cell(value: Any) -> str:
    """A cell as text: a date as ISO, a number by its shortest decimal form."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value).removesuffix(".0") if value.is_integer() else repr(value)
    return str(value).strip()


def read_table(filename: str, content: bytes) -> list[list[str]]:
    """The file's rows as text cells: Excel (.xlsx) by openpyxl, else CSV in UTF-8 (with or
    without a byte-order mark) or GB18030 (what Chinese spreadsheet programs write)."""
    if content[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise PayablesFileError(f"the Excel file cannot be read: {exc}") from None
        sheet = book.worksheets[0]
        rows = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        book.close()
        return rows
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise PayablesFileError("the file is neither UTF-8 nor GB18030 text, nor an .xlsx file")
    return [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]


def parse_rows(table: list[list[str]], default_provider: str = "") -> list[PayableRow]:
    """The rows under the header, blank rows skipped (:class:`PayablesFileError` if the
    header lacks a required column or the file has no row or too many)."""
    if not table:
        raise PayablesFileError("the file is empty")
    header = [_key(h) for h in table[0]]
    where: dict[str, int] = {}
    for name, aliases in COLUMNS.items():
        for alias in aliases:
            if _key(alias) in header:
                where[name] = header.index(_key(alias))
                break
    missing = [name for name in REQUIRED if name not in where]
    if missing:
        raise PayablesFileError(
            f"the header row lacks {', '.join(missing)} (accepted names: "
            + "; ".join(f"{n}: {', '.join(COLUMNS[n])}" for n in missing)
            + ")"
        )

    def get(cells: list[str], name: str) -> str:
        index = where.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    rows = []
    for number, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        rows.append(
            PayableRow(
                row=number,
                supplier=get(cells, "supplier"),
                amount=get(cells, "amount"),
                maturity_text=get(cells, "maturity"),
                invoice_number=get(cells, "invoice_number"),
                invoice_code=get(cells, "invoice_code") or None,
                credit_provider=get(cells, "credit_provider") or default_provider,
            )
        )
    if not rows:
        raise PayablesFileError("the file has a header but no row")
    if len(rows) > MAX_ROWS:
        raise PayablesFileError(f"a file may hold at most {MAX_ROWS} rows; this one {len(rows)}")
    return rows


def _find(members: Iterable[Member], text: str, role: str) -> Member | None:
    wanted = text.strip().casefold()
    for member in members:
        if member.role == role and wanted in (
            member.name.casefold(),
            (member.uscc or "").casefold(),
        ):
            return member
    return None


def maturity_of(text: str) -> int:
    """'2027-06-30' (or 2027/6/30) -> 00:00 of that day in China, as a Unix time."""
    day = date.fromisoformat(text.strip().replace("/", "-")) if text else None
    if day is None:
        raise ValueError("no date")
    return int(datetime(day.year, day.month, day.day, tzinfo=CST).timestamp())


def check_rows(
    rows: list[PayableRow],
    members: list[Member],
    *,
    chain_now: int,
    available: Mapping[int, int],
    invoice_secret: bytes,
) -> None:
    """Fill each row's resolved values and its errors (in place). ``available``: the
    credit each bank (by id) has left for this core enterprise."""
    seen: dict[bytes, int] = {}
    wanted: dict[int, int] = {}
    for row in rows:
        supplier = _find(members, row.supplier, "supplier")
        if supplier is None or supplier.status != "active":
            row.refuse(
                "supplier",
                "unknown_supplier",
                f"{row.supplier!r} is no active supplier of the platform (give its name or "
                "its unified social credit code as the member directory has them).",
            )
        else:
            row.beneficiary_id, row.beneficiary_name = supplier.id, supplier.name
        try:
            row.face_value = str(parse_cny(row.amount))
        except AmountError as exc:
            row.refuse("amount", "bad_amount", str(exc))
        try:
            row.maturity = maturity_of(row.maturity_text)
            row.maturity_date = china_date(row.maturity)
            if not chain_now < row.maturity <= chain_now + MAX_TENOR_SECONDS:
                row.refuse(
                    "maturity",
                    "invalid_maturity",
                    f"The maturity must lie after today ({china_date(chain_now)}) and at most "
                    f"366 days ahead ({china_date(chain_now + MAX_TENOR_SECONDS)}).",
                )
        except ValueError:
            row.refuse(
                "maturity", "bad_date", f"{row.maturity_text!r} is not a date: use YYYY-MM-DD."
            )
        bank = _find(members, row.credit_provider, "financier") if row.credit_provider else None
        if bank is None:
            row.refuse(
                "credit_provider",
                "unknown_credit_provider",
                "Name the bank whose credit line backs this certificate (a column 'bank', "
                "or the bank chosen for the whole file).",
            )
        else:
            row.credit_provider_id, row.credit_provider_name = bank.id, bank.name
        if supplier is not None and row.invoice_number:
            try:
                seller = identity.invoice_seller(supplier.uscc or "", None)
                key = identity.invoice_key(
                    seller, row.invoice_number, secret=invoice_secret, invoice_code=row.invoice_code
                )
            except (ValueError, TypeError) as exc:
                row.refuse("invoice_number", "invalid_invoice", str(exc))
            else:
                if key in seen:
                    row.refuse(
                        "invoice_number",
                        "duplicate_invoice",
                        f"The same invoice as row {seen[key]} (one invoice backs one certificate).",
                    )
                seen.setdefault(key, row.row)
        elif not row.invoice_number:
            row.refuse("invoice_number", "missing_invoice", "Every row needs its invoice number.")
        if not row.errors and bank is not None and row.issued_certificate_id is None:
            total = wanted.get(bank.id, 0) + int(row.face_value or 0)
            if total > available.get(bank.id, 0):
                row.refuse(
                    "amount",
                    "credit_line_exceeded",
                    f"{bank.name}'s credit line has {available.get(bank.id, 0)} fen left; the "
                    f"rows up to this one need {total}.",
                )
            else:
                wanted[bank.id] = total


def idempotency_key(file_sha256: str, row: int) -> str:
    """The Idempotency-Key of a row's issuance: sending the file again (a run cut short)
    issues each row at most once."""
    return f"payables-{file_sha256[:32]}-{row}"


def record_document_id(org_id: int, file_sha256: str, row: int) -> str:
    """The id of the document a row's certificate anchors (the same row, the same id)."""
    return str(uuid.uuid5(RECORD_NAMESPACE, f"{org_id}:{file_sha256}:{row}"))


def record_bytes(fields: Mapping[str, Any]) -> bytes:
    """A row's record as the document its certificate anchors: canonical JSON, so the same
    row always has the same hash."""
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, indent=1).encode()


def file_digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
