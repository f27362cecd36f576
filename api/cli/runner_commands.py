"""`scf up` (run the whole network) and `scf demo` (play the guided story against it).

Why the imports of the network (api.cli.up: the server, web3, the node) and of the demo
are inside the commands: this module is loaded by every `scf` call, `scf --help` and the
role commands included, which need none of them (docs/benchmarks.md, "The CLI's start-up
time"; tests/cli/test_startup.py keeps it so).
"""

from __future__ import annotations

import functools
import json
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from api.cli.commands_base import DEFAULT_API_URL
from api.cli.money import format_cny
from api.cli.profile import Profile, ProfileError, read_profile, write_profile

if TYPE_CHECKING:
    from rich.console import Console

    from api.cli.up import LocalNetwork


@functools.cache
def _out() -> Console:
    from rich.console import Console

    return Console()


@functools.cache
def _err() -> Console:
    from rich.console import Console

    return Console(stderr=True)


#: where `scf up` runs the chain unless told otherwise (--chain-port)
DEFAULT_RPC_URL = "http://127.0.0.1:8545"


def _data_dir(value: Path | None, last: Profile | None = None) -> Path:
    """The option, else $SCF_DATA_DIR, else the last `scf up`'s folder (for the commands
    that read a running network's), else .data."""
    if value is not None:
        return value
    if os.environ.get("SCF_DATA_DIR"):
        return Path(os.environ["SCF_DATA_DIR"])
    return last.data_dir if last is not None else Path(".data")


def up(
    data_dir: Path = typer.Option(None, help="Data folder (default: $SCF_DATA_DIR or .data)"),  # noqa: B008
    chain_port: int = typer.Option(8545, help="Port of the local chain node"),
    api_port: int = typer.Option(8000, help="Port of the API"),
    block_time: int = typer.Option(0, help="Seconds per block (0: a block per transaction)"),
    demo: bool = typer.Option(False, help="Play the guided demo once the network is up"),
    consortium: bool = typer.Option(
        False,
        "--consortium",
        help="A consortium network of real nodes (operator, two banks, a core enterprise; "
        "Clique, 2 s blocks) on --chain-port and the next three ports, instead of one "
        "development node",
    ),
    passphrase_file: Path = typer.Option(  # noqa: B008
        None,
        envvar="SCF_MASTER_PASSPHRASE_FILE",
        help="File holding the master passphrase (0600). Without it (or "
        "SCF_MASTER_PASSPHRASE): demo mode, a generated one kept in the data folder",
    ),
    exit_after_start: bool = typer.Option(
        False, "--exit-after-start", help="Stop again once started (for checks and scripts)"
    ),
) -> None:
    """Start the local chain, deploy if needed, serve the API, seed on first start."""
    from pydantic import SecretStr

    from api.cli.up import LocalNetwork, UpError, UpOptions

    _stop_on_signals()
    passphrase = os.environ.get("SCF_MASTER_PASSPHRASE")
    options = UpOptions(
        data_dir=_data_dir(data_dir),
        chain_port=chain_port,
        api_port=api_port,
        block_time=block_time or None,
        consortium=consortium,
        passphrase_file=passphrase_file,
        passphrase=SecretStr(passphrase) if passphrase else None,
    )
    network = LocalNetwork(options)
    try:
        with _out().status("starting the local chain and the API (deploying if needed)"):
            network.start()
    except UpError as exc:
        network.stop()
        _err().print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        network.stop()
        raise typer.Exit(130) from None
    try:
        profile = _save_profile(network)
        _print_where(network, profile)
        if demo:
            _play_demo(
                network.api_url,
                network.rpc_url,
                network.keys_file,
                options.data_dir / "manifest.json",
                _bank_node(options.data_dir),
            )
        if not exit_after_start:
            _out().print("\nthe network is up; Ctrl-C stops the API and the chain cleanly")
            network.wait()
    except KeyboardInterrupt:
        _out().print("\nstopping ...")
    finally:
        network.stop()
        _out().print(f"stopped; the state is kept in {options.data_dir}")


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM (a service manager, `kill`) both stop the network cleanly: the API
    first, then the chain, which writes its state. SIGINT is re-armed because a shell
    starts background jobs with it ignored."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def _save_profile(network: LocalNetwork) -> Path | None:
    """Tell later `scf` calls where this network is (api.cli.profile); a profile that
    cannot be written costs only that, so the network still starts."""
    data = network.options.data_dir
    signer = network.bank_signer
    where = Profile(
        api_url=network.api_url,
        rpc_url=network.rpc_url,
        keys_file=network.keys_file or data / "api-keys.json",
        data_dir=data,
        # the bank that keeps its own key signs with it (its passphrase is asked, or
        # --passphrase-file); no other seeded organization is ever asked to sign
        signing_key=str(signer.key_file.resolve()) if signer is not None else None,
    )
    try:
        return write_profile(where)
    except OSError as exc:
        _err().print(
            f"[yellow]warning:[/yellow] the profile was not written ({exc}): other `scf` "
            "calls need --api-url and --keys-file (or SCF_API_URL and SCF_KEYS_FILE)",
            soft_wrap=True,
        )
        return None


