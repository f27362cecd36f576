"""Standing bids, financing without people (issue 14): a bank (or a core enterprise, for its
own certificates) posts a bid once, its rates by tenor band and its budget escrowed in the
ledger's bid book; a holder then sees every bid's price for its fragment, best first, and
sells to the best one (or one it names) in one call and one transaction, with nobody at
the bank acting.

  scf bid post|list|show|budget|cancel      (the funder's side; list and show: anyone)
  scf quotes FRAGMENT [AMOUNT]              (the holder: every bid's price, and why not)
  scf finance sell FRAGMENT AMOUNT          (the holder: sell to the best bid now)

`finance sell` joins the `scf finance` group of api.cli.commands_ledger (offer / accept /
withdraw) when this module is imported; api.cli.commands.register adds the rest.
"""

from __future__ import annotations

from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Any

import typer

from api.cli import output
from api.cli.client import ApiRefusedError
from api.cli.commands_base import (
    Cli,
    UsageProblemError,
    chain_now,
    parse_fragment,
    parse_rate,
    role_command,
)
from api.cli.commands_ledger import finance_app
from api.cli.money import parse_cny
from chain_client.discount import annual_cost_bps, percent_text
from chain_client.ledger_types import is_ascii_decimal

DAY = 86_400
#: the bid book's limits on a bid's tenor bands (contracts/ledger/LedgerTypes.sol)
MAX_BANDS = 8
MAX_BAND_DAYS = 65_535

#: The top-level commands of this module (`scf quotes`); api.cli.commands.register copies
#: them onto `scf`.
app = typer.Typer()

bid_app = typer.Typer(
    help="Standing bids: a funder's rates by tenor and a budget escrowed on the ledger; any "
    "holder of a covered certificate sells to one at once (`scf quotes`, `scf finance sell`).",
    no_args_is_help=True,
)


class BidStatus(StrEnum):
    open = "open"
    cancelled = "cancelled"


def _tx_pairs(result: dict[str, Any]) -> list[tuple[str, Any]]:
    return [("transaction", result.get("tx_hash")), ("block", result.get("block_number"))]


# -- what people type --------------------------------------------------------------------


def parse_band(text: str) -> tuple[int, int]:
    """A tenor band 'DAYS:RATE' ('90:3.00%', '180:365bps') as (up_to_days, rate_bps)."""
    days, sep, rate = text.strip().partition(":")
    days = days.strip().lower().removesuffix("d").strip()
    if not sep or not is_ascii_decimal(days):
        raise UsageProblemError(
            f"{text!r} is not a tenor band: use DAYS:RATE, e.g. 90:3.00% (up to 90 days "
            "to maturity at 3.00% a year)"
        )
    up_to = int(days)
    if not 1 <= up_to <= MAX_BAND_DAYS:
        raise UsageProblemError(f"{text!r}: a band's days are between 1 and {MAX_BAND_DAYS}")
    return up_to, parse_rate(rate)


def parse_bands(texts: list[str]) -> list[dict[str, int]]:
    """The --band options as the API's bands: shortest tenor first (in any order typed),
    one to eight, no two with the same days."""
    bands = sorted(parse_band(t) for t in texts)
    if not 1 <= len(bands) <= MAX_BANDS:
        raise UsageProblemError(f"give one to {MAX_BANDS} --band DAYS:RATE, not {len(bands)}")
    for (a, _), (b, _) in pairwise(bands):
        if a == b:
            raise UsageProblemError(f"two bands end at {a} days: give each tenor one rate")
    return [{"up_to_days": days, "rate_bps": bps} for days, bps in bands]


# -- how bids are shown ------------------------------------------------------------------


def _bands_text(bands: list[dict[str, Any]], *, short: bool = False) -> str:
    """'up to 90 days 3.00%, up to 180 days 3.60%' (short: '<=90d 3.00%, <=180d 3.60%')."""
    parts = []
    for band in bands:
        rate = f"{percent_text(int(band['rate_bps']))}%"
        days = int(band["up_to_days"])
        parts.append(f"<={days}d {rate}" if short else f"up to {days} days: {rate}")
    return ", ".join(parts) or "-"


def _funder(cli: Cli, row: dict[str, Any]) -> str:
    if row.get("funder_name"):
        return str(row["funder_name"])
    if row.get("funder_id") is not None:
        return cli.org_name(int(row["funder_id"]))
    return cli.name_of(row.get("funder"))


def _issuers(cli: Cli, ids: list[Any] | None) -> str:
    return ", ".join(cli.org_name(int(i)) for i in ids or []) or "-"


def _status(bid: dict[str, Any]) -> str:
    status = str(bid.get("status"))
    return f"{status} (expired)" if status == "open" and bid.get("expired") else status


