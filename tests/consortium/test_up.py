"""`scf up --consortium --demo` itself: a network of its own in a new data folder, the API
on the operator's node, seeded, its first bank keeping its own key; the demo played on it
(the bank accepts the offer under four eyes and signs it with its own key, and verifies
from its own node); everything owner-only; a second start resumes the same network (same
nodes, same chain, same ledger) without seeding again. test_lifecycle.py plays the story
on the shared network, whose bank's key the API keeps."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from api.cli.demo import run_demo
from api.cli.own_signer import OwnSigner
from api.cli.up import LocalNetwork, UpOptions
from chain_client.connection import connect
from chain_client.keystore import KeyStore
from chain_client.manifest import DeploymentManifest, mismatches
from chain_client.node import free_port, port_is_free


def _four_free_ports() -> int:
    """A base port whose next three are free too (the nodes' RPC ports)."""
    while True:
        base = free_port()
        if base < 65_000 and all(port_is_free(base + k) for k in range(4)):
            return base


def test_scf_up_consortium_starts_seeds_and_resumes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    options = UpOptions(
        data_dir=data,
        chain_port=_four_free_ports(),
        api_port=free_port(),
        keystore_scrypt_n=2**10,
        consortium=True,
    )
    with LocalNetwork(options) as first:
        assert first.consortium is not None
        assert first.first_start
        assert first.rpc_url == first.consortium.node("operator").rpc_url
        assert [n.config.rpc_port for n in first.consortium] == [
            options.chain_port + k for k in range(4)
        ]
        keys = json.loads((data / "api-keys.json").read_text())
        manifest = DeploymentManifest.read(data / "manifest.json")
        chain_id = connect(first.rpc_url).eth.chain_id
        # every node serves the same ledger, the bank's too
        for node in first.consortium:
            assert mismatches(manifest, connect(node.rpc_url)) == [], node.name
        enodes = [n.config.enode for n in first.consortium]
        said: list[tuple[str, str]] = []
        assert first.keys_file is not None
        result = run_demo(
            first.api_url,
            first.rpc_url,
            first.keys_file,
            data / "manifest.json",
            lambda step, text: said.append((step, text)),
            verify_rpc_url=first.consortium.node("bank-a").rpc_url,
        )
        assert result.balanced and result.verification_ok
        assert [step for step, _ in said][5:10] == [
            "four-eyes", "maker", "approve", "sign", "finance",
        ]  # fmt: skip
        assert "its own node" in said[-1][1]
        signer = OwnSigner.open(data / "bank-signer")
        assert signer is not None
        assert result.bank_custody == "self" and result.bank_address == signer.address
        assert [s.action for s in result.bank_signed] == [
            "accept_offer", "approve_settlement", "post_bid", "cancel_bid",
        ]  # fmt: skip
        w3 = connect(first.rpc_url)
        for step in result.bank_signed:
            assert w3.eth.get_transaction(step.tx_hash)["from"] == signer.address
        # the seed's credit line and allowance, the acceptance, the bid book's allowance, the
        # standing bid and its closing: all from its own key
        assert w3.eth.get_transaction_count(signer.address) == 6
        api_keys = KeyStore(data / "keys").list()
        assert signer.address not in {k.address for k in api_keys}
    for root, dirs, files in os.walk(data):
        for name in dirs + files:
            path = Path(root, name)
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                continue
            assert not stat.S_IMODE(path.stat().st_mode) & 0o077, path
    with LocalNetwork(options) as again:
        assert again.consortium is not None
        assert not again.first_start
        assert [n.config.enode for n in again.consortium] == enodes
        assert connect(again.rpc_url).eth.chain_id == chain_id
        assert json.loads((data / "api-keys.json").read_text()) == keys
        assert DeploymentManifest.read(data / "manifest.json") == manifest
