"""`scf up` end to end: a whole network from an empty folder, the guided demo against it,
a restart that resumes, and clear errors for a taken port and a corrupt data folder. Data
at rest: the folder and every file in it owner-only (also after ``python -m api`` served
it, also when an older version left it open), the master passphrase in the folder only in
demo mode, the development chain's accounts its own, not the public mnemonic's."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import Session, create_engine, select

from api.cli.client import ApiClient
from api.cli.demo import DemoResult, run_demo
from api.cli.health import interrupt, wait_until_serving
from api.cli.own_signer import OwnSigner
from api.cli.seed import BANK_A, BANK_B, CORE, OPERATOR, SEED_NETWORK
from api.cli.up import LocalNetwork, UpError, UpOptions
from api.models.documents import Document
from chain_client.connection import connect
from chain_client.keystore import KeyStore
from chain_client.node import DEFAULT_MNEMONIC, AnvilNode, dev_accounts, free_port

FAST_KDF = 2**10  # scrypt cost for test keys only: the default is 2**15
ROOT = Path(__file__).resolve().parents[2]
PUBLIC_ADDRESSES = {a.address.lower() for a in dev_accounts(10, DEFAULT_MNEMONIC)}


def options(data_dir: Path, **extra: Any) -> UpOptions:
    return UpOptions(
        data_dir=data_dir,
        chain_port=free_port(),
        api_port=free_port(),
        keystore_scrypt_n=FAST_KDF,
        **extra,
    )


def assert_private(folder: Path) -> None:
    """The folder 0700 and everything in it the owner's only (files 0600, folders 0700)."""
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            assert stat.S_IMODE(Path(root, name).stat().st_mode) == 0o700, Path(root, name)
        for name in files:
            mode = Path(root, name).lstat().st_mode
            if stat.S_ISREG(mode):
                assert stat.S_IMODE(mode) == 0o600, (Path(root, name), oct(mode))
            else:  # a socket: srwx------
                assert not mode & 0o077, (Path(root, name), oct(mode))


def loosen(folder: Path) -> None:
    """What an older version left: a 0755 folder with 0644 files."""
    for root, _dirs, files in os.walk(folder):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(Path(root, name), 0o644)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scf-data")


@pytest.fixture(scope="module")
def first_start(data_dir: Path) -> Iterator[LocalNetwork]:
    with LocalNetwork(options(data_dir)) as network:
        yield network


#: what the demo has the self-custody bank sign, in order
BANK_SIGNED = ["accept_offer", "approve_settlement", "post_bid", "cancel_bid"]


def play(network: LocalNetwork) -> list[str]:
    said: list[tuple[str, str]] = []
    assert network.keys_file is not None
    result = run_demo(
        network.api_url,
        network.rpc_url,
        network.keys_file,
        network.options.data_dir / "manifest.json",
        lambda step, text: said.append((step, text)),
    )
    assert result.balanced and result.verification_ok
    rows = {r["member"]: r for r in result.rows}
    assert rows[CORE]["cash_change"] == -100_000_000
    # the bank bought 120,000.00 at 3.65% and was repaid the face value: it earned the discount
    assert 0 < int(rows[BANK_A]["cash_change"]) < 12_000_000 * 365 * 180 // 3_600_000 + 1
    # bank B's standing bid was the best: it bought 60,000.00 at 3.30% and earned its discount
    assert 0 < int(rows[BANK_B]["cash_change"]) < 6_000_000 * 330 * 180 // 3_600_000 + 1
    assert_the_bank_signed_itself(network, result, said)
    return [step for step, _ in said]


