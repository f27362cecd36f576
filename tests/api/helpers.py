"""Helpers of the API tests (and of tests/cli, which drives the same service): settings for
a test app, the parties of a test network, a World to send requests as them, and a real
server on a loopback port for the tests that need one.

Why a World per app: each app gets its own ledger (a new manifest path forces a new
deployment) and its own database, so tests never see each other's certificates.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from api.db import database_reachable
from api.db import drop_schema as drop_pg_schema
from api.settings import Settings
from chain_client.node import AnvilNode, free_port
from tests.helpers import travel, valid_uscc

PG_URL = os.environ.get("SCF_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
OPERATOR_KEY = "scf_test_operator_" + secrets.token_hex(8)


def pg_available() -> bool:
    return database_reachable(PG_URL)


def make_settings(anvil: AnvilNode, tmp: Path, db: str = "sqlite", **extra: Any) -> Settings:
    values: dict[str, Any] = dict(
        data_dir=tmp,
        rpc_url=anvil.rpc_url,
        master_passphrase="test passphrase " + tmp.name,
        operator_private_key="0x" + bytes(anvil.dev_accounts(1)[0].key).hex(),
        bootstrap_operator_api_key=OPERATOR_KEY,
        invoice_secret="invoice-secret-for-tests-0123456789",
        keystore_scrypt_n=2**10,
        background=False,
        tx_timeout=30.0,
        # the suites send many commands quickly from few organizations; tests of the
        # limit set their own (tests/api/test_limits.py)
        rate_limit_per_second=1000.0,
        rate_limit_burst=10_000,
    )
    if db == "postgres":
        values["database_url"] = PG_URL
        values["database_schema"] = "t_" + uuid.uuid4().hex[:20]
    values.update(extra)
    return Settings(**values)


def drop_schema(settings: Settings) -> None:
    if settings.database_schema:
        drop_pg_schema(PG_URL, settings.database_schema)


@dataclass
class Party:
    org_id: int
    key: str
    role: str
    address: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class World:
    client: TestClient
    settings: Settings
    anvil: AnvilNode
    operator: Party
    parties: dict[str, Party] = field(default_factory=dict)

    @property
    def rt(self) -> Any:
        return self.client.app.state.runtime  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Party:
        parties = self.__dict__.get("parties", {})
        if name in parties:
            return parties[name]  # type: ignore[no-any-return]
        raise AttributeError(name)

    def onboard(self, name: str, role: str, seed: int) -> Party:
        uscc = valid_uscc(seed)
        r = self.client.post(
            "/v1/organizations",
            json={"name": name, "uscc": uscc, "role": role},
            headers=self.operator.headers,
        )
        assert r.status_code == 201, r.text
        org = r.json()
        k = self.client.post(
            f"/v1/organizations/{org['id']}/api-keys",
            json={"label": "t"},
            headers=self.operator.headers,
        )
        assert k.status_code == 201, k.text
        party = Party(org["id"], k.json()["api_key"], role, org["address"])
        self.parties[name] = party
        return party

    def block_time(self) -> int:
        return int(self.rt.gateway.block_time())

    def travel(self, seconds: int) -> None:
        travel(self.anvil, seconds)


def open_world(anvil: AnvilNode, tmp: Path, db: str = "sqlite", **extra: Any) -> Iterator[World]:
    settings = make_settings(anvil, tmp, db, **extra)
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            r = client.get("/v1/me", headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
            assert r.status_code == 200, r.text
            operator = Party(r.json()["id"], OPERATOR_KEY, "operator", r.json()["address"])
            yield World(client, settings, anvil, operator)
    finally:
        drop_schema(settings)


def populate(world: World) -> World:
    """A core enterprise, two suppliers, a bank, an auditor; credit line and cash."""
    seed = secrets.randbelow(10**8) * 10
    world.onboard("core", "core_enterprise", seed + 1)
    world.onboard("tier1", "supplier", seed + 2)
    world.onboard("tier2", "supplier", seed + 3)
    world.onboard("bank", "financier", seed + 4)
    world.onboard("auditor", "auditor", seed + 5)
    c = world.client
    r = c.put(
        "/v1/credit-lines",
        json={"core_enterprise_id": world.core.org_id, "limit": "100000000000"},
        headers=world.bank.headers,
    )
    assert r.status_code == 200, r.text
    for who, amount in (("bank", "50000000000"), ("core", "50000000000")):
        r = c.post(
            f"/v1/organizations/{world.parties[who].org_id}/settlement-funds",
            json={"amount": amount},
            headers=world.operator.headers,
        )
        assert r.status_code == 200, r.text
    return world


def upload_invoice(world: World, party: Party, content: bytes | None = None) -> dict[str, Any]:
    content = content or f"invoice {uuid.uuid4()}".encode()
    r = world.client.post(
        "/v1/documents",
        files={"file": ("inv.pdf", content, "application/pdf")},
        data={"kind": "invoice"},
        headers=party.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def issue_certificate(
    world: World, face_value: str = "1000000", days: int = 90, accept: bool = True
) -> dict[str, Any]:
    doc = upload_invoice(world, world.core)
    r = world.client.post(
        "/v1/certificates",
        json={
            "beneficiary_id": world.tier1.org_id,
            "credit_provider_id": world.bank.org_id,
            "face_value": face_value,
            "maturity": world.block_time() + days * 86_400,
            "document_id": doc["id"],
            "invoice_number": "INV-" + uuid.uuid4().hex[:12],
        },
        headers=world.core.headers,
    )
    assert r.status_code == 201, r.text
    out = {"certificate_id": r.json()["certificate_id"], "document": doc}
    if accept:
        a = world.client.post(
            f"/v1/certificates/{out['certificate_id']}/accept", headers=world.tier1.headers
        )
        assert a.status_code == 200, a.text
        out["root_fragment_id"] = a.json()["root_fragment_id"]
    return out


def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port from a thread until the generator is closed."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    )
    thread = threading.Thread(target=server.run, name="scf-test-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class Receiver:
    """A webhook endpoint on loopback: answers with the statuses given, in turn (then
    200), and keeps what it received."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                self.send_response(outer.statuses.pop(0) if outer.statuses else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/scf-hook"

    def close(self) -> None:
        self.server.shutdown()
