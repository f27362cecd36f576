"""The shared vocabulary (chain_client.ledger_types, chain_client.encoding): pure, no node."""

import json

import pytest

from chain_client.encoding import jsonable, to_hex
from chain_client.ledger_types import (
    CertificateStatus,
    format_fragment_id,
    fragment_id_bounds,
    fragment_id_of,
    parse_fragment_id,
)

ONE_TWO = fragment_id_of(1, 2)


@pytest.mark.parametrize(
    "text", ["4294967298", " 4294967298 ", "0x100000002", "0X100000002", "1/2"]
)
def test_every_printed_form_parses_to_the_same_id(text):
    assert parse_fragment_id(text) == ONE_TWO


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "0x",
        "0xzz",
        "5",
        "0/1",
        "1/4294967296",
        "1:2",
        "１/2",
        "４294967298",
        "-1",
        "1/-2",
    ],
)
def test_anything_else_is_a_value_error(text):
    with pytest.raises(ValueError, match="not a fragment id"):
        parse_fragment_id(text)


def test_short_form_round_trips_and_bounds_cover_exactly_one_certificate():
    assert parse_fragment_id(format_fragment_id(ONE_TWO)) == ONE_TWO
    first, end = fragment_id_bounds(1)
    assert first <= ONE_TWO < end and fragment_id_of(2, 0) == end


def test_status_label_is_the_read_models_name():
    assert CertificateStatus.ACTIVE.label == "active"
    assert [s.label for s in CertificateStatus][-1] == "defaulted"


def test_jsonable_keeps_big_integers_and_money_exact():
    value = {
        "value": 5,
        "big": 2**60,
        "small": 7,
        "raw": b"\x01\xff",
        "status": CertificateStatus.ACTIVE,
    }
    out = jsonable(value, money_keys={"value"})
    assert out == {"value": "5", "big": str(2**60), "small": 7, "raw": "0x01ff", "status": "ACTIVE"}
    assert jsonable([1, True, None], ints_as_strings=True) == ["1", True, None]
    json.dumps(out)


def test_to_hex_accepts_bytes_and_both_string_forms():
    assert to_hex(b"\xab") == to_hex("ab") == to_hex("0xab") == "0xab"
