"""Numbers people type into the CLI are ASCII digits only (issue 10, item 8).

Python's ``\\d``, ``str.isdigit`` and ``int`` accept every Unicode decimal digit, so
``scf split ... １００`` split 100.00 CNY: a full-width (or Arabic-Indic, or superscript)
digit pasted from a document would be read as money without anyone noticing. The API
already refuses them; the CLI refuses them as a usage error (exit 2) before any call.
No network here: these are the parsers the commands call first.
"""

from __future__ import annotations

from typing import Any

import pytest

from api.cli import commands_base
from api.cli.commands_base import UsageProblemError, parse_fragment, parse_moment, parse_rate
from api.cli.money import AmountError, parse_cny

NON_ASCII = [
    "\uff11\uff10\uff10",  # １００ full-width
    "\u0661\u0660\u0660",  # ١٠٠ Arabic-Indic
    "1\uff10\uff10",  # mixed
    "\u00b9\u2070\u2070",  # ¹⁰⁰ superscripts
    "\U0001d7cf\U0001d7ce\U0001d7ce",  # mathematical bold 100
]


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("100", 10_000),
        ("0.01", 1),
        ("1,000,000.00", 100_000_000),
        ("¥1,000.5", 100_050),
        (" 12.3 CNY", 1_230),
    ],
)
def test_amounts_in_yuan_are_exact_fen(text: str, fen: int) -> None:
    assert parse_cny(text) == fen


@pytest.mark.parametrize(
    "text",
    [
        *NON_ASCII,
        "\uff11\uff10\uff10.00",
        "100.\uff15",
        "1,\uff10\uff10\uff10",
        "1.001",
        "-5",
        "1e3",
        "",
    ],
)
def test_amounts_with_non_ascii_digits_are_refused(text: str) -> None:
    with pytest.raises(AmountError):
        parse_cny(text)


@pytest.mark.parametrize("text", [*NON_ASCII, "\uff13.65%", "\uff13\uff16\uff15bps"])
def test_rates_with_non_ascii_digits_are_refused(text: str) -> None:
    with pytest.raises(UsageProblemError):
        parse_rate(text)


@pytest.mark.parametrize(
    "text", ["\uff13/\uff12", "3/\uff12", "\uff11\uff12\uff18\uff18", "\u00b2"]
)
def test_fragments_with_non_ascii_digits_are_refused(text: str) -> None:
    with pytest.raises(UsageProblemError):
        parse_fragment(text)


@pytest.mark.parametrize(
    "text", ["\uff11\uff17\uff19\uff18\uff17\uff16\uff11\uff16\uff10\uff10", "\u00b2"]
)
def test_moments_with_non_ascii_digits_are_refused(text: str) -> None:
    with pytest.raises(UsageProblemError):
        parse_moment(text)


def test_an_organization_id_is_ascii_digits() -> None:
    # "３" is not organization 3: it is looked up as a name, and no member is called that
    api: Any = None  # the member list is given, so no call is made
    cli = commands_base.Cli(api, json=False, _orgs=[{"id": 3, "name": "Tier1 Parts"}])
    assert cli.org_id("3") == 3
    assert cli.org_id("tier1") == 3
    for text in ("\uff13", "\u00b3"):
        with pytest.raises(UsageProblemError, match="no organization named"):
            cli.org_id(text)
