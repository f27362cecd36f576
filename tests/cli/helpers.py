"""Helpers of the role-command tests: the seeded network's members, a Net (a running API
with them), and ``scf(...)`` runners that call a command through typer's CliRunner the way
a user would (env vars, --as NAME).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from api.cli import commands
from api.cli.client import ApiClient
from chain_client.node import AnvilNode
from tests.helpers import travel

#: name -> role of the seeded test network (three supplier tiers, as in the design notes).
MEMBERS = {
    "Core Motors": "core_enterprise",
    "Tier1 Parts": "supplier",
    "Tier2 Castings": "supplier",
    "Tier3 Metals": "supplier",
    "Bank A": "financier",
    "Auditor": "auditor",
}


@dataclass
class Net:
    """A running API with seeded members; ``scf`` runs a CLI command against it."""

    url: str
    anvil: AnvilNode
    keys_file: Path
    ids: dict[str, int]
    operator: ApiClient
    scf: Callable[..., Any]

    def travel(self, seconds: int) -> None:
        travel(self.anvil, seconds)

    def balance(self, name: str) -> int:
        return int(self.operator.get(f"/organizations/{self.ids[name]}/balance")["balance"])


def cli_app() -> typer.Typer:
    """The role commands on an app of their own (the same register() `scf` calls), so these
    tests do not depend on `scf up`'s modules."""
    app = typer.Typer(no_args_is_help=True)
    commands.register(app)
    return app


def make_runner(app: typer.Typer, env: dict[str, str]) -> Callable[..., Any]:
    runner = CliRunner()

    def scf(*args: str, code: int | None = 0, **extra_env: str) -> Any:
        result = runner.invoke(
            app, [str(a) for a in args], env={**env, **extra_env}, catch_exceptions=False
        )
        if code is not None:
            assert result.exit_code == code, (
                f"scf {' '.join(map(str, args))} exited {result.exit_code}, wanted {code}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    return scf


def as_json(result: Any) -> Any:
    """The stdout of a --json run, parsed (it must be exactly one JSON document)."""
    return json.loads(result.stdout)
