"""Gas of every ledger operation, next to its peers, measured on anvil in one run.

Peers: the ERC-3525 reference implementation (npm @solvprotocol/erc-3525, unchanged) for a
split to a new holder and a whole-token transfer, and an OpenZeppelin ERC-20 transfer (the
settlement token). Every figure is a mined transaction's gasUsed, taken after a warm-up of
the same kind so that one-off first-touch storage costs do not flatter or punish anyone.

Run: make bench-gas   (brownie run scripts/benchmark_gas.py --network scf-test)
"""

from __future__ import annotations

from brownie import BidBook, CreditLedger, ERC3525Peer, SettlementToken, accounts, chain, web3

from chain_client.addresses import ZERO_ADDRESS
from chain_client.bids import RateBand, pack_rate_bands

DAY = 86_400
FACE = 100_000_000  # 1,000,000.00 CNY
MANY_FRAGMENTS = 1_000
PAGE = 100
BATCH = 10


def _key(label: str) -> bytes:
    return web3.keccak(text=label)


class Bench:
    def __init__(self) -> None:
        self.rows: list[tuple[str, int, str, int | None]] = []
        self.invoice = 0

    def add(self, operation: str, gas: int, peer: str = "", peer_gas: int | None = None) -> None:
        self.rows.append((operation, gas, peer, peer_gas))

    def print_table(self) -> None:
        print("\n| operation | gas | peer | peer gas | ours / peer |")
        print("|---|---:|---|---:|---:|")
        for operation, gas, peer, peer_gas in self.rows:
            ratio = f"{gas / peer_gas:.2f}" if peer_gas else ""
            peer_text = f"{peer_gas:,}" if peer_gas else ""
            print(f"| {operation} | {gas:,} | {peer} | {peer_text} | {ratio} |")


