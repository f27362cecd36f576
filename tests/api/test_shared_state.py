"""The pieces instances on several machines share through PostgreSQL (issue 12), each
tested on its own: nonce counters (api/nonces_pg.py), the indexing election
(api/background.py), sealed keys (api/keys_db.py), rate-limit buckets (api/ratelimit.py),
the recorded manifest (api/chain.py), and the journal's guards against two processes
signing or finishing one command (api/commands). tests/api/test_scale_out.py runs them
together in two real instances.

"Another machine" is another engine (its own pool of connections) on the same schema.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from api.app import build_runtime, create_app
from api.background import AdvisoryLock
from api.commands.journal import Journal, KeyTaken, Running
from api.db import make_engine, migrate
from api.keys_db import DbKeyDocuments, copy_folder_keys
from api.models import AuditEntry, Command
from api.nonces_pg import PgNonceCounter
from api.settings import Settings
from chain_client.addresses import checksum
from chain_client.connection import connect
from chain_client.errors import KeyAlreadyExists, ManifestMismatch, TamperedKeyFile, WrongPassphrase
from chain_client.keystore import KeyStore
from chain_client.node import AnvilNode
from chain_client.nonces import NonceManager
from chain_client.transactions import TransactionSender
from tests.api.helpers import (
    World,
    drop_schema,
    issue_certificate,
    make_settings,
    open_world,
    pg_available,
    populate,
    upload_invoice,
)

pytestmark = pytest.mark.skipif(
    not pg_available(), reason="PostgreSQL is not reachable on 127.0.0.1:5432"
)


class Crash(Exception):  # noqa: N818 - what the test simulates
    pass


@pytest.fixture
def pg(anvil: AnvilNode, tmp_path: Path) -> Iterator[tuple[Settings, Engine, Engine]]:
    """A migrated schema, and two engines on it (two machines)."""
    settings = make_settings(anvil, tmp_path, "postgres")
    first, second = make_engine(settings), make_engine(settings)
    migrate(first)
    try:
        yield settings, first, second
    finally:
        first.dispose()
        second.dispose()
        drop_schema(settings)


# -- nonces ---------------------------------------------------------------------------------


def test_two_machines_share_one_accounts_nonces_without_a_resync(
    anvil: AnvilNode, pg: tuple[Settings, Engine, Engine]
) -> None:
    """Two managers on two engines x 3 threads x 5 transfers from one fresh account: 30
    consecutive nonces, each mined, no send refused (the node was asked for the pending
    count once, for the very first allocation). With a counter each (today's files in
    two folders) every clash is a refusal and a resync."""
    _, first, second = pg
    w3 = connect(anvil.rpc_url)
    funder = anvil.dev_accounts(1)[0]
    account = Account.create()
    funding = w3.eth.send_transaction(
        {"from": funder.address, "to": account.address, "value": 10**18}
    )
    w3.eth.wait_for_transaction_receipt(funding)
    reads: list[str] = []
    managers = [NonceManager(w3, counter=PgNonceCounter(engine)) for engine in (first, second)]
    for manager in managers:
        real = manager._pending_count

        def counting(address: str, real: Any = real) -> int:
            reads.append(address)
            return int(real(address))

        manager._pending_count = counting  # type: ignore[method-assign]
    senders = [
        TransactionSender(w3, account, nonce_manager=m, poll_interval=0.02, timeout=30)
        for m in managers
    ]
    sent: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def work(sender: TransactionSender) -> None:
        try:
            start.wait()
            pendings = [sender.submit({"to": funder.address, "value": 0}) for _ in range(5)]
            for pending in pendings:
                assert sender.wait(pending)["status"] == 1
                sent.append((pending.nonce, pending.tx_hash))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in senders for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(nonce for nonce, _ in sent) == list(range(30))
    assert len({tx_hash for _, tx_hash in sent}) == 30
    assert reads == [account.address]  # no resync, ever
    assert managers[1].peek(account.address) == 30


def test_a_failed_send_keeps_the_counter_and_a_resync_is_kept(
    pg: tuple[Settings, Engine, Engine],
) -> None:
    """The rules of chain_client.nonces hold for the database's counter: a nonce not
    consumed is not used up; a resynced count is kept even when the send then fails;
    reset forgets it for every machine."""
    _, first, second = pg
    address = checksum("0x" + "ab" * 20)
    manager = NonceManager(None, counter=PgNonceCounter(first))  # type: ignore[arg-type]
    manager._pending_count = lambda address: 9  # type: ignore[method-assign]
    other = NonceManager(None, counter=PgNonceCounter(second))  # type: ignore[arg-type]
    with manager.reserve(address) as slot:
        assert slot.nonce == 9
        slot.consume()
    assert other.peek(address) == 10
    with pytest.raises(RuntimeError), manager.reserve(address) as slot:
        assert slot.nonce == 10
        raise RuntimeError("the send failed")
    assert other.peek(address) == 10
    manager._pending_count = lambda address: 12  # type: ignore[method-assign]
    with pytest.raises(RuntimeError), manager.reserve(address) as slot:
        slot.resync()
        raise RuntimeError("refused again")
    assert other.peek(address) == 12
    other.reset()
    assert manager.peek(address) is None


def test_a_reservation_excludes_the_other_machine_until_it_ends(
    pg: tuple[Settings, Engine, Engine],
) -> None:
    _, first, second = pg
    address = checksum("0x" + "cd" * 20)
    holder = NonceManager(None, counter=PgNonceCounter(first))  # type: ignore[arg-type]
    holder._pending_count = lambda address: 5  # type: ignore[method-assign]
    other = NonceManager(None, counter=PgNonceCounter(second))  # type: ignore[arg-type]
    got: list[int] = []
    with holder.reserve(address) as slot:
        waiter = threading.Thread(target=lambda: got.append(_reserve_once(other, address)))
        waiter.start()
        waiter.join(0.5)
        assert got == [] and waiter.is_alive()  # waits for the row lock
        slot.consume()
    waiter.join(10)
    assert got == [6]


def _reserve_once(manager: NonceManager, address: str) -> int:
    with manager.reserve(address) as slot:
        slot.consume()
        return slot.nonce


# -- the indexing election ------------------------------------------------------------------


def test_one_process_holds_the_election_and_a_lost_connection_hands_it_on(
    pg: tuple[Settings, Engine, Engine],
) -> None:
    settings, first, _ = pg
    a, b = AdvisoryLock(settings), AdvisoryLock(settings)
    elsewhere = settings.model_copy(update={"database_schema": "t_" + uuid.uuid4().hex[:20]})
    make_engine(elsewhere).dispose()  # creates its schema
    other_schema = AdvisoryLock(elsewhere)
    try:
        assert a.try_acquire() and a.held and a.still_held()
        assert not b.try_acquire() and not b.held
        assert other_schema.try_acquire()  # another service's election on this database
        holder = a.holder()
        assert holder is not None
        with first.connect() as conn:  # a's connection dies (its machine, its network)
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder})
            conn.commit()
        assert not a.still_held() and not a.held  # a stops indexing
        assert b.try_acquire()
        assert not a.try_acquire()
        b.release()
        assert a.try_acquire()
    finally:
        for lock in (a, b, other_schema):
            lock.release()
        drop_schema(elsewhere)


def test_an_instance_that_loses_its_election_connection_stops_indexing_then_claims_again(
    anvil: AnvilNode, tmp_path: Path
) -> None:
    """The indexing process's lock connection is cut (its session ended by the server):
    within a check interval it stops indexing, watches, and, nobody else holding the
    election, takes it again on a new connection; commands still answer once indexed."""
    for world in open_world(anvil, tmp_path, "postgres", background=True):
        populate(world)
        background = world.client.app.state.background  # type: ignore[attr-defined]
        assert isinstance(background.lock, AdvisoryLock) and background.indexing
        first = background.lock.holder()
        assert first is not None
        with world.rt.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            conn.commit()
        deadline = time.monotonic() + 30
        while background.lock.holder() in (None, first) or not background.indexing:
            assert time.monotonic() < deadline, "the election was not taken again"
            time.sleep(0.2)
        root = issue_certificate(world, face_value="700")["root_fragment_id"]
        r = world.client.get(f"/v1/fragments/{root}", headers=world.tier1.headers)
        assert r.status_code == 200 and r.json()["value"] == "700"


# -- keys -------------------------------------------------------------------------------------


def test_a_key_stored_through_one_machine_opens_on_the_other(
    pg: tuple[Settings, Engine, Engine], tmp_path: Path
) -> None:
    _, first, second = pg
    here = KeyStore(documents=DbKeyDocuments(first), scrypt_n=2**10)
    there = KeyStore(documents=DbKeyDocuments(second), scrypt_n=2**10)
    info = here.create("pass", label="org:1")
    assert info.path is None
    assert there.load(info.address, "pass").address == info.address
    assert there.get(info.id).label == "org:1"
    assert [i.address for i in there.list()] == [info.address]
    with pytest.raises(WrongPassphrase):
        there.load(info.id, "wrong")
    with pytest.raises(KeyAlreadyExists):
        there.import_key(here.load(info.id, "pass").key, "pass")
    # the row holds the sealed document only, and an edit is caught
    with first.connect() as conn:
        document = conn.execute(
            text("SELECT document FROM signing_keys WHERE id = :id"), {"id": info.id}
        ).scalar_one()
        assert json.loads(document)["address"] == info.address
        assert "pass" not in document
        edited = json.loads(document)
        edited["label"] = "operator"
        conn.execute(
            text("UPDATE signing_keys SET document = :d WHERE id = :id"),
            {"d": json.dumps(edited), "id": info.id},
        )
        conn.commit()
    with pytest.raises(TamperedKeyFile):
        there.load(info.id, "pass")


def test_a_folders_keys_are_copied_into_the_database_once(
    pg: tuple[Settings, Engine, Engine], tmp_path: Path
) -> None:
    _, first, _ = pg
    folder = KeyStore(tmp_path / "keys", scrypt_n=2**10)
    made = [folder.create("pass", label=f"k{k}") for k in range(2)]
    database = KeyStore(documents=DbKeyDocuments(first), scrypt_n=2**10)
    assert copy_folder_keys(folder, database) == 2
    assert copy_folder_keys(folder, database) == 0
    for info in made:
        assert database.load(info.address, "pass").address == info.address
        assert database.get(info.address).id == info.id


# -- the service: manifest, keys, rate limits, shared by two instances --------------------------


@pytest.fixture
def two_apps(anvil: AnvilNode, tmp_path: Path) -> Iterator[tuple[World, TestClient, Settings]]:
    """An instance (a World) and a second one in another data folder on its database,
    each with its background work (one indexes, the other watches: a process without
    any steps the projector itself, a second writer)."""
    for world in open_world(anvil, tmp_path / "a", "postgres", rate_limit_burst=3, background=True):
        populate(world)
        second = world.settings.model_copy(update={"data_dir": tmp_path / "b"})
        with TestClient(create_app(second)) as client:
            yield world, client, second


def test_a_second_instance_serves_the_recorded_ledger_and_its_keys(
    two_apps: tuple[World, TestClient, Settings],
) -> None:
    world, other, settings = two_apps
    ours, theirs = world.client.get("/v1/health").json(), other.get("/v1/health").json()
    assert theirs["ledger"] == ours["ledger"]
    assert settings.resolved_manifest_path.is_file()  # written from the database
    assert not (settings.data_dir / "keys").exists() or not any(
        (settings.data_dir / "keys").iterdir()
    )
    # tier1's key was made by the first instance; the second signs with it
    root = issue_certificate(world, face_value="1000")["root_fragment_id"]
    r = other.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": world.tier2.org_id, "amount": "10"},
        headers=world.tier1.headers,
    )
    assert r.status_code == 201, r.text


def test_rate_limits_are_the_organizations_across_instances(
    two_apps: tuple[World, TestClient, Settings],
) -> None:
    """Burst 3, no refill to speak of: two commands through one instance and one through
    the other use it up. Buckets of their own would let six through."""
    world, other, _ = two_apps
    for rt in (world.rt,):
        rt.limits.rate = 0.001
    other.app.state.runtime.limits.rate = 0.001  # type: ignore[attr-defined]
    upload_invoice(world, world.core)
    upload_invoice(world, world.core)
    files = {"file": ("inv.pdf", b"one more", "application/pdf")}
    r = other.post(
        "/v1/documents", files=files, data={"kind": "invoice"}, headers=world.core.headers
    )
    assert r.status_code == 201, r.text
    r = other.post(
        "/v1/documents", files=files, data={"kind": "invoice"}, headers=world.core.headers
    )
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    r = world.client.post(
        "/v1/documents", files=files, data={"kind": "invoice"}, headers=world.core.headers
    )
    assert r.status_code == 429


def test_an_instance_whose_folder_names_another_ledger_refuses_to_start(
    two_apps: tuple[World, TestClient, Settings], tmp_path: Path
) -> None:
    _, _, settings = two_apps
    folder = tmp_path / "c"
    folder.mkdir()
    manifest = json.loads(settings.resolved_manifest_path.read_text())
    manifest["ledger_address"] = "0x" + "11" * 20
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestMismatch, match="the database serves"):
        build_runtime(settings.model_copy(update={"data_dir": folder}))


# -- the journal: one signer, one finish ------------------------------------------------------


def test_a_command_finished_by_two_processes_is_stored_once(
    anvil: AnvilNode, tmp_path: Path
) -> None:
    """A command whose process died waiting for its receipt, resumed by two processes
    (an instance starting while another takes it over): one answer, one audit entry,
    and the second resume answers what the first stored."""
    for world in open_world(anvil, tmp_path, "postgres"):
        populate(world)
        root = issue_certificate(world, face_value="5000")["root_fragment_id"]
        runner, gateway = world.rt.runner, world.rt.gateway
        original = gateway.wait

        def crash_wait(*_a: Any, **_k: Any) -> Any:
            raise Crash()

        gateway.wait = crash_wait  # type: ignore[method-assign]
        headers = {**world.tier1.headers, "Idempotency-Key": "finished-twice"}
        with pytest.raises(Crash):
            world.client.post(
                f"/v1/fragments/{root}/split",
                json={"to_org_id": world.tier2.org_id, "amount": "5"},
                headers=headers,
            )
        gateway.wait = original  # type: ignore[method-assign]
        row = _command(world, "finished-twice")
        first = runner.recovery.resume(row)
        second = runner.recovery.resume(row)
        assert first.status_code == second.status_code == 201
        assert first.body == second.body
        with Session(world.rt.engine) as session:
            entries = session.exec(
                select(AuditEntry).where(AuditEntry.tx_hash == row.tx_hash)
            ).all()
        assert len(entries) == 1


def test_a_row_taken_over_is_not_signed_again_by_its_first_owner(
    anvil: AnvilNode, tmp_path: Path
) -> None:
    """Its owner journaled a transaction; another process took the row over (and may
    have broadcast those bytes). The owner, finding the nonce taken, must not journal a
    second transaction for the command: KeyTaken, before anything is broadcast."""
    for world in open_world(anvil, tmp_path, "postgres"):
        engine = world.rt.engine
        owner = Journal(engine, engine, Running())
        other = Journal(engine, engine, Running())
        fields = {
            "org_id": world.operator.org_id,
            "api_key_id": None,
            "idempotency_key": "taken-over",
            "fingerprint": "f" * 64,
            "action": "split",
            "target": "fragment:1",
            "params": json.dumps({"request": {}}),
        }
        first = _signed_tx(0)
        command_id = owner.record_signed(dict(fields), first, {"args": []})
        row = _command(world, "taken-over")
        assert other.take_over(row)
        with pytest.raises(KeyTaken):
            owner.record_signed(command_id, _signed_tx(1), {"args": []})
        assert _command(world, "taken-over").tx_hash == first.tx_hash


def test_a_young_pending_row_of_another_instance_is_left_alone_at_start(
    anvil: AnvilNode, tmp_path: Path
) -> None:
    """On PostgreSQL another instance may be running a ``pending`` command while this one
    starts: start-up aborts it only once it stood still for resume_after seconds."""
    for world in open_world(anvil, tmp_path, "postgres"):
        journal = world.rt.runner.journal
        recovery = world.rt.runner.recovery
        recovery.resume_after = 60.0
        command_id = Journal(world.rt.engine, world.rt.engine, Running()).insert_pending(
            {
                "org_id": world.operator.org_id,
                "idempotency_key": "young",
                "fingerprint": "f" * 64,
                "action": "create_org",
                "target": "",
                "params": json.dumps({"request": {}}),
            }
        )
        assert command_id is not None
        assert recovery.reconcile(alone=False) == {"completed": 0, "aborted": 0}
        assert _command(world, "young").status == "pending"
        with world.rt.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE commands SET updated_at = updated_at - interval '2 minutes' "
                    "WHERE id = :i"
                ),
                {"i": command_id},
            )
        assert recovery.reconcile(alone=False) == {"completed": 0, "aborted": 1}
        assert _command(world, "young").status == "aborted"
        assert journal.for_key(world.operator.org_id, "young") is not None


def _command(world: World, key: str) -> Command:
    with Session(world.rt.engine) as session:
        row = session.exec(select(Command).where(Command.idempotency_key == key)).first()
    assert row is not None
    return row


def _signed_tx(nonce: int) -> Any:
    from api.chain import SignedTx

    return SignedTx("0x" + "12" * 20, nonce, "0x" + uuid.uuid4().hex + uuid.uuid4().hex, "0x00")
