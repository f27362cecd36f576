"""`scf sign`: sign a command the API prepared for a self-custody organization, with a key
of the local encrypted key store, and print the signed bytes or submit them.

  scf sign PREPARED.json --sign-with KEY [--signer ADDRESS]     (offline: prints the bytes)
  scf sign --command ID --sign-with KEY --submit                (fetches, signs, submits)

The checks, the confirmation and the passphrase are api.cli.signing's; this module only
reads what to sign and says what came of it, and imports nothing heavy itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli import output
from api.cli.commands_base import (
    Cli,
    LocalRefusalError,
    SignOptions,
    UsageProblemError,
    role_command,
)

app = typer.Typer()


@role_command(app, "sign", signs=True, api_optional=True)
def sign(
    cli: Cli,
    prepared_file: Annotated[
        Path | None,
        typer.Argument(
            help="A prepared command's JSON: the API's 202 answer or GET /v1/commands/ID "
            "(transaction, signing_hash, and signer or --signer).",
            show_default=False,
        ),
    ] = None,
    command: Annotated[
        str | None,
        typer.Option("--command", help="Fetch the prepared command with this id from the API."),
    ] = None,
    signer: Annotated[
        str | None,
        typer.Option(
            "--signer",
            help="The address that must sign, when neither the file nor the API says it.",
        ),
    ] = None,
    submit: Annotated[
        bool,
        typer.Option(
            "--submit", help="Submit the signed bytes to the API and print the command's answer."
        ),
    ] = False,
) -> None:
    """Self-custody: check, show, confirm and sign a prepared command with your own key;
    print the raw signed transaction, or submit it (--submit)."""
    from api.cli.signing import Prepared, read_prepared_file, show, sign_prepared

    if (prepared_file is None) == (command is None):
        raise UsageProblemError("give a prepared command's file or --command ID, one of them")
    document: Any = (
        read_prepared_file(prepared_file)
        if prepared_file is not None
        else cli.api.get(f"/commands/{command}")
    )
    status = document.get("status") if isinstance(document, dict) else None
    if status is not None and status != "awaiting_signature":
        raise LocalRefusalError(
            "not_awaiting_signature",
            f"Command {document.get('command_id')} is {status}: it awaits no signature.",
        )
    prepared = Prepared.of(document)
    if submit and prepared.command_id is None:
        raise UsageProblemError("the prepared command names no command_id to submit it to")
    show(prepared)
    expected = _expected_signer(cli, prepared.signer, signer)
    signature = sign_prepared(
        prepared,
        cli.signing or SignOptions(),
        expected,
        question=f"Sign {'and submit ' if submit else ''}this transaction?",
    )
    if submit:
        cli.note(f"signed by {signature.signer}: transaction {signature.tx_hash}; submitting")
        answer = cli.api.post(f"/commands/{prepared.command_id}/signature", {"raw": signature.raw})
        pairs = [(str(k), v) for k, v in (answer or {}).items() if not isinstance(v, dict | list)]
        cli.show(
            answer, output.fields(f"Command {prepared.command_id} signed and submitted", pairs)
        )
        return
    signed = {
        "command_id": prepared.command_id,
        "raw": signature.raw,
        "tx_hash": signature.tx_hash,
        "signer": signature.signer,
    }
    if cli.json:
        output.emit_json(signed)
        return
    cli.note(f"signed by {signature.signer}: transaction {signature.tx_hash}")
    if prepared.command_id:
        cli.note(f"submit it: POST /v1/commands/{prepared.command_id}/signature with its raw bytes")
    typer.echo(signature.raw)  # alone on stdout: `scf sign f.json > raw.txt`


def _expected_signer(cli: Cli, named: str | None, given: str | None) -> str:
    """Who must sign: the prepared command's signer, --signer, and with an API key the
    organization's own address; all that are known must agree."""
    from eth_utils import to_checksum_address

    known: list[tuple[str, str]] = []
    for what, value in (("the prepared command", named), ("--signer", given)):
        if value:
            try:
                known.append((what, to_checksum_address(value)))
            except ValueError:
                raise UsageProblemError(f"{what} names no address: {value!r}") from None
    if cli.has_api:
        address = cli.me().get("address")
        if address:
            known.append(("your organization", to_checksum_address(address)))
    if not known:
        raise UsageProblemError(
            "cannot tell whose signature this needs: the file names no signer; give "
            "--signer ADDRESS or an API key (--key, --as)"
        )
    for what, address in known[1:]:
        if address != known[0][1]:
            raise LocalRefusalError(
                "wrong_signer",
                f"{known[0][0]} names {known[0][1]} as the signer, {what} {address}. "
                "Nothing was signed.",
            )
    return known[0][1]
