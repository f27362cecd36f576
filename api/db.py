"""Database engine, sessions, and migrations at start-up.

Why Alembic even for SQLite: the same migrations run on the user's embedded SQLite file
and on the production PostgreSQL, so a schema change is written once and tested on both.
``database_schema`` (PostgreSQL) puts every table, the Alembic version table included,
in one schema: tests give each run its own schema so concurrent runs never collide.
"""

from __future__ import annotations

import fcntl
import logging
import re
import threading
import time
from pathlib import Path
from typing import IO

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DisconnectionError

from api.settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def make_engine(settings: Settings) -> Engine:
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=40,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL lets readers run beside the one writer; foreign keys are off by default.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        lock_path = None
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            lock_path = Path(url.removeprefix("sqlite:///") + ".write-lock")
        SqliteWriteQueue(timeout=30.0, lock_path=lock_path).install(engine)
        return engine
    connect_args: dict[str, object] = {}
    schema = settings.database_schema
    if schema:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        connect_args["options"] = f"-csearch_path={schema}"
    engine = create_engine(url, connect_args=connect_args, pool_size=20, max_overflow=60)
    _ping_when_idle(engine, IDLE_BEFORE_PING)
    if schema:
        with engine.begin() as conn:
            # instances starting at once: CREATE SCHEMA IF NOT EXISTS is not safe against
            # a concurrent one (both look, both create, one fails on the catalog's key)
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext('scf-api:schema:' || :schema))"),
                {"schema": schema},
            )
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    return engine


def is_postgres(engine: Engine) -> bool:
    """Whether the service may be one of several instances, on several machines, sharing
    this database (PostgreSQL), rather than the processes of one machine (SQLite, a file
    of that machine). What the processes share through the data folder on SQLite they
    share through the database on PostgreSQL (docs/architecture.md)."""
    return engine.dialect.name == "postgresql"


#: TCP keep-alive of a dedicated connection (:func:`dedicated_connection`), on both
#: ends: the server drops a session whose client vanished (a partition, a machine gone)
#: after about IDLE + INTERVAL * COUNT seconds, which releases its advisory locks
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 10, 5, 3
#: milliseconds the client waits for the server to acknowledge what it sent before it
#: gives the connection up: shorter than the server's keep-alive above, so a holder of an
#: advisory lock learns it lost the connection before the server hands the lock on
USER_TIMEOUT_MS = 8_000


def dedicated_connection(settings: Settings) -> psycopg.Connection[tuple[object, ...]]:
    """A PostgreSQL connection of its own, outside the pool, in autocommit, in the
    service's schema: for a session advisory lock held as long as the connection lives
    (:mod:`api.background`) and for LISTEN (:mod:`api.wakeup`). Both ends watch it with
    TCP keep-alives, so a lock dies with its holder's machine or network, not two hours
    later."""
    url = make_url(settings.resolved_database_url).set(drivername="postgresql")
    options = [
        f"-c tcp_keepalives_idle={KEEPALIVE_IDLE}",
        f"-c tcp_keepalives_interval={KEEPALIVE_INTERVAL}",
        f"-c tcp_keepalives_count={KEEPALIVE_COUNT}",
    ]
    if settings.database_schema:
        if not _SCHEMA_NAME.match(settings.database_schema):
            raise ValueError(f"invalid schema name {settings.database_schema!r}")
        options.append(f"-c search_path={settings.database_schema}")
    return psycopg.connect(
        url.render_as_string(hide_password=False),
        autocommit=True,
        connect_timeout=10,
        keepalives=1,
        keepalives_idle=KEEPALIVE_IDLE,
        keepalives_interval=KEEPALIVE_INTERVAL,
        keepalives_count=KEEPALIVE_COUNT,
        tcp_user_timeout=USER_TIMEOUT_MS,
        options=" ".join(options),
    )


def read_only(engine: Engine) -> Engine:
    """The engine for reads that stand alone (an API key, an idempotency key, a recipient,
    a GET): on PostgreSQL, in autocommit.

    Why: psycopg opens a transaction with a BEGIN of its own and the pool ends it with a
    ROLLBACK, so a lone SELECT cost three round trips, and a command makes several. Under
    PostgreSQL's READ COMMITTED each statement sees its own snapshot anyway, so nothing is
    lost. SQLite's driver already reads outside a transaction. The returned engine shares
    the pool; connections go back with autocommit off."""
    if engine.dialect.name != "postgresql":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