def sent_by(w3: Any, address: str) -> list[dict[str, Any]]:
    """Every transaction on the chain from ``address`` (a development chain: few blocks)."""
    found = []
    for number in range(w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if str(tx["from"]).lower() == address.lower():
                found.append(dict(tx))
    return found


def assert_the_bank_signed_itself(
    network: LocalNetwork, result: DemoResult, said: list[tuple[str, str]]
) -> None:
    """The bank keeps its own key: onboarded with custody self, its key in its own signer's
    folder and not in the API's key store, every transaction from its address one the demo
    or the seed signed with that key (the API could sign none), the offer accepted under
    four eyes (approved by the checker, then signed), and the demo's keys revoked."""
    data = network.options.data_dir
    keys = json.loads((data / "api-keys.json").read_text())
    operator = ApiClient(network.api_url, keys[OPERATOR]["api_key"])
    bank_admin = operator.as_key(keys[BANK_A]["api_key"])
    bank = bank_admin.get("/me")
    assert result.bank_custody == bank["custody"] == "self"
    address = bank["address"]
    assert result.bank_address == address
    signer = OwnSigner.open(data / "bank-signer")
    assert signer is not None and signer.address == address
    assert address.lower() not in {k.address.lower() for k in KeyStore(data / "keys").list()}
    # the run's bank transactions (accepting the offer; the bid book's allowance, its
    # standing bid and closing it) were signed by the bank's own key
    assert [s.action for s in result.bank_signed] == BANK_SIGNED
    w3 = connect(network.rpc_url)
    for step in result.bank_signed:
        assert w3.eth.get_transaction(step.tx_hash)["from"] == address
    # and so was every transaction ever sent from its address: the seed's credit line and
    # settlement allowance, each run's acceptance (nothing else can sign for it)
    sent = sent_by(w3, address)
    assert len(sent) == w3.eth.get_transaction_count(address) >= 2 + len(BANK_SIGNED)
    assert {s.tx_hash for s in result.bank_signed} <= {"0x" + bytes(t["hash"]).hex() for t in sent}
    # four eyes: the accepting command waited for the checker, then for the signature
    command = bank_admin.get(f"/commands/{result.approved_command}")
    assert command["action"] == "accept_offer" and command["status"] == "succeeded"
    assert command["tx_hash"] == result.bank_signed[0].tx_hash
    assert command["response"]["financed_fragment_id"] == str(result.financed_fragment_id)
    demo_keys = [k for k in bank_admin.get(f"/organizations/{bank['id']}/api-keys")]
    assert {k["label"] for k in demo_keys} >= {"demo maker", "demo checker"}
    assert all(k["revoked_at"] for k in demo_keys if k["label"].startswith("demo "))
    # the story says each step plainly, and no secret
    text = dict(said)
    assert "wait for a checker" in text["four-eyes"] and address in text["four-eyes"]
    assert f"command {result.approved_command}" in text["maker"]
    assert "prepares its transaction" in text["approve"] and address in text["sign"]
    assert f"held by its own address {address}" in text["verify"]
    passphrase = signer.passphrase_file.read_text().strip()
    assert not any(passphrase in line for _, line in said)
    operator.close()


def test_first_start_seeds_the_network(first_start: LocalNetwork) -> None:
    keys_file = first_start.keys_file
    assert keys_file is not None and keys_file.stat().st_mode & 0o777 == 0o600
    assert (first_start.options.data_dir / "secrets.json").stat().st_mode & 0o777 == 0o600
    keys = json.loads(keys_file.read_text())
    assert {org.name for org in SEED_NETWORK} < set(keys)
    assert all(entry["api_key"] for entry in keys.values())
    assert first_start.first_start
    # one person per organization for the portal, whose passwords only this file keeps
    accounts = first_start.accounts_file
    assert accounts is not None and accounts.stat().st_mode & 0o777 == 0o600
    assert first_start.accounts_made
    people = json.loads(accounts.read_text())
    assert {p["organization"] for p in people} == set(keys)
    for person in people:
        assert _signs_in(first_start.api_url, person["login"], person["password"]) == 200


def _signs_in(api_url: str, login: str, password: str) -> int:
    import httpx

    answer = httpx.post(f"{api_url}/v1/session", json={"login": login, "password": password})
    return answer.status_code


def test_data_folder_is_the_owners_only(first_start: LocalNetwork) -> None:
    data = first_start.options.data_dir
    # while serving: the database's -wal and -shm, lock files, the chain state are there too
    assert (data / "scf-api.sqlite3-wal").exists() and (data / "scf-api.sqlite3-shm").exists()
    first_start.node.rpc("anvil_dumpState")  # type: ignore[union-attr]
    assert_private(data)


def test_demo_mode_keeps_the_passphrase_in_its_own_file_only(first_start: LocalNetwork) -> None:
    data = first_start.options.data_dir
    assert first_start.demo_mode
    demo = data / "master-passphrase"
    assert first_start.passphrase_source == str(demo)
    assert first_start.passphrase_copies == [demo]
    passphrase = demo.read_text().strip()
    assert "master_passphrase" not in json.loads((data / "secrets.json").read_text())
    assert first_start.settings is not None
    assert first_start.settings.operator_private_key is None  # the key store has it
    assert first_start.settings.master_passphrase.get_secret_value() == passphrase


def test_dev_chain_accounts_are_its_own(first_start: LocalNetwork) -> None:
    node = first_start.node
    assert node is not None
    accounts_file = first_start.options.data_dir / "chain" / "dev-accounts.json"
    assert accounts_file.stat().st_mode & 0o777 == 0o600
    accounts = node.dev_accounts()
    assert accounts and not {a.address.lower() for a in accounts} & PUBLIC_ADDRESSES
    assert not {a.lower() for a in node.rpc("eth_accounts")} & PUBLIC_ADDRESSES
    w3 = connect(first_start.rpc_url)
    assert all(w3.eth.get_balance(a.address) > 0 for a in accounts)
    assert all(w3.eth.get_balance(a.address) == 0 for a in dev_accounts(3, DEFAULT_MNEMONIC))
    assert node._process is not None
    cmdline = Path(f"/proc/{node._process.pid}/cmdline").read_bytes().replace(b"\0", b" ")
    assert b"--mnemonic" not in cmdline and b"--no-cors" in cmdline
    assert b"127.0.0.1" in cmdline


def test_demo_plays_the_whole_story(first_start: LocalNetwork) -> None:
    said = play(first_start)
    assert said == [
        "issue",
        "accept",
        "split",
        "split",
        "quote",
        "four-eyes",
        "maker",
        "approve",
        "sign",
        "finance",
        "bids",
        "quotes",
        "cash",
        "close",
        "maturity",
        "repay",
        "payout",
        "verify",
    ]


def test_restart_resumes_without_reseeding(first_start: LocalNetwork, data_dir: Path) -> None:
    keys_before = (data_dir / "api-keys.json").read_text()
    people_before = (data_dir / "portal-accounts.json").read_text()
    manifest_before = (data_dir / "manifest.json").read_text()
    accounts_before = (data_dir / "chain" / "dev-accounts.json").read_text()
    assert first_start.node is not None
    spender, receiver = first_start.node.dev_accounts(2)
    w3 = connect(first_start.rpc_url)
    tx = spender.sign_transaction(
        {
            "to": receiver.address,
            "value": 12345,
            "gas": 21_000,
            "nonce": 0,
            "chainId": w3.eth.chain_id,
            "gasPrice": 0,
        }
    )
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(tx.raw_transaction))
    balances = [w3.eth.get_balance(a.address) for a in (spender, receiver)]
    first_start.stop()
    loosen(data_dir)  # as an older version left it
    with LocalNetwork(options(data_dir)) as again:
        assert not again.first_start
        assert (data_dir / "api-keys.json").read_text() == keys_before
        assert (data_dir / "manifest.json").read_text() == manifest_before
        assert again.tightened and data_dir in again.tightened
        assert_private(data_dir)
        # the same development accounts, with what they had (not funded again)
        assert (data_dir / "chain" / "dev-accounts.json").read_text() == accounts_before
        w3 = connect(again.rpc_url)
        assert [w3.eth.get_balance(a.address) for a in (spender, receiver)] == balances
        assert w3.eth.get_transaction_count(spender.address) == 1
        assert not again.accounts_made
        assert (data_dir / "portal-accounts.json").read_text() == people_before
        # the chain kept its state (certificate #1 is settled) and time still moves forward
        play(again)
    # a folder made before the portal: its people are made at the next start (the login
    # already taken gets the new password; the old one no longer signs in)
    (data_dir / "portal-accounts.json").unlink()
    with LocalNetwork(options(data_dir)) as third:
        assert third.accounts_made
        person = json.loads((data_dir / "portal-accounts.json").read_text())[0]
        old = next(p for p in json.loads(people_before) if p["login"] == person["login"])
        assert _signs_in(third.api_url, person["login"], person["password"]) == 200
        assert _signs_in(third.api_url, old["login"], old["password"]) == 401


