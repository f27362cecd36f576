"""Four eyes from the command line: API keys with duties, the approval policy, and a
checker's decisions on the commands waiting for one (docs/api.md, "Four eyes").

  scf keys create [--duties maker,checker,admin | --viewer] [--label TEXT] [--org ORG]
  scf keys list [--org ORG]
  scf keys revoke KEY_ID [--org ORG]
  scf policy show
  scf policy set 'split>=500000.00' accept_offer transfer      (or --none)
  scf approvals list
  scf approvals approve COMMAND [--sign-with KEY ...]
  scf approvals reject COMMAND --reason TEXT

A rule is an action (every such command waits for a checker) or ACTION>=YUAN (those from
that amount; quote it in a shell, where > redirects; ACTION:YUAN says the same). Amounts
are yuan as everywhere in `scf`, sent as fen.

An approval answers the command's own answer, or, for an organization that signs its own
transactions, 202 ``awaiting_signature``: then it is signed and submitted as a ledger
command's is (the signing options, api.cli.signing). Submitting takes a key with the maker
duty, so a checker-only key leaves it waiting (exit 5) with the line a maker runs to sign
it; the key's duties are looked up before anything is signed.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from api.cli import output
from api.cli.client import ApiRefusedError
from api.cli.commands_base import (
    Cli,
    CommandWaitingError,
    UsageProblemError,
    role_command,
)
from api.cli.money import parse_cny

#: the duties a key may carry (api.auth.DUTIES)
DUTIES = ("maker", "checker", "admin")
#: the commands a policy may name (api.commands.approvals.APPROVABLE; a test keeps the two
#: equal, as the CLI does not import the server's modules)
APPROVABLE = (
    "issue",
    "accept",
    "split",
    "transfer",
    "offer",
    "accept_offer",
    "repay",
    "set_credit_line",
    "post_bid",
    "change_bid_budget",
    "sell_to_bid",
)

keys_app = typer.Typer(
    help="API keys of your organization and their duties (maker, checker, admin).",
    no_args_is_help=True,
)
policy_app = typer.Typer(
    help="Your organization's four-eyes policy: which commands wait for a checker.",
    no_args_is_help=True,
)
approvals_app = typer.Typer(
    help="Commands of your organization waiting for a checker: list, approve, reject.",
    no_args_is_help=True,
)

OrgOpt = Annotated[
    str | None,
    typer.Option("--org", help="Operator: another organization (name or id); default: yours."),
]


def _org(cli: Cli, org: str | None) -> int:
    return cli.org_id(org) if org else int(cli.me()["id"])


def parse_duties(text: str) -> list[str]:
    """'maker,checker' -> ['maker', 'checker'] (in the API's order, each once)."""
    given = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(given - set(DUTIES))
    if unknown or not given:
        raise UsageProblemError(
            f"{text!r}: duties are a comma-separated list of {', '.join(DUTIES)} "
            "(a key that only reads: --viewer)"
        )
    return [d for d in DUTIES if d in given]


# -- keys ---------------------------------------------------------------------------------


def _duties_text(duties: list[str] | None) -> str:
    """A key's duties in the order people read them (the API sends them sorted)."""
    ordered = [d for d in DUTIES if d in set(duties or [])]
    return ", ".join(ordered) or "none: it only reads"


@role_command(keys_app, "create")
def keys_create(
    cli: Cli,
    duties: Annotated[
        str | None,
        typer.Option(
            "--duties",
            help="What the key may do, comma-separated: maker (start commands), checker "
            "(approve others'), admin (keys, policy). Default: all three.",
        ),
    ] = None,
    viewer: Annotated[
        bool, typer.Option("--viewer", help="A key that only reads (no duty).")
    ] = False,
    label: Annotated[str, typer.Option("--label", help="What the key is for.")] = "",
    org: OrgOpt = None,
) -> None:
    """Admin: make an API key with duties; it is printed once, store it then."""
    if viewer and duties is not None:
        raise UsageProblemError("give --duties or --viewer, not both")
    body: dict[str, Any] = {"label": label}
    if viewer:
        body["duties"] = []
    elif duties is not None:
        body["duties"] = parse_duties(duties)
    org_id = _org(cli, org)
    made = cli.api.post(f"/organizations/{org_id}/api-keys", body)
    cli.show(
        made,
        output.fields(
            f"API key {made.get('id')} of {cli.org_name(org_id)}",
            [
                ("duties", _duties_text(made.get("duties"))),
                ("label", made.get("label") or "-"),
                ("prefix", made.get("prefix")),
                ("key", made.get("api_key")),
            ],
        ),
        "Store this key now: it is not shown again.",
    )


@role_command(keys_app, "list")
def keys_list(cli: Cli, org: OrgOpt = None) -> None:
    """The organization's API keys: their duties, and which are revoked (never the keys
    themselves)."""
    org_id = _org(cli, org)
    rows = cli.api.get(f"/organizations/{org_id}/api-keys")
    cli.show(
        rows,
        output.table(
            f"API keys of {cli.org_name(org_id)}",
            ["id", "prefix", "label", "duties", "created", "revoked"],
            [
                (
                    k["id"],
                    k.get("prefix"),
                    k.get("label") or "-",
                    _duties_text(k.get("duties")),
                    output.moment(k.get("created_at")),
                    output.moment(k.get("revoked_at")) if k.get("revoked_at") else "-",
                )
                for k in rows
            ],
        ),
    )


@role_command(keys_app, "revoke")
def keys_revoke(
    cli: Cli,
    key_id: Annotated[int, typer.Argument(min=1, help="The key's id (scf keys list).")],
    org: OrgOpt = None,
) -> None:
    """Admin: revoke an API key of the organization; it is refused from then on."""
    org_id = _org(cli, org)
    result = cli.api.command("DELETE", f"/organizations/{org_id}/api-keys/{key_id}")
    cli.show(
        result,
        output.fields(
            f"API key {key_id} revoked", [("revoked at", output.moment(result.get("revoked_at")))]
        ),
    )


# -- policy -------------------------------------------------------------------------------


def parse_rule(text: str) -> dict[str, Any]:
    """'split>=500000.00' -> {"action": "split", "min_amount": "50000000"}; 'transfer' ->
    every transfer (min_amount null)."""
    raw = text.strip()
    for separator in (">=", ":"):
        if separator in raw:
            action, amount = raw.split(separator, 1)
            break
    else:
        action, amount = raw, None
    action = action.strip().lower().replace("-", "_")
    if action not in APPROVABLE:
        raise UsageProblemError(
            f"{text!r}: a rule is ACTION or ACTION>=YUAN, ACTION one of {', '.join(APPROVABLE)}"
        )
    return {
        "action": action,
        "min_amount": str(parse_cny(amount)) if amount is not None else None,
    }


def _policy_table(policy: dict[str, Any]) -> Any:
    rules = policy.get("rules") or []
    if not rules:
        return "No four-eyes policy: every command runs on its maker's key alone."
    return output.table(
        "Commands that wait for a checker",
        ["command", "from (CNY)"],
        [
            (
                r["action"],
                "every one" if r.get("min_amount") is None else output.yuan(r["min_amount"]),
            )
            for r in rules
        ],
        money=["from (CNY)"],
    )


@role_command(policy_app, "show")
def policy_show(cli: Cli) -> None:
    """Which of your organization's commands wait for a checker, from which amount."""
    policy = cli.api.get("/approval-policy")
    cli.show(policy, _policy_table(policy))


@role_command(policy_app, "set")
def policy_set(
    cli: Cli,
    rules: Annotated[
        list[str] | None,
        typer.Argument(
            help="ACTION (every one waits) or 'ACTION>=YUAN' (from that amount), e.g. "
            "'split>=500000.00' accept_offer transfer.",
            show_default=False,
        ),
    ] = None,
    none: Annotated[bool, typer.Option("--none", help="Remove every rule.")] = False,
) -> None:
    """Admin: replace the four-eyes policy (the whole list; commands already waiting keep
    waiting)."""
    if bool(rules) == none:
        raise UsageProblemError("give the rules, or --none to remove them all")
    parsed = [parse_rule(rule) for rule in rules or []]
    actions = [r["action"] for r in parsed]
    if len(set(actions)) != len(actions):
        raise UsageProblemError("name each command once")
    policy = cli.api.put("/approval-policy", {"rules": parsed})
    cli.show(policy, _policy_table(policy))


# -- approvals ----------------------------------------------------------------------------


@role_command(approvals_app, "list")
def approvals_list(cli: Cli) -> None:
    """Your organization's commands waiting for a checker, oldest first."""
    rows = cli.api.get("/approvals")
    cli.show(
        rows,
        output.table(
            "Waiting for a checker",
            ["command", "action", "what it does", "at stake (CNY)", "maker key", "expires"],
            [
                (
                    w["command_id"],
                    w.get("action"),
                    w.get("summary"),
                    output.yuan(w.get("stake")),
                    f"#{w['maker_key_id']}" if w.get("maker_key_id") is not None else "-",
                    output.moment(w.get("expires_at")),
                )
                for w in rows
            ],
            money=["at stake (CNY)"],
        ),
        f"{len(rows)} waiting" if rows else "Nothing waits for a checker.",
    )


def _key_duties(cli: Cli) -> frozenset[str] | None:
    """The duties of the key this call uses, from the organization's key list (a key is
    listed by its first 10 characters); None if it cannot be told."""
    token = cli.api.api_key or ""
    try:
        keys = cli.api.get(f"/organizations/{cli.me()['id']}/api-keys")
    except ApiRefusedError:
        return None
    found = [k for k in keys if token.startswith(str(k.get("prefix") or "\0"))]
    return frozenset(found[0].get("duties") or []) if len(found) == 1 else None


@role_command(approvals_app, "approve", signs=True)
def approvals_approve(
    cli: Cli,
    command: Annotated[int, typer.Argument(min=1, help="The waiting command's id.")],
) -> None:
    """Checker: approve a waiting command (not one made with your own key): it runs, and
    prints its answer; for an organization that signs its own transactions it is then
    signed (--sign-with) and submitted."""
    hook, cli.api.after_command = cli.api.after_command, None
    try:
        answer = cli.api.post(f"/approvals/{command}/approve")
    finally:
        cli.api.after_command = hook
    if isinstance(answer, dict) and answer.get("status") == "awaiting_signature":
        duties = _key_duties(cli)
        if duties is not None and "maker" not in duties:
            raise CommandWaitingError(
                f"approved: command {command} awaits your organization's signature",
                answer,
                "a key with the maker duty submits it: scf sign --command "
                f"{command} --sign-with KEY --submit --key MAKER_KEY",
            )
    result = hook(answer) if hook is not None else answer
    pairs = [(str(k), v) for k, v in (result or {}).items() if not isinstance(v, dict | list)]
    cli.show(result, output.fields(f"Command {command} approved and carried out", pairs))


@role_command(approvals_app, "reject")
def approvals_reject(
    cli: Cli,
    command: Annotated[int, typer.Argument(min=1, help="The waiting command's id.")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why (its maker's retry is refused with it).")
    ],
) -> None:
    """Checker: reject a waiting command with a reason; nothing is signed or sent."""
    decision = cli.api.post(f"/approvals/{command}/reject", {"reason": reason})
    cli.show(
        decision,
        output.fields(
            f"Command {command} rejected",
            [
                ("reason", decision.get("reason")),
                ("checker key", f"#{decision.get('checker_key_id')}"),
                ("decided at", output.moment(decision.get("decided_at"))),
            ],
        ),
    )