#: seconds a pooled connection may sit unused before it is tested on checkout
IDLE_BEFORE_PING = 30.0


def _ping_when_idle(engine: Engine, idle: float) -> None:
    """Test a pooled connection before use only if it sat idle for ``idle`` seconds.

    Why not ``pool_pre_ping``: it pings on every checkout, and a command checks a
    connection out five or six times (key lookup, idempotency claim, journal, ...): as
    many extra round trips to PostgreSQL. A connection that was busy a moment ago is
    alive; one that waited long may have been closed by a restart or a firewall, and is
    then replaced (the pool retries the checkout with a new connection).
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection, record):
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy):
        since = record.info.get("checked_in")
        if since is None or time.monotonic() - since < idle:
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:
            raise DisconnectionError(f"stale pooled connection: {exc}") from exc


class SqliteWriteQueue:
    """One writing transaction at a time, queued on a lock in Python and, across the
    server's processes, on an ``flock`` of ``lock_path``.

    Why: SQLite has one database-wide write lock; a second writer does not queue for it,
    its busy handler sleeps and retries with a growing back-off (up to 100 ms a nap), so
    under load a writer often sleeps long after the lock was free again. Here a
    transaction takes the process's lock at its first write statement and gives it back
    when its connection goes back to the pool (a Session returns it when its transaction
    ends), so the next writer starts the moment the previous one is done. The worker
    processes of a server (and its indexing process) queue the same way on the file lock:
    the kernel wakes the next one when the holder's transaction ends (or the holder dies),
    where SQLite's busy handler would have slept. Nothing changes in what SQLite
    guarantees (it still takes its own lock; a process that does not use this queue still
    meets the busy handler).
    If the lock cannot be had in ``timeout`` seconds (a thread writing on two
    connections at once would wait for itself), the statement goes ahead and SQLite's
    busy handler decides, as without the queue.
    """

    def __init__(self, timeout: float, lock_path: Path | None = None) -> None:
        self.timeout = timeout
        self.lock_path = lock_path
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None  # opened on first use, in the using process

    def install(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before_execute)
        # released when the connection goes back to the pool, which a Session does as
        # soon as its transaction ends: after the COMMIT (the engine's "commit" event
        # fires before it)
        event.listen(engine.pool, "reset", self._release_record)
        event.listen(engine.pool, "checkin", self._release_record)
        event.listen(engine.pool, "invalidate", self._release_record_exc)

    def _before_execute(self, conn, cursor, statement, parameters, context, executemany):
        info = conn.info
        if "write_queue" in info or not statement.lstrip()[:7].upper().startswith(_WRITES):
            return
        if self._lock.acquire(timeout=self.timeout):
            info["write_queue"] = True
            if self.lock_path is not None:
                if self._file is None:
                    self._file = open(self.lock_path, "ab")  # noqa: SIM115 - kept open
                # only other processes can hold it: in this one, the thread lock is ours
                fcntl.flock(self._file, fcntl.LOCK_EX)
        else:
            log.warning("SQLite write queue: waited %.0f s, going ahead", self.timeout)
            info["write_queue"] = False

    def _release(self, info: dict[str, object]) -> None:
        if info.pop("write_queue", False):
            if self._file is not None:
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._lock.release()

    def _release_record(self, dbapi_connection, record, *_args) -> None:
        if record is not None:
            self._release(record.info)

    def _release_record_exc(self, dbapi_connection, record, exception) -> None:
        self._release_record(dbapi_connection, record)


def database_reachable(url: str) -> bool:
    """Whether a database answers at ``url`` (tests and benchmarks skip PostgreSQL
    when none does)."""
    try:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("select 1"))
        finally:
            engine.dispose()
        return True
    except Exception:
        return False


def drop_schema(url: str, schema: str) -> None:
    """Remove a PostgreSQL schema and everything in it (a test's or a benchmark's)."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()


_MIGRATION_LOCK = text(
    "SELECT pg_advisory_xact_lock(hashtext('scf-api:migrate:' || coalesce(current_schema(), '')))"
)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent).

    On PostgreSQL instances of the service may start at once on one database: the
    migration runs under a transaction-scoped advisory lock of the schema, so one
    instance migrates and the others, once it committed, find the schema at its head
    (two concurrent CREATE TABLEs fail on the catalog's unique keys)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        if is_postgres(engine):
            connection.execute(_MIGRATION_LOCK)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
