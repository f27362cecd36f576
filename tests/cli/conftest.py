"""Fixtures of the role-command tests: a real API (uvicorn on a free loopback port, in a
thread) over a real anvil node, a seeded network and its keys file, and ``scf(...)`` to run
a command through typer's CliRunner the way a user would (env vars, --as NAME).

Why a real server rather than TestClient: the CLI's own HTTP client, its timeouts and its
"unreachable" path are part of what is tested, and the background jobs (indexer, automatic
payout at maturity) run as they do in production, so `repay --wait` waits for real.
Each module gets its own node: the lifecycle test moves the chain's clock to maturity,
which must not leak into other modules' "days from now". Net and the runners are in
tests/cli/helpers.py.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.cli.client import ApiClient
from chain_client.node import AnvilNode, free_port
from tests.api.helpers import OPERATOR_KEY, make_settings, serve
from tests.cli.helpers import MEMBERS, Net, cli_app, make_runner
from tests.helpers import valid_uscc


@pytest.fixture(scope="session", autouse=True)
def private_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """HOME and XDG_CONFIG_HOME in a temporary folder for every test (and the `scf up`
    subprocesses they start): `scf up` writes its profile there, never into the real
    home, and a real profile or SCF_* variable of the person running the tests is not
    read."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        for variable in ("SCF_API_URL", "SCF_KEYS_FILE", "SCF_RPC_URL", "SCF_DATA_DIR"):
            patch.delenv(variable, raising=False)
        yield home


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    tmp = tmp_path_factory.mktemp("cli")
    with AnvilNode() as anvil:
        settings = make_settings(
            anvil, tmp, background=True, indexer_interval=0.2, maturity_interval=0.3
        )
        for url in serve(create_app(settings)):
            operator = ApiClient(url, OPERATOR_KEY)
            seed = secrets.randbelow(10**8) * 10
            keys: dict[str, dict[str, Any]] = {}
            ids: dict[str, int] = {}
            for n, (name, role) in enumerate(MEMBERS.items(), 1):
                org = operator.post(
                    "/organizations", {"name": name, "role": role, "uscc": valid_uscc(seed + n)}
                )
                key = operator.post(f"/organizations/{org['id']}/api-keys", {"label": "cli"})
                ids[name] = org["id"]
                keys[name] = {"api_key": key["api_key"], "org_id": org["id"], "role": role}
            keys["operator"] = {
                "api_key": OPERATOR_KEY,
                "org_id": operator.get("/me")["id"],
                "role": "operator",
            }
            bank = ApiClient(url, keys["Bank A"]["api_key"])
            bank.put(
                "/credit-lines",
                {"core_enterprise_id": ids["Core Motors"], "limit": "1000000000000"},
            )
            for name in ("Bank A", "Core Motors"):
                operator.post(
                    f"/organizations/{ids[name]}/settlement-funds", {"amount": "500000000000"}
                )
            keys_file = tmp / "api-keys.json"
            keys_file.write_text(json.dumps(keys, indent=2))
            env = {
                "SCF_API_URL": url,
                "SCF_KEYS_FILE": str(keys_file),
                "COLUMNS": "220",
                "SCF_API_KEY": "",
            }
            yield Net(url, anvil, keys_file, ids, operator, make_runner(cli_app(), env))
            operator.close()
            bank.close()


@pytest.fixture
def offline_scf(tmp_path: Path) -> Callable[..., Any]:
    """``scf`` pointed at a port nobody listens on (for checks made before any call)."""
    env = {
        "SCF_API_URL": f"http://127.0.0.1:{free_port()}",
        "SCF_KEYS_FILE": str(tmp_path / "missing.json"),
        "SCF_API_KEY": "",
        "COLUMNS": "220",
    }
    return make_runner(cli_app(), env)
