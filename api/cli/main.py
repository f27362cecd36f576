"""The `scf` console script: `scf up` runs the network, the other commands drive it by role.

Exit codes scripts can rely on:
  0 done; 1 the API refused (the problem's code is printed); 2 bad usage or input;
  3 the API could not be reached; 4 a verification found a failed check; 5 the command
  waits (for a checker's approval, or for your organization's signature: `scf sign`).
"""

from __future__ import annotations

import typer

from api.cli import commands, runner_commands

app = typer.Typer(
    name="scf",
    help="Supply-chain finance ledger: run the network (scf up) and act as any role.",
    no_args_is_help=True,
    add_completion=False,
    # click's plain help, not typer's rich panels: typer.rich_utils imports rich.markdown,
    # rich.syntax and rich.traceback (markdown-it, pygments), which alone made `scf --help`
    # miss its 0.3 s (docs/benchmarks.md, "The CLI's start-up time")
    rich_markup_mode=None,
)
runner_commands.register(app)
commands.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
