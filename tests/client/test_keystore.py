"""Key store: round trip, lookup, wrong passphrase, tampering, V3 interop."""

from __future__ import annotations

import json
import stat

import pytest
from eth_account import Account

from chain_client.errors import KeyAlreadyExists, KeyNotFound, TamperedKeyFile, WrongPassphrase
from chain_client.keystore import KeyStore

N = 2**10  # cheap scrypt for tests; the format records n, so load() uses what was written


@pytest.fixture
def store(tmp_path):
    return KeyStore(tmp_path / "keys", scrypt_n=N)


def test_create_load_round_trip(store):
    info = store.create("correct horse", label="supplier-a")
    account = store.load(info.id, "correct horse")
    assert account.address == info.address
    # lookup by address, any case, gives the same key
    assert store.load(info.address.lower(), "correct horse").key == account.key
    assert [k.id for k in store.list()] == [info.id]
    assert store.get(info.address).label == "supplier-a"
    # the file is private and contains no key material in clear
    text = info.path.read_text()
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600
    assert account.key.hex().removeprefix("0x") not in text
    assert json.loads(text)["address"] == info.address


def test_import_signs_like_the_original(store):
    original = Account.create()
    info = store.import_key(original.key.hex(), b"pw", label="imported")
    loaded = store.load(info.id, b"pw")
    assert loaded.address == original.address
    message_hash = b"\x11" * 32
    assert (
        loaded.unsafe_sign_hash(message_hash).signature
        == original.unsafe_sign_hash(message_hash).signature
    )
    with pytest.raises(KeyAlreadyExists):
        store.import_key(original.key, "other")


def test_wrong_passphrase(store):
    info = store.create("right")
    with pytest.raises(WrongPassphrase):
        store.load(info.id, "wrong")


@pytest.mark.parametrize(
    "field, mutate",
    [
        ("ciphertext", lambda v: ("0" if v[0] != "0" else "1") + v[1:]),
        ("label", lambda v: v + "x"),
        ("address", lambda v: Account.create().address),
        ("checksum", lambda v: "00" + v[2:]),
    ],
)
def test_tampered_file(store, field, mutate):
    info = store.create("pw", label="bank")
    document = json.loads(info.path.read_text())
    document[field] = mutate(document[field])
    if field != "checksum":
        # a deliberate attacker also fixes the plain checksum: the AEAD must still catch it
        from chain_client.keystore import _checksum

        document["checksum"] = _checksum(document)
    info.path.write_text(json.dumps(document))
    with pytest.raises(TamperedKeyFile):
        store.load(info.id, "pw")


def test_truncated_file_is_tampered(store):
    info = store.create("pw")
    info.path.write_text(info.path.read_text()[:50])
    with pytest.raises(TamperedKeyFile):
        store.load(info.id, "pw")
    assert store.list() == []  # an unreadable file is skipped by list()


def test_unknown_key(store):
    with pytest.raises(KeyNotFound):
        store.load(Account.create().address, "pw")
    with pytest.raises(KeyNotFound):
        store.load("not-a-key", "pw")


def test_v3_interop(store, tmp_path):
    info = store.create("pw")
    v3 = store.export_v3(info.id, "pw", "v3-password")
    assert v3["address"].lower() == info.address.lower().removeprefix("0x")
    other = KeyStore(tmp_path / "other", scrypt_n=N)
    imported = other.import_v3(json.dumps(v3), "v3-password", "new-pw")
    assert imported.address == info.address
    assert other.load(imported.id, "new-pw").key == store.load(info.id, "pw").key
    with pytest.raises(WrongPassphrase):
        KeyStore(tmp_path / "third", scrypt_n=N).import_v3(v3, "bad", "x")
