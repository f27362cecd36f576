"""`scf up` end to end: a whole network from an empty folder, the guided demo against it,
a restart that resumes, and clear errors for a taken port and a corrupt data folder."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.cli.demo import run_demo
from api.cli.seed import BANK_A, CORE, SEED_NETWORK
from api.cli.up import LocalNetwork, UpError, UpOptions
from chain_client.node import free_port

FAST_KDF = 2**10  # scrypt cost for test keys only: the default is 2**15


def options(data_dir: Path) -> UpOptions:
    return UpOptions(data_dir=data_dir, chain_port=free_port(), api_port=free_port(),
                     keystore_scrypt_n=FAST_KDF)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scf-data")


@pytest.fixture(scope="module")
def first_start(data_dir: Path) -> Iterator[LocalNetwork]:
    with LocalNetwork(options(data_dir)) as network:
        yield network


def play(network: LocalNetwork) -> list[str]:
    said: list[str] = []
    assert network.keys_file is not None
    result = run_demo(network.api_url, network.rpc_url, network.keys_file,
                      network.options.data_dir / "manifest.json",
                      lambda step, text: said.append(step))
    assert result.balanced and result.verification_ok
    rows = {r["member"]: r for r in result.rows}
    assert rows[CORE]["cash_change"] == -100_000_000
    # the bank bought 120,000.00 at 3.65% and was repaid the face value: it earned the discount
    assert 0 < int(rows[BANK_A]["cash_change"]) < 12_000_000 * 365 * 180 // 3_600_000 + 1
    return said


def test_first_start_seeds_the_network(first_start: LocalNetwork) -> None:
    keys_file = first_start.keys_file
    assert keys_file is not None and keys_file.stat().st_mode & 0o777 == 0o600
    assert (first_start.options.data_dir / "secrets.json").stat().st_mode & 0o777 == 0o600
    keys = json.loads(keys_file.read_text())
    assert {org.name for org in SEED_NETWORK} < set(keys)
    assert all(entry["api_key"] for entry in keys.values())
    assert first_start.first_start


def test_demo_plays_the_whole_story(first_start: LocalNetwork) -> None:
    said = play(first_start)
    assert said == ["issue", "accept", "split", "split", "quote", "finance", "maturity",
                    "repay", "payout", "verify"]


def test_restart_resumes_without_reseeding(first_start: LocalNetwork, data_dir: Path) -> None:
    keys_before = (data_dir / "api-keys.json").read_text()
    manifest_before = (data_dir / "manifest.json").read_text()
    first_start.stop()
    with LocalNetwork(options(data_dir)) as again:
        assert not again.first_start
        assert (data_dir / "api-keys.json").read_text() == keys_before
        assert (data_dir / "manifest.json").read_text() == manifest_before
        # the chain kept its state (certificate #1 is settled) and time still moves forward
        play(again)


def test_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        opts = options(tmp_path)
        opts.api_port = blocker.getsockname()[1]
        with pytest.raises(UpError, match=r"port \d+ for the API is taken"):
            LocalNetwork(opts).start()


def test_corrupt_data_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "secrets.json").write_text("{not json")
    with pytest.raises(UpError, match=r"looks corrupt: secrets\.json is unreadable"):
        LocalNetwork(options(tmp_path)).start()


def test_scf_up_command_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """The real console script: up, serving, then SIGINT stops the API and the chain."""
    import signal
    import subprocess
    import sys
    import time

    import httpx

    chain_port, api_port = free_port(), free_port()
    scf = Path(sys.executable).with_name("scf")
    process = subprocess.Popen(
        [str(scf), "up", "--data-dir", str(tmp_path), "--chain-port", str(chain_port),
         "--api-port", str(api_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{api_port}/v1/health", timeout=1).is_success:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail("scf up did not serve the API within 90 s")
        keys_file = tmp_path / "api-keys.json"
        while not keys_file.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert "stopped; the state is kept in" in output, output
    assert (tmp_path / "chain" / "state.json").exists()
    assert not _listening(chain_port) and not _listening(api_port)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