def main() -> None:
    operator, core, bank, tier1, tier2, tier3, fresh1, fresh2, fresh3 = accounts[:9]
    bench = Bench()
    token = SettlementToken.deploy("Settlement CNY", "dCNY", operator, {"from": operator})
    ledger = CreditLedger.deploy(operator, token, 3 * DAY, {"from": operator})
    roles = [(core, 1), (bank, 3), (tier1, 2), (tier2, 2), (tier3, 2), (fresh1, 2), (fresh2, 2)]
    register_gas = []
    for account, role in roles:
        tx = ledger.registerMember(account, _key(f"org:{account}"), role, {"from": operator})
        register_gas.append(tx.gas_used)
    bench.add("registerMember", register_gas[-1])
    bench.add("setCreditLine", ledger.setCreditLine(core, 100 * FACE, {"from": bank}).gas_used)
    for payer in (core, bank):
        token.mint(payer, 1_000 * FACE, {"from": operator})
        token.approve(ledger, 2**256 - 1, {"from": payer})

    def issue(tenor_days: int = 180):
        bench.invoice += 1
        maturity = chain.time() + tenor_days * DAY
        return ledger.issue(
            bank,
            tier1,
            FACE,
            maturity,
            _key(f"inv:{bench.invoice}"),
            _key(f"doc:{bench.invoice}"),
            {"from": core},
        )

    issue()  # warm-up: first certificate ever
    tx = issue()
    bench.add("issue", tx.gas_used)
    cert = tx.return_value
    tx = ledger.accept(cert, {"from": tier1})
    bench.add("accept", tx.gas_used)
    root = tx.return_value
    bench.add("reject", ledger.reject(issue().return_value, {"from": tier1}).gas_used)
    bench.add("revoke", ledger.revoke(issue().return_value, {"from": core}).gas_used)

    # split to a holder that holds nothing yet, against the ERC-3525 reference doing the same
    ledger.split(root, tier2, 1_000, {"from": tier1})  # warm-up
    split_gas = ledger.split(root, fresh1, 1_000, {"from": tier1}).gas_used
    peer = ERC3525Peer.deploy({"from": operator})
    # ids far above the reference's own counter, which numbers derived tokens from 1
    peer.mint(tier1, 10_001, 1, FACE, {"from": operator})
    peer.mint(tier1, 10_002, 1, FACE, {"from": operator})
    peer_split_warm = peer.transferFrom["uint256,address,uint256"](
        10_001, tier2, 1_000, {"from": tier1}
    )
    peer_split = peer.transferFrom["uint256,address,uint256"](
        10_001, fresh1, 1_000, {"from": tier1}
    )
    bench.add(
        "split to a new holder",
        split_gas,
        "ERC-3525 transferFrom(id, to, value)",
        peer_split.gas_used,
    )
    assert peer_split_warm.gas_used > 0

    # whole-fragment transfer against the reference's whole-token transfer
    piece = ledger.split(root, tier2, 5_000, {"from": tier1}).return_value
    ledger.transferFragment(piece, tier3, {"from": tier2})  # warm-up
    transfer_gas = ledger.transferFragment(piece, fresh2, {"from": tier3}).gas_used
    peer.transferFrom["address,address,uint256"](tier1, tier3, 10_001, {"from": tier1})  # warm-up
    peer_transfer = peer.transferFrom["address,address,uint256"](
        tier1, fresh2, 10_002, {"from": tier1}
    )
    bench.add(
        "transfer a whole fragment",
        transfer_gas,
        "ERC-3525 transferFrom(from, to, id)",
        peer_transfer.gas_used,
    )
    token.transfer(tier2, 100, {"from": core})  # warm-up
    erc20 = token.transfer(fresh3, 100, {"from": core})
    bench.add(
        "(settlement token) ERC-20 transfer", erc20.gas_used, "OpenZeppelin ERC-20", erc20.gas_used
    )

    expires = chain.time() + 10 * DAY
    offer = ledger.offerFinancing(root, bank, 2_000_000, 365, expires, {"from": tier1})
    bench.add("offerFinancing", offer.gas_used)
    accept_part_gas = ledger.acceptOffer(offer.return_value, {"from": bank}).gas_used
    bench.add("acceptOffer (part of a fragment, DvP)", accept_part_gas)
    whole = ledger.split(root, tier3, 3_000_000, {"from": tier1}).return_value
    offered = ledger.offerFinancing(whole, bank, 3_000_000, 365, expires, {"from": tier3})
    offer2, offer2_gas = offered.return_value, offered.gas_used
    accept_whole_gas = ledger.acceptOffer(offer2, {"from": bank}).gas_used
    bench.add("acceptOffer (whole fragment, DvP)", accept_whole_gas)
    offer3 = ledger.offerFinancing(root, bank, 1, 365, expires, {"from": tier1}).return_value
    bench.add("withdrawOffer", ledger.withdrawOffer(offer3, {"from": tier1}).gas_used)

    # standing bids: the supplier's one transaction, nobody at the bank acting, against the
    # negotiated offer + acceptance (two transactions, two parties) and against the parts a
    # DvP is made of elsewhere: an ERC-3525 value transfer plus an ERC-20 payment
    book = BidBook.at(ledger.bidBook())
    token.approve(book, 2**256 - 1, {"from": bank})
    terms = (pack_rate_bands([RateBand(366, 365)]), 0, 1, FACE, 0, expires)
    posted = book.postBid(terms, [core], 100 * FACE, {"from": bank})
    bench.add("postBid (one issuer, escrow pulled)", posted.gas_used)
    bid = posted.return_value
    book.sellToBid(bid, root, 1_000, 0, ZERO_ADDRESS, {"from": tier1})  # warm-up
    part = book.sellToBid(bid, root, 2_000_000, 0, ZERO_ADDRESS, {"from": tier1})
    bench.add(
        "sellToBid (part of a fragment, DvP)",
        part.gas_used,
        "offerFinancing + acceptOffer (part)",
        offer.gas_used + accept_part_gas,
    )
    bench.add(
        "sellToBid (part of a fragment, DvP)",
        part.gas_used,
        "ERC-3525 transferFrom(id, to, value) + ERC-20 transfer",
        peer_split.gas_used + erc20.gas_used,
    )
    whole_sale = ledger.split(root, tier3, 3_000_000, {"from": tier1}).return_value
    whole_gas = book.sellToBid(
        bid, whole_sale, 3_000_000, 0, ZERO_ADDRESS, {"from": tier3}
    ).gas_used
    bench.add(
        "sellToBid (whole fragment, DvP)",
        whole_gas,
        "offerFinancing + acceptOffer (whole)",
        offer2_gas + accept_whole_gas,
    )
    named = book.sellToBid(bid, root, 1_000_000, 0, tier2, {"from": tier1})
    bench.add("sellToBid (part, proceeds to a named payee)", named.gas_used)
    limited_terms = (*terms[:4], 10 * FACE, expires)
    limited = book.postBid(limited_terms, [core], 10 * FACE, {"from": bank}).return_value
    first = book.sellToBid(limited, root, 1_000_000, 0, ZERO_ADDRESS, {"from": tier1})
    bench.add("sellToBid (part, a seller's first sale under a per-seller limit)", first.gas_used)
    again = book.sellToBid(limited, root, 1_000_000, 0, ZERO_ADDRESS, {"from": tier1})
    bench.add("sellToBid (part, a seller's next sale under a per-seller limit)", again.gas_used)

    # repayment: the issuer's cost with 1 fragment and with 1,000
    warm = issue(30).return_value
    ledger.accept(warm, {"from": tier1})
    one = issue(30).return_value
    ledger.accept(one, {"from": tier1})
    many = issue(30).return_value
    many_root = ledger.accept(many, {"from": tier1}).return_value
    holders = [tier1, tier2, tier3, fresh1, fresh2, bank]
    for i in range(MANY_FRAGMENTS - 1):
        ledger.split(many_root, holders[i % len(holders)], 1_000, {"from": tier1, "silent": True})
    chain.sleep(31 * DAY)
    chain.mine()
    ledger.repay(warm, FACE, {"from": core})  # warm-up: the ledger's first token balance
    repay_one = ledger.repay(one, FACE, {"from": core}).gas_used
    repay_many = ledger.repay(many, FACE, {"from": core}).gas_used
    bench.add("repay in full, certificate of 1 fragment", repay_one)
    bench.add(f"repay in full, certificate of {MANY_FRAGMENTS:,} fragments", repay_many)
    bench.add(
        "claim (holder pulls its payout)",
        ledger.claim(ledger.fragmentIdOf(one, 0), {"from": tier1}).gas_used,
    )
    page_gas = ledger.payFragments(many, 0, PAGE, {"from": operator}).gas_used
    bench.add(f"payFragments, page of {PAGE}", page_gas)
    bench.add("payFragments, per fragment", page_gas // PAGE)
    late = issue(10).return_value
    ledger.accept(late, {"from": tier1})
    chain.sleep(14 * DAY)
    chain.mine()
    bench.add("markOverdue", ledger.markOverdue(late, {"from": tier2}).gas_used)

    # key rotation (issue 13): the operator's rotation of a supplier and of the core
    # enterprise, and the moves that follow (a batch of BATCH fragments of `many` that tier3
    # holds; the core's certificates with what they owe, then its credit line)
    new_tier3, new_core = accounts.add(), accounts.add()
    bench.add("rotateMember", ledger.rotateMember(tier3, new_tier3, {"from": operator}).gas_used)
    held = [ledger.fragmentIdOf(many, 3 + 6 * k) for k in range(BATCH)]
    assert all(ledger.getFragment(f)[2] == tier3 for f in held)
    moved = ledger.moveHoldings(tier3, held, {"from": operator}).gas_used
    bench.add(f"moveHoldings, batch of {BATCH}", moved)
    bench.add("moveHoldings, per fragment", moved // BATCH)
    ledger.rotateMember(core, new_core, {"from": operator})
    bench.add(
        "moveCertificates, 1 owing (its debt moves lines)",
        ledger.moveCertificates(core, [late], {"from": operator}).gas_used,
    )
    # every certificate still owed under the line moves before it (cert - 1: the warm-up
    # issue, never accepted); the rejected and revoked ones owe nothing
    ledger.moveCertificates(core, [cert - 1, cert, warm, one, many], {"from": operator})
    bench.add(
        "moveCreditLines, 1 line", ledger.moveCreditLines(core, [bank], {"from": operator}).gas_used
    )
    bench.print_table()

    checks = {
        "split <= 0.5 x ERC-3525 reference": split_gas <= peer_split.gas_used / 2,
        "whole-fragment transfer < 60,000": transfer_gas < 60_000,
        "payout per fragment < 70,000": page_gas // PAGE < 70_000,
        "repay gas equal for 1 and 1,000 fragments": repay_one == repay_many,
    }
    print()
    for target, met in checks.items():
        print(f"{'met ' if met else 'MISSED'}  {target}")
