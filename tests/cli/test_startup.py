"""What `scf` loads before it does anything: the client half of the CLI must not import the
server, web3 or the demo (they made `scf --help` take 4 s; docs/benchmarks.md, "The CLI's
start-up time"). Checked by the modules a fresh interpreter holds afterwards, not by a
timing, so the test means the same on a loaded machine.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: what only `scf up`, `scf demo` and the server need
HEAVY = ("web3", "eth_account", "fastapi", "sqlmodel", "sqlalchemy", "uvicorn", "api.app")

_PROBE = """
import json, sys
sys.argv = ["scf", *json.loads(sys.argv[1])]
from api.cli.main import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules_after(*args: str) -> set[str]:
    """The modules loaded by a fresh `scf ARGS` run to its end."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "args",
    [("--help",), ("split", "--help"), ("up", "--help"), ("finance", "offer", "--help")],
)
def test_help_imports_neither_the_server_nor_web3(args: tuple[str, ...]) -> None:
    loaded = _modules_after(*args)
    assert not {m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY}
    assert "api.cli.up" not in loaded and "api.cli.demo" not in loaded


def test_scf_help_loads_neither_an_http_client_nor_rich() -> None:
    """Help is click's plain text; the tables, the HTTP client and the validation of
    typed values (pydantic, through typer) wait for a command that uses them."""
    loaded = {m.split(".")[0] for m in _modules_after("--help")}
    assert not loaded & {"httpx", "http", "rich", "pydantic"}


def test_the_shared_vocabulary_does_not_import_web3() -> None:
    probe = (
        "import sys, chain_client.ledger_types, chain_client.encoding, chain_client.files;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('web3', 'eth_utils')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
