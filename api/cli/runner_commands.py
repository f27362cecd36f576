"""`scf up` and `scf demo`. Filled in by register()."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds the runner commands to the `scf` app."""
