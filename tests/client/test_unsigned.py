"""chain_client/unsigned.py: signed bytes accepted only when they are exactly the prepared
transaction, signed by the expected address."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

from chain_client.unsigned import SignedMismatch, check_signed, from_json, signing_hash, to_json

KEY = Account.create()
DYNAMIC: dict[str, Any] = {
    "chainId": 1337,
    "nonce": 3,
    "to": "0x" + "11" * 20,
    "value": 0,
    "data": b"\x01\x02",
    "gas": 50_000,
    "maxFeePerGas": 10**9,
    "maxPriorityFeePerGas": 1,
    "type": 2,
}
LEGACY: dict[str, Any] = {
    "chainId": 1337,
    "nonce": 3,
    "to": "0x" + "11" * 20,
    "value": 5,
    "data": b"",
    "gas": 50_000,
    "gasPrice": 0,
}


def raw(fields: dict[str, Any], account: Any = KEY) -> bytes:
    return bytes(account.sign_transaction(fields).raw_transaction)


@pytest.mark.parametrize("fields", [DYNAMIC, LEGACY], ids=["eip1559", "legacy"])
def test_the_prepared_transaction_signed_by_the_address_passes(fields: dict[str, Any]) -> None:
    again = from_json(to_json(fields))
    facts = check_signed(raw(again), fields, KEY.address)
    assert facts.sender == KEY.address


def test_the_signing_hash_is_what_the_key_signs() -> None:
    signature = KEY.unsafe_sign_hash(bytes.fromhex(signing_hash(DYNAMIC)[2:]))
    signed = KEY.sign_transaction(DYNAMIC)
    assert (signature.r, signature.s) == (signed.r, signed.s)


@pytest.mark.parametrize(
    ("prepared", "signed", "field"),
    [
        (DYNAMIC, {**DYNAMIC, "nonce": 4}, "nonce"),
        (DYNAMIC, {**DYNAMIC, "data": b"\x01\x03"}, "data"),
        (DYNAMIC, {**DYNAMIC, "to": "0x" + "22" * 20}, "to"),
        # an access list, or another transaction type, is not the prepared transaction
        (
            DYNAMIC,
            {**DYNAMIC, "accessList": [{"address": "0x" + "22" * 20, "storageKeys": []}]},
            "accessList",
        ),
        (LEGACY, {**LEGACY, "type": 1, "accessList": []}, "type"),
    ],
    ids=["nonce", "data", "to", "access-list", "type"],
)
def test_other_bytes_are_refused_naming_the_field(
    prepared: dict[str, Any], signed: dict[str, Any], field: str
) -> None:
    with pytest.raises(SignedMismatch) as refused:
        check_signed(raw(signed), prepared, KEY.address)
    assert refused.value.field == field


def test_another_key_and_garbage_are_refused() -> None:
    with pytest.raises(SignedMismatch) as refused:
        check_signed(raw(DYNAMIC, Account.create()), DYNAMIC, KEY.address)
    assert refused.value.field == "sender"
    with pytest.raises(SignedMismatch) as refused:
        check_signed(b"\x02junk", DYNAMIC, KEY.address)
    assert refused.value.field == "encoding"
