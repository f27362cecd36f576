"""RemoteSigner: a transaction signed by a signer service over JSON-RPC
(``eth_signTransaction``, tests/signer_server.py in a process of its own) goes through
TransactionSender's one send path and is mined; a signer that returns other bytes, or
signs with another key, is refused with the field named and nothing is broadcast (the
nonce stays free for the next transaction); a signer down or too slow raises
SignerUnavailable within its timeout, and its URL's credentials are never in a message."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils import to_checksum_address

from chain_client.connection import connect
from chain_client.encoding import to_hex
from chain_client.errors import SignerMismatch, SignerRefused, SignerUnavailable
from chain_client.node import AnvilNode, free_port
from chain_client.signers import RemoteSigner
from chain_client.transactions import SignedTransaction
from tests.client.helpers import make_sender
from tests.signer_server import SignerProcess, running_signer

PAYEE = to_checksum_address("0x" + "7a" * 20)


@pytest.fixture(scope="module")
def signer(
    automine_node: AnvilNode, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SignerProcess]:
    key = automine_node.dev_accounts(8)[7].key.hex()
    with running_signer([key], tmp_path_factory.mktemp("signer")) as process:
        yield process


@pytest.fixture
def honest(signer: SignerProcess) -> Iterator[SignerProcess]:
    signer.set_mode("honest")
    signer.set_style("clef")
    yield signer
    signer.set_mode("honest")


def _address(node: AnvilNode) -> str:
    return str(node.dev_accounts(8)[7].address)


@pytest.mark.parametrize(("style", "data_field"), [("clef", "input"), ("web3signer", "data")])
def test_a_transaction_signed_by_the_remote_signer_is_mined(
    honest: SignerProcess, automine_node: AnvilNode, style: str, data_field: str
) -> None:
    honest.set_style(style)
    w3 = connect(automine_node.rpc_url)
    remote = RemoteSigner(honest.url, _address(automine_node), timeout=5, data_field=data_field)
    assert remote.accounts() == [remote.address]
    sender = make_sender(w3, remote)
    before = int(w3.eth.get_balance(PAYEE))
    receipt = sender.send({"to": PAYEE, "value": 1234, "data": b"\x01\x02"})
    assert receipt["status"] == 1
    assert receipt["from"] == remote.address
    assert int(w3.eth.get_balance(PAYEE)) == before + 1234
    mined = w3.eth.get_transaction(receipt["transactionHash"])
    assert bytes(mined["input"]) == b"\x01\x02"


@pytest.mark.parametrize(
    ("mode", "field"), [("other-key", "sender"), ("altered", "value"), ("garbage", "encoding")]
)
def test_a_signer_that_returns_other_bytes_is_refused_and_nothing_is_sent(
    honest: SignerProcess, automine_node: AnvilNode, mode: str, field: str
) -> None:
    w3 = connect(automine_node.rpc_url)
    remote = RemoteSigner(honest.url, _address(automine_node), timeout=5)
    sender = make_sender(w3, remote)
    nonce = int(w3.eth.get_transaction_count(remote.address, "pending"))
    honest.set_mode(mode)
    recorded: list[SignedTransaction] = []
    with pytest.raises(SignerMismatch) as refused:
        sender.submit({"to": PAYEE, "value": 5}, before_broadcast=recorded.append)
    assert refused.value.field == field
    assert field in str(refused.value)
    assert recorded == []  # never handed to the journal, never broadcast
    assert int(w3.eth.get_transaction_count(remote.address, "pending")) == nonce
    honest.set_mode("honest")
    after = sender.submit({"to": PAYEE, "value": 6})
    assert after.nonce == nonce  # the refused attempt did not use it up
    assert to_hex(sender.wait(after, timeout=20)["transactionHash"]) == after.tx_hash


def test_a_signer_that_declines_raises_signer_refused(
    honest: SignerProcess, automine_node: AnvilNode
) -> None:
    remote = RemoteSigner(honest.url, _address(automine_node), timeout=5)
    sender = make_sender(connect(automine_node.rpc_url), remote)
    honest.set_mode("refuse")
    with pytest.raises(SignerRefused, match="Request denied") as refused:
        sender.submit({"to": PAYEE, "value": 5})
    assert refused.value.rpc_code == -32000


def test_a_signer_down_raises_signer_unavailable_quickly_without_its_credentials(
    automine_node: AnvilNode,
) -> None:
    port = free_port()
    url = f"http://signer-user:s3cret-pass@127.0.0.1:{port}/rpc?token=t0ken-value"
    remote = RemoteSigner(url, _address(automine_node), timeout=5)
    sender = make_sender(connect(automine_node.rpc_url), remote)
    started = time.monotonic()
    with pytest.raises(SignerUnavailable) as down:
        sender.submit({"to": PAYEE, "value": 5})
    assert time.monotonic() - started < 2
    text = f"{down.value} {down.value!r} {remote!r} {down.value.__cause__!r}"
    assert f"http://127.0.0.1:{port}" in str(down.value)
    for secret in ("s3cret-pass", "signer-user", "t0ken-value", "/rpc"):
        assert secret not in text


def test_a_signer_too_slow_raises_signer_unavailable_at_its_timeout(
    automine_node: AnvilNode, tmp_path: Path
) -> None:
    key = automine_node.dev_accounts(8)[7].key.hex()
    with running_signer([key], tmp_path, mode="slow", delay=5) as slow:
        remote = RemoteSigner(slow.url, _address(automine_node), timeout=0.5)
        sender = make_sender(connect(automine_node.rpc_url), remote)
        started = time.monotonic()
        with pytest.raises(SignerUnavailable, match=r"within 0\.5 s"):
            sender.submit({"to": PAYEE, "value": 5})
        assert time.monotonic() - started < 2  # a read timeout is not retried


def test_the_request_is_what_json_rpc_signers_expect() -> None:
    remote = RemoteSigner("http://127.0.0.1:1", "0x" + "11" * 20)
    params = remote.request_params(
        {
            "to": "0x" + "22" * 20,
            "value": 0,
            "data": b"\xab",
            "gas": 21_000,
            "nonce": 5,
            "chainId": 1337,
            "maxFeePerGas": 2 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            "type": 2,
        }
    )
    assert params == {
        "from": "0x" + "11" * 20,
        "to": "0x" + "22" * 20,
        "gas": "0x5208",
        "nonce": "0x5",
        "value": "0x0",
        "chainId": "0x539",
        "maxFeePerGas": "0x77359400",
        "maxPriorityFeePerGas": "0x3b9aca00",
        "data": "0xab",
    }