def demo(
    api_url: str | None = typer.Option(
        None, envvar="SCF_API_URL", help=f"Default: the last `scf up`'s, else {DEFAULT_API_URL}"
    ),
    rpc_url: str | None = typer.Option(
        None, envvar="SCF_RPC_URL", help=f"Default: the last `scf up`'s, else {DEFAULT_RPC_URL}"
    ),
    data_dir: Path | None = typer.Option(  # noqa: B008
        None, help="Data folder of `scf up` (default: $SCF_DATA_DIR, the last `scf up`'s, .data)"
    ),
) -> None:
    """Play the guided story against a running network (`scf up` in another terminal)."""
    try:
        last = read_profile()
    except ProfileError as exc:
        _err().print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    folder = _data_dir(data_dir, last)
    _play_demo(
        api_url or (last.api_url if last else DEFAULT_API_URL),
        rpc_url or (last.rpc_url if last else DEFAULT_RPC_URL),
        folder / "api-keys.json",
        folder / "manifest.json",
        _bank_node(folder),
    )


def _bank_node(data_dir: Path) -> str | None:
    """The bank's own node of a consortium network started by `scf up --consortium` in
    ``data_dir`` (where the demo's bank verifies from), or None for a development node."""
    if not (data_dir / "consortium" / "network.json").exists():
        return None
    from chain_client.consortium import ConsortiumNetwork

    return ConsortiumNetwork.open(data_dir / "consortium").node("bank-a").rpc_url


def _print_where(network: LocalNetwork, profile: Path | None) -> None:
    from rich.table import Table

    data = network.options.data_dir
    table = Table(title="supply-chain finance network", show_header=False)
    table.add_row("portal (web)", f"{network.api_url}/portal/")
    table.add_row("API", network.api_url)
    table.add_row("API docs", f"{network.api_url}/docs")
    table.add_row("chain (JSON-RPC)", network.rpc_url)
    if network.consortium is not None:
        for node in network.consortium:
            role = "sealer" if node.config.sealer else "reads"
            table.add_row(f"node {node.name} ({role})", node.rpc_url)
    table.add_row("manifest", str(data / "manifest.json"))
    table.add_row("data folder", str(data.resolve()))
    table.add_row("API keys (0600)", str(network.keys_file))
    if network.accounts_file is not None:
        table.add_row("portal accounts (0600)", str(network.accounts_file))
    if network.bank_signer is not None:
        from api.cli.seed import BANK_A

        table.add_row(
            f"{BANK_A}'s own key (0600)",
            f"{network.bank_signer.key_file} (passphrase: {network.bank_signer.passphrase_file})",
        )
    table.add_row("master passphrase", network.passphrase_source)
    accounts = "consortium/accounts.json" if network.consortium else "chain/dev-accounts.json"
    table.add_row("dev accounts (0600)", str(data / accounts))
    if profile is not None:
        table.add_row("profile (for scf)", str(profile))
    _out().print(table)
    _print_warnings(network)
    if network.first_start and network.keys_file is not None:
        _out().print(
            "\nAPI keys of the seeded organizations (shown this once; kept in the keys file above):"
        )
        keys = json.loads(network.keys_file.read_text())
        for name, entry in keys.items():
            _out().print(
                f"  {entry['role']:<16} {name:<30} {entry['api_key']}", soft_wrap=True, markup=False
            )
        _out().print("\ntry: scf status --as 'Yangtze Precision Parts'   or   scf demo")
    if network.accounts_made and network.accounts_file is not None:
        _out().print(
            f"\nSign in to the portal at {network.api_url}/portal/ as one of these people "
            "(shown this once; kept in the accounts file above):"
        )
        for person in json.loads(network.accounts_file.read_text()):
            _out().print(
                f"  {person['organization']:<30} login {person['login']:<22} "
                f"password {person['password']}",
                soft_wrap=True,
                markup=False,
            )


