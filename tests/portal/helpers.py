"""Helpers of the portal's browser tests: the served network, signing a person in, a
screenshot, and a certificate issued through the API for a test to start from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from api.cli.client import ApiClient
from api.cli.seed import BANK_A, CORE, TIER1, KeyEntry
from chain_client.node import AnvilNode


@dataclass
class Portal:
    url: str
    anvil: AnvilNode
    operator: ApiClient
    keys: dict[str, KeyEntry]
    #: organization name -> (login, password)
    people: dict[str, tuple[str, str]]

    def client(self, organization: str) -> ApiClient:
        return self.operator.as_key(self.keys[organization]["api_key"])


def sign_in(page: Page, portal: Portal, organization: str) -> Page:
    login, password = portal.people[organization]
    page.goto(portal.url + "/")
    page.fill("[data-test=login]", login)
    page.fill("[data-test=password]", password)
    page.click("[data-test=sign-in]")
    page.wait_for_selector("[data-test=org-name]")
    return page


def shoot(page: Page, folder: Path, name: str) -> Any:
    """A screenshot of the whole page (a role's main page: see :func:`screenshots`)."""
    return page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def issue(portal: Portal, face_value: str, days: int = 120) -> int:
    core = portal.client(CORE)
    doc = core.post(
        "/documents", files={"file": ("invoice.pdf", uuid.uuid4().bytes, "application/pdf")}
    )
    head = core.get("/health")["block_time"]
    answer = core.post(
        "/certificates",
        {
            "beneficiary_id": portal.keys[TIER1]["org_id"],
            "credit_provider_id": portal.keys[BANK_A]["org_id"],
            "face_value": face_value,
            "maturity": head + days * 86_400,
            "document_id": doc["id"],
            "invoice_number": "INV-" + uuid.uuid4().hex[:10],
        },
    )
    return int(answer["certificate_id"])
