"""The rules the send path decides by, without a node: which node errors are transient
(chain_client/retry.py), what a refusal's words say (REFUSAL_WORDINGS), and the pacing by
the block period (pacing)."""

from __future__ import annotations

import time

import pytest
import requests
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

from chain_client import retry
from chain_client.errors import NodeUnavailable, RevertWithReason
from chain_client.transactions import Refusal, pacing, refusal_of


def rpc(code: int, message: str) -> Web3RPCError:
    response = {"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": message}}
    return Web3RPCError(repr(response["error"]), rpc_response=response)  # type: ignore[arg-type]


def http(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status}", response=response)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (requests.ConnectionError("connection refused"), True),
        (requests.ReadTimeout("read timed out"), True),
        (ConnectionResetError(), True),
        (http(502), True),
        (http(503), True),
        (http(429), True),
        (http(400), False),
        (http(401), False),
        (rpc(-32603, "value for 0xab not found in DB"), True),  # ethereumjs after a block
        (rpc(-32000, "header not found"), True),  # geth between blocks
        (rpc(-32005, "limit exceeded"), True),
        (rpc(-32000, "execution reverted"), False),
        (rpc(3, "execution reverted: TooLarge"), False),
        (rpc(-32000, "nonce too low"), False),
        (rpc(-32000, "insufficient funds for gas * price + value"), False),
        (rpc(-32602, "invalid argument 0: hex string has length 3"), False),
        (rpc(-32601, "the method eth_foo does not exist"), False),
        (TransactionNotFound("not found"), False),
        (ContractLogicError("execution reverted"), False),
        (RevertWithReason("no", args={"reason": "no"}), False),
        (NodeUnavailable("could not reach the node"), True),
        (ValueError("a bug of ours"), False),
    ],
)
def test_what_is_transient(exc: BaseException, transient: bool) -> None:
    assert retry.is_transient(exc) is transient


def test_sending_retries_only_the_transport_and_internal_errors() -> None:
    assert retry.is_transient_send(requests.ConnectionError())
    assert retry.is_transient_send(rpc(-32603, "no peer connection available"))
    # geth's and Besu's code for refusing a transaction: an answer, not a failure
    assert not retry.is_transient_send(rpc(-32000, "max fee per gas less than block base fee"))
    assert retry.is_transient(rpc(-32000, "max fee per gas less than block base fee"))


def test_a_transient_error_is_retried_until_it_passes() -> None:
    failures = [rpc(-32603, "value for 0x01 not found in DB")] * 3

    def read() -> str:
        if failures:
            raise failures.pop()
        return "receipt"

    assert retry.call(read) == "receipt"
    assert failures == []


def test_a_definite_error_is_not_retried() -> None:
    calls: list[int] = []

    def read() -> None:
        calls.append(1)
        raise rpc(-32000, "execution reverted")

    with pytest.raises(Web3RPCError, match="execution reverted"):
        retry.call(read)
    assert calls == [1]


def test_retries_stop_at_the_budget_or_the_patience_deadline_with_the_last_error() -> None:
    def down() -> None:
        raise requests.ConnectionError("connection refused")

    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        retry.retrying(0.5)(down)
    assert 0.45 <= time.monotonic() - started < 1.5
    started = time.monotonic()
    with retry.patience(time.monotonic() + 1.0), pytest.raises(requests.ConnectionError):
        retry.call(down)
    assert 0.95 <= time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("message", "refusal"),
    [
        ("already known", Refusal.KNOWN),  # geth
        ("Known transaction", Refusal.KNOWN),  # Besu
        ("TRANSACTION_ALREADY_KNOWN", Refusal.KNOWN),  # Besu's reason name
        ("AlreadyKnown", Refusal.KNOWN),  # Nethermind
        ("AlreadyInTxPool", Refusal.KNOWN),  # FISCO BCOS
        ("transaction already imported", Refusal.KNOWN),  # anvil
        ("0x12ab: this transaction is already in the TxPool", Refusal.KNOWN),  # ethereumjs
        ("nonce too low: next nonce 5, tx nonce 4", Refusal.NONCE),  # geth
        ("Nonce too low", Refusal.NONCE),  # Besu
        ("NONCE_TOO_LOW", Refusal.NONCE),  # Besu's reason name
        ("OldNonce, Current nonce: 5, nonce of rejected tx: 4", Refusal.NONCE),  # Nethermind
        ("NonceCheckFail", Refusal.NONCE),  # FISCO BCOS
        ("TxAlreadyInChain", Refusal.NONCE),  # FISCO BCOS
        (
            "0xf39f tries to send a tx with nonce 4, but account has nonce 5 (tx nonce too low)",
            Refusal.NONCE,
        ),  # ethereumjs
        ("replacement transaction underpriced", Refusal.UNDERPRICED),  # geth
        ("FeeTooLowToCompete", Refusal.UNDERPRICED),  # Nethermind
        ("insufficient funds for gas * price + value", Refusal.OTHER),
        ("E1207 交易已存在", Refusal.OTHER),
    ],
)
def test_the_wordings_of_each_node(message: str, refusal: Refusal) -> None:
    assert refusal_of(message) is refusal


@pytest.mark.parametrize(
    ("period", "confirmations", "resubmit"),
    [
        (None, 1, 3.0),  # a development chain: as before
        (0.25, 12, 1.0),  # floor of 1 s; at most 12 confirmations
        (1.0, 4, 2.0),
        (3.0, 2, 6.0),  # the ethereumjs Clique network of DESIGN.md
        (15.0, 2, 30.0),
        (120.0, 2, 30.0),  # a halted chain measures a long period: ceiling of 30 s
    ],
)
def test_pacing_by_the_block_period(period: float | None, confirmations: int, resubmit: float):
    assert pacing(period) == (confirmations, resubmit)
