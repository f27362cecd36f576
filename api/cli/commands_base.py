"""What every role command shares: who is calling (key, --as NAME), where the API is,
human or JSON output, the exit codes, and turning what people type into what the API takes.

Why a decorator adds the common options to each command rather than a callback on the
root app: the root app also carries `scf up` and `scf demo`, which have nothing to do with
an API key, and per-command options let a script write `scf split ... --as tier1 --json`
in any order. The environment variables (SCF_API_URL, SCF_API_KEY, SCF_KEYS_FILE) make the
options unnecessary in scripts, and without either the API and the keys file are those of
the last `scf up` (its profile, api.cli.profile).
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from api.cli import output
from api.cli.client import ApiClient, ApiRefusedError, ApiUnreachableError, ApiUrlError
from api.cli.money import AmountError
from api.cli.profile import ProfileError, read_profile
from chain_client.ledger_types import is_ascii_decimal, parse_fragment_id

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_KEYS_FILE = ".data/api-keys.json"

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_VERIFICATION_FAILED = 4
#: the command was not carried out yet: it waits for a checker's approval (four-eyes) or
#: for your organization's signature (self-custody, no key given to sign it with)
EXIT_WAITING = 5

ApiUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        envvar="SCF_API_URL",
        help=f"Base URL of the API. Default: the last `scf up`'s, else {DEFAULT_API_URL}.",
        show_default=False,
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar="SCF_API_KEY",
        help="API key (bearer token) of your organization.",
        show_default=False,
    ),
]
AsOpt = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Act as this organization, with its key from the keys file of `scf up`.",
        show_default=False,
    ),
]
KeysFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--keys-file",
        envvar="SCF_KEYS_FILE",
        help=f"Keys file written by `scf up`. Default: the last `scf up`'s, else "
        f"{DEFAULT_KEYS_FILE}.",
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print the API's JSON (amounts in fen, as strings) instead of tables.",
    ),
]

_COMMON = ("api_url", "key", "as_", "keys_file", "json_")

# -- signing (self-custody): the options of the commands that may have to sign ----------

SignWithOpt = Annotated[
    str | None,
    typer.Option(
        "--sign-with",
        envvar="SCF_SIGNING_KEY",
        help="Sign what the API prepares for your organization with this key: a key file "
        "of the key store, or a key id or address in --keystore. Default: the profile's.",
        show_default=False,
    ),
]
KeystoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        envvar="SCF_KEYSTORE",
        help="The key store's folder, when --sign-with names a key id or address.",
        show_default=False,
    ),
]
PassphraseFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="File holding the key's passphrase; default: SCF_KEY_PASSPHRASE, else a "
        "prompt that does not echo.",
        show_default=False,
    ),
]
YesOpt = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Sign without asking for confirmation."),
]

_SIGNING = ("sign_with", "keystore", "passphrase_file", "yes")


@dataclass(frozen=True)
class SignOptions:
    """How a command signs what the API prepared for a self-custody organization."""

    sign_with: str | None = None
    keystore: Path | None = None
    passphrase_file: Path | None = None
    yes: bool = False


class CommandWaitingError(Exception):
    """The API accepted the command but it waits (202): for a checker's approval, or for
    the organization's signature. Printed, exit code 5 (EXIT_WAITING)."""

    def __init__(self, message: str, body: dict[str, Any], hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.body = body
        self.hint = hint


def waiting_answer(cli: Cli, answer: Any) -> Any:
    """Every command's answer passes here: a 202 that waits for a checker raises
    :class:`CommandWaitingError`; one that waits for the organization's signature is
    signed and submitted (api.cli.signing, imported only then), giving the command's own
    answer; any other answer is returned as it is."""
    if not isinstance(answer, dict) or "command_id" not in answer:
        return answer
    status = answer.get("status")
    if status == "pending_approval":
        raise CommandWaitingError(
            f"waiting for a checker's approval: command {answer['command_id']}",
            answer,
            "a checker of your organization approves it with its own key",
        )
    if status == "awaiting_signature":
        from api.cli.signing import sign_and_submit

        return sign_and_submit(cli, answer)
    return answer


class _NoApi:
    """The API of a command run without an API key (an offline `scf sign`): any use of it
    says what is missing."""

    def __getattr__(self, name: str) -> Any:
        raise UsageProblemError(
            "no API key: pass --key (or set SCF_API_KEY), or --as NAME to use the keys "
            "file written by `scf up`"
        )


class UsageProblemError(Exception):
    """Input the CLI refuses before calling the API (exit code 2)."""


class LocalRefusalError(Exception):
    """A refusal the CLI can tell before sending anything, in the API's vocabulary (exit 1):
    e.g. repaying a certificate with nothing outstanding."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def load_key(keys_file: Path, name: str) -> str:
    """The API key saved for organization ``name`` by `scf up` (exact name first, then
    case-insensitive, then a unique prefix), or a UsageProblemError that says what is
    missing and how to fix it."""
    if not keys_file.exists():
        raise UsageProblemError(
            f"no keys file at {keys_file}: it is written by `scf up`; point SCF_KEYS_FILE or "
            "--keys-file at it, or pass --key / SCF_API_KEY instead of --as"
        )
    try:
        data = json.loads(keys_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageProblemError(f"the keys file {keys_file} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise UsageProblemError(f"the keys file {keys_file} is not a JSON object of names")
    entry = data.get(name)
    if entry is None:
        folded = {str(k).casefold(): v for k, v in data.items()}
        entry = folded.get(name.casefold())
    if entry is None:  # a unique prefix, as for counterparties ('--as Huaxin')
        found = [v for k, v in folded.items() if k.startswith(name.casefold())]
        entry = found[0] if len(found) == 1 else None
    if entry is None:
        known = ", ".join(sorted(str(k) for k in data)) or "none"
        raise UsageProblemError(f"no organization named {name!r} in {keys_file} (known: {known})")
    key = entry.get("api_key") if isinstance(entry, dict) else entry
    if not isinstance(key, str) or not key:
        raise UsageProblemError(f"the entry for {name!r} in {keys_file} has no api_key")
    return key


@dataclass
class Cli:
    """One invocation: the API client, the output mode, and lookups cached for its length."""

    api: ApiClient
    json: bool
    #: how to sign a command the API prepares for the organization (its ledger commands)
    signing: SignOptions | None = None
    #: False for a command run without an API key (an offline `scf sign`)
    has_api: bool = True
    _orgs: list[dict[str, Any]] | None = field(default=None, repr=False)
    _me: dict[str, Any] | None = field(default=None, repr=False)

    # -- output ------------------------------------------------------------------------

    def show(self, data: Any, *renderables: Any) -> None:
        """``data`` as JSON with --json, else the rich renderables (tables, lines)."""
        if self.json:
            output.emit_json(data)
            return
        console = output.stdout()
        for item in renderables:
            console.print(item)

    def note(self, text: str) -> None:
        """A remark for people (stderr, so --json output stays one JSON document)."""
        if not self.json:
            output.stderr().print(text)

    @contextmanager
    def progress(self, description: str, total: float | None = None) -> Iterator[Any]:
        """A progress bar on stderr (a spinner without ``total``); silent with --json.
        Yields ``update(completed, description=None)``."""
        if self.json:
            yield lambda *_a, **_k: None
            return
        from rich.progress import (  # here: rich.progress is slow to import, and rarely used
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(), TextColumn("{task.percentage:>5.1f}%")]
        columns.append(TimeElapsedColumn())
        with Progress(*columns, console=output.stderr(), transient=True) as bar:
            task = bar.add_task(description, total=total)

            def update(completed: float | None = None, description: str | None = None) -> None:
                kwargs: dict[str, Any] = {}
                if completed is not None:
                    kwargs["completed"] = completed
                if description is not None:
                    kwargs["description"] = description
                bar.update(task, **kwargs)

            yield update

    # -- lookups -----------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        if self._me is None:
            self._me = self.api.get("/me")
        return self._me

    def orgs(self) -> list[dict[str, Any]]:
        if self._orgs is None:
            self._orgs = list(self.api.get("/organizations"))
        return self._orgs

    def org_id(self, ref: str, *, what: str = "organization") -> int:
        """An organization given by id or by name (exact, then case-insensitive, then a
        unique prefix); an unknown or ambiguous name is a usage error (exit 2)."""
        text = ref.strip()
        if is_ascii_decimal(text):
            return int(text)
        orgs = self.orgs()
        for test in (
            lambda n: n == text,
            lambda n: n.casefold() == text.casefold(),
            lambda n: n.casefold().startswith(text.casefold()),
        ):
            found = [o for o in orgs if test(str(o.get("name", "")))]
            if len(found) == 1:
                return int(found[0]["id"])
            if len(found) > 1:
                names = ", ".join(f"{o['name']} (#{o['id']})" for o in found)
                raise UsageProblemError(f"{what} {ref!r} is ambiguous: {names}; use the id")
        raise UsageProblemError(f"no {what} named {ref!r} (see `scf orgs`)")

    def name_of(self, address: str | None) -> str:
        """A counterparty's name for an address (the address itself if not a member)."""
        if not address:
            return "-"
        for org in self.orgs():
            if str(org.get("address") or "").lower() == address.lower():
                return str(org["name"])
        return address

    def org_name(self, org_id: int) -> str:
        for org in self.orgs():
            if int(org["id"]) == org_id:
                return str(org["name"])
        return f"#{org_id}"


# -- parsing what people type ------------------------------------------------------------
# Digits are ASCII only: str.isdigit, int() and \d take every Unicode digit (a full-width
# "１００" pasted from a document would be read as 100), as the API refuses them.

_RATE_PERCENT = re.compile(r"^(?P<whole>[0-9]{1,3})(?:\.(?P<frac>[0-9]{1,2}))?$")


def parse_rate(text: str) -> int:
    """A discount rate in basis points: '3.65%', '3.65' (percent) or '365bps'; exact (no
    floats), at most two decimals of a percent, between 0 and 100%."""
    raw = text.strip().lower().replace(" ", "")
    if raw.endswith("bps") or raw.endswith("bp"):
        digits = raw.removesuffix("bps").removesuffix("bp")
        if not is_ascii_decimal(digits):
            raise UsageProblemError(f"{text!r} is not a rate: use e.g. 3.65% or 365bps")
        bps = int(digits)
    else:
        match = _RATE_PERCENT.match(raw.removesuffix("%"))
        if not match:
            raise UsageProblemError(
                f"{text!r} is not a rate: use a percent with at most two decimals "
                "(3.65%) or basis points (365bps)"
            )
        bps = int(match["whole"]) * 100 + int((match["frac"] or "0").ljust(2, "0"))
    if bps > 10_000:
        raise UsageProblemError(f"{text!r} is above 100%")
    return bps


def parse_fragment(text: str) -> str:
    """A fragment as the API's decimal id, from any form chain_client.ledger_types
    parses: the id ('4294967298'), hex ('0x100000002') or certificate/seq ('1/2')."""
    try:
        return str(parse_fragment_id(text))
    except ValueError as exc:
        raise UsageProblemError(str(exc)) from None


def parse_moment(text: str) -> int:
    """A Unix time from 'YYYY-MM-DD' (00:00 China time that day), an ISO date-time
    (China time unless it carries an offset) or a plain Unix time."""
    raw = text.strip()
    if is_ascii_decimal(raw):
        return int(raw)
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime(day.year, day.month, day.day, tzinfo=output.CST)
        else:
            moment = datetime.fromisoformat(raw)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=output.CST)
    except ValueError:
        raise UsageProblemError(
            f"{text!r} is not a date: use YYYY-MM-DD, an ISO date-time or a Unix time"
        ) from None
    return int(moment.timestamp())


