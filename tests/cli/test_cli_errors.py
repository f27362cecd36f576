"""Exit codes scripts rely on, --json output, and what people type (amounts, rates,
fragments, dates, names), against a real API over anvil where the API is involved.

0 done; 1 the API refused (its code on stderr); 2 bad usage or input; 3 unreachable;
4 a verification found a failed check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from api.cli import commands_base
from api.cli.client import ApiClient, Reply
from api.cli.commands_base import (
    UsageProblemError,
    load_key,
    parse_fragment,
    parse_moment,
    parse_rate,
)
from api.cli.output import fragment_label, rate, when
from tests.cli.helpers import Net, as_json, cli_app, make_runner

CORE, T1, T2, BANK, AUDITOR = "Core Motors", "Tier1 Parts", "Tier2 Castings", "Bank A", "Auditor"


# -- parsing (no network) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bps"),
    [
        ("3.65%", 365),
        ("3.65", 365),
        ("3.6%", 360),
        ("5", 500),
        ("0%", 0),
        ("365bps", 365),
        (" 12 bps ", 12),
        ("100%", 10_000),
    ],
)
def test_rates_are_exact_basis_points(text: str, bps: int) -> None:
    assert parse_rate(text) == bps


@pytest.mark.parametrize("text", ["3.655%", "-1%", "1e2", "abc", "101%", "10001bps", ""])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(UsageProblemError):
        parse_rate(text)


def test_fragments_dates_and_labels() -> None:
    assert parse_fragment("3/2") == str((3 << 32) | 2)
    assert parse_fragment("12884901890") == "12884901890"
    for bad in ("0/1", "x", "3/-1", "1.5"):
        with pytest.raises(UsageProblemError):
            parse_fragment(bad)
    assert fragment_label((3 << 32) | 2) == "12884901890 (3/2)"
    assert rate(365) == "3.65% (365 bps)" and rate(5) == "0.05% (5 bps)"
    # a date is 00:00 China time; an ISO time without offset is China time too
    utc_new_year = 1_798_761_600  # 2027-01-01 00:00 UTC
    assert parse_moment("2027-01-01") == utc_new_year - 8 * 3600
    assert parse_moment("2027-01-01T08:00:00") == utc_new_year
    assert parse_moment("2027-01-01T00:00:00+00:00") == utc_new_year
    assert parse_moment("1798761600") == utc_new_year
    assert when(utc_new_year) == "2027-01-01 08:00 CST"
    with pytest.raises(UsageProblemError):
        parse_moment("next tuesday")


def test_keys_file_lookups(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    with pytest.raises(UsageProblemError, match="no keys file"):
        load_key(keys, "x")
    keys.write_text(
        json.dumps(
            {
                "Bank A": {"api_key": "k1", "org_id": 3, "role": "financier"},
                "Bank B": {"api_key": "k2", "org_id": 4, "role": "financier"},
                "Core": {"api_key": "k3", "org_id": 2, "role": "core"},
            }
        )
    )
    assert load_key(keys, "Bank A") == "k1" and load_key(keys, "bank a") == "k1"
    assert load_key(keys, "co") == "k3"
    with pytest.raises(UsageProblemError, match="no organization named 'Bank'"):
        load_key(keys, "Bank")  # ambiguous prefix
    with pytest.raises(UsageProblemError, match=r"no organization named 'Bank C'.*Bank A"):
        load_key(keys, "Bank C")
    keys.write_text("{not json")
    with pytest.raises(UsageProblemError, match="cannot be read"):
        load_key(keys, "Bank A")


def test_usage_errors_exit_2_before_any_call(offline_scf: Callable[..., Any]) -> None:
    # the API is not running: each of these must fail on the input, not on the network
    bad_amount = offline_scf("split", "1/0", "7", "1.001", "--key", "k", code=2)
    assert "not an amount in yuan" in bad_amount.stderr
    offline_scf("split", "1/0", "7", "-5", "--key", "k", code=2)  # click: no option -5
    assert (
        "not an amount" in offline_scf("split", "--key", "k", "--", "1/0", "7", "-5", code=2).stderr
    )
    assert "not a fragment" in offline_scf("transfer", "one", "7", "--key", "k", code=2).stderr
    assert "no API key" in offline_scf("status", code=2).stderr
    no_scheme = offline_scf("status", "--key", "k", "--api-url", "127.0.0.1:8000", code=2)
    assert "bad --api-url" in no_scheme.stderr
    missing = offline_scf("status", "--as", "Bank A", code=2)
    assert "no keys file" in missing.stderr and "scf up" in missing.stderr
    offline_scf("report", "everything", "--key", "k", code=2)  # click's own usage error


def test_unreachable_api_exits_3(offline_scf: Callable[..., Any]) -> None:
    result = offline_scf("status", "--key", "k", code=3)
    assert "did not answer" in result.stderr
    offline_scf("certificates", "--key", "k", "--json", code=3)


def test_failed_verification_exits_4(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A report with a failed check (served by a stub API: a real ledger cannot be made to
    fail one) prints FAIL and exits 4, in both output modes."""
    report = {
        "fragment_id": "4294967297",
        "certificate_id": 1,
        "chain_id": 31337,
        "ledger_address": "0xabc",
        "block_number": 9,
        "lineage": ["4294967297"],
        "checks": [
            {"name": "manifest", "passed": True, "detail": "ok", "skipped": False},
            {"name": "lineage", "passed": False, "detail": "parent mismatch", "skipped": False},
            {"name": "repayment", "passed": False, "detail": "not run", "skipped": True},
        ],
        "ok": False,
        "failed_checks": ["lineage"],
        "fragments_read": 2,
    }

    class StubClient(ApiClient):
        def _exchange(
            self, method: str, target: str, headers: dict[str, str], body: bytes
        ) -> Reply:
            assert (method, target) == ("GET", "/v1/fragments/4294967297/verification")
            assert headers["Authorization"] == "Bearer k"
            return Reply(200, "OK", "application/json", json.dumps(report).encode())

    monkeypatch.setattr(commands_base, "ApiClient", StubClient)
    scf = make_runner(cli_app(), {"SCF_API_URL": "http://stub", "COLUMNS": "200"})
    human = scf("verify", "1/1", "--key", "k", code=4)
    assert "NOT VERIFIED" in human.stdout and "FAIL" in human.stdout
    assert "SKIP" in human.stdout and "lineage" in human.stderr
    assert as_json(scf("verify", "1/1", "--key", "k", "--json", code=4))["ok"] is False


