"""Role commands over the API (issue, accept, split, ...). Filled in by register()."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds the role commands to the `scf` app."""
