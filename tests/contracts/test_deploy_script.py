"""scripts/deploy.py on the test network: deploys once, and a second run reuses it."""

import importlib.util
from pathlib import Path

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