def chain_now(cli: Cli) -> int:
    """The ledger's clock as well as the API tells it: /health's ``block_time`` when the
    API reports one, else this machine's clock. (They differ only on a test chain whose
    clock was moved; a date typed with --maturity is exact either way.)"""
    try:
        health = cli.api.get("/health")
    except ApiRefusedError:
        health = {}
    value = health.get("block_time") if isinstance(health, dict) else None
    if isinstance(value, int) and value > 0:
        return value
    return int(time.time())


# -- the decorator ------------------------------------------------------------------------


def _report_refusal(
    json_mode: bool, code: str, title: str, detail: str, body: dict[str, Any] | None = None
) -> None:
    if json_mode:
        import sys

        sys.stderr.write(
            json.dumps(body or {"code": code, "title": title, "detail": detail}, ensure_ascii=False)
            + "\n"
        )
        return
    err = output.stderr()
    err.print(f"[bold red]refused[/] {output.escape('[' + code + ']')}: {output.escape(title)}")
    if detail and detail.rstrip(".") != title.rstrip("."):
        err.print(f"  {detail}", markup=False)


def role_command(
    group: typer.Typer,
    name: str | None = None,
    *,
    signs: bool = False,
    api_optional: bool = False,
    **kwargs: Any,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``func(cli, ...)`` as a command with the connection and output options,
    and map failures to the exit codes of `scf` (see api.cli.main). ``signs``: it may have
    to sign what the API prepares for a self-custody organization (the signing options);
    ``api_optional``: it runs without an API key too (`scf sign` of a file)."""

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        sig = inspect.signature(func, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "cli"]
        kw = inspect.Parameter.KEYWORD_ONLY
        common = [
            inspect.Parameter("api_url", kw, default=None, annotation=ApiUrlOpt),
            inspect.Parameter("key", kw, default=None, annotation=KeyOpt),
            inspect.Parameter("as_", kw, default=None, annotation=AsOpt),
            inspect.Parameter("keys_file", kw, default=None, annotation=KeysFileOpt),
            inspect.Parameter("json_", kw, default=False, annotation=JsonOpt),
        ]
        if signs:
            common += [
                inspect.Parameter("sign_with", kw, default=None, annotation=SignWithOpt),
                inspect.Parameter("keystore", kw, default=None, annotation=KeystoreOpt),
                inspect.Parameter(
                    "passphrase_file", kw, default=None, annotation=PassphraseFileOpt
                ),
                inspect.Parameter("yes", kw, default=False, annotation=YesOpt),
            ]
        own = [p.replace(kind=kw) for p in own]

        @functools.wraps(func)
        def wrapper(**values: Any) -> None:
            opts = {k: values.pop(k) for k in _COMMON}
            signing = SignOptions(**{k: values.pop(k) for k in _SIGNING}) if signs else None
            run(func, opts, values, signing=signing, api_optional=api_optional)

        wrapper.__signature__ = sig.replace(parameters=own + common)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {}
        group.command(name, **kwargs)(wrapper)
        return func

    return decorate


def connection(api_url: str | None, keys_file: Path | None, needs_keys: bool) -> tuple[str, Path]:
    """The API's URL and the keys file: as given (option or environment variable), else
    the last `scf up`'s profile, else the defaults. The profile is read only when needed."""
    found = None
    if api_url is None or (keys_file is None and needs_keys):
        try:
            found = read_profile()
        except ProfileError as exc:
            raise UsageProblemError(str(exc)) from None
    return (
        api_url or (found.api_url if found else DEFAULT_API_URL),
        keys_file or (found.keys_file if found else Path(DEFAULT_KEYS_FILE)),
    )


def run(
    func: Callable[..., None],
    opts: dict[str, Any],
    values: dict[str, Any],
    *,
    signing: SignOptions | None = None,
    api_optional: bool = False,
) -> None:
    """Build the client, call the command, translate what went wrong into an exit code."""
    json_mode = bool(opts["json_"])
    api: ApiClient | None = None
    try:
        api_url, keys_file = connection(opts["api_url"], opts["keys_file"], bool(opts["as_"]))
        key = opts["key"]
        if opts["as_"]:
            key = load_key(keys_file, opts["as_"])
        if not key and api_optional:
            func(
                Cli(api=cast(ApiClient, _NoApi()), json=json_mode, signing=signing, has_api=False),
                **values,
            )
            return
        if not key:
            raise UsageProblemError(
                "no API key: pass --key (or set SCF_API_KEY), or --as NAME to use the keys "
                "file written by `scf up`"
            )
        # a URL copied from the docs page may end in /v1: the client adds it itself
        api = ApiClient(api_url.rstrip("/").removesuffix("/v1"), key)
        cli = Cli(api=api, json=json_mode, signing=signing)
        api.after_command = functools.partial(waiting_answer, cli)
        func(cli, **values)
    except CommandWaitingError as exc:
        if json_mode:
            output.emit_json(exc.body)
        else:
            output.stdout().print(exc.message, markup=False)
        if exc.hint and not json_mode:
            output.stderr().print(exc.hint, markup=False)
        raise typer.Exit(EXIT_WAITING) from None
    except ApiRefusedError as exc:
        _report_refusal(json_mode, exc.code, exc.title, exc.detail, exc.body)
        raise typer.Exit(EXIT_REFUSED) from None
    except LocalRefusalError as exc:
        _report_refusal(json_mode, exc.code, exc.detail, exc.detail)
        raise typer.Exit(EXIT_REFUSED) from None
    except ApiUrlError as exc:
        output.stderr().print(f"[bold red]error:[/] bad --api-url: {output.escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from None
    except (AmountError, UsageProblemError) as exc:
        output.stderr().print(f"[bold red]error:[/] {output.escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from None
    except ApiUnreachableError as exc:
        output.stderr().print(f"[bold red]unreachable:[/] {output.escape(str(exc))}")
        raise typer.Exit(EXIT_UNREACHABLE) from None
    finally:
        if api is not None:
            api.close()
