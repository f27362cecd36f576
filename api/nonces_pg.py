"""Each signing account's nonce counter in PostgreSQL, for instances of the service on
several machines (a :class:`chain_client.nonces.SharedCounter`).

Why: on one machine the processes share a counter file under an ``flock``
(:class:`chain_client.nonces.FileCounter`); instances on several machines share only the
database and the chain. Each would otherwise keep its own counter, and two instances
sending from one account would sign the same nonce: the node refuses one of them ("nonce
too low", an underpriced replacement) and its sender resyncs, or, if they talk to
different nodes, both are pooled and one command loses its transaction. Asking the node's
pending count under a lock instead would not do across nodes either (another node may not
have seen the other instance's last transaction yet).

A reservation holds the account's row of ``nonce_counters`` locked in a transaction of its
own, from "pick the nonce" to "the node accepted the raw transaction": one statement
creates the row if it is missing, locks it and reads the counter; the new value is written
before the commit that releases it. A process that dies holding it loses its connection,
and PostgreSQL rolls the transaction back and releases the lock, leaving the previous
value: right if the nonce was not used, and if it was broadcast the node refuses the
reused nonce and the sender resyncs (the rules of :mod:`chain_client.nonces`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

from chain_client.nonces import Held

_HOLD = text(
    "INSERT INTO nonce_counters (address, next_nonce, updated_at) "
    "VALUES (:address, NULL, now()) "
    "ON CONFLICT (address) DO UPDATE SET next_nonce = nonce_counters.next_nonce "
    "RETURNING next_nonce"
)
_STORE = text(
    "UPDATE nonce_counters SET next_nonce = :nonce, updated_at = now() WHERE address = :address"
)
_PEEK = text("SELECT next_nonce FROM nonce_counters WHERE address = :address")
_RESET_ONE = text(
    "UPDATE nonce_counters SET next_nonce = NULL, updated_at = now() WHERE address = :address"
)
_RESET_ALL = text("UPDATE nonce_counters SET next_nonce = NULL, updated_at = now()")


class PgNonceCounter:
    """Counters in ``nonce_counters``, a reservation a row lock (see the module text)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def hold(self, address: str) -> Iterator[Held]:
        with self.engine.connect() as conn:
            transaction = conn.begin()  # rolled back with the connection if the lock fails
            known = conn.execute(_HOLD, {"address": address}).scalar()

            def store(nonce: int) -> None:
                conn.execute(_STORE, {"address": address, "nonce": nonce})

            try:
                yield (None if known is None else int(known)), store
            finally:
                # what was stored stays, also when the send failed (a resynced count)
                transaction.commit()

    def peek(self, address: str) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(_PEEK, {"address": address}).scalar()
            conn.rollback()
        return None if value is None else int(value)

    def reset(self, address: str | None = None) -> None:
        with self.engine.begin() as conn:
            if address is None:
                conn.execute(_RESET_ALL)
            else:
                conn.execute(_RESET_ONE, {"address": address})
