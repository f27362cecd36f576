"""Notifications in the portal, and a webhook an admin registers there: a test delivery
from its button, and a notification delivered after a failed first attempt."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from api import webhooks
from api.cli.seed import TIER1
from tests.api.helpers import Receiver
from tests.portal.helpers import Portal, issue, sign_in


def test_a_webhook_is_tested_then_delivers_a_notification_after_a_retry(
    page: Page, portal: Portal
) -> None:
    receiver = Receiver([])
    try:
        sign_in(page, portal, TIER1)
        page.click("[data-nav=notifications]")
        page.fill("[data-test=webhook-url]", receiver.url)
        page.click("[data-test=webhook-add]")
        secret = page.locator("[data-test=webhook-secret] code")
        expect(secret).to_contain_text(webhooks.SECRET_PREFIX)
        key = secret.inner_text()
        hook_id = portal.client(TIER1).get("/webhooks")[-1]["id"]
        page.click(f"[data-test=webhook-test-{hook_id}]")
        expect(page.locator(".flash.info")).to_contain_text("测试推送成功")
        headers, body = receiver.received[-1]
        assert webhooks.verify(key, body, headers["SCF-Signature"])
        # a certificate to the supplier: the endpoint fails once, the retry delivers it
        receiver.statuses = [500]
        cert = issue(portal, "880000")
        notes = page.locator("[data-test=notifications]")
        for _ in range(40):  # the indexing process makes it within a moment: reload to see
            page.reload()
            page.wait_for_selector("main[data-page=notifications] h2")
            if notes.count() and f"凭证 {cert}" in notes.inner_text():
                break
            page.wait_for_timeout(250)
        expect(notes).to_contain_text(f"凭证 {cert}")
        expect(page.locator("[data-test=bell]")).to_contain_text("通知")
        page.click(f"[data-test=webhook-log-{hook_id}]")
        log = page.locator("[data-test=deliveries]")
        expect(log).to_contain_text("certificate_received")
        for _ in range(20):  # the retry comes 0.5 s later
            page.click(f"[data-test=webhook-log-{hook_id}]")
            if "已送达" in log.locator("tbody tr").first.inner_text():
                break
            page.wait_for_timeout(500)
        first = log.locator("tbody tr").first
        expect(first).to_contain_text("已送达")
        expect(first).to_contain_text("500")
        expect(first).to_contain_text("200")
        page.click("[data-test=mark-read]")
        expect(page.locator("[data-test=notifications] li.unread")).to_have_count(0)
    finally:
        receiver.close()
