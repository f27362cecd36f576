"""A core enterprise's treasurer in the portal: issues certificates from a payables file
(a preview with each row's errors before anything is sent, then a progress bar), sees
what it owes by maturity, and repays."""

from __future__ import annotations

import uuid
from pathlib import Path

from playwright.sync_api import Page, expect

from api.cli.seed import BANK_A, CORE, TIER1, TIER2
from api.timeutil import china_date
from tests.portal.helpers import Portal, shoot, sign_in


def test_the_treasurer_issues_from_a_payables_file(
    page: Page, portal: Portal, screenshots: Path, tmp_path: Path
) -> None:
    now = portal.operator.get("/health")["block_time"]
    due = china_date(now + 60 * 86_400)
    rows = [
        f'{TIER1},"250,000.00",{due},INV-{uuid.uuid4().hex[:8]}',
        f"{TIER2},18000.5,{due},INV-{uuid.uuid4().hex[:8]}",
        f"{TIER1},99.99,{china_date(now + 90 * 86_400)},INV-{uuid.uuid4().hex[:8]}",
        f"Nobody Ltd,10,{due},INV-{uuid.uuid4().hex[:8]}",
    ]
    payables = tmp_path / "应付账款-三月.csv"
    payables.write_text("供应商,金额（元）,到期日,发票号码\n" + "\n".join(rows) + "\n")
    sign_in(page, portal, CORE)
    expect(page.locator("[data-page=payables]")).to_be_visible()
    page.click("[data-nav=issue]")
    page.set_input_files("[data-test=payables-file]", str(payables))
    page.select_option("[data-test=payables-bank]", label=BANK_A)
    page.click("[data-test=payables-check]")
    summary = page.locator("[data-test=payables-summary]")
    expect(summary).to_contain_text("3 行可开立")
    expect(summary).to_contain_text("¥268,100.49")
    expect(page.locator("[data-row='5']")).to_contain_text("Nobody Ltd")
    expect(page.locator("[data-row-status='5'] [data-code=unknown_supplier]")).to_contain_text(
        "供应商"
    )
    page.click("[data-test=payables-issue]")
    expect(page.locator("[data-test=payables-count]")).to_have_text("3 / 3", timeout=60_000)
    expect(page.locator(".flash.info")).to_contain_text("成功 3 张")
    for row in (2, 3, 4):
        expect(page.locator(f"[data-row-status='{row}']")).to_contain_text("已开立")
    shoot(page, screenshots, "core-enterprise-issue")
    # the same file again: every row is named as issued, nothing left to send
    page.click("[data-test=payables-check]")
    expect(summary).to_contain_text("0 行可开立")
    expect(page.locator("[data-test=payables-issue]")).to_be_disabled()
    # what it owes, by maturity
    page.click("[data-nav=payables]")
    day = page.locator(f"[data-test=calendar] [data-day='{due}']")
    expect(day).to_contain_text("¥268,000.50")
    expect(page.locator("[data-test=payables]")).to_contain_text(TIER2)
    shoot(page, screenshots, "core-enterprise")
