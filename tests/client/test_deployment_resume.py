"""deploy_ledger finishes a deployment an earlier run left half done (issue 12): a node that
refused the ledger after the token landed, a crash between a broadcast and its receipt, a
transaction the node lost. Each test counts what the operator created by its nonce: a
second SettlementToken is what a bank found on its chain."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from web3.utils.address import get_create_address

from chain_client.connection import connect
from chain_client.deployment import deploy_ledger
from chain_client.errors import ManifestMismatch, TransactionRejected
from chain_client.manifest import (
    EMPTY_CODE_HASH,
    DeploymentManifest,
    code_hash,
    load_manifest,
    partial_manifest_path,
)
from chain_client.node import AnvilNode
from chain_client.transactions import TransactionSender
from tests.client.helpers import make_sender


class Crash(Exception):  # noqa: N818 - it is no error of the code under test
    """The process dying at this point (nothing after it runs)."""


@pytest.fixture
def anvil(automine_node: AnvilNode) -> Iterator[AnvilNode]:
    """The module's node, back to automine whatever a test did to it."""
    yield automine_node
    automine_node.set_automine(True)


@pytest.fixture
def operator(anvil: AnvilNode) -> TransactionSender:
    return make_sender(connect(anvil.rpc_url), anvil.dev_accounts(1)[0], resubmit_interval=0.2)


def _nonce(sender: TransactionSender) -> int:
    return int(sender.w3.eth.get_transaction_count(sender.address, "latest"))