def test_python_m_api_serves_the_folder_with_only_the_passphrase(data_dir: Path) -> None:
    """`python -m api` on what `scf up` made, given nothing but where the passphrase is: no
    SCF_OPERATOR_PRIVATE_KEY (the operator key is in the key store), no document key or
    invoice secret (derived from the passphrase). It tightens the folder too."""
    keys = json.loads((data_dir / "api-keys.json").read_text())
    engine = create_engine(f"sqlite:///{data_dir / 'scf-api.sqlite3'}")
    with Session(engine) as session:  # the demo's invoice, uploaded by the core enterprise
        document_id = session.exec(select(Document.id)).first()
    engine.dispose()
    loosen(data_dir)
    # a passphrase file others could read is refused (test_private_files), not tightened
    (data_dir / "master-passphrase").chmod(0o600)
    port = free_port()
    with AnvilNode(
        state_path=data_dir / "chain" / "state.json",
        gas_price=0,
        base_fee=0,
        accounts_file=data_dir / "chain" / "dev-accounts.json",
    ) as node:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCF_")}
        env.update(
            SCF_DATA_DIR=str(data_dir),
            SCF_RPC_URL=node.rpc_url,
            SCF_PORT=str(port),
            SCF_MASTER_PASSPHRASE_FILE=str(data_dir / "master-passphrase"),
        )
        log = data_dir.parent / f"{data_dir.name}-api.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "api"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            assert wait_until_serving(url, 90, lambda: proc.poll() is None) is None, (
                log.read_text()[-3000:]
            )
            operator = {"Authorization": f"Bearer {keys[OPERATOR]['api_key']}"}
            core = {"Authorization": f"Bearer {keys[CORE]['api_key']}"}
            with httpx.Client(base_url=url, timeout=30) as client:
                me = client.get("/v1/me", headers=operator)
                assert me.status_code == 200, me.text
                assert me.json()["role"] == "operator"
                # the demo's invoice decrypts: the same document key
                invoice = client.get(f"/v1/documents/{document_id}/content", headers=core)
                assert invoice.status_code == 200, invoice.text
                assert invoice.content.startswith(b"Invoice ")
            assert_private(data_dir)
        finally:
            interrupt(proc, timeout=30)
    assert "took group and other permissions off" in log.read_text()


