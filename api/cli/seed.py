"""The realistic network a new user meets on first start.

One core enterprise (an automaker), two banks that grant it credit lines, suppliers on three
tiers, an auditor, and the platform operator; settlement money for the payers. Each
organization gets an API key, shown once and saved to a file only the user can read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from api.cli.client import ApiClient
from chain_client.files import atomic_write_text
from chain_client.identity import USCC_CHARSET, uscc_check_digit


@dataclass(frozen=True)
class SeedOrg:
    name: str
    role: str
    uscc_body: str  # the first 17 characters; the check digit is computed


SEED_NETWORK = (
    SeedOrg("Huaxin Automotive Group", "core_enterprise", "91310000MA1FL8XQ3"),
    SeedOrg("Bank of Eastern China", "financier", "91310000100000123"),
    SeedOrg("Pearl River Commercial Bank", "financier", "91440100190000456"),
    SeedOrg("Yangtze Precision Parts", "supplier", "91320500MA1MXK7P2"),  # tier 1
    SeedOrg("Suzhou Castings", "supplier", "91320594MA1N0RT64"),  # tier 2
    SeedOrg("Ningbo Fasteners", "supplier", "91330206MA2H3L0B5"),  # tier 3
    SeedOrg("Regulatory Audit Office", "auditor", "12100000400000789"),
)
CORE, BANK_A, BANK_B, TIER1, TIER2, TIER3, AUDITOR = (org.name for org in SEED_NETWORK)
OPERATOR = "Platform operator"

CREDIT_LINE_FEN = {BANK_A: 5_000_000_000, BANK_B: 3_000_000_000}  # 50m and 30m CNY
SETTLEMENT_FUNDS_FEN = {CORE: 2_000_000_000, BANK_A: 1_000_000_000, BANK_B: 1_000_000_000}


def full_uscc(body: str) -> str:
    assert len(body) == 17 and all(c in USCC_CHARSET for c in body), body
    return body + uscc_check_digit(body)


class KeyEntry(TypedDict):
    """One organization in the keys file that `scf up` writes (api-keys.json)."""

    api_key: str
    org_id: int
    role: str


def seed_network(operator: ApiClient) -> dict[str, KeyEntry]:
    """Onboards the seed network through the API; returns {name: {api_key, org_id, role}}.

    Idempotency keys are derived from the org names, so a seed interrupted half-way and run
    again finishes the job without onboarding anyone twice.
    """
    if not operator.api_key:
        raise ValueError("seeding onboards through the operator's API key: the client has none")
    keys: dict[str, KeyEntry] = {}
    me = operator.get("/me")
    keys[OPERATOR] = {"api_key": operator.api_key, "org_id": me["id"], "role": "operator"}
    ids: dict[str, int] = {}
    for org in SEED_NETWORK:
        created = operator.post(
            "/organizations",
            {"name": org.name, "uscc": full_uscc(org.uscc_body), "role": org.role},
            idempotency_key=f"seed-onboard-{org.uscc_body}",
        )
        ids[org.name] = int(created["id"])
        issued = operator.post(
            f"/organizations/{ids[org.name]}/api-keys",
            {"label": "seed"},
            idempotency_key=f"seed-key-{org.uscc_body}",
        )
        if not issued.get("api_key"):
            # a replay never shows a key again (it was shown once, to a run that died before
            # saving it): issue a new one instead
            issued = operator.post(
                f"/organizations/{ids[org.name]}/api-keys", {"label": "seed (re-issued)"}
            )
        keys[org.name] = {"api_key": issued["api_key"], "org_id": ids[org.name], "role": org.role}
    for bank, limit in CREDIT_LINE_FEN.items():
        operator.as_key(keys[bank]["api_key"]).put(
            "/credit-lines",
            {"core_enterprise_id": ids[CORE], "limit": str(limit)},
            idempotency_key=f"seed-credit-line-{bank}",
        )
    for name, amount in SETTLEMENT_FUNDS_FEN.items():
        operator.post(
            f"/organizations/{ids[name]}/settlement-funds",
            {"amount": str(amount)},
            idempotency_key=f"seed-funds-{name}",
        )
    return keys


def write_keys_file(path: Path, keys: dict[str, KeyEntry]) -> None:
    """Writes the keys readable by the user only (0600 from the first byte), atomically."""
    atomic_write_text(path, json.dumps(keys, indent=2), private=True)
