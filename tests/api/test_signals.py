"""The signals between a server's processes (api.wakeup) and the read-only engine."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from api import wakeup
from api.db import read_only
from tests.api.helpers import PG_URL, pg_available


def _listening(path: Path) -> tuple[list[int], threading.Event, threading.Thread]:
    heard: list[int] = []
    stop = threading.Event()
    thread = threading.Thread(target=wakeup.listen, args=(path, heard.append, stop), daemon=True)
    thread.start()
    for _ in range(200):
        if path.exists():
            break
        threading.Event().wait(0.01)
    return heard, stop, thread


def _wait_for(heard: list[int], value: int) -> None:
    for _ in range(200):
        if value in heard:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"{value} never arrived; heard {heard}")


def test_every_listening_worker_hears_the_indexed_block(tmp_path: Path) -> None:
    first = wakeup.IndexedPublisher.path_for(tmp_path, 101)
    second = wakeup.IndexedPublisher.path_for(tmp_path, 102)
    heard_1, stop_1, t1 = _listening(first)
    heard_2, stop_2, t2 = _listening(second)
    try:
        wakeup.IndexedPublisher(tmp_path).publish(41)
        _wait_for(heard_1, 41)
        _wait_for(heard_2, 41)
    finally:
        stop_1.set()
        stop_2.set()
        t1.join(2)
        t2.join(2)
    assert not first.exists() and not second.exists()  # listeners clean up after them


def test_a_dead_workers_socket_is_removed(tmp_path: Path) -> None:
    dead = wakeup.IndexedPublisher.path_for(tmp_path, 103)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(dead))
    sock.close()  # the file stays, as after a crash; nobody receives on it
    assert dead.exists()
    wakeup.IndexedPublisher(tmp_path).publish(7)
    assert not dead.exists()


def test_reads_on_sqlite_use_the_same_engine(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert read_only(engine) is engine


@pytest.mark.skipif(not pg_available(), reason="PostgreSQL not reachable")
def test_reads_on_postgresql_run_without_begin_and_rollback() -> None:
    engine = create_engine(PG_URL)
    try:
        with read_only(engine).connect() as conn:
            assert conn.connection.dbapi_connection.autocommit is True  # type: ignore[union-attr]
        with engine.connect() as conn:  # the pool's connection is back to transactions
            assert conn.connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]
    finally:
        engine.dispose()
