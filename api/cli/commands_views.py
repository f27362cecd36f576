"""The commands that only read: status, the lists (orgs, certificates, fragments, offers),
verify (a fragment, from the chain alone) and the auditors' reports."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import typer

from api.cli import output
from api.cli.client import ApiRefusedError
from api.cli.commands_base import (
    EXIT_VERIFICATION_FAILED,
    Cli,
    parse_fragment,
    role_command,
)
from chain_client.ledger_types import CertificateStatus, OfferStatus

#: The commands of this module; api.cli.commands.register copies them onto `scf`.
app = typer.Typer()


def _sum(rows: list[dict[str, Any]], key: str) -> int:
    return sum(int(r.get(key) or 0) for r in rows)


@role_command(app, "status")
def status(cli: Cli) -> None:
    """Who am I, my role, my settlement balance, what I hold or owe, and the API's health."""
    health = cli.api.get("/health")
    me = cli.me()
    role = me.get("role")
    try:
        balance: str | None = cli.api.get(f"/organizations/{me['id']}/balance")["balance"]
    except ApiRefusedError:
        balance = None
    holdings: dict[str, Any] = {}
    if role in ("supplier", "financier"):
        frags = cli.api.get("/fragments", limit=1000)
        holdings = {
            "fragments": len(frags),
            "value": str(_sum(frags, "value")),
            "paid": str(_sum(frags, "paid")),
            "unpaid": str(_sum(frags, "value") - _sum(frags, "paid")),
        }
    elif role == "core_enterprise":
        certs = [
            c
            for c in cli.api.get("/certificates", limit=500)
            if str(c.get("issuer", "")).lower() == str(me.get("address", "")).lower()
        ]
        open_ = [
            c for c in certs if c.get("status") in ("issued", "active", "overdue", "defaulted")
        ]
        lines = cli.api.get("/credit-lines")
        holdings = {
            "certificates": len(certs),
            "open_certificates": len(open_),
            "outstanding": str(_sum(open_, "outstanding")),
            "credit_limit": str(_sum(lines, "limit")),
            "credit_used": str(_sum(lines, "used")),
        }
    else:
        certs = cli.api.get("/certificates", limit=500)
        by_status: dict[str, int] = {}
        for c in certs:
            by_status[str(c.get("status"))] = by_status.get(str(c.get("status")), 0) + 1
        holdings = {"certificates": len(certs), "by_status": by_status}
    data = {"health": health, "me": me, "balance": balance, "holdings": holdings}

    pairs: list[tuple[str, Any]] = [
        ("organization", f"{me.get('name')} (#{me.get('id')})"),
        ("role", role),
        ("member status", me.get("status")),
        ("address", me.get("address")),
        ("settlement balance", f"{output.yuan(balance)} CNY" if balance is not None else "-"),
    ]
    if role in ("supplier", "financier"):
        pairs += [
            ("fragments held", holdings["fragments"]),
            ("face value held", f"{output.yuan(holdings['value'])} CNY"),
            ("of which paid out", f"{output.yuan(holdings['paid'])} CNY"),
        ]
    elif role == "core_enterprise":
        pairs += [
            ("certificates issued", holdings["certificates"]),
            ("open", holdings["open_certificates"]),
            ("outstanding payables", f"{output.yuan(holdings['outstanding'])} CNY"),
            (
                "credit lines used",
                f"{output.yuan(holdings['credit_used'])} of "
                f"{output.yuan(holdings['credit_limit'])} CNY",
            ),
        ]
    else:
        pairs += [
            ("certificates", holdings["certificates"]),
            (
                "by status",
                ", ".join(f"{k} {v}" for k, v in sorted(holdings["by_status"].items())) or "-",
            ),
        ]
    api_pairs = [
        ("API", f"{cli.api.base_url} ({health.get('status')})"),
        ("chain id", health.get("chain_id")),
        ("ledger", health.get("ledger")),
        ("chain head", health.get("head")),
        ("indexed block", health.get("indexed_block")),
    ]
    cli.show(data, output.fields("You", pairs), output.fields("Network", api_pairs))


# -- lists -------------------------------------------------------------------------------


