"""The whole story by clicking, each person in a browser of its own: the operator onboards
a supplier and its accountant, the core enterprise issues by CSV, the tier-1 supplier
accepts and splits to the new tier-2 supplier, the banks post standing bids, the tier-2
supplier finances at the best quote, the bank verifies what it bought from the chain, the
core enterprise repays at maturity, and every holder sees its payout."""

from __future__ import annotations

import secrets
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from api.cli.seed import AUDITOR, BANK_A, BANK_B, CORE, OPERATOR, TIER1
from api.timeutil import china_date
from tests.helpers import travel, valid_uscc
from tests.portal.helpers import Portal, shoot, sign_in

NEW_SUPPLIER = "Wuxi Springs 无锡弹簧"
ACCOUNTANT = ("accountant@wuxi", "wuxi springs 2027!")


def person(browser: Browser, portal: Portal, organization: str | None = None) -> Page:
    """A new browser profile, signed in as the organization's seeded person (or, with
    None, as the new supplier's accountant)."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(20_000)
    if organization is not None:
        return sign_in(page, portal, organization)
    page.goto(portal.url + "/")
    page.fill("[data-test=login]", ACCOUNTANT[0])
    page.fill("[data-test=password]", ACCOUNTANT[1])
    page.click("[data-test=sign-in]")
    page.wait_for_selector("[data-test=org-name]")
    return page


def reload_until(page: Page, selector: str, text: str, tries: int = 40) -> None:
    """Reload until ``selector`` shows ``text`` (what the chain did, once indexed)."""
    for _ in range(tries):
        locator = page.locator(selector)
        if locator.count() and text in locator.first.inner_text():
            return
        page.wait_for_timeout(300)
        page.reload()
        page.wait_for_selector("main[data-page]")
    expect(page.locator(selector).first).to_contain_text(text)


def balance(portal: Portal, organization_id: int) -> int:
    return int(portal.operator.get(f"/organizations/{organization_id}/balance")["balance"])


def test_the_whole_story_by_clicking(
    browser: Browser, portal: Portal, screenshots: Path, tmp_path: Path
) -> None:
    # the operator onboards a tier-2 supplier and makes its accountant's account
    operator = person(browser, portal, OPERATOR)
    operator.click("[data-nav=members]")
    operator.fill("[data-test=onboard-name]", NEW_SUPPLIER)
    operator.fill("[data-test=onboard-uscc]", valid_uscc(secrets.randbelow(10**8), "9132020"))
    operator.select_option("[data-test=onboard-role]", "supplier")
    operator.click("[data-test=onboard-submit]")
    expect(operator.locator("[data-test=members]")).to_contain_text(NEW_SUPPLIER)
    operator.select_option("[data-test=person-org]", label=NEW_SUPPLIER)
    operator.fill("[data-test=person-login]", ACCOUNTANT[0])
    operator.fill("[data-test=person-name]", "周杰 Zhou Jie")
    operator.fill("[data-test=person-password]", ACCOUNTANT[1])
    operator.locator("label.inline", has_text="经办").locator("input").check()
    operator.click("[data-test=person-submit]")
    expect(operator.locator(".flash.info")).to_contain_text(ACCOUNTANT[0])

    # the core enterprise issues by CSV
    core = person(browser, portal, CORE)
    now = portal.operator.get("/health")["block_time"]
    due = china_date(now + 30 * 86_400)
    payables = tmp_path / "payables.csv"
    payables.write_text(
        "supplier,amount,maturity,invoice_number,bank\n"
        f'{TIER1},"600,000.00",{due},INV-STORY-{secrets.token_hex(4)},{BANK_A}\n'
    )
    core.click("[data-nav=issue]")
    core.set_input_files("[data-test=payables-file]", str(payables))
    core.click("[data-test=payables-check]")
    expect(core.locator("[data-test=payables-summary]")).to_contain_text("1 行可开立")
    core.click("[data-test=payables-issue]")
    expect(core.locator("[data-test=payables-count]")).to_have_text("1 / 1")
    cert = int(core.locator("[data-row-status='2']").inner_text().split("#")[1])

    # the tier-1 supplier accepts and splits 250,000 to the new supplier, picked by name
    tier1 = person(browser, portal, TIER1)
    reload_until(tier1, "[data-test=incoming]", "¥600,000.00")
    tier1.click(f"[data-test=accept-{cert}]")
    tier1.click(f"[data-test='open-{cert}/0']")
    tier1.fill("[data-test=split-amount]", "250,000")
    tier1.select_option("[data-test=split-to]", label=NEW_SUPPLIER)
    tier1.click("[data-test=split-submit]")
    expect(tier1.locator("[data-test=split-tree]")).to_contain_text("¥350,000.00")
    # the row's record the certificate anchors, checked against the chain
    documents = tier1.locator("[data-test=documents]")
    expect(documents).to_contain_text("应付账款记录")
    expect(documents.locator("[data-test=matches-chain]")).to_have_count(1)

    # both banks post standing bids from their pages
    for bank, rate in ((BANK_A, "4.20"), (BANK_B, "3.90")):
        page = person(browser, portal, bank)
        page.click("[data-nav=bids]")
        page.locator("[data-test=bid-issuers]").select_option(label=CORE)
        page.fill("[data-test=bid-rate]", rate)
        page.fill("[data-test=bid-max]", "1,000,000")
        page.fill("[data-test=bid-budget]", "2,000,000")
        page.click("[data-test=bid-post]")
        expect(page.locator("[data-test=bids] tbody tr")).to_have_count(1)
        page.context.close()

    # the new supplier's accountant finances its piece at the best quote
    tier2 = person(browser, portal)
    reload_until(tier2, "[data-test=holdings]", f"{cert}/1")
    tier2.click(f"[data-test='open-{cert}/1']")
    tier2.click("[data-test=cash-ask]")
    best = tier2.locator("[data-test=quote-table] tbody tr").first
    expect(best).to_contain_text(BANK_B)  # 3.90% pays more than 4.20%
    expect(tier2.locator("[data-test=plain-words]")).to_contain_text("¥250,000.00")
    best.locator("button").click()
    expect(tier2.locator(".flash.info")).to_contain_text("融资成功")

    # the bank that bought verifies it from the chain, check by check
    bank_b = person(browser, portal, BANK_B)
    bank_b.goto(f"{portal.url}/portal/#/verify/{cert}/1")
    expect(bank_b.locator("[data-test=verify-verdict]")).to_contain_text("核验通过")
    expect(bank_b.locator("ol.checks li.failed")).to_have_count(0)
    shoot(page=bank_b, folder=screenshots, name="bank-verify")

    # maturity: the core enterprise repays, and every holder is paid automatically
    holders = {"tier1": portal.keys[TIER1]["org_id"], "bank": portal.keys[BANK_B]["org_id"]}
    before = {who: balance(portal, org) for who, org in holders.items()}
    travel(portal.anvil, 31 * 86_400)
    core.click("[data-nav=payables]")
    core.reload()
    core.click(f"[data-test=repay-{cert}]")
    expect(core.locator(".flash.info")).to_contain_text("¥600,000.00")
    for page, amount in ((tier1, "¥350,000.00"), (bank_b, "¥250,000.00")):
        page.goto(f"{portal.url}/portal/#/notifications")
        reload_until(page, "[data-test=notifications]", f"兑付款 {amount}")
    after = {who: balance(portal, org) for who, org in holders.items()}
    assert after["tier1"] - before["tier1"] == 350_000_00
    assert after["bank"] - before["bank"] == 250_000_00
    # each role's main page once the story is told (docs/screenshots, README)
    auditor = person(browser, portal, AUDITOR)
    for page, name in (
        (tier1, "supplier"),
        (core, "core-enterprise"),
        (bank_b, "bank"),
        (operator, "operator"),
        (auditor, "auditor"),
    ):
        page.goto(f"{portal.url}/portal/#/")
        page.reload()
        page.wait_for_selector("main[data-page] section")
        shoot(page=page, folder=screenshots, name=name)
    bank_b.click("[data-nav=portfolio]")
    expect(bank_b.locator("[data-test=portfolio]")).to_contain_text(CORE)
    shoot(page=bank_b, folder=screenshots, name="bank-portfolio")
    tier1.set_viewport_size({"width": 390, "height": 844})
    tier1.click("[data-nav=notifications]")
    shoot(page=tier1, folder=screenshots, name="supplier-phone")
    for page in (operator, core, tier1, tier2, bank_b, auditor):
        page.context.close()
