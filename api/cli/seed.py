"""The realistic network a new user meets on first start.

One core enterprise (an automaker), two banks that grant it credit lines, suppliers on three
tiers, an auditor, and the platform operator; settlement money for the payers. Each
organization gets an API key, shown once and saved to a file only the user can read.

`scf up` seeds the first bank (the financier of the demo) as an organization that keeps its
own key (custody ``self``, api.cli.own_signer): onboarded with the address of its own
signer and that key's signature of the API's challenge, and each of its transactions here
(its credit line, the settlement allowance the ledger draws on when it buys an offer) is
prepared by the API, signed by that key and submitted. The others' keys are the API's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from api.cli.client import ApiClient
from chain_client.files import atomic_write_text
from chain_client.identity import USCC_CHARSET, uscc_check_digit

if TYPE_CHECKING:
    from api.cli.own_signer import OwnSigner


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


def seed_network(
    operator: ApiClient, *, own_signers: Mapping[str, OwnSigner] | None = None
) -> dict[str, KeyEntry]:
    """Onboards the seed network through the API; returns {name: {api_key, org_id, role}}.
    ``own_signers``: the organizations (by name) that keep their own key, and their signer.

    Idempotency keys are derived from the org names, so a seed interrupted half-way and run
    again finishes the job without onboarding anyone twice.
    """
    if not operator.api_key:
        raise ValueError("seeding onboards through the operator's API key: the client has none")
    own = dict(own_signers or {})
    keys: dict[str, KeyEntry] = {}
    me = operator.get("/me")
    keys[OPERATOR] = {"api_key": operator.api_key, "org_id": me["id"], "role": "operator"}
    ids: dict[str, int] = {}
    for org in SEED_NETWORK:
        if org.name in own:
            created = _onboard_self_custody(operator, org, own[org.name])
        else:
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
        as_bank = operator.as_key(keys[bank]["api_key"])
        answer = as_bank.put(
            "/credit-lines",
            {"core_enterprise_id": ids[CORE], "limit": str(limit)},
            idempotency_key=f"seed-credit-line-{bank}",
        )
        if bank in own:  # prepared by the API: the bank signs it
            own[bank].submit(as_bank, answer)
    for name, amount in SETTLEMENT_FUNDS_FEN.items():
        operator.post(
            f"/organizations/{ids[name]}/settlement-funds",
            {"amount": str(amount)},
            idempotency_key=f"seed-funds-{name}",
        )
    for name, signer in own.items():
        # the API sets a custodial payer's settlement allowance at onboarding; it cannot
        # sign that for an organization that keeps its key: it allows its funds itself
        if name in SETTLEMENT_FUNDS_FEN:
            as_payer = operator.as_key(keys[name]["api_key"])
            answer = as_payer.post(
                "/organizations/me/settlement-allowance",
                {"amount": str(SETTLEMENT_FUNDS_FEN[name])},
                idempotency_key=f"seed-allowance-{name}",
            )
            signer.submit(as_payer, answer)
    return keys


def _onboard_self_custody(operator: ApiClient, org: SeedOrg, signer: OwnSigner) -> Any:
    """Onboards ``org`` with custody self: the API's challenge for the signer's address,
    signed by its key. Once onboarded (a seed run again) it is found by its USCC: a new
    challenge would make the onboarding's request another one."""
    uscc = full_uscc(org.uscc_body)
    for found in operator.get("/organizations"):
        if found.get("uscc") == uscc:
            return found
    challenge = operator.post(
        "/organizations/address-challenge", {"uscc": uscc, "address": signer.address}
    )["challenge"]
    return operator.post(
        "/organizations",
        {
            "name": org.name,
            "uscc": uscc,
            "role": org.role,
            "custody": "self",
            "address": signer.address,
            "challenge": challenge,
            "signature": signer.prove(challenge),
        },
        idempotency_key=f"seed-onboard-{org.uscc_body}-self",
    )


#: the person each seeded organization starts with in the portal: its login and name
SEED_PEOPLE: dict[str, tuple[str, str]] = {
    OPERATOR: ("operator", "平台运营 Platform operations"),
    CORE: ("treasurer@huaxin", "王芳 Wang Fang (treasurer)"),
    BANK_A: ("credit@boec", "陈伟 Chen Wei (credit officer)"),
    BANK_B: ("credit@pearlriver", "林静 Lin Jing (credit officer)"),
    TIER1: ("accountant@yangtze", "张丽 Zhang Li (accountant)"),
    TIER2: ("accountant@suzhou", "刘洋 Liu Yang (accountant)"),
    TIER3: ("accountant@ningbo", "赵敏 Zhao Min (accountant)"),
    AUDITOR: ("auditor@regulator", "孙强 Sun Qiang (auditor)"),
}


class PersonEntry(TypedDict):
    """One seeded person in the accounts file that `scf up` writes (portal-accounts.json)."""

    organization: str
    login: str
    password: str


def seed_people(
    operator: ApiClient, keys: Mapping[str, KeyEntry], passwords: Mapping[str, str]
) -> list[PersonEntry]:
    """One person per seeded organization (:data:`SEED_PEOPLE`), an admin who may also
    start and approve commands, with the password given for the organization's name.
    Made by the operator; run again (a start that died before it saved the passwords), a
    person already made gets the password given."""
    people: list[PersonEntry] = []
    for name, (login, person) in SEED_PEOPLE.items():
        org_id = keys[name]["org_id"]
        made = {u["login"]: u["id"] for u in operator.get(f"/organizations/{org_id}/users")}
        if login in made:
            operator.put(
                f"/organizations/{org_id}/users/{made[login]}/password",
                {"password": passwords[name]},
            )
        else:
            operator.post(
                f"/organizations/{org_id}/users",
                {
                    "login": login,
                    "name": person,
                    "password": passwords[name],
                    "duties": ["maker", "checker", "admin"],
                },
                idempotency_key=f"seed-person-{login}",
            )
        people.append({"organization": name, "login": login, "password": passwords[name]})
    return people


def write_keys_file(path: Path, keys: dict[str, KeyEntry]) -> None:
    """Writes the keys readable by the user only (0600 from the first byte), atomically."""
    atomic_write_text(path, json.dumps(keys, indent=2), private=True)


def write_accounts_file(path: Path, people: list[PersonEntry]) -> None:
    """Writes the portal's seeded accounts, readable by the user only, atomically."""
    atomic_write_text(path, json.dumps(people, indent=2, ensure_ascii=False), private=True)