def _per_sale(bid: dict[str, Any]) -> str:
    return f"{output.yuan(bid.get('min_amount'))} - {output.yuan(bid.get('max_amount'))}"


def _seller_limit(fen: Any) -> str:
    return "none" if int(fen or 0) == 0 else f"{output.yuan(fen)} CNY"


def _declined_table(cli: Cli, declined: list[dict[str, Any]]) -> Any:
    return output.table(
        "Bids that would not buy",
        ["bid", "bank", "reason", "detail"],
        [(d.get("bid_id"), _funder(cli, d), d.get("reason"), d.get("detail")) for d in declined],
    )


def _all_in_cost(discount: Any, payment: Any, days: Any) -> str | None:
    """The all-in yearly cost on the cash received (chain_client.discount.annual_cost_bps,
    the rule the API's quotes use), or None if the answer lacks a part of it."""
    if discount is None or payment is None or days is None or int(payment) <= 0:
        return None
    bps = annual_cost_bps(int(discount), int(payment), int(days))
    return f"{percent_text(bps)}% a year on the cash received"


# -- the funder's side ----------------------------------------------------------------------


@role_command(bid_app, "post", signs=True)
def bid_post(
    cli: Cli,
    band: Annotated[
        list[str],
        typer.Option(
            "--band",
            help="Tenor band DAYS:RATE, e.g. 90:3.00% (fragments with up to 90 days to "
            "maturity, at 3.00% a year); repeat for up to 8 bands.",
        ),
    ],
    budget: Annotated[
        str, typer.Option("--budget", help="Yuan escrowed now for the bid's purchases.")
    ],
    issuer: Annotated[
        list[str] | None,
        typer.Option(
            "--issuer",
            help="Core enterprise (name or id) whose certificates the bid buys; repeatable. "
            "Required for a bank; a core enterprise's default is itself.",
        ),
    ] = None,
    min_days: Annotated[
        int,
        typer.Option("--min-days", min=0, max=MAX_BAND_DAYS, help="Shortest tenor bought."),
    ] = 0,
    min_amount: Annotated[
        str | None,
        typer.Option("--min-amount", help="Smallest face amount per sale, yuan (default 0.01)."),
    ] = None,
    max_amount: Annotated[
        str | None,
        typer.Option(
            "--max-amount", help="Largest face amount per sale, yuan (default: the budget)."
        ),
    ] = None,
    per_seller_limit: Annotated[
        str | None,
        typer.Option(
            "--per-seller-limit",
            help="Most face value bought from one seller, yuan (default: no limit).",
        ),
    ] = None,
    expires_in_days: Annotated[
        int,
        typer.Option(
            "--expires-in-days", min=1, max=3660, help="Bid open this many days (ledger's clock)."
        ),
    ] = 30,
) -> None:
    """Bank (or core enterprise, for its own certificates): post a standing bid; its
    budget is escrowed on the ledger now and any holder of a covered certificate may sell
    to it without anyone at your side acting."""
    bands = parse_bands(band)
    budget_fen = parse_cny(budget)
    body: dict[str, Any] = {
        "bands": bands,
        "min_days": min_days,
        "max_amount": str(parse_cny(max_amount) if max_amount is not None else budget_fen),
        "budget": str(budget_fen),
    }
    if min_amount is not None:
        body["min_amount"] = str(parse_cny(min_amount))
    if per_seller_limit is not None:
        body["per_seller_limit"] = str(parse_cny(per_seller_limit))
    issuer_ids = [cli.org_id(i, what="issuer") for i in issuer or []]
    if issuer_ids:
        body["issuer_ids"] = issuer_ids
    # counted on the ledger's clock (/health's block time), as `scf issue --days` is
    body["expires_at"] = until = chain_now(cli) + expires_in_days * DAY
    result = cli.api.post("/bids", body)
    cli.show(
        result,
        output.fields(
            f"Bid {result.get('bid_id')} posted",
            [
                ("rates", _bands_text(bands)),
                ("shortest tenor", f"{min_days} days"),
                (
                    "per sale",
                    f"{output.yuan(body.get('min_amount', '1'))} - "
                    f"{output.yuan(body['max_amount'])} CNY face value",
                ),
                ("per seller", _seller_limit(body.get("per_seller_limit"))),
                (
                    "buys certificates of",
                    _issuers(cli, issuer_ids) if issuer_ids else "your own",
                ),
                ("budget escrowed", f"{output.yuan(result.get('budget'))} CNY"),
                ("open until", output.when(until)),
                ("status", result.get("status")),
                *_tx_pairs(result),
            ],
        ),
        "Holders now see it in `scf quotes FRAGMENT` and sell to it with `scf finance sell`.",
    )