def test_passphrase_from_a_named_file_is_not_kept_in_the_folder(tmp_path: Path) -> None:
    passphrase = "operator-chosen " + os.urandom(8).hex()
    secret = tmp_path / "secret" / "passphrase"
    secret.parent.mkdir(mode=0o700)
    secret.write_text(passphrase + "\n")
    secret.chmod(0o600)
    data = tmp_path / "data"
    with LocalNetwork(options(data, seed=False, passphrase_file=secret)) as network:
        assert not network.demo_mode and network.passphrase_copies == []
        assert "SCF_MASTER_PASSPHRASE_FILE" in network.passphrase_source
        assert not (data / "master-passphrase").exists()
        assert network.settings is not None
        assert network.settings.master_passphrase.get_secret_value() == passphrase
        assert_private(data)
    for path in data.rglob("*"):
        if path.is_file():
            assert passphrase.encode() not in path.read_bytes(), path
    # the keys were made with it: without it the folder does not start
    with pytest.raises(UpError, match="does not keep: set SCF_MASTER_PASSPHRASE_FILE"):
        LocalNetwork(options(data, seed=False)).start()
    with pytest.raises(UpError, match="does not open with the master passphrase"):
        LocalNetwork(options(data, seed=False, passphrase=SecretStr("wrong"))).start()