# -- against the API -----------------------------------------------------------------


def _certificate(net: Net, amount: str = "10,000.00", **opts: str) -> int:
    args = ["issue", T1, amount, "--as", CORE, "--json"]
    args += [a for k, v in opts.items() for a in (f"--{k.replace('_', '-')}", v)] or [
        "--days",
        "90",
    ]
    return int(as_json(net.scf(*args))["certificate"]["certificate_id"])


def test_refusals_exit_1_with_the_code_on_stderr(net: Net) -> None:
    scf = net.scf
    cert = _certificate(net)
    scf("accept", cert, "--as", T1)
    # more than the fragment holds: the contract's refusal, by its stable code
    human = scf("split", f"{cert}/0", T2, "20,000.00", "--as", T1, code=1)
    assert "insufficient_value" in human.stderr and "fragment" in human.stderr
    assert human.stdout == ""
    # --json: the problem document itself on stderr, stdout empty
    machine = scf("split", f"{cert}/0", T2, "20,000.00", "--as", T1, "--json", code=1)
    problem = json.loads(machine.stderr)
    assert problem["code"] == "insufficient_value" and problem["status"] == 422
    assert machine.stdout == ""
    # the wrong role
    assert "wrong_role" in scf("accept", cert, "--as", BANK, code=1).stderr
    # a bad key
    assert "unauthenticated" in scf("status", "--key", "scf_nobody", code=1).stderr
    # a name that is nobody: bad input (2), nothing sent
    assert (
        "no recipient named 'Nobody'"
        in scf("split", f"{cert}/0", "Nobody", "1", "--as", T1, code=2).stderr
    )
    # an unknown name in the keys file
    unknown = scf("status", "--as", "Tier9", code=2)
    assert "no organization named 'Tier9'" in unknown.stderr and CORE in unknown.stderr


