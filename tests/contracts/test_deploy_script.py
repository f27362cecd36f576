"""scripts/deploy.py on the test network: deploys once, and a second run reuses it."""

import importlib.util
import json
from pathlib import Path

import pytest
from brownie import web3

SCRIPT = Path(__file__).parents[2] / "scripts" / "deploy.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("deploy_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_deploy_is_idempotent(tmp_path, monkeypatch):
    manifest = tmp_path / "manifest.json"
    monkeypatch.setenv("SCF_MANIFEST", str(manifest))
    script = _load_script()
    script.main()
    first = manifest.read_text()
    blocks = web3.eth.block_number
    script.main()
    assert manifest.read_text() == first
    assert web3.eth.block_number == blocks  # nothing was sent the second time


def test_a_run_that_failed_part_way_is_finished_by_the_next(tmp_path, monkeypatch):
    """The ledger refused after the token landed: the second run deploys the ledger only,
    bound to the first run's token (issue 12: a bank's chain got a second token)."""
    from web3.utils.address import get_create_address

    from chain_client.errors import TransactionRejected
    from chain_client.transactions import TransactionSender

    manifest = tmp_path / "manifest.json"
    monkeypatch.setenv("SCF_MANIFEST", str(manifest))
    script = _load_script()
    operator = script._operator_account().address
    first = web3.eth.get_transaction_count(operator)
    submit_prepared = TransactionSender.submit_prepared
    calls = []

    def refuse_the_second(self, prepared, **kwargs):
        calls.append(prepared)
        if len(calls) == 2:
            raise TransactionRejected("node rejected it: txpool is full", None)
        return submit_prepared(self, prepared, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(TransactionSender, "submit_prepared", refuse_the_second)
        with pytest.raises(SystemExit, match="run this script again to finish it"):
            script.main()
    assert not manifest.exists()
    script.main()
    assert web3.eth.get_transaction_count(operator) == first + 2  # one token, one ledger
    data = json.loads(manifest.read_text())
    assert data["token_address"] == get_create_address(operator, first)
    assert data["ledger_address"] == get_create_address(operator, first + 1)
