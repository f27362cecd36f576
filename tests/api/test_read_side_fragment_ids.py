"""A fragment id in a request: decimal ASCII only, else 404 (api.services.access).

The shared decoder (chain_client.ledger_types.parse_fragment_id) also takes hex and
``certificate/seq`` for people at a terminal; the API documents decimal ids only, and a
string that names no fragment answers as an unknown fragment does."""

from __future__ import annotations

import pytest

from api.problems import Problem
from api.services.access import MAX_FRAGMENT_ID, parse_fragment_id
from chain_client.ledger_types import fragment_id_of


@pytest.mark.parametrize(
    ("text", "fragment_id"),
    [("4294967296", fragment_id_of(1, 0)), ("4294967298", fragment_id_of(1, 2))],
)
def test_decimal_ids_are_fragments(text: str, fragment_id: int) -> None:
    assert parse_fragment_id(text) == fragment_id


@pytest.mark.parametrize(
    "text",
    [
        "٤٢٩٤٩٦٧٢٩٦",  # 4294967296 in Arabic-Indic digits: int() would take it
        "４２９４９６７２９６",  # full-width digits
        "0x100000000",  # hex: the CLI's, not the API's
        "1/0",  # certificate/seq: likewise
        " 4294967296",
        "",
        "0",
        "4294967295",  # certificate 0
        str(MAX_FRAGMENT_ID + 1),  # past the read model's BIGINT
    ],
)
def test_anything_else_is_an_unknown_fragment(text: str) -> None:
    with pytest.raises(Problem) as refused:
        parse_fragment_id(text)
    assert (refused.value.status, refused.value.code) == (404, "unknown_fragment")
