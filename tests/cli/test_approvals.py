"""Four eyes from the command line, against the real API: `scf keys` makes a maker and a
checker key, `scf policy set` names splits from 500.00, a maker's split of 600.00 waits
(exit 5) while one of 100.00 runs, `scf approvals list` shows it to the checker, the
maker's own key is refused, the checker approves and the split's answer is printed; a
rejection carries its reason. For a self-custody organization the approval then waits for
its signature: a checker-only key says how a maker signs it, a maker's `scf sign --command
--submit` finishes it, and a key that may both approve and submit signs it in one call."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from api.cli.commands_approvals import APPROVABLE, parse_rule
from api.cli.commands_base import UsageProblemError
from api.cli.money import AmountError
from chain_client.keystore import KeyStore
from tests.cli.helpers import Net, as_json
from tests.helpers import valid_uscc

PASSPHRASE = "approvals test passphrase"


def _key(net: Net, *args: str, key: str | None = None) -> str:
    """A new API key of Tier1 Parts (or of the organization whose admin ``key`` is)."""
    who = ("--key", key) if key else ("--as", "Tier1 Parts")
    made = as_json(net.scf("keys", "create", *args, *who, "--json"))
    assert made["api_key"].startswith("scf_")
    return str(made["api_key"])


def _certificate_held_by_tier1(net: Net, amount: str) -> str:
    issued = as_json(
        net.scf("issue", "Tier1", amount, "--days", "30", "--as", "Core Motors", "--json")
    )
    certificate = issued["certificate"]["certificate_id"]
    accepted = as_json(net.scf("accept", certificate, "--as", "Tier1 Parts", "--json"))
    return str(accepted["root_fragment_id"])


def test_a_split_waits_for_a_checker_who_approves_it(net: Net) -> None:
    maker = _key(net, "--duties", "maker", "--label", "clerk")
    checker = _key(net, "--duties", "checker", "--label", "supervisor")
    listed = net.scf("keys", "list", "--as", "Tier1 Parts").stdout
    assert "clerk" in listed and "supervisor" in listed and "maker, checker, admin" in listed, (
        listed
    )
    keys = {
        k["label"]: k["duties"] for k in as_json(net.scf("keys", "list", "--key", maker, "--json"))
    }
    assert keys["clerk"] == ["maker"] and keys["supervisor"] == ["checker"]

    shown = net.scf("policy", "set", "split>=500.00", "transfer", "--as", "Tier1 Parts").stdout
    assert "split" in shown and "500.00" in shown and "every one" in shown
    assert as_json(net.scf("policy", "show", "--key", maker, "--json")) == {
        "rules": [
            {"action": "split", "min_amount": "50000"},
            {"action": "transfer", "min_amount": None},
        ]
    }
    root = _certificate_held_by_tier1(net, "1,000.00")

    waiting = net.scf("split", root, "Tier2", "600.00", "--key", maker, code=5)
    assert "waiting for a checker's approval: command" in waiting.stdout
    command = waiting.stdout.strip().rsplit(" ", 1)[-1]
    # under the threshold: carried out at once
    assert "new fragment" in net.scf("split", root, "Tier3", "100.00", "--key", maker).stdout

    rows = as_json(net.scf("approvals", "list", "--key", checker, "--json"))
    assert [(r["command_id"], r["action"], r["stake"]) for r in rows] == [
        (command, "split", "60000")
    ]
    table = net.scf("approvals", "list", "--key", checker).stdout
    assert "600.00" in table and "split 600.00 CNY" in table and command in table

    refused = net.scf("approvals", "approve", command, "--key", maker, code=1)
    assert "wrong_duty" in refused.stderr
    approved = net.scf("approvals", "approve", command, "--key", checker)
    assert f"Command {command} approved" in approved.stdout
    assert "fragment_id" in approved.stdout and "tx_hash" in approved.stdout
    tier2 = net.operator.as_key(_seed_key(net, "Tier2 Castings"))
    assert [f["value"] for f in tier2.get("/fragments")] == ["60000"]
    assert as_json(net.scf("approvals", "list", "--key", checker, "--json")) == []
    assert "Nothing waits" in net.scf("approvals", "list", "--key", checker).stdout


def test_a_rejected_command_carries_its_reason(net: Net) -> None:
    maker = _key(net, "--duties", "maker")
    checker = _key(net, "--duties", "checker")
    net.scf("policy", "set", "split", "--as", "Tier1 Parts")
    root = _certificate_held_by_tier1(net, "800.00")
    waiting = as_json(net.scf("split", root, "Tier2", "700.00", "--key", maker, "--json", code=5))
    command = waiting["command_id"]
    assert waiting["status"] == "pending_approval"
    rejected = net.scf(
        "approvals", "reject", command, "--reason", "no such order", "--key", checker
    )
    assert f"Command {command} rejected" in rejected.stdout
    assert "no such order" in rejected.stdout
    view = net.operator.as_key(maker).get(f"/commands/{command}")
    assert view["status"] == "refused" and view["response_status"] == 409
    assert view["response"]["code"] == "command_rejected"
    assert "no such order" in view["response"]["detail"]
    net.scf("policy", "set", "--none", "--as", "Tier1 Parts")
    assert "No four-eyes policy" in net.scf("policy", "show", "--as", "Tier1 Parts").stdout


def test_a_viewer_key_reads_and_may_not_set_the_policy(net: Net) -> None:
    viewer = _key(net, "--viewer", "--label", "auditor's view")
    listed = as_json(net.scf("keys", "list", "--key", viewer, "--json"))
    assert any(k["label"] == "auditor's view" and k["duties"] == [] for k in listed)
    refused = net.scf("policy", "set", "split", "--key", viewer, code=1)
    assert "wrong_duty" in refused.stderr
    bad = net.scf("policy", "set", "lend>=5", "--as", "Tier1 Parts", code=2)
    assert "a rule is ACTION" in bad.stderr
    net.scf("keys", "create", "--duties", "maker,boss", "--as", "Tier1 Parts", code=2)


def test_rules_are_parsed_in_yuan() -> None:
    assert parse_rule("split>=500,000.00") == {"action": "split", "min_amount": "50000000"}
    assert parse_rule("accept-offer:1.5") == {"action": "accept_offer", "min_amount": "150"}
    assert parse_rule("transfer") == {"action": "transfer", "min_amount": None}
    with pytest.raises(UsageProblemError):
        parse_rule("lend>=5")
    with pytest.raises(AmountError):
        parse_rule("split>=1.001")


def test_the_cli_knows_the_commands_a_policy_may_name() -> None:
    from api.commands.approvals import APPROVABLE as SERVER

    assert APPROVABLE == SERVER


# -- four eyes, then the organization's own signature --------------------------------------


def _self_custody_supplier(net: Net, folder: Path) -> tuple[Any, Path, str]:
    """A supplier onboarded with custody self (its key in a key store of its own), with an
    admin key; returns (its key info, its key file, its admin API key)."""
    from eth_account.messages import encode_defunct

    store = KeyStore(folder, scrypt_n=2**10)
    ours = store.create(PASSPHRASE, label="own")
    uscc = valid_uscc(secrets.randbelow(10**8) * 10 + 7)
    challenge = net.operator.post(
        "/organizations/address-challenge", {"uscc": uscc, "address": ours.address}
    )["challenge"]
    signature = store.load(ours.id, PASSPHRASE).sign_message(encode_defunct(text=challenge))
    org = net.operator.post(
        "/organizations",
        {
            "name": "Own Key Forge",
            "uscc": uscc,
            "role": "supplier",
            "custody": "self",
            "address": ours.address,
            "challenge": challenge,
            "signature": "0x" + bytes(signature.signature).hex(),
        },
    )
    admin = net.operator.post(f"/organizations/{org['id']}/api-keys", {"label": "admin"})
    return ours, folder / f"{ours.id}.json", str(admin["api_key"])


def test_an_approval_of_a_self_custody_organization_is_signed_and_submitted(
    net: Net, tmp_path: Path
) -> None:
    ours, key_file, admin = _self_custody_supplier(net, tmp_path / "own-keys")
    signing = ("--sign-with", str(key_file), "--yes")
    env = {"SCF_KEY_PASSPHRASE": PASSPHRASE}
    issued = as_json(
        net.scf("issue", "Own Key", "2,000.00", "--days", "30", "--as", "Core Motors", "--json")
    )
    certificate = issued["certificate"]["certificate_id"]
    root = as_json(net.scf("accept", certificate, "--key", admin, *signing, "--json", **env))[
        "root_fragment_id"
    ]
    maker = _key(net, "--duties", "maker", key=admin)
    checker = _key(net, "--duties", "checker", key=admin)
    both = _key(net, "--duties", "maker,checker", key=admin)
    net.scf("policy", "set", "split", "--key", admin)

    # a checker-only key approves; the command then waits for a maker to sign it
    first = as_json(net.scf("split", root, "Tier2", "300.00", "--key", maker, "--json", code=5))
    waiting = net.scf(
        "approvals", "approve", first["command_id"], "--key", checker, *signing, code=5, **env
    )
    assert "awaits your organization's signature" in waiting.stdout
    assert f"scf sign --command {first['command_id']}" in waiting.stderr
    assert "To sign" not in waiting.stderr  # nothing was signed with the checker's key
    done = net.scf(
        "sign", "--command", first["command_id"], "--submit", "--key", maker, *signing, **env
    )
    assert "signed and submitted" in done.stdout and ours.address in done.stderr

    # a key that may approve and submit: approved, signed and submitted in one call
    second = as_json(net.scf("split", root, "Tier3", "200.00", "--key", maker, "--json", code=5))
    approved = net.scf("approvals", "approve", second["command_id"], "--key", both, *signing, **env)
    assert f"Command {second['command_id']} approved" in approved.stdout
    assert "split 200.00 CNY" in approved.stderr and "signed by" in approved.stderr
    assert PASSPHRASE not in approved.stdout + approved.stderr
    held = net.operator.as_key(admin).get("/fragments")
    assert sorted(f["value"] for f in held) == ["150000"]
    view = net.operator.as_key(admin).get(f"/commands/{second['command_id']}")
    assert view["status"] == "succeeded"
    tx = net.anvil.rpc("eth_getTransactionByHash", [view["tx_hash"]])
    assert tx["from"].lower() == ours.address.lower()


def _seed_key(net: Net, name: str) -> str:
    return str(json.loads(net.keys_file.read_text())[name]["api_key"])
