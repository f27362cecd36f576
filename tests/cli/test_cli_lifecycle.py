"""A certificate's whole life driven through `scf` only, each step as the role that does it:
issue -> accept -> split down three tiers -> finance at a bank (offer, quote, accept) ->
verify -> repay at maturity and wait for the automatic payout -> claim -> reports."""

from __future__ import annotations

import json

from tests.cli.helpers import Net, as_json

CORE, T1, T2, T3, BANK, AUDITOR = (
    "Core Motors",
    "Tier1 Parts",
    "Tier2 Castings",
    "Tier3 Metals",
    "Bank A",
    "Auditor",
)


def test_every_role_through_the_cli(net: Net) -> None:
    scf = net.scf
    me = as_json(scf("status", "--as", CORE, "--json"))
    assert me["me"]["role"] == "core_enterprise" and me["health"]["status"] == "ok"
    core_before = net.balance(CORE)

    # the core enterprise issues 1,000,000.00 for 180 days (a generated trial invoice, the
    # only credit line it has)
    issued = as_json(scf("issue", T1, "1,000,000.00", "--days", "180", "--as", CORE, "--json"))
    cert = issued["certificate"]["certificate_id"]
    assert issued["certificate"]["face_value"] == "100000000"
    assert issued["document"]["keccak256"].startswith("0x")

    accepted = as_json(scf("accept", str(cert), "--as", T1, "--json"))
    root = accepted["root_fragment_id"]
    assert int(root) == cert << 32

    # down the supply chain: tier 1 pays tier 2 300,000.00 (root given as certificate/seq),
    # tier 2 pays tier 3 120,000.00 (human output)
    piece = as_json(scf("split", f"{cert}/0", T2, "300,000.00", "--as", T1, "--json"))
    assert piece["amount"] == "30000000"
    out = scf("split", piece["fragment_id"], T3, "120000", "--as", T2).stdout
    assert "120,000.00 CNY" in out and T3 in out
    held = as_json(scf("fragments", "--as", T3, "--json"))
    assert [f["value"] for f in held] == ["12000000"]
    tier3_fragment = held[0]["id"]

    # tier 3 offers its fragment to the bank at 3.65%; the preview quote comes with it
    made = as_json(
        scf(
            "finance",
            "offer",
            tier3_fragment,
            BANK,
            "120,000.00",
            "--rate",
            "3.65%",
            "--as",
            T3,
            "--json",
        )
    )
    offer = made["offer"]["offer_id"]
    assert made["offer"]["rate_bps"] == 365
    assert [
        o["id"] for o in as_json(scf("offers", "--status", "open", "--as", BANK, "--json"))
    ] == [offer]

    # an hour on, so the quote and the acceptance fall in the same whole day to maturity
    net.travel(3600)
    quote = as_json(scf("quote", str(offer), "--as", BANK, "--json"))
    assert quote["agrees_with_chain"] is True
    assert int(quote["discount_fen"]) == 12_000_000 * 365 * quote["days"] // 3_600_000
    shown = scf("quote", str(offer), "--as", BANK).stdout
    for text in (
        "days (ACT/360)",
        "net paid to the seller",
        "floor(12000000 * 365 *",
        "agrees to the fen",
        "3.65% (365 bps)",
    ):
        assert text in shown, shown

    t3_before = net.balance(T3)
    bought = as_json(scf("finance", "accept", str(offer), "--as", BANK, "--json"))
    assert bought["payment"] == quote["payment_fen"]
    assert net.balance(T3) - t3_before == int(quote["payment_fen"])
    bank_fragment = bought["financed_fragment_id"]

    # the bank checks what it bought against the chain alone
    verified = scf("verify", bank_fragment, "--as", BANK)
    assert "VERIFIED" in verified.stdout and "FAIL" not in verified.stdout
    assert as_json(scf("verify", bank_fragment, "--as", BANK, "--json"))["ok"] is True

    # repaying before maturity is refused: exit 1, the problem's code on stderr
    early = scf("repay", str(cert), "--as", CORE, code=1)
    assert "not_matured" in early.stderr

    # maturity: the core enterprise repays what is outstanding (the default amount) and
    # waits while the ledger pays every holder
    before = {n: net.balance(n) for n in (T1, T2, T3, BANK)}
    net.travel(181 * 86_400)
    repaid = as_json(scf("repay", str(cert), "--wait", "--timeout", "60", "--as", CORE, "--json"))
    assert repaid["repayment"]["amount"] == "100000000"
    assert repaid["certificate"]["status"] == "settled"
    assert repaid["certificate"]["paid_out"] == "100000000"
    gained = {n: net.balance(n) - before[n] for n in before}
    assert gained == {T1: 70_000_000, T2: 18_000_000, T3: 0, BANK: 12_000_000}
    assert core_before - net.balance(CORE) == 100_000_000

    # nothing left to claim: the push payout already paid; a direct claim is refused
    assert "Nothing is owed" in scf("claim", "--as", T1).stdout
    assert "nothing_owed" in scf("claim", bank_fragment, "--as", BANK, code=1).stderr
    settled = scf("repay", str(cert), "--as", CORE, "--json", code=1)
    assert json.loads(settled.stderr)["code"] == "nothing_owed" and settled.stdout == ""

    # the auditor's view
    assert as_json(scf("report", "exposure", "--as", AUDITOR, "--json"))["exposure"] == []
    volume = scf("report", "financed-volume", "--as", AUDITOR).stdout
    assert "120,000.00" in volume and "consistent with the chain" in volume
    certs = as_json(scf("certificates", "--as", AUDITOR, "--json"))
    assert [(c["id"], c["status"]) for c in certs] == [(cert, "settled")]
    status = scf("status", "--as", BANK).stdout
    assert "financier" in status and "Bank A" in status

    # the chain's clock is now half a year ahead of this machine's: --days still counts
    # from the ledger's clock (the CLI learns it from the contract's refusal and retries)
    later = scf("issue", T1, "1,000.00", "--days", "30", "--as", CORE, "--json")
    assert "ledger's clock" in later.stderr or later.stderr == ""
    due = json.loads(later.stdout)["certificate"]["maturity"]
    chain_now = int(net.anvil.rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    assert abs(due - (chain_now + 30 * 86_400)) < 120