@role_command(app, "orgs")
def orgs(
    cli: Cli,
    role: Annotated[
        str | None,
        typer.Option("--role", help="core_enterprise, supplier, financier, auditor or operator."),
    ] = None,
) -> None:
    """The member directory (names and ids to use as counterparties)."""
    rows = cli.api.get("/organizations", role=role)
    cli.show(
        rows,
        output.table(
            "Organizations",
            ["id", "name", "role", "status", "USCC"],
            [(o["id"], o["name"], o["role"], o["status"], o.get("uscc")) for o in rows],
        ),
    )


def _choices(name: str, statuses: Iterable[IntEnum]) -> Any:
    """A --status option's choices: the ledger's statuses (chain_client.ledger_types) by the
    lower-case names the API filters on, so a status added to the ledger is offered here."""
    labels = [s.name.lower() for s in statuses if s.value != 0]  # 0 is NONE: no record
    return StrEnum(name, [(label, label) for label in labels])


if TYPE_CHECKING:  # mypy cannot follow an enum built at run time; its members are StrEnums
    CertificateStatusChoice: TypeAlias = StrEnum
    OfferStatusChoice: TypeAlias = StrEnum
else:
    CertificateStatusChoice = _choices("CertificateStatusChoice", CertificateStatus)
    OfferStatusChoice = _choices("OfferStatusChoice", OfferStatus)


def _certificate_table(cli: Cli, title: str, certs: list[dict[str, Any]]) -> Any:
    return output.table(
        title,
        [
            "id",
            "issuer",
            "beneficiary",
            "face value",
            "outstanding",
            "paid out",
            "maturity",
            "status",
            "fragments",
        ],
        [
            (
                c["id"],
                cli.name_of(c.get("issuer")),
                cli.name_of(c.get("beneficiary")),
                output.yuan(c.get("face_value")),
                output.yuan(c.get("outstanding")),
                output.yuan(c.get("paid_out")),
                output.when(c.get("maturity")),
                c.get("status"),
                c.get("fragment_count"),
            )
            for c in certs
        ],
        money=["face value", "outstanding", "paid out"],
    )


