"""The guided demo: one certificate's whole life, narrated, with the books balanced at the end.

A core enterprise issues a 1,000,000.00 CNY certificate for a 180-day payable; the tier-1
supplier accepts it, splits 300,000.00 to a tier-2 supplier, who splits 120,000.00 to a
tier-3 supplier; the tier-3 supplier finances its fragment at a bank at 3.65% and is paid
at once; the chain clock moves to maturity; the core enterprise repays once and a keeper
pays every holder, the bank included; then the table of who held and was paid what.

Run: brownie run scripts/demo.py --network scf-test   (a throwaway node), or against the
local node of `make run`: brownie run scripts/demo.py (attaches to 127.0.0.1:8545).
"""

from __future__ import annotations

from brownie import CreditLedger, SettlementToken, accounts, chain, web3

DAY = 86_400
FACE = 100_000_000  # 1,000,000.00 CNY in fen
RATE_BPS = 365


def cny(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{yuan:,}.{cents:02d}"


def say(step: str, text: str) -> None:
    print(f"\n[{step}] {text}")


def main() -> None:
    operator, core, bank, tier1, tier2, tier3 = accounts[:6]
    names = {
        core: "core enterprise",
        bank: "bank",
        tier1: "tier-1",
        tier2: "tier-2",
        tier3: "tier-3",
    }
    quiet = {"from": operator, "silent": True}

    say("setup", "deploying the settlement token and the ledger; onboarding five members")
    token = SettlementToken.deploy("Settlement CNY", "dCNY", operator, quiet)
    ledger = CreditLedger.deploy(operator, token, 3 * DAY, quiet)
    for account, role in ((core, 1), (bank, 3), (tier1, 2), (tier2, 2), (tier3, 2)):
        ledger.registerMember(account, web3.keccak(text=f"USCC:{account}"), role, quiet)
    ledger.setCreditLine(core, 50 * FACE, {"from": bank, "silent": True})
    for payer in (core, bank):
        token.mint(payer, 10 * FACE, quiet)
        token.approve(ledger, 2**256 - 1, {"from": payer, "silent": True})
    start = {a: token.balanceOf(a) for a in names}
    print(f"  ledger {ledger.address}, settlement token {token.address}")

    maturity = chain.time() + 180 * DAY
    invoice_key = web3.keccak(text="invoice:91350100M000100Y43:00012345")
    tx = ledger.issue(
        bank,
        tier1,
        FACE,
        maturity,
        invoice_key,
        web3.keccak(text="contract.pdf"),
        {"from": core, "silent": True},
    )
    cert = tx.return_value
    say(
        "issue",
        f"core enterprise issues certificate #{cert}: {cny(FACE)} CNY, due in 180 days, "
        f"against its credit line at the bank ({tx.gas_used:,} gas)",
    )
    root = ledger.accept(cert, {"from": tier1, "silent": True}).return_value
    say("accept", f"tier-1 signs for it; it is now fragment {root:#x} worth {cny(FACE)}")
    piece2 = ledger.split(root, tier2, 30_000_000, {"from": tier1, "silent": True}).return_value
    say("split", f"tier-1 pays tier-2 {cny(30_000_000)} by splitting it off (fragment {piece2:#x})")
    piece3 = ledger.split(piece2, tier3, 12_000_000, {"from": tier2, "silent": True}).return_value
    say("split", f"tier-2 pays tier-3 {cny(12_000_000)} (fragment {piece3:#x}, parent {piece2:#x})")

    offer = ledger.offerFinancing(
        piece3, bank, 12_000_000, RATE_BPS, chain.time() + 2 * DAY, {"from": tier3, "silent": True}
    ).return_value
    days, discount, payment = ledger.quote(offer)
    say(
        "finance",
        f"tier-3 offers its fragment to the bank at 3.65%: {days} days to maturity, "
        f"discount {cny(discount)} = 120,000.00 x 3.65% x {days}/360 (rounded down), "
        f"cash {cny(payment)}",
    )
    ledger.acceptOffer(offer, {"from": bank, "silent": True})
    say(
        "finance",
        f"the bank accepts: {cny(payment)} CNY reach tier-3 and the fragment reaches "
        f"the bank in the same transaction",
    )

    chain.sleep(maturity - chain.time() + 1)
    chain.mine()
    say("maturity", "the chain clock moves 180 days to maturity")
    ledger.repay(cert, FACE, {"from": core, "silent": True})
    say("repay", f"the core enterprise repays {cny(FACE)} once, whatever the number of holders")
    paid = ledger.payFragments(cert, 0, 100, {"from": operator, "silent": True}).return_value
    say(
        "payout",
        f"a keeper pays every fragment its share: {cny(paid)} to "
        f"{ledger.getCertificate(cert)['fragmentCount']} holders",
    )

    print("\n| member | held at maturity | cash change |")
    print("|---|---:|---:|")
    held = {a: 0 for a in names}
    for seq in range(ledger.getCertificate(cert)["fragmentCount"]):
        _, _, holder, value, _ = ledger.getFragment(ledger.fragmentIdOf(cert, seq))
        held[holder] += value
    total_change = 0
    for account, name in names.items():
        change = token.balanceOf(account) - start[account]
        total_change += change
        print(f"| {name} | {cny(held[account])} | {cny(change)} |")
    print(f"| total | {cny(sum(held.values()))} | {cny(total_change)} |")
    assert sum(held.values()) == FACE, "fragments must sum to the face value"
    assert total_change == 0, "cash only moved between members"
    assert token.balanceOf(ledger) == 0, "the ledger keeps nothing"
    print(
        "\nbooks balance: fragments sum to the face value, cash moved only between members, "
        "the ledger holds nothing"
    )