@role_command(bid_app, "list")
def bid_list(
    cli: Cli,
    mine: Annotated[bool, typer.Option("--mine", help="Only your own bids.")] = False,
    status: Annotated[BidStatus | None, typer.Option("--status")] = None,
) -> None:
    """Standing bids (every member sees them all: they are offers to every holder), with
    what each has bought so far."""
    rows = cli.api.get("/bids", mine=mine or None, status=status.value if status else None)
    cli.show(
        rows,
        output.table(
            "Standing bids (CNY)",
            [
                "bid",
                "funder",
                "status",
                "rates",
                "min days",
                "per sale",
                "remaining",
                "bought",
                "paid",
                "sales",
                "open until",
                "issuers",
            ],
            [
                (
                    b["id"],
                    _funder(cli, b),
                    _status(b),
                    _bands_text(b.get("bands") or [], short=True),
                    b.get("min_days"),
                    _per_sale(b),
                    output.yuan(b.get("remaining")),
                    output.yuan(b.get("bought")),
                    output.yuan(b.get("paid")),
                    b.get("sales"),
                    output.when(b.get("expires_at")),
                    _issuers(cli, b.get("issuer_ids")),
                )
                for b in rows
            ],
            money=["remaining", "bought", "paid"],
        ),
    )


@role_command(bid_app, "show")
def bid_show(
    cli: Cli,
    bid: Annotated[int, typer.Argument(min=1, help="Bid id.")],
) -> None:
    """One standing bid: its terms, budget and what it has bought."""
    b = cli.api.get(f"/bids/{bid}")
    cli.show(
        b,
        output.fields(
            f"Bid {b.get('id')}",
            [
                ("funder", _funder(cli, b)),
                ("status", _status(b)),
                ("buys certificates of", _issuers(cli, b.get("issuer_ids"))),
                ("shortest tenor", f"{b.get('min_days')} days"),
                ("per sale", f"{_per_sale(b)} CNY face value"),
                ("per seller", _seller_limit(b.get("per_seller_limit"))),
                ("open until", output.when(b.get("expires_at"))),
                ("budget remaining", f"{output.yuan(b.get('remaining'))} CNY"),
                ("face value bought", f"{output.yuan(b.get('bought'))} CNY"),
                ("cash paid", f"{output.yuan(b.get('paid'))} CNY"),
                ("sales", b.get("sales")),
            ],
        ),
        output.table(
            "Rates by days to maturity",
            ["up to days", "rate"],
            [(x.get("up_to_days"), output.rate(x.get("rate_bps"))) for x in b.get("bands") or []],
        ),
    )


@role_command(bid_app, "budget", signs=True)
def bid_budget(
    cli: Cli,
    bid: Annotated[int, typer.Argument(min=1, help="Bid id.")],
    amount: Annotated[
        str, typer.Argument(help="Yuan the bid should hold from now on (0 empties it).")
    ],
) -> None:
    """Funder: set what an open bid holds in escrow: more is pulled from your account,
    less paid back to it."""
    fen = parse_cny(amount)
    before = int(cli.api.get(f"/bids/{bid}").get("remaining") or 0)
    result = cli.api.put(f"/bids/{bid}/budget", {"remaining": str(fen)})
    after = int(result.get("remaining") or fen)
    change = (
        f"{output.yuan(after - before)} CNY pulled from your account"
        if after >= before
        else f"{output.yuan(before - after)} CNY paid back to you"
    )
    cli.show(
        result,
        output.fields(
            f"Bid {bid}: budget set",
            [
                ("was", f"{output.yuan(before)} CNY"),
                ("now", f"{output.yuan(after)} CNY"),
                ("change", change),
                *_tx_pairs(result),
            ],
        ),
    )


@role_command(bid_app, "cancel", signs=True)
def bid_cancel(
    cli: Cli,
    bid: Annotated[int, typer.Argument(min=1, help="Bid id.")],
) -> None:
    """Funder: close a bid for good; what remains of its escrow is paid back to you."""
    result = cli.api.post(f"/bids/{bid}/cancel")
    cli.show(
        result,
        output.fields(
            f"Bid {bid} cancelled",
            [
                ("refunded", f"{output.yuan(result.get('refunded'))} CNY"),
                ("status", result.get("status")),
                *_tx_pairs(result),
            ],
        ),
    )


# -- the holder's side ----------------------------------------------------------------------