def test_amounts_typed_in_yuan_reach_the_api_as_exact_fen(net: Net) -> None:
    scf = net.scf
    cert = _certificate(net, "1,234,567.89")
    assert as_json(scf("certificates", "--as", CORE, "--json"))[-1]["face_value"] == "123456789"
    scf("accept", cert, "--as", T1)
    one_fen = as_json(scf("split", f"{cert}/0", T2, "0.01", "--as", T1, "--json"))
    assert one_fen["amount"] == "1"
    odd = as_json(scf("split", f"{cert}/0", T2, "¥1,000.5", "--as", T1, "--json"))
    assert odd["amount"] == "100050"
    values = sorted(
        int(f["value"])
        for f in as_json(scf("fragments", "--certificate", cert, "--as", CORE, "--json"))
    )
    assert values == [1, 100050, 123456789 - 100051] and sum(values) == 123456789
    shown = scf("fragments", "--as", T2).stdout
    assert "1,000.50" in shown and "0.01" in shown


def test_issue_with_a_file_a_date_and_an_explicit_bank(net: Net, tmp_path: Path) -> None:
    scf = net.scf
    invoice = tmp_path / "invoice-42.pdf"
    invoice.write_bytes(b"%PDF-1.4 invoice 42 for 88,000.00")
    data = as_json(
        scf(
            "issue",
            T1,
            "88000",
            "--maturity",
            "2027-06-30",
            "--bank",
            BANK,
            "--invoice",
            invoice,
            "--invoice-number",
            "INV-42",
            "--as",
            CORE,
            "--json",
        )
    )
    assert data["document"]["filename"] == "invoice-42.pdf"
    assert data["certificate"]["maturity"] == parse_moment("2027-06-30")
    # the same invoice number of the same seller cannot back a second certificate
    again = scf(
        "issue",
        T1,
        "88000",
        "--maturity",
        "2027-06-30",
        "--invoice-number",
        "INV-42",
        "--as",
        CORE,
        code=1,
    )
    assert "duplicate_invoice" in again.stderr
    assert "exactly one of --days" in scf("issue", T1, "1", "--as", CORE, code=2).stderr
    assert (
        "no invoice file"
        in scf(
            "issue",
            T1,
            "1",
            "--days",
            "9",
            "--invoice",
            tmp_path / "nope.pdf",
            "--as",
            CORE,
            code=2,
        ).stderr
    )


def test_issue_a_legacy_invoice_by_code_and_number(net: Net) -> None:
    """--invoice-code (issue 10, item 1): the legacy pair is one invoice however it is
    typed; the seller is the beneficiary whatever --seller-tax-id says."""
    scf = net.scf
    data = as_json(
        scf(
            "issue",
            T1,
            "500",
            "--days",
            "30",
            "--invoice-code",
            "044031900111",
            "--invoice-number",
            "00012345",
            "--as",
            CORE,
            "--json",
        )
    )
    assert data["certificate"]["certificate_id"]
    again = scf(
        "issue",
        T1,
        "500",
        "--days",
        "30",
        "--invoice-code",
        "0440 3190 0111",
        "--invoice-number",
        "12345",
        "--as",
        CORE,
        code=1,
    )
    assert "duplicate_invoice" in again.stderr
    assert (
        "invoice_code"
        in scf(
            "issue", T1, "500", "--days", "30", "--invoice-number", "00012345", "--as", CORE, code=1
        ).stderr
    )
    assert (
        "seller_mismatch"
        in scf(
            "issue",
            T1,
            "500",
            "--days",
            "30",
            "--invoice-number",
            "INV-S-1",
            "--seller-tax-id",
            "X",
            "--as",
            CORE,
            code=1,
        ).stderr
    )
    assert (
        "--invoice-number"
        in scf(
            "issue",
            T1,
            "500",
            "--days",
            "30",
            "--invoice-code",
            "044031900111",
            "--as",
            CORE,
            code=2,
        ).stderr
    )


