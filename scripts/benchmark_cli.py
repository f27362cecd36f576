"""How long `scf` takes to start: `scf --help` and a read command against a running API,
next to the interpreter's own floor, measured in the same run.

Run: .venv/bin/python scripts/benchmark_cli.py [--runs 21] [--as NAME]
                                               [--api-url URL --keys-file FILE]

Without --api-url it starts a network of its own (`scf up` on free ports, a temporary
data folder, HOME and XDG_CONFIG_HOME pointed into it, so nothing is written to the real
home) and stops it at the end; with --api-url and --keys-file it reuses a running one.

Measured, each as a fresh process the way a shell starts it, --runs times after two
warm-up rounds (the .pyc files written, the page cache filled):

* ``python -c pass``: starting the interpreter of .venv (with its site-packages);
* ``python -c "import json, urllib.request"``: the least an HTTP client in Python loads;
* ``scf --help``;
* ``scf certificates --as NAME``: a read command (its list, and the member directory
  for the names), against the API.

Why in rounds, each running every command once in a rotating order, and why ratios: on
a shared machine the absolute times drift with the load, but a slow stretch hits every
command of a round alike, so each command's time divided by the floor's, in the same
run, holds. Prints a markdown table: median and minimum of the wall time and of the CPU
time (user + system, less disturbed by other processes than the wall clock), and the
median wall time as a multiple of each floor.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.cli.health import interrupt, wait_until_serving
from chain_client.node import free_port

ROOT = Path(__file__).resolve().parent.parent
#: a supplier of the network `scf up` seeds
DEFAULT_MEMBER = "Yangtze Precision Parts"


@dataclass
class Timings:
    name: str
    argv: list[str]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def run(self, env: dict[str, str]) -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(self.argv, env=env, cwd=ROOT, capture_output=True, check=False)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(
                f"{self.name} exited {done.returncode}: {done.stderr.decode()[-2000:]}"
            )
        self.wall.append(elapsed)
        self.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)


def scf_command() -> list[str]:
    """The console script as installed (it is what people run), else the module."""
    script = Path(sys.executable).parent / "scf"
    return [str(script)] if script.exists() else [sys.executable, "-m", "api.cli.main"]


class Network:
    """`scf up` in a subprocess on free ports, in a temporary folder, until stop()."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.keys_file = folder / "data" / "api-keys.json"
        self.env = isolated_env(folder)
        self._log = open(folder / "up.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [
                *scf_command(),
                "up",
                "--data-dir",
                str(folder / "data"),
                "--chain-port",
                str(free_port()),
                "--api-port",
                str(self.api_port),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 300) -> None:
        failure = wait_until_serving(self.api_url, timeout, lambda: self.proc.poll() is None)
        # the API answers before the first start's seeding has written the keys file
        deadline = time.monotonic() + timeout
        while failure is None and not self.keys_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                failure = "stopped" if self.proc.poll() is not None else "timeout"
            time.sleep(0.2)
        if failure is not None:
            log = (self.folder / "up.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"scf up did not start ({failure}):\n{log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            interrupt(self.proc, timeout=60)
        self._log.close()


def isolated_env(folder: Path) -> dict[str, str]:
    """This environment with HOME and XDG_CONFIG_HOME inside ``folder``: neither `scf up`
    nor the commands measured write to the real home."""
    env = dict(os.environ)
    for variable in ("SCF_API_URL", "SCF_API_KEY", "SCF_KEYS_FILE", "SCF_DATA_DIR"):
        env.pop(variable, None)
    env.update(HOME=str(folder / "home"), XDG_CONFIG_HOME=str(folder / "config"))
    (folder / "home").mkdir(exist_ok=True)
    return env


def measure(
    args: argparse.Namespace, api_url: str, keys_file: Path, env: dict[str, str]
) -> list[Timings]:
    python = sys.executable
    env = {**env, "SCF_API_URL": api_url, "SCF_KEYS_FILE": str(keys_file), "COLUMNS": "200"}
    commands = [
        Timings("python -c pass", [python, "-c", "pass"]),
        Timings(
            'python -c "import json, urllib.request"',
            [python, "-c", "import json, urllib.request"],
        ),
        Timings("scf --help", [*scf_command(), "--help"]),
        Timings(
            f"scf certificates --as '{args.as_}'",
            [*scf_command(), "certificates", "--as", args.as_],
        ),
    ]
    for _ in range(2):  # warm-up
        for command in commands:
            command.run(env)
    for command in commands:
        command.wall.clear()
        command.cpu.clear()
    for round_ in range(args.runs):
        shift = round_ % len(commands)
        for command in commands[shift:] + commands[:shift]:
            command.run(env)
    return commands


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def table(commands: list[Timings], runs: int) -> str:
    floor, http_floor = (statistics.median(c.wall) for c in commands[:2])
    lines = [
        f"{runs} runs each, interleaved; wall and CPU (user + system) per run",
        "",
        "| command | wall median | wall min | CPU median | CPU min "
        "| x `python -c pass` | x `import json, urllib.request` |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in commands:
        wall = statistics.median(c.wall)
        lines.append(
            f"| `{c.name}` | {ms(wall)} | {ms(min(c.wall))} | {ms(statistics.median(c.cpu))} "
            f"| {ms(min(c.cpu))} | {wall / floor:.1f} | {wall / http_floor:.1f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--as", dest="as_", default=DEFAULT_MEMBER, help="member of the read")
    parser.add_argument("--api-url", help="a running API (default: start `scf up`)")
    parser.add_argument("--keys-file", type=Path, help="its keys file (with --api-url)")
    args = parser.parse_args()
    if bool(args.api_url) != bool(args.keys_file):
        parser.error("give --api-url and --keys-file together")
    with tempfile.TemporaryDirectory(prefix="scf-bench-cli-") as tmp:
        folder = Path(tmp)
        if args.api_url:
            commands = measure(args, args.api_url, args.keys_file, isolated_env(folder))
        else:
            network = Network(folder)
            try:
                network.wait_ready()
                commands = measure(args, network.api_url, network.keys_file, network.env)
            finally:
                network.stop()
    print(table(commands, args.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