def _print_warnings(network: LocalNetwork) -> None:
    """What the user must know about this folder and this chain (README: "What the data
    folder is worth")."""
    data = network.options.data_dir
    if network.tightened:
        _out().print(
            f"[yellow]note:[/yellow] {data} was readable by other users (made by "
            f"an older version?): took their access off {len(network.tightened)} "
            "files and folders"
        )
    if network.demo_mode:
        _out().print(
            f"[yellow]demo mode:[/yellow] the master passphrase is kept in "
            f"{network.passphrase_source} (0600), beside the keys it opens: whoever "
            "can read this folder holds every signing key. For more than a demo on "
            "your own machine, keep it elsewhere: SCF_MASTER_PASSPHRASE_FILE=FILE "
            "(see the README).",
            soft_wrap=True,
        )
    elif network.passphrase_copies:
        copies = ", ".join(str(path) for path in network.passphrase_copies)
        _out().print(
            f"[yellow]warning:[/yellow] the master passphrase is given from "
            f"outside, but the data folder still holds it ({copies}): once it is "
            "kept safe elsewhere, delete master-passphrase, or the "
            "master_passphrase entry of secrets.json",
            soft_wrap=True,
        )
    if network.consortium is not None:
        _out().print(
            "the consortium network is a test network on this machine: its nodes listen "
            "on 127.0.0.1, its sealer keys and development accounts are kept in clear in "
            f"{data / 'consortium'} (0600), and nothing permissions who joins; a "
            "production network runs Besu or geth (docs/consortium.md)",
            soft_wrap=True,
        )
        return
    _out().print(
        "the local chain is for this user's machine only: it listens on "
        f"{network.options.host}, and its cheat methods (anvil_setBalance, "
        "anvil_impersonateAccount, ...) let anyone who reaches its port rewrite "
        "the chain",
        soft_wrap=True,
    )


def _play_demo(
    api_url: str,
    rpc_url: str,
    keys_file: Path | None,
    manifest: Path,
    verify_rpc_url: str | None = None,
) -> None:
    from rich.table import Table

    from api.cli.demo import DemoError, run_demo

    def say(step: str, text: str) -> None:
        _out().print(rf"[bold cyan]\[{step}][/bold cyan] {text}", soft_wrap=True)

    try:
        result = run_demo(
            api_url, rpc_url, keys_file or Path(), manifest, say, verify_rpc_url=verify_rpc_url
        )
    except DemoError as exc:
        _err().print(f"[red]demo failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    table = Table(title=f"certificate #{result.certificate_id} at settlement")
    table.add_column("member")
    table.add_column("held at maturity", justify="right")
    table.add_column("cash change", justify="right")
    for row in result.rows:
        table.add_row(
            row["member"], format_cny(row["held_at_maturity"]), format_cny(row["cash_change"])
        )
    _out().print(table)
    _out().print(
        "books balance: the fragments sum to the face value and cash only moved "
        "between members; the bank's verification passed"
    )


def register(app: typer.Typer) -> None:
    """Adds the runner commands to the `scf` app."""
    app.command("up")(up)
    app.command("demo")(demo)
