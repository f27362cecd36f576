"""AnvilNode with accounts of its own (what `scf up` runs): keys generated once per folder,
kept owner-only, never on anvil's command line, and the same accounts and balances after a
restart from the dumped state."""

from __future__ import annotations

import json
import os
from pathlib import Path

from chain_client.connection import connect
from chain_client.node import DEFAULT_MNEMONIC, AnvilNode, dev_accounts

PUBLIC_ADDRESSES = {a.address.lower() for a in dev_accounts(10, DEFAULT_MNEMONIC)}


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_private_accounts_are_random_owner_only_and_survive_a_restart(tmp_path: Path) -> None:
    accounts_file = tmp_path / "dev-accounts.json"
    state = tmp_path / "state.json"
    node = AnvilNode(state_path=state, accounts_file=accounts_file, accounts=3, balance_eth=50)
    with node:
        accounts = node.dev_accounts()
        assert len(accounts) == 3
        assert not {a.address.lower() for a in accounts} & PUBLIC_ADDRESSES
        assert accounts_file.stat().st_mode & 0o777 == 0o600
        # nothing secret where every local user can read it (/proc/<pid>/cmdline)
        assert node._process is not None
        cmdline = _cmdline(node._process.pid)
        assert "--mnemonic" not in cmdline
        assert not any(bytes(a.key).hex() in cmdline for a in accounts)
        # the node unlocks no account of a well-known key
        assert not {a.lower() for a in node.rpc("eth_accounts")} & PUBLIC_ADDRESSES
        w3 = connect(node.rpc_url)
        assert [w3.eth.get_balance(a.address) for a in accounts] == [50 * 10**18] * 3
        sender, receiver = accounts[0], accounts[1]
        tx = sender.sign_transaction(
            {
                "to": receiver.address,
                "value": 10**18,
                "gas": 21_000,
                "nonce": 0,
                "chainId": node.chain_id,
                "maxFeePerGas": 10**10,
                "maxPriorityFeePerGas": 0,
            }
        )
        w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(tx.raw_transaction))
        before = [w3.eth.get_balance(a.address) for a in accounts]
    assert state.exists() and state.stat().st_mode & 0o777 == 0o600
    saved = accounts_file.read_text()

    with AnvilNode(
        state_path=state, accounts_file=accounts_file, accounts=3, balance_eth=50
    ) as again:
        assert accounts_file.read_text() == saved
        assert [a.address for a in again.dev_accounts()] == [a.address for a in accounts]
        w3 = connect(again.rpc_url)
        # resumed, not funded again: the transfer and its fee are still there
        assert [w3.eth.get_balance(a.address) for a in accounts] == before
        assert w3.eth.get_transaction_count(sender.address) == 1


def test_accounts_file_of_another_user_is_not_trusted_blindly(tmp_path: Path) -> None:
    """A readable-by-all accounts file (copied in by hand) is tightened, not left open."""
    accounts_file = tmp_path / "dev-accounts.json"
    with AnvilNode(accounts_file=accounts_file, accounts=1):
        pass
    os.chmod(accounts_file, 0o644)
    with AnvilNode(accounts_file=accounts_file, accounts=1) as node:
        assert accounts_file.stat().st_mode & 0o777 == 0o600
        assert (
            node.dev_accounts()[0].address
            == json.loads(accounts_file.read_text())["accounts"][0]["address"]
        )


def test_default_node_keeps_the_well_known_accounts_for_tests() -> None:
    with AnvilNode(accounts=2) as node:
        assert [a.lower() for a in node.rpc("eth_accounts")] == [
            a.address.lower() for a in node.dev_accounts()
        ]
        assert {a.address.lower() for a in node.dev_accounts()} <= PUBLIC_ADDRESSES