@role_command(app, "certificates")
def certificates(
    cli: Cli,
    status: Annotated[CertificateStatusChoice | None, typer.Option("--status")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 100,
) -> None:
    """Certificates you may see (issued by you, to you, held or financed by you)."""
    rows = cli.api.get("/certificates", status=status.value if status else None, limit=limit)
    cli.show(rows, _certificate_table(cli, "Certificates (CNY)", rows))


@role_command(app, "fragments")
def fragments(
    cli: Cli,
    certificate: Annotated[
        int | None, typer.Option("--certificate", min=1, help="Fragments of one certificate.")
    ] = None,
    holder: Annotated[
        str | None, typer.Option("--holder", help="Held by (name or id); default: yours.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 200,
) -> None:
    """Fragments: your holdings, or a certificate's tree if you may see it."""
    holder_id = cli.org_id(holder, what="holder") if holder else None
    rows = cli.api.get("/fragments", certificate_id=certificate, holder_id=holder_id, limit=limit)
    cli.show(
        rows,
        output.table(
            "Fragments (CNY)",
            ["fragment (cert/seq)", "parent", "holder", "value", "paid"],
            [
                (
                    output.fragment_label(f["id"]),
                    output.fragment_label(f.get("parent_id")),
                    cli.name_of(f.get("holder")),
                    output.yuan(f.get("value")),
                    output.yuan(f.get("paid")),
                )
                for f in rows
            ],
            money=["value", "paid"],
        ),
        f"{len(rows)} fragment(s), {output.yuan(_sum(rows, 'value'))} CNY in all",
    )


@role_command(app, "offers")
def offers(
    cli: Cli,
    status: Annotated[OfferStatusChoice | None, typer.Option("--status")] = None,
) -> None:
    """Financing offers you made or were made to you (banks: what to accept)."""
    rows = cli.api.get("/offers", status=status.value if status else None)
    cli.show(
        rows,
        output.table(
            "Financing offers (CNY)",
            [
                "offer",
                "fragment",
                "seller",
                "bank",
                "amount",
                "rate",
                "open until",
                "status",
                "payment",
            ],
            [
                (
                    o["id"],
                    output.fragment_label(o.get("fragment_id")),
                    cli.name_of(o.get("seller")),
                    cli.name_of(o.get("financier")),
                    output.yuan(o.get("amount")),
                    output.rate(o.get("rate_bps")),
                    output.when(o.get("expires_at")),
                    o.get("status"),
                    output.yuan(o.get("payment")),
                )
                for o in rows
            ],
            money=["amount", "payment"],
        ),
    )


# -- verification and reports ---------------------------------------------------------


@role_command(app, "verify")
def verify(
    cli: Cli,
    fragment: Annotated[str, typer.Argument(help="Fragment: id or certificate/seq.")],
) -> None:
    """Verify a fragment from the chain alone: lineage to the root certificate, values,
    financing, repayment. Exits 4 if any check failed."""
    fid = parse_fragment(fragment)
    with cli.progress("verifying from the chain: lineage, issuance, financing, repayment"):
        report = cli.api.get(f"/fragments/{fid}/verification")
    ok = bool(report.get("ok"))
    checks = report.get("checks", [])

    def mark(c: dict[str, Any]) -> str:
        if c.get("skipped"):
            return "SKIP"
        return "ok" if c.get("passed") else "FAIL"

    lineage = " <- ".join(output.fragment_label(f) for f in report.get("lineage", []))
    cli.show(
        report,
        output.fields(
            "VERIFIED" if ok else "NOT VERIFIED",
            [
                ("fragment", output.fragment_label(report.get("fragment_id"))),
                ("certificate", report.get("certificate_id")),
                ("ledger", report.get("ledger_address")),
                ("chain id", report.get("chain_id")),
                ("at block", report.get("block_number")),
                ("lineage (child first)", lineage or "-"),
            ],
        ),
        output.table(
            "Checks",
            ["check", "result", "detail"],
            [(c.get("name"), mark(c), c.get("detail")) for c in checks],
        ),
        f"read {report.get('fragments_read')} fragment(s) from the chain",
    )
    if not ok:
        failed = ", ".join(report.get("failed_checks") or []) or "no checks ran"
        output.stderr().print(f"verification failed: {failed}", markup=False)
        raise typer.Exit(EXIT_VERIFICATION_FAILED)


class ReportKind(StrEnum):
    exposure = "exposure"
    financed_volume = "financed-volume"
    maturing = "maturing"
    overdue = "overdue"


def _check_line(check: dict[str, Any] | None) -> str:
    if not check:
        return ""
    verdict = (
        "consistent with the chain"
        if check.get("consistent_with_chain")
        else (f"NOT consistent with the chain: {check}")
    )
    return f"Checked against the ledger: {verdict}."


@role_command(app, "report")
def report(
    cli: Cli,
    kind: Annotated[ReportKind, typer.Argument(help="Which report.")],
    within_days: Annotated[
        int, typer.Option("--within-days", min=0, max=3660, help="maturing: horizon in days.")
    ] = 30,
) -> None:
    """Auditor / operator reports: exposure per core enterprise, financed volume per bank,
    certificates maturing soon, overdue ones."""
    with cli.progress(f"{kind.value} report, checked against the chain"):
        if kind is ReportKind.maturing:
            data = cli.api.get("/reports/maturing", within_days=within_days)
        else:
            data = cli.api.get(f"/reports/{kind.value}")
    if kind is ReportKind.exposure:
        rows = data.get("exposure", [])
        shown: list[Any] = [
            output.table(
                "Exposure per core enterprise (CNY)",
                ["core enterprise", "certificates", "outstanding"],
                [
                    (
                        r.get("name") or r.get("core_enterprise"),
                        r.get("certificates"),
                        output.yuan(r.get("outstanding")),
                    )
                    for r in rows
                ],
                money=["outstanding"],
            ),
            f"Total outstanding: {output.yuan(_sum(rows, 'outstanding'))} CNY",
        ]
    elif kind is ReportKind.financed_volume:
        rows = data.get("volume", [])
        shown = [
            output.table(
                "Financed volume per bank (CNY)",
                ["bank", "financings", "face bought", "cash paid", "discount"],
                [
                    (
                        r.get("name") or r.get("financier"),
                        r.get("financings"),
                        output.yuan(r.get("amount")),
                        output.yuan(r.get("payment")),
                        output.yuan(r.get("discount")),
                    )
                    for r in rows
                ],
                money=["face bought", "cash paid", "discount"],
            )
        ]
    else:
        title = (
            f"Maturing within {within_days} days" if kind is ReportKind.maturing else "Overdue"
        ) + f" (as of {output.when(data.get('as_of'))}, CNY)"
        shown = [_certificate_table(cli, title, data.get("certificates", []))]
    shown.append(_check_line(data.get("check")))
    cli.show(data, *shown)
