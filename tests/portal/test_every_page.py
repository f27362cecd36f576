"""Every role's pages open without an error, in Chinese and in English, at a desk's width
and a phone's; a role sees only its own pages, and the API refuses what the role may not
do even when the page is bypassed."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from api.cli.seed import AUDITOR, BANK_A, CORE, OPERATOR, TIER1
from tests.portal.helpers import Portal, sign_in

#: organization -> the pages its navigation lists
ROLES = {
    TIER1: ["holdings", "verify", "approvals", "notifications"],
    CORE: ["payables", "issue", "bids", "approvals", "notifications"],
    BANK_A: ["holdings", "bids", "offers", "portfolio", "verify", "approvals", "notifications"],
    OPERATOR: ["verify", "approvals", "reports", "audit", "members", "notifications"],
    AUDITOR: ["verify", "reports", "audit", "members", "notifications"],
}


def watch(page: Page) -> list[str]:
    """The page's script errors and failed requests (each one fails the test)."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"script error: {e}"))
    page.on(
        "console",
        lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    return errors


@pytest.mark.parametrize("organization", list(ROLES))
def test_every_page_of_a_role_opens(page: Page, portal: Portal, organization: str) -> None:
    pages = ROLES[organization]
    sign_in(page, portal, organization)
    errors = watch(page)  # (before signing in, GET /v1/session answers 401, as it should)
    nav = page.locator("nav.side [data-nav]")
    expect(nav).to_have_count(len(pages))
    assert [nav.nth(i).get_attribute("data-nav") for i in range(len(pages))] == pages
    for name in pages:
        page.click(f"[data-nav={name}]")
        expect(page.locator(f"main[data-page={name}]")).to_be_visible()
        expect(page.locator("main .muted", has_text="加载中")).to_have_count(0)
        expect(page.locator("main .flash.error")).to_have_count(0)
    # English on the toggle, and back
    page.click("[data-test=language]")
    expect(page.locator("[data-test=sign-out]")).to_have_text("Sign out")
    expect(page.locator("nav.side")).not_to_contain_text("凭证")
    page.click("[data-test=language]")
    expect(page.locator("[data-test=sign-out]")).to_have_text("退出")
    assert errors == []


@pytest.mark.parametrize("organization", list(ROLES))
def test_a_phone_sees_one_column(
    context: BrowserContext, portal: Portal, organization: str
) -> None:
    """At a phone's width no page is wider than the screen (tables scroll inside their
    card)."""
    page = context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, portal, organization)
    for name in ROLES[organization]:
        page.click(f"[data-nav={name}]")
        expect(page.locator(f"main[data-page={name}]")).to_be_visible()
        expect(page.locator("main .muted", has_text="加载中")).to_have_count(0)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} is {width} px wide on a 390 px screen"


#: what each role may not do, asked of the API with the session's own CSRF token
FORBIDDEN = {
    TIER1: ("POST", "/v1/organizations", {"name": "x", "uscc": "x", "role": "supplier"}),
    CORE: ("POST", "/v1/offers/1/accept", None),
    BANK_A: ("POST", "/v1/certificates/1/repay", {"amount": "1"}),
    OPERATOR: ("PUT", "/v1/credit-lines", {"core_enterprise_id": 1, "limit": "1"}),
    AUDITOR: ("POST", "/v1/bids/1/cancel", None),
}


@pytest.mark.parametrize("organization", list(FORBIDDEN))
def test_the_api_refuses_what_the_role_may_not_do(
    page: Page, portal: Portal, organization: str
) -> None:
    """The pages list only what a role may do; a request made around them (with the
    session's own CSRF token) is still the API's to refuse, by the same rules, and the
    refusal is in the audit log under the person's organization."""
    sign_in(page, portal, organization)
    method, path, body = FORBIDDEN[organization]
    answer = page.evaluate(
        """async ([method, path, body]) => {
            const session = await (await fetch("/v1/session")).json();
            const r = await fetch(path, {
                method,
                headers: {"Content-Type": "application/json", "X-CSRF-Token": session.csrf_token},
                body: body === null ? undefined : JSON.stringify(body),
            });
            return [r.status, (await r.json()).code];
        }""",
        [method, path, body],
    )
    assert answer == [403, "wrong_role"]
    org_id = portal.keys[organization]["org_id"]
    refused = portal.operator.get("/audit-log", outcome="refused", org_id=org_id)
    assert any(e["code"] == "wrong_role" for e in refused)


def test_a_change_without_the_csrf_token_is_refused(page: Page, portal: Portal) -> None:
    sign_in(page, portal, CORE)
    answer = page.evaluate(
        """async () => {
            const r = await fetch("/v1/session/language", {
                method: "PUT",
                headers: {"Content-Type": "application/json"},
                body: JSON.stringify({language: "en"}),
            });
            return [r.status, (await r.json()).code];
        }"""
    )
    assert answer == [403, "csrf_failed"]