@role_command(app, "quotes")
def quotes(
    cli: Cli,
    fragment: Annotated[str, typer.Argument(help="Fragment: id or certificate/seq.")],
    amount: Annotated[
        str | None, typer.Argument(help="Yuan to sell; default: all of the fragment.")
    ] = None,
    max_rate: Annotated[
        str | None,
        typer.Option("--max-rate", help="Highest yearly rate you accept: 3.65% or 365bps."),
    ] = None,
) -> None:
    """Holder: what every standing bid would pay for the fragment now, best payment first,
    with the all-in yearly cost; and why each other bid would not buy."""
    fid = parse_fragment(fragment)
    fen = parse_cny(amount) if amount is not None else None
    bps = parse_rate(max_rate) if max_rate is not None else None
    result = cli.api.get(
        f"/fragments/{fid}/quotes",
        amount=str(fen) if fen is not None else None,
        max_rate_bps=bps,
    )
    ranked = result.get("quotes") or []
    declined = result.get("declined") or []
    shown: list[Any] = [
        output.table(
            f"Standing bids for {output.yuan(result.get('amount'))} CNY of fragment "
            f"{output.fragment_label(result.get('fragment_id'))}, best first",
            ["#", "bid", "bank", "rate", "days", "discount (CNY)", "payment (CNY)", "all-in cost"],
            [
                (
                    n,
                    q.get("bid_id"),
                    _funder(cli, q),
                    output.rate(q.get("rate_bps")),
                    q.get("days"),
                    output.yuan(q.get("discount")),
                    output.yuan(q.get("payment")),
                    f"{q.get('annual_cost_percent')}%",
                )
                for n, q in enumerate(ranked, 1)
            ],
            money=["discount (CNY)", "payment (CNY)"],
        )
    ]
    if declined:
        shown.append(_declined_table(cli, declined))
    if ranked:
        shown.append(
            "All-in cost: the discount as a yearly rate on the cash received (360 days), "
            "comparable with a loan's rate.\n"
            f"Sell to the best: `scf finance sell {fragment} {output.yuan(result.get('amount'))}`"
        )
    else:
        shown.append("No standing bid buys this now.")
    cli.show(result, *shown)


@role_command(finance_app, "sell", signs=True)
def finance_sell(
    cli: Cli,
    fragment: Annotated[str, typer.Argument(help="Fragment: id or certificate/seq.")],
    amount: Annotated[str, typer.Argument(help="Yuan of the fragment to sell.")],
    bid: Annotated[
        int | None,
        typer.Option("--bid", min=1, help="Sell to this bid; default: the best one now."),
    ] = None,
    max_rate: Annotated[
        str | None,
        typer.Option("--max-rate", help="Highest yearly rate you accept: 3.65% or 365bps."),
    ] = None,
    payee: Annotated[
        str | None,
        typer.Option("--payee", help="Member (name or id) paid the cash; default: you."),
    ] = None,
) -> None:
    """Holder: sell (part of) a fragment to the best standing bid now (or the one named),
    in one transaction: the fragment to the funder, the cash to you at once."""
    fid = parse_fragment(fragment)
    fen = parse_cny(amount)
    body: dict[str, Any] = {
        "amount": str(fen),
        "bid": bid if bid is not None else "best",
        "max_rate_bps": parse_rate(max_rate) if max_rate is not None else None,
        "payee_id": cli.org_id(payee, what="payee") if payee else None,
    }
    try:
        result = cli.api.post(f"/fragments/{fid}/finance", body)
    except ApiRefusedError as exc:
        declined = exc.body.get("declined")
        if exc.code == "no_bid_fits" and isinstance(declined, list) and declined and not cli.json:
            output.stderr().print(_declined_table(cli, declined))
        raise
    chosen = result.get("bid_id")
    try:
        funder = _funder(cli, cli.api.get(f"/bids/{chosen}"))
    except ApiRefusedError:
        funder = None
    payee_text = (
        cli.org_name(int(result["payee_id"]))
        if result.get("payee_id") is not None
        else cli.name_of(result.get("payee"))
        if result.get("payee")
        else cli.me().get("name")
    )
    cli.show(
        result,
        output.fields(
            f"Sold to bid {chosen}" + (f" ({funder})" if funder else ""),
            [
                ("fragment sold from", output.fragment_label(fid)),
                ("now the funder's", output.fragment_label(result.get("financed_fragment_id"))),
                ("face amount", f"{output.yuan(result.get('amount'))} CNY"),
                ("days to maturity", result.get("days")),
                ("discount", f"{output.yuan(result.get('discount'))} CNY"),
                ("payment", f"{output.yuan(result.get('payment'))} CNY"),
                ("paid to", payee_text),
                (
                    "all-in cost",
                    _all_in_cost(result.get("discount"), result.get("payment"), result.get("days")),
                ),
                *_tx_pairs(result),
            ],
        ),
    )
