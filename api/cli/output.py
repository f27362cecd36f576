"""How the role commands show things: rich tables for people, the API's JSON for scripts.

Why a module of its own: every command shows amounts, dates, fragment ids and
counterparties the same way (yuan with two decimals, China time, "certificate/seq", names
instead of addresses), and the rules are easier to trust written once.

rich is imported by the functions that draw, not with the module: `scf --help` loads
this module and draws nothing (docs/benchmarks.md, "The CLI's start-up time").
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from api.cli.money import format_cny
from api.timeutil import CST
from chain_client.ledger_types import format_fragment_id

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def stdout() -> Console:
    """A console on the current sys.stdout (looked up per call, so test runners that swap
    sys.stdout capture the output)."""
    from rich.console import Console

    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def stderr() -> Console:
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, soft_wrap=False)


def escape(text: str) -> str:
    """``text`` shown as it is inside rich markup (an API's message may hold '[...]')."""
    from rich.markup import escape as escape_markup

    return escape_markup(text)


def emit_json(data: Any) -> None:
    """The API's JSON, as is (money stays strings of fen), one document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
    sys.stdout.flush()


def yuan(fen: int | str | None) -> str:
    """Fen (int or the API's string) as yuan with two decimals; '-' when there is none."""
    if fen is None or fen == "":
        return "-"
    return format_cny(fen)


def when(ts: int | str | None) -> str:
    """A Unix time as a China-time date and minute (the business's own clock)."""
    if ts is None or ts == "":
        return "-"
    moment = datetime.fromtimestamp(int(ts), tz=UTC).astimezone(CST)
    return moment.strftime("%Y-%m-%d %H:%M CST")


def moment(iso: str | None) -> str:
    """An ISO date-time of the API (an expiry, a decision) as `when` shows a Unix time."""
    if not iso:
        return "-"
    try:
        value = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if value.tzinfo is None:  # the API's times are UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(CST).strftime("%Y-%m-%d %H:%M CST")


def fragment_label(fragment_id: int | str | None) -> str:
    """'4294967298 (1/2)': the decimal id the API takes, and certificate/seq for people."""
    if fragment_id is None or fragment_id == "":
        return "-"
    value = int(fragment_id)
    return f"{value} ({format_fragment_id(value)})"


def rate(bps: int | str | None) -> str:
    """Basis points as a percent with two decimals, exactly (365 -> '3.65%')."""
    if bps is None or bps == "":
        return "-"
    whole, part = divmod(int(bps), 100)
    return f"{whole}.{part:02d}% ({int(bps)} bps)"


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    money: Iterable[str] = (),
) -> Table:
    """A rich table; columns named in ``money`` are right-aligned (yuan line up by cents)."""
    from rich.table import Table

    right = set(money)
    out = Table(title=title, title_justify="left", show_lines=False)
    for name in columns:
        out.add_column(name, justify="right" if name in right else "left", overflow="fold")
    for row in rows:
        out.add_row(*("-" if cell is None else str(cell) for cell in row))
    return out


def fields(title: str | None, pairs: Iterable[tuple[str, Any]]) -> Table:
    """A two-column 'what: value' table for a single record."""
    from rich.table import Table

    out = Table(
        title=title, title_justify="left", show_header=False, box=None, padding=(0, 2, 0, 0)
    )
    out.add_column(style="bold")
    out.add_column(overflow="fold")
    for key, value in pairs:
        out.add_row(key, "-" if value is None else str(value))
    return out