def test_reject_revoke_and_withdraw(net: Net) -> None:
    scf = net.scf
    rejected, revoked, kept = _certificate(net), _certificate(net), _certificate(net)
    assert as_json(scf("reject", rejected, "--as", T1, "--json"))["action"] == "reject"
    assert f"Certificate {revoked}: revoked" in scf("revoke", revoked, "--as", CORE).stdout
    assert "wrong_certificate_status" in scf("accept", revoked, "--as", T1, code=1).stderr
    statuses = {c["id"]: c["status"] for c in as_json(scf("certificates", "--as", CORE, "--json"))}
    assert statuses[rejected] == "rejected" and statuses[revoked] == "revoked"
    assert f"Certificate {kept}: accepted" in scf("accept", kept, "--as", T1).stdout
    offer = as_json(
        scf(
            "finance",
            "offer",
            f"{kept}/0",
            BANK,
            "5,000",
            "--rate",
            "450bps",
            "--expires-in-days",
            "3",
            "--as",
            T1,
            "--json",
        )
    )["offer"]["offer_id"]
    preview = as_json(
        scf(
            "quote",
            "--fragment",
            f"{kept}/0",
            "--amount",
            "5,000",
            "--rate",
            "4.5%",
            "--as",
            T1,
            "--json",
        )
    )
    assert preview["rate_bps"] == 450 and preview["amount_fen"] == "500000"
    scf("finance", "withdraw", offer, "--as", T1)
    assert "offer_not_open" in scf("finance", "accept", offer, "--as", BANK, code=1).stderr
    assert as_json(scf("offers", "--status", "withdrawn", "--as", T1, "--json"))[0]["id"] == offer


def test_json_output_of_every_list_parses(net: Net) -> None:
    scf = net.scf
    orgs = as_json(scf("orgs", "--as", AUDITOR, "--json"))
    assert {o["name"] for o in orgs} >= {CORE, T1, BANK}
    assert all(
        o["role"] == "supplier"
        for o in as_json(scf("orgs", "--role", "supplier", "--as", T1, "--json"))
    )
    for command in ("certificates", "fragments", "offers"):
        assert isinstance(as_json(scf(command, "--as", AUDITOR, "--json")), list)
    status = as_json(scf("status", "--as", T1, "--json"))
    assert set(status) == {"health", "me", "balance", "holdings"}
    for kind in ("exposure", "financed-volume", "maturing", "overdue"):
        data = as_json(scf("report", kind, "--as", AUDITOR, "--json"))
        assert data["check"]["consistent_with_chain"] is True
    assert "wrong_role" in scf("report", "exposure", "--as", T1, code=1).stderr
    # a URL copied with the API's /v1 prefix works too
    assert as_json(scf("orgs", "--api-url", net.url + "/v1/", "--as", T1, "--json")) == orgs


def test_the_scf_app_carries_every_role_command() -> None:
    """The console script's own app (api.cli.main) has the role commands and the finance
    group, beside `scf up`."""
    from typer.main import get_command

    from api.cli.main import app

    names = set(get_command(app).commands)  # type: ignore[attr-defined]
    assert names >= {
        "status",
        "issue",
        "accept",
        "reject",
        "revoke",
        "split",
        "transfer",
        "finance",
        "quote",
        "repay",
        "claim",
        "verify",
        "report",
        "certificates",
        "fragments",
        "offers",
        "orgs",
        "bid",
        "quotes",
    }
    finance = get_command(app).commands["finance"]  # type: ignore[attr-defined]
    assert set(finance.commands) == {"offer", "accept", "withdraw", "sell"}
    bid = get_command(app).commands["bid"]  # type: ignore[attr-defined]
    assert set(bid.commands) == {"post", "list", "show", "budget", "cancel"}