def test_a_folder_of_the_older_layout_keeps_its_secrets(tmp_path: Path) -> None:
    """Older folders kept the passphrase, a random document key and invoice secret in
    secrets.json and the operator key in operator/: they still open (demo mode), the
    operator key moves into the key store `python -m api` reads, nothing is regenerated."""
    old = {
        "master_passphrase": "old passphrase",
        "document_key": "ab" * 32,
        "invoice_secret": "old invoice secret",
        "operator_api_key": "scf_old",
    }
    (tmp_path / "secrets.json").write_text(json.dumps(old))
    operator = KeyStore(tmp_path / "operator", scrypt_n=FAST_KDF).create(
        "old passphrase", label="operator"
    )
    network = LocalNetwork(options(tmp_path))
    network._secrets = network._load_or_create_secrets(tmp_path / "secrets.json")
    assert network._secrets == old
    passphrase = network._passphrase(tmp_path)
    assert passphrase == "old passphrase" and network.demo_mode
    assert network.passphrase_source == str(tmp_path / "secrets.json")
    assert network._operator_key(tmp_path, passphrase) == operator.address
    keys = KeyStore(tmp_path / "keys").list()
    assert [(k.address, k.label) for k in keys] == [(operator.address, "operator")]
    assert network._operator_key(tmp_path, passphrase) == operator.address  # once
    assert not (tmp_path / "master-passphrase").exists()
    assert network._stored_copies(tmp_path) == [tmp_path / "secrets.json"]


def test_passphrase_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text("s3cret")
    secret.chmod(0o644)
    with pytest.raises(UpError, match="readable by others"):
        LocalNetwork(options(tmp_path / "data", passphrase_file=secret)).start()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.org"])
def test_the_dev_chain_serves_loopback_only(tmp_path: Path, host: str) -> None:
    opts = options(tmp_path)
    opts.host = host
    with pytest.raises(UpError, match="not a loopback address"):
        LocalNetwork(opts).start()


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


def test_scf_up_command_leaves_a_profile_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """The real console script on ports that are not the defaults: up, serving, a later
    `scf` call without --api-url or --keys-file finds it (the profile; HOME and
    XDG_CONFIG_HOME are temporary, see conftest.private_home), then SIGINT stops the API
    and the chain."""
    import subprocess
    import sys
    import time

    import httpx

    chain_port, api_port = free_port(), free_port()
    scf = Path(sys.executable).with_name("scf")
    process = subprocess.Popen(
        [
            str(scf),
            "up",
            "--data-dir",
            str(tmp_path),
            "--chain-port",
            str(chain_port),
            "--api-port",
            str(api_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
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
        # the profile is written once the network is seeded (organizations, then people)
        profile = Path(os.environ["XDG_CONFIG_HOME"]) / "scf" / "profile.json"
        ours = f"http://127.0.0.1:{api_port}"
        while time.monotonic() < deadline and not (
            profile.exists() and json.loads(profile.read_text())["api_url"] == ours
        ):
            time.sleep(0.5)
        elsewhere = os.environ["HOME"]  # no .data/ there: nothing found by the defaults
        status = subprocess.run(
            [str(scf), "status", "--as", "Yangtze Precision Parts", "--json"],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["me"]["name"] == "Yangtze Precision Parts"
        saved = json.loads(profile.read_text())
        assert saved["api_url"] == f"http://127.0.0.1:{api_port}"
        # the bank that keeps its own key: `scf` signs its commands with it
        own = OwnSigner.open(tmp_path / "bank-signer")
        assert own is not None and saved["signing_key"] == str(own.key_file.resolve())
        assert stat.S_IMODE(profile.stat().st_mode) == 0o600
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert "stopped; the state is kept in" in output, output
    assert (tmp_path / "chain" / "state.json").exists()
    # demo mode, said clearly, with its generated passphrase owner-only
    assert "demo mode" in output and str(tmp_path / "master-passphrase") in output, output
    assert "for this user's machine only" in output, output
    # the portal's address and the seeded people, shown at first start
    assert f"http://127.0.0.1:{api_port}/portal/" in output, output
    assert "login treasurer@huaxin" in output, output
    assert_private(tmp_path)
    assert not _listening(chain_port) and not _listening(api_port)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
