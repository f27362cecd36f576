"""`scf up --consortium` itself: a network of its own in a new data folder, the API on the
operator's node, seeded; everything owner-only; a second start resumes the same network
(same nodes, same chain, same ledger) without seeding again. Played in full by
test_lifecycle.py through the shared network, so here only the start and the restart."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from api.cli.up import LocalNetwork, UpOptions
from chain_client.connection import connect
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
