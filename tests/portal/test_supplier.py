"""A supplier's accountant in the portal: signs in, accepts a new certificate, sees its
split tree, splits a part to a member picked by name, and gets cash at the best quote."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from api.cli.seed import BANK_A, BANK_B, CORE, TIER1, TIER2
from tests.portal.helpers import Portal, issue, shoot, sign_in


def test_the_supplier_accepts_splits_and_gets_cash(
    page: Page, portal: Portal, screenshots: Path
) -> None:
    cert = issue(portal, "1234567890")  # ¥12,345,678.90
    sign_in(page, portal, TIER1)
    expect(page.locator("[data-test=org-name]")).to_have_text(TIER1)
    incoming = page.locator("[data-test=incoming]")
    expect(incoming).to_contain_text("¥12,345,678.90")
    expect(incoming).to_contain_text(CORE)
    page.click(f"[data-test=accept-{cert}]")
    holdings = page.locator("[data-test=holdings]")
    expect(holdings).to_contain_text(f"{cert}/0")
    page.click(f"[data-test='open-{cert}/0']")
    tree = page.locator("[data-test=split-tree]")
    expect(tree.locator(f"[data-fragment='{cert}/0']")).to_have_attribute("data-kind", "mine")
    # split 20,000.50 CNY off to the tier-2 supplier, picked by name
    page.fill("[data-test=split-amount]", "20,000.50")
    page.select_option("[data-test=split-to]", label=TIER2)
    page.click("[data-test=split-submit]")
    # the piece split off is the tier-2 supplier's now: who holds what below is not the
    # tier-1 supplier's to see (the API masks it), its own remainder is
    expect(tree.locator(f"[data-fragment='{cert}/1']")).to_have_attribute("data-kind", "hidden")
    expect(tree.locator(f"[data-fragment='{cert}/0']")).to_contain_text("¥12,325,678.40")
    # the certificate's invoice: downloadable, and what the chain anchors
    docs = page.locator("[data-test=documents]")
    expect(docs.locator("[data-test=matches-chain]")).to_have_count(1)
    with page.expect_download() as download:
        docs.locator("a").first.click()
    assert Path(download.value.path()).stat().st_size > 0
    shoot(page, screenshots, "supplier-certificate")
    # the banks' standing bids, then cash for a part at the best quote
    for bank, rate in ((BANK_A, 420), (BANK_B, 380)):
        bid = portal.client(bank).post(
            "/bids",
            {
                "issuer_ids": [portal.keys[CORE]["org_id"]],
                "bands": [{"up_to_days": 366, "rate_bps": rate}],
                "max_amount": "100000000000",
                "budget": "500000000",
                "expires_at": portal.client(bank).get("/health")["block_time"] + 30 * 86_400,
            },
        )
        assert bid["bid_id"]
    page.fill("[data-test=cash-amount]", "1,000,000")
    page.click("[data-test=cash-ask]")
    quotes = page.locator("[data-test=quote-table]")
    expect(quotes.locator("tbody tr")).to_have_count(2)
    expect(quotes.locator("tbody tr").first).to_contain_text(BANK_B)  # the lower rate pays more
    words = page.locator("[data-test=plain-words]")
    expect(words).to_contain_text("¥1,000,000.00")
    expect(words).to_contain_text("年化")
    balance = f"/organizations/{portal.keys[TIER1]['org_id']}/balance"
    before = int(portal.client(TIER1).get(balance)["balance"])
    best = quotes.locator("tbody tr").first
    quoted = int(
        best.locator("td").nth(1).inner_text().lstrip("¥").replace(",", "").replace(".", "")
    )
    best.locator("button").click()
    expect(page.locator(".flash.info")).to_contain_text("融资成功")
    after = int(portal.client(TIER1).get(balance)["balance"])
    # the quote is the sale's minimum (a block later it may count a day less: more cash)
    assert quoted <= after - before < 1_000_000_00
    expect(page.locator("[data-test=balance]")).to_have_text(f"¥{after // 100:,}.{after % 100:02d}")
