"""Fixtures of the portal's browser tests: the API serving the portal on a free loopback
port over a real anvil node, the seeded network with one person per organization, and
Playwright driving Debian's Chromium headless (installed by tools/bootstrap.sh; Playwright
never downloads a browser here).

Each module gets its own node and API: a test that moves the chain's clock to maturity
must not move another module's.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from api.app import create_app
from api.cli.client import ApiClient
from api.cli.seed import SEED_PEOPLE, seed_network, seed_people
from chain_client.node import AnvilNode
from tests.api.helpers import OPERATOR_KEY, make_settings, serve
from tests.portal.helpers import Portal

CHROMIUM = os.environ.get("SCF_CHROMIUM", "/usr/bin/chromium")
#: Chromium's flags for a closed machine: no sandbox as root, and no background traffic
#: to Google's hosts (refused here, many at a time)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: where screenshots go: docs/screenshots (linked from the README) with SCF_SCREENSHOTS=1
#: (`make screenshots`), else a temporary folder, so that a test run leaves the tree clean
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    tmp = tmp_path_factory.mktemp("portal")
    with AnvilNode() as anvil:
        settings = make_settings(
            anvil,
            tmp,
            background=True,
            indexer_interval=0.2,
            maturity_interval=0.3,
            # webhooks to a receiver on loopback, retried quickly
            webhook_allow_private=True,
            webhook_retry_seconds=0.5,
        )
        for url in serve(create_app(settings)):
            operator = ApiClient(url, OPERATOR_KEY)
            keys = seed_network(operator)
            passwords = {name: "pw " + secrets.token_hex(8) for name in SEED_PEOPLE}
            made = seed_people(operator, keys, passwords)
            people = {p["organization"]: (p["login"], p["password"]) for p in made}
            yield Portal(url, anvil, operator, keys, people)
            operator.close()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookie, no stored language) per test."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("SCF_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")
