"""An organization with custody ``remote``: its commands are signed by its signer service
(tests/signer_server.py, a process of its own holding the key) over JSON-RPC, never by the
API's key store. The signer down: 503 ``signer_unavailable`` with Retry-After and nothing
journaled, and the same Idempotency-Key runs the command once the signer is back; a signer
that declines is 502 ``signer_refused``, one that returns other bytes 502
``signer_mismatch`` naming the field, neither leaving a signed row."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import text
from sqlmodel import Session, select

from api.models import Command
from tests.api.helpers import World, issue_certificate, upload_invoice
from tests.helpers import valid_uscc
from tests.signer_server import SignerProcess, running_signer


@pytest.fixture(scope="module")
def tier1_key(world: World) -> str:
    """tier1's private key, taken out of the API's key store for its signer service."""
    gateway = world.rt.gateway
    passphrase = world.settings.master_passphrase.get_secret_value()
    return str(gateway.keystore.load(world.tier1.address, passphrase).key.hex())


def _signs_through(world: World, url: str | None) -> None:
    """tier1 signs through the signer at ``url`` (custody remote), from now on."""
    with world.rt.engine.begin() as conn:
        conn.execute(
            text("UPDATE organizations SET custody = 'remote', signer_url = :url WHERE id = :id"),
            {"url": url, "id": world.tier1.org_id},
        )
    world.rt.gateway.forget(world.tier1.address)


#: a key only the signer process holds: an organization onboarded with custody remote
OWN_KEY = Account.create()


@pytest.fixture(scope="module")
def signer(
    world: World, tier1_key: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SignerProcess]:
    keys = [tier1_key, OWN_KEY.key.hex()]
    with running_signer(keys, tmp_path_factory.mktemp("signer")) as process:
        _signs_through(world, process.url + "/rpc?token=signer-secret")
        yield process


def _split(world: World, fragment: str, key: str) -> object:
    return world.client.post(
        f"/v1/fragments/{fragment}/split",
        json={"to_org_id": world.tier2.org_id, "amount": "1000"},
        headers={**world.tier1.headers, "Idempotency-Key": key},
    )


def _rows(world: World, key: str) -> list[tuple[str, str | None]]:
    with world.rt.engine.connect() as conn:
        return [
            (str(status), raw)
            for status, raw in conn.execute(
                text("SELECT status, raw_tx FROM commands WHERE idempotency_key = :key"),
                {"key": key},
            )
        ]


def test_the_remote_signer_signs_the_organizations_commands(
    world: World, signer: SignerProcess
) -> None:
    root = issue_certificate(world)["root_fragment_id"]
    before = signer.signed()
    r = _split(world, root, str(uuid.uuid4()))
    assert r.status_code == 201, r.text
    assert signer.signed() == before + 1
    tx = world.rt.gateway.w3.eth.get_transaction(r.json()["tx_hash"])
    assert tx["from"] == world.tier1.address


def test_a_signer_down_is_503_signer_unavailable_and_nothing_is_journaled(
    world: World, signer: SignerProcess, tier1_key: str, tmp_path: Path
) -> None:
    root = issue_certificate(world)["root_fragment_id"]
    key = str(uuid.uuid4())
    with running_signer([tier1_key], tmp_path) as doomed:
        _signs_through(world, doomed.url)
        doomed.stop()
        r = _split(world, root, key)
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"]
    assert r.json()["code"] == "signer_unavailable"
    assert _rows(world, key) == []  # nothing signed, nothing recorded
    # the signer back (here: the module's): the same key runs the command, once
    _signs_through(world, signer.url)
    again = _split(world, root, key)
    assert again.status_code == 201, again.text
    assert [status for status, _raw in _rows(world, key)] == ["succeeded"]


@pytest.mark.parametrize(
    ("mode", "code", "field"),
    [("refuse", "signer_refused", None), ("altered", "signer_mismatch", "value")],
)
def test_a_signer_that_refuses_or_alters_is_a_502_and_nothing_is_journaled(
    world: World, signer: SignerProcess, mode: str, code: str, field: str | None
) -> None:
    root = issue_certificate(world)["root_fragment_id"]
    key = str(uuid.uuid4())
    nonce = world.rt.gateway.w3.eth.get_transaction_count(world.tier1.address, "pending")
    signer.set_mode(mode)
    try:
        r = _split(world, root, key)
    finally:
        signer.set_mode("honest")
    assert r.status_code == 502, r.text
    assert r.json()["code"] == code
    assert r.json().get("field") == field
    assert "signer-secret" not in r.text and "/rpc" not in r.text
    assert all(status != "signed" and raw is None for status, raw in _rows(world, key))
    assert world.rt.gateway.w3.eth.get_transaction_count(world.tier1.address, "pending") == nonce


def test_an_organization_onboarded_with_custody_remote_signs_through_its_signer(
    world: World, signer: SignerProcess
) -> None:
    """Onboarded through the route (its signer proves the address), it accepts a
    certificate and splits it, each transaction signed by the signer process."""
    c, op = world.client, world.operator.headers
    r = c.post(
        "/v1/organizations",
        json={
            "name": "Remote Tier1",
            "uscc": valid_uscc(secrets.randbelow(10**8) * 10 + 9),
            "role": "supplier",
            "custody": "remote",
            "address": OWN_KEY.address,
            "signer_url": signer.url + "/rpc?token=onboard-secret",
        },
        headers=op,
    )
    assert r.status_code == 201, r.text
    org = r.json()
    assert org["custody"] == "remote" and org["address"] == OWN_KEY.address
    # the signer URL's credentials are kept out of the journal and the audit log
    log = c.get("/v1/audit-log?action=onboard&limit=5", headers=op)
    assert log.status_code == 200 and "onboard" in log.text, log.text
    assert "onboard-secret" not in log.text and "/rpc" not in log.text
    with Session(world.rt.engine) as session:
        stored = [row.params for row in session.exec(select(Command)).all()]
    assert not any("onboard-secret" in params for params in stored)
    key = c.post(f"/v1/organizations/{org['id']}/api-keys", json={"label": "t"}, headers=op)
    assert key.status_code == 201, key.text
    remote = {"Authorization": f"Bearer {key.json()['api_key']}"}
    doc = upload_invoice(world, world.core)
    issued = c.post(
        "/v1/certificates",
        json={
            "beneficiary_id": org["id"],
            "credit_provider_id": world.bank.org_id,
            "face_value": "500000",
            "maturity": world.block_time() + 60 * 86_400,
            "document_id": doc["id"],
            "invoice_number": "INV-" + uuid.uuid4().hex[:12],
        },
        headers=world.core.headers,
    )
    assert issued.status_code == 201, issued.text
    before = signer.signed()
    accepted = c.post(f"/v1/certificates/{issued.json()['certificate_id']}/accept", headers=remote)
    assert accepted.status_code == 200, accepted.text
    split = c.post(
        f"/v1/fragments/{accepted.json()['root_fragment_id']}/split",
        json={"to_org_id": world.tier2.org_id, "amount": "100000"},
        headers=remote,
    )
    assert split.status_code == 201, split.text
    assert signer.signed() >= before + 2
    tx = world.rt.gateway.w3.eth.get_transaction(split.json()["tx_hash"])
    assert tx["from"] == OWN_KEY.address
