"""`scf sign` and a ledger command of a self-custody organization, end to end in the CLI.

Offline (no API): a prepared command's file (built here with chain_client.unsigned.to_json,
as the API's 202 answer carries it) is signed with a key of the local key store: the bytes
printed are that transaction signed by that key; a file whose fields were changed fails the
signing-hash check before any passphrase is asked; another organization's key is refused;
the passphrase, from SCF_KEY_PASSPHRASE or a prompt, never appears in any output.

Against a stub API (tests/cli/test_sign.py's own, answering as the self-custody routes
do: 202 awaiting_signature, then POST /v1/commands/ID/signature): `scf split` with
--sign-with shows, signs and submits, and prints the split's answer; without a key it
prints the command id and `scf sign`'s line (exit 5); a 202 pending_approval prints
"waiting for a checker's approval" (exit 5).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from typer.testing import CliRunner

from chain_client.keystore import KeyStore
from chain_client.node import free_port
from chain_client.unsigned import check_signed, from_json, signing_hash, to_json
from tests.cli.helpers import cli_app

PASSPHRASE = "correct horse battery staple 42"
RECIPIENT = to_checksum_address("0x" + "4d" * 20)


def _runner(env: dict[str, str]) -> Callable[..., Any]:
    """``scf(...)`` as tests/cli/helpers.py's, with ``input`` for the prompts."""
    runner, app = CliRunner(), cli_app()

    def scf(*args: Any, code: int | None = 0, input: str | None = None, **extra: str) -> Any:  # noqa: A002
        result = runner.invoke(
            app, [str(a) for a in args], input=input, env={**env, **extra}, catch_exceptions=False
        )
        if code is not None:
            assert result.exit_code == code, (
                f"scf {' '.join(map(str, args))} exited {result.exit_code}, wanted {code}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    return scf


@pytest.fixture
def offline_scf(tmp_path: Path) -> Callable[..., Any]:
    """``scf`` with no API key, pointed at a port nobody listens on: signing needs neither."""
    return _runner(
        {
            "SCF_API_URL": f"http://127.0.0.1:{free_port()}",
            "SCF_KEYS_FILE": str(tmp_path / "missing.json"),
            "SCF_API_KEY": "",
            "SCF_KEY_PASSPHRASE": "",
            "SCF_SIGNING_KEY": "",
            "COLUMNS": "220",
        }
    )


@pytest.fixture
def keys(tmp_path: Path) -> tuple[KeyStore, Any, Any]:
    """A key store with the organization's key and another one."""
    store = KeyStore(tmp_path / "keys", scrypt_n=2**10)
    return store, store.create(PASSPHRASE, label="ours"), store.create(PASSPHRASE, label="other")


def _prepared(signer: str, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "chainId": 1337,
        "nonce": 5,
        "to": RECIPIENT,
        "value": 0,
        "data": HexBytes("0x9a1fc3a7" + "00" * 64),
        "gas": 123_456,
        "maxFeePerGas": 2_000_000_000,
        "maxPriorityFeePerGas": 1_000_000_000,
        "type": 2,
    }
    return {
        "command_id": "17",
        "status": "awaiting_signature",
        "action": "split",
        "summary": "split 300,000.00 CNY off fragment 4294967297 (1/1) to Suzhou Castings",
        "stake": "30000000",
        "transaction": {**to_json(fields), **changes},
        "signing_hash": signing_hash(fields),
        "signer": signer,
        "expires_at": "2030-01-01T00:00:00+00:00",
    }


def _file(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "prepared.json"
    path.write_text(json.dumps(document))
    return path


def _all_output(result: Any) -> str:
    return f"{result.stdout}\n{result.stderr}"


def test_sign_prints_the_transaction_signed_by_the_key(
    offline_scf: Callable[..., Any], keys: tuple[KeyStore, Any, Any], tmp_path: Path
) -> None:
    store, ours, _other = keys
    document = _prepared(ours.address)
    key_file = store.directory / f"{ours.id}.json"  # type: ignore[operator]
    result = offline_scf(
        "sign",
        _file(tmp_path, document),
        "--sign-with",
        key_file,
        "--yes",
        SCF_KEY_PASSPHRASE=PASSPHRASE,
    )
    raw = result.stdout.strip().splitlines()[-1]
    facts = check_signed(bytes(HexBytes(raw)), from_json(document["transaction"]), ours.address)
    assert facts.sender == ours.address
    assert "split 300,000.00 CNY" in result.stderr and document["signing_hash"] in result.stderr
    assert PASSPHRASE not in _all_output(result)


def test_sign_asks_to_confirm_and_for_the_passphrase_without_echoing_it(
    offline_scf: Callable[..., Any], keys: tuple[KeyStore, Any, Any], tmp_path: Path
) -> None:
    store, ours, _other = keys
    document = _prepared(ours.address)
    result = offline_scf(
        "sign",
        _file(tmp_path, document),
        "--sign-with",
        ours.address,
        "--keystore",
        store.directory,
        "--json",
        input=f"y\n{PASSPHRASE}\n",
    )
    # CliRunner echoes the typed answers onto stdout, as a terminal shows them: the "y",
    # and for the hidden passphrase only its newline
    signed = json.loads(result.stdout[result.stdout.index("{") :])
    assert signed["signer"] == ours.address and signed["command_id"] == "17"
    check_signed(bytes(HexBytes(signed["raw"])), from_json(document["transaction"]), ours.address)
    assert "Passphrase of the key of" in result.stderr
    assert PASSPHRASE not in _all_output(result)


def test_a_declined_confirmation_signs_nothing(
    offline_scf: Callable[..., Any], keys: tuple[KeyStore, Any, Any], tmp_path: Path
) -> None:
    store, ours, _other = keys
    result = offline_scf(
        "sign",
        _file(tmp_path, _prepared(ours.address)),
        "--sign-with",
        ours.address,
        "--keystore",
        store.directory,
        input="n\n",
        code=1,
    )
    assert "not_signed" in result.stderr and "0x02" not in result.stdout


@pytest.mark.parametrize(
    ("field", "value"), [("value", "1"), ("nonce", 6), ("to", "0x" + "11" * 20)]
)
def test_a_tampered_file_fails_the_signing_hash_check(
    offline_scf: Callable[..., Any],
    keys: tuple[KeyStore, Any, Any],
    tmp_path: Path,
    field: str,
    value: Any,
) -> None:
    store, ours, _other = keys
    document = _prepared(ours.address, **{field: value})
    result = offline_scf(
        "sign",
        _file(tmp_path, document),
        "--sign-with",
        ours.address,
        "--keystore",
        store.directory,
        "--yes",
        code=1,
        SCF_KEY_PASSPHRASE=PASSPHRASE,
    )
    assert "signing_hash_mismatch" in result.stderr
    assert result.stdout.strip() == ""
    assert PASSPHRASE not in _all_output(result)


def test_another_key_than_the_signers_is_refused(
    offline_scf: Callable[..., Any], keys: tuple[KeyStore, Any, Any], tmp_path: Path
) -> None:
    store, ours, other = keys
    result = offline_scf(
        "sign",
        _file(tmp_path, _prepared(ours.address)),
        "--sign-with",
        other.address,
        "--keystore",
        store.directory,
        "--yes",
        code=1,
        SCF_KEY_PASSPHRASE=PASSPHRASE,
    )
    assert "wrong_key" in result.stderr and other.address in result.stderr
    assert result.stdout.strip() == ""


def test_a_wrong_passphrase_opens_nothing_and_is_not_printed(
    offline_scf: Callable[..., Any], keys: tuple[KeyStore, Any, Any], tmp_path: Path
) -> None:
    store, ours, _other = keys
    wrong = "not-the-passphrase-9f3"
    result = offline_scf(
        "sign",
        _file(tmp_path, _prepared(ours.address)),
        "--sign-with",
        ours.address,
        "--keystore",
        store.directory,
        "--yes",
        code=1,
        SCF_KEY_PASSPHRASE=wrong,
    )
    assert "key_not_opened" in result.stderr
    assert wrong not in _all_output(result)


def test_a_file_that_names_no_signer_needs_one(
    offline_scf: Callable[..., Any], keys: tuple[KeyStore, Any, Any], tmp_path: Path
) -> None:
    store, ours, _other = keys
    document = _prepared(ours.address)
    del document["signer"]
    path = _file(tmp_path, document)
    args = ("sign", path, "--sign-with", ours.address, "--keystore", store.directory, "--yes")
    assert "--signer" in offline_scf(*args, code=2).stderr
    offline_scf(*args, "--signer", ours.address, SCF_KEY_PASSPHRASE=PASSPHRASE)


# -- a ledger command of a self-custody organization, against a stub API -----------------


class StubApi:
    """Answers as the API does for a self-custody organization: /me, /organizations, a
    split answered 202 (awaiting_signature, or pending_approval), the command's view, and
    its signature, checked and answered 201 like the split itself."""

    def __init__(self, signer: str, waiting: str = "awaiting_signature") -> None:
        self.signer = signer
        self.waiting = waiting
        self.document = _prepared(signer)
        self.submitted: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/v1/me":
                    self._send(200, {"id": 3, "name": "Tier1", "address": stub.signer})
                elif self.path.startswith("/v1/organizations"):
                    self._send(200, [{"id": 4, "name": "Suzhou Castings", "address": RECIPIENT}])
                elif self.path == "/v1/commands/17":
                    self._send(200, stub.document)
                else:
                    self._send(404, {"code": "not_found", "title": "no", "detail": self.path})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"] or 0)))
                if self.path.endswith("/split"):
                    if stub.waiting == "pending_approval":
                        waiting = {k: stub.document[k] for k in ("command_id", "action", "summary")}
                        self._send(202, {**waiting, "status": "pending_approval"})
                    else:
                        self._send(202, stub.document)
                elif self.path == "/v1/commands/17/signature":
                    check_signed(
                        bytes(HexBytes(body["raw"])),
                        from_json(stub.document["transaction"]),
                        stub.signer,
                    )
                    stub.submitted.append(body["raw"])
                    self._send(
                        201, {"fragment_id": "4294967298", "tx_hash": "0xab", "block_number": 9}
                    )
                else:
                    self._send(404, {"code": "not_found", "title": "no", "detail": self.path})

            def _send(self, status: int, answer: Any) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                kind = "application/json" if status < 400 else "application/problem+json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def stub(keys: tuple[KeyStore, Any, Any]) -> Iterator[StubApi]:
    api = StubApi(keys[1].address)
    yield api
    api.server.shutdown()


def _scf(stub: StubApi) -> Callable[..., Any]:
    env = {
        "SCF_API_URL": stub.url,
        "SCF_API_KEY": "k",
        "SCF_KEY_PASSPHRASE": "",
        "SCF_SIGNING_KEY": "",
        "COLUMNS": "220",
    }
    return _runner(env)


def test_a_split_awaiting_signature_is_signed_and_submitted_with_sign_with(
    stub: StubApi, keys: tuple[KeyStore, Any, Any]
) -> None:
    store, ours, _other = keys
    result = _scf(stub)(
        "split",
        "1/1",
        "Suzhou",
        "300,000.00",
        "--sign-with",
        ours.address,
        "--keystore",
        store.directory,
        input=f"y\n{PASSPHRASE}\n",
    )
    assert len(stub.submitted) == 1
    assert "new fragment" in result.stdout and "4294967298" in result.stdout
    assert "split 300,000.00 CNY" in result.stderr
    assert PASSPHRASE not in _all_output(result)


def test_a_split_awaiting_signature_without_a_key_says_how_to_sign_it(stub: StubApi) -> None:
    result = _scf(stub)("split", "1/1", "Suzhou", "300,000.00", code=5)
    assert "command 17 awaits your organization's signature" in result.stdout
    assert "scf sign --command 17" in result.stderr
    assert stub.submitted == []


def test_scf_sign_of_a_command_id_submits_it(
    stub: StubApi, keys: tuple[KeyStore, Any, Any]
) -> None:
    store, ours, _other = keys
    result = _scf(stub)(
        "sign",
        "--command",
        "17",
        "--sign-with",
        ours.address,
        "--keystore",
        store.directory,
        "--yes",
        "--submit",
        "--json",
        SCF_KEY_PASSPHRASE=PASSPHRASE,
    )
    assert json.loads(result.stdout)["fragment_id"] == "4294967298"
    assert len(stub.submitted) == 1


def test_the_wrong_key_is_refused_before_anything_is_submitted(
    stub: StubApi, keys: tuple[KeyStore, Any, Any]
) -> None:
    store, _ours, other = keys
    result = _scf(stub)(
        "split",
        "1/1",
        "Suzhou",
        "300,000.00",
        "--sign-with",
        other.address,
        "--keystore",
        store.directory,
        "--yes",
        code=1,
        SCF_KEY_PASSPHRASE=PASSPHRASE,
    )
    assert "wrong_key" in result.stderr and stub.submitted == []


def test_a_split_pending_approval_says_it_waits_for_a_checker(
    keys: tuple[KeyStore, Any, Any],
) -> None:
    api = StubApi(keys[1].address, waiting="pending_approval")
    try:
        result = _scf(api)("split", "1/1", "Suzhou", "300,000.00", code=5)
    finally:
        api.server.shutdown()
    assert "waiting for a checker's approval: command 17" in result.stdout


def test_sign_help_and_a_ledger_command_load_no_signing_library() -> None:
    """eth-account and the key store load only in the code path that signs."""
    from tests.cli.test_startup import HEAVY, _modules_after

    for args in (("sign", "--help"), ("split", "--help")):
        loaded = _modules_after(*args)
        assert not {m for m in loaded if m.split(".")[0] in HEAVY}
        assert "api.cli.signing" not in loaded and "chain_client.keystore" not in loaded


# -- end to end against the API: a self-custody organization --------------------------


def test_a_self_custody_organization_accepts_and_splits_end_to_end(
    net: Any, keys: tuple[KeyStore, Any, Any]
) -> None:
    """Onboarded with custody self (its key in the local key store, the challenge signed
    with it), it accepts a certificate and splits it with `scf ... --sign-with`: the API
    prepares, scf shows, signs and submits, and prints the command's answer."""
    from eth_account.messages import encode_defunct

    from tests.cli.helpers import as_json
    from tests.helpers import valid_uscc

    store, ours, _other = keys
    account = store.load(ours.id, PASSPHRASE)
    uscc = valid_uscc(secrets.randbelow(10**8) * 10 + 3)
    challenge = net.operator.post(
        "/organizations/address-challenge", {"uscc": uscc, "address": ours.address}
    )["challenge"]
    signature = account.sign_message(encode_defunct(text=challenge)).signature
    org = net.operator.post(
        "/organizations",
        {
            "name": "Own Key Supplier",
            "uscc": uscc,
            "role": "supplier",
            "custody": "self",
            "address": ours.address,
            "challenge": challenge,
            "signature": "0x" + bytes(signature).hex(),
        },
    )
    api_key = net.operator.post(f"/organizations/{org['id']}/api-keys", {"label": "cli"})["api_key"]
    issued = as_json(
        net.scf("issue", "Own Key", "1,000.00", "--days", "30", "--as", "Core Motors", "--json")
    )
    certificate = issued["certificate"]["certificate_id"]
    key_file = store.directory / f"{ours.id}.json"  # type: ignore[operator]
    signing = ("--key", api_key, "--sign-with", key_file, "--yes")
    accepted = as_json(
        net.scf("accept", certificate, *signing, "--json", SCF_KEY_PASSPHRASE=PASSPHRASE)
    )
    root = accepted["root_fragment_id"]
    split = net.scf("split", root, "Tier2", "250.00", *signing, SCF_KEY_PASSPHRASE=PASSPHRASE)
    assert "new fragment" in split.stdout and "250.00 CNY" in split.stdout
    assert "awaits" not in split.stdout and PASSPHRASE not in _all_output(split)
    assert "split 250.00 CNY" in split.stderr  # the summary shown before signing
    tier2 = net.operator.as_key(json.loads(net.keys_file.read_text())["Tier2 Castings"]["api_key"])
    assert [f["value"] for f in tier2.get("/fragments")] == ["25000"]
    # without a key the command waits, saying how to sign it
    waiting = net.scf("split", root, "Tier2", "1.00", "--key", api_key, code=5)
    assert "awaits your organization's signature" in waiting.stdout
    assert "scf sign --command" in waiting.stderr