def _on_call(
    monkeypatch: pytest.MonkeyPatch,
    sender: TransactionSender,
    method: str,
    number: int,
    act: Callable[..., Any],
) -> None:
    """Make the ``number``-th call of ``sender.method`` do ``act(original, *args,
    **kwargs)`` instead (one call of submit_prepared and of wait per deployment, token
    first: the second is the ledger's)."""
    original = getattr(sender, method)
    calls = 0

    def patched(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == number:
            return act(original, *args, **kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(sender, method, patched)


def _restarted(sender: TransactionSender) -> TransactionSender:
    """The same operator in a new process (a fresh nonce counter, read from the node)."""
    return make_sender(sender.w3, sender.account, resubmit_interval=0.2)


def _refuse(_original: Any, *_args: Any, **_kwargs: Any) -> Any:
    raise TransactionRejected("node rejected it: txpool is full", None)


def _crash_instead(_original: Any, *_args: Any, **_kwargs: Any) -> Any:
    raise Crash


def _assert_one_deployment(
    manifest_path: Path, operator: TransactionSender, first_nonce: int, ledger_nonce: int
) -> DeploymentManifest:
    """The manifest is complete and matches the chain, the token is the operator's first
    creation and the ledger the one at ``ledger_nonce``."""
    manifest = load_manifest(manifest_path, operator.w3)
    assert manifest.token_address == get_create_address(operator.address, first_nonce)
    assert manifest.ledger_address == get_create_address(operator.address, ledger_nonce)
    assert not partial_manifest_path(manifest_path).exists()
    return manifest


def test_ledger_refused_after_the_token_landed_reuses_the_token(
    operator: TransactionSender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "manifest.json"
    first = _nonce(operator)
    with monkeypatch.context() as patch:
        _on_call(patch, operator, "submit_prepared", 2, _refuse)
        with pytest.raises(TransactionRejected):
            deploy_ledger(operator.w3, operator, manifest_path=path)
    assert _nonce(operator) == first + 1  # the token landed, the ledger did not

    operator = _restarted(operator)
    deploy_ledger(operator.w3, operator, manifest_path=path)
    assert _nonce(operator) == first + 2  # one token, one ledger: nothing deployed twice
    manifest = _assert_one_deployment(path, operator, first, first + 1)
    assert manifest.token_deployment_block < manifest.deployment_block

    # Complete and on the chain: a third run sends nothing.
    assert deploy_ledger(operator.w3, operator, manifest_path=path) == manifest
    assert _nonce(operator) == first + 2


def test_crash_between_broadcast_and_receipt_waits_for_that_transaction(
    operator: TransactionSender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "manifest.json"
    first = _nonce(operator)
    with monkeypatch.context() as patch:
        _on_call(patch, operator, "wait", 2, _crash_instead)  # the ledger's receipt
        with pytest.raises(Crash):
            deploy_ledger(operator.w3, operator, manifest_path=path)

    operator = _restarted(operator)
    deploy_ledger(operator.w3, operator, manifest_path=path)
    assert _nonce(operator) == first + 2
    _assert_one_deployment(path, operator, first, first + 1)


def test_a_deployment_recorded_then_refused_is_sent_again(
    operator: TransactionSender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The node refused the ledger's bytes after they were recorded (or the process died
    between the two): the rerun sends those bytes, it does not sign a second ledger."""
    path = tmp_path / "manifest.json"
    first = _nonce(operator)

    def refuse_after_recording(original: Any, prepared: Any, **kwargs: Any) -> Any:
        hook = kwargs.pop("before_broadcast", None)

        def record_then_refuse(signed: Any) -> None:
            if hook is not None:
                hook(signed)
            raise TransactionRejected("node rejected it: txpool is full", signed.tx_hash)

        return original(prepared, before_broadcast=record_then_refuse, **kwargs)

    with monkeypatch.context() as patch:
        _on_call(patch, operator, "submit_prepared", 2, refuse_after_recording)
        with pytest.raises(TransactionRejected):
            deploy_ledger(operator.w3, operator, manifest_path=path)
    assert _nonce(operator) == first + 1

    operator = _restarted(operator)
    deploy_ledger(operator.w3, operator, manifest_path=path)
    assert _nonce(operator) == first + 2
    _assert_one_deployment(path, operator, first, first + 1)


def test_the_pending_deployment_is_recorded_before_its_broadcast(
    operator: TransactionSender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """What the rerun of the test above relies on, and that the record is private."""
    path = tmp_path / "manifest.json"
    first = _nonce(operator)
    seen: list[dict[str, Any]] = []

    def read_partial_in_hook(original: Any, prepared: Any, **kwargs: Any) -> Any:
        hook = kwargs.pop("before_broadcast")

        def hook_then_read(signed: Any) -> None:
            hook(signed)  # what submit_prepared broadcasts only after this returns
            seen.append(json.loads(partial_manifest_path(path).read_text()))

        return original(prepared, before_broadcast=hook_then_read, **kwargs)

    with monkeypatch.context() as patch:
        _on_call(patch, operator, "submit_prepared", 2, read_partial_in_hook)
        _on_call(patch, operator, "wait", 2, _crash_instead)
        with pytest.raises(Crash):
            deploy_ledger(operator.w3, operator, manifest_path=path)

    (before,) = seen
    token, ledger = before["steps"]["SettlementToken"], before["steps"]["CreditLedger"]
    assert token["block"] is not None and token["raw"] is None
    assert ledger["block"] is None and ledger["raw"].startswith("0x")
    assert (ledger["sender"], ledger["nonce"]) == (operator.address, first + 1)
    assert ledger["address"] == get_create_address(operator.address, first + 1)
    partial = partial_manifest_path(path)
    assert stat.S_IMODE(partial.stat().st_mode) == 0o600
    assert json.loads(partial.read_text())["steps"]["CreditLedger"]["tx_hash"] == ledger["tx_hash"]


def _broadcast_then_lose(anvil: AnvilNode, operator: TransactionSender, monkeypatch, path: Path):
    """The ledger's deployment is broadcast, the node drops it unmined, the process dies."""

    def unmined(original: Any, *args: Any, **kwargs: Any) -> Any:
        anvil.set_automine(False)
        return original(*args, **kwargs)

    def drop_and_crash(_original: Any, pending: Any, **_kwargs: Any) -> Any:
        anvil.rpc("anvil_dropTransaction", [pending.tx_hash])
        raise Crash

    with monkeypatch.context() as patch:
        _on_call(patch, operator, "submit_prepared", 2, unmined)
        _on_call(patch, operator, "wait", 2, drop_and_crash)
        with pytest.raises(Crash):
            deploy_ledger(operator.w3, operator, manifest_path=path)
    anvil.set_automine(True)


def test_a_deployment_the_node_lost_is_sent_again(
    anvil: AnvilNode, operator: TransactionSender, tmp_path: Path, monkeypatch
):
    path = tmp_path / "manifest.json"
    first = _nonce(operator)
    _broadcast_then_lose(anvil, operator, monkeypatch, path)
    assert _nonce(operator) == first + 1

    operator = _restarted(operator)
    deploy_ledger(operator.w3, operator, manifest_path=path)
    assert _nonce(operator) == first + 2
    _assert_one_deployment(path, operator, first, first + 1)


def test_a_deployment_whose_nonce_went_elsewhere_is_deployed_again(
    anvil: AnvilNode, operator: TransactionSender, tmp_path: Path, monkeypatch
):
    """Never mined and never to be: the one case where a recorded step is redone."""
    path = tmp_path / "manifest.json"
    first = _nonce(operator)
    _broadcast_then_lose(anvil, operator, monkeypatch, path)
    operator = _restarted(operator)
    operator.send({"to": operator.address, "value": 1})  # takes the ledger's nonce

    deploy_ledger(operator.w3, operator, manifest_path=path)
    assert _nonce(operator) == first + 3
    _assert_one_deployment(path, operator, first, first + 2)
    assert code_hash(operator.w3, get_create_address(operator.address, first + 1)) == (
        EMPTY_CODE_HASH
    )


@pytest.mark.parametrize(
    ("code", "message"), [("0x", "no contract code at SettlementToken"), ("0x00", "code hash")]
)
def test_a_recorded_token_without_its_code_is_an_error_naming_it(
    anvil: AnvilNode,
    operator: TransactionSender,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: str,
    message: str,
):
    path = tmp_path / "manifest.json"
    first = _nonce(operator)
    with monkeypatch.context() as patch:
        _on_call(patch, operator, "submit_prepared", 2, _refuse)
        with pytest.raises(TransactionRejected):
            deploy_ledger(operator.w3, operator, manifest_path=path)
    token = get_create_address(operator.address, first)
    anvil.rpc("anvil_setCode", [token, code])

    with pytest.raises(ManifestMismatch, match=message) as raised:
        deploy_ledger(operator.w3, operator, manifest_path=path)
    assert token in str(raised.value)
    assert _nonce(operator) == first + 1  # nothing deployed over it
    assert not path.exists()


def test_an_unfinished_deployment_is_finished_only_as_it_was_started(
    anvil: AnvilNode, operator: TransactionSender, tmp_path: Path, monkeypatch
):
    path = tmp_path / "manifest.json"
    with monkeypatch.context() as patch:
        _on_call(patch, operator, "submit_prepared", 2, _refuse)
        with pytest.raises(TransactionRejected):
            deploy_ledger(operator.w3, operator, manifest_path=path)
    other = make_sender(operator.w3, anvil.dev_accounts(2)[1])
    other_first = _nonce(other)
    with pytest.raises(ManifestMismatch, match=f"deployer '{operator.address}'"):
        deploy_ledger(operator.w3, other, manifest_path=path)
    with pytest.raises(ManifestMismatch, match="grace_period 259200"):
        deploy_ledger(operator.w3, operator, manifest_path=path, grace_period=86_400)
    assert _nonce(other) == other_first
