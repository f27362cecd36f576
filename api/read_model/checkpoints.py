"""The event reader's checkpoints, kept in the read model's database.

Why in the same database transaction as the rows they cover: a crash between "saved
progress" and "saved rows" would skip events forever (or the reverse would apply them
twice). :class:`DbCheckpointStore` writes into the session of the projector's current
step, and the step commits both together.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from api.models import IndexerCheckpoint
from chain_client.events import Checkpoint


class DbCheckpointStore:
    """CheckpointStore over the ``indexer_checkpoints`` table, in the caller's session.

    ``save`` only remembers the checkpoints; :meth:`write` puts them into the session
    just before the step commits. Why: the first write of a transaction takes SQLite's
    database-wide write lock, and a step still reads the chain after the reader saved
    its checkpoint: holding the lock through those calls stalled every command's
    journal write behind the indexer.

    The reader keeps a sliding window of checkpoints (128 blocks, for reorg detection)
    and each step moves it by a block or a page: :meth:`write` deletes and inserts only
    what changed, by block number, the table's key (rewriting all 128 rows was a sixth of
    a busy indexer's work).
    """

    def __init__(self) -> None:
        self.session: Session | None = None
        self.pending: list[Checkpoint] | None = None
        self._stored: list[Checkpoint] | None = None  # the table, in the current step
        #: the table as this store's last commit left it: the projector is the only
        #: writer, so the next step need not read it back (None: read it)
        self._committed: list[Checkpoint] | None = None

    def begin(self, session: Session) -> None:
        self.session, self.pending, self._stored = session, None, self._committed

    def end(self, committed: bool) -> None:
        """After the step's transaction: what the table now holds, if we know it."""
        self._committed = (
            (self.pending if self.pending is not None else self._stored) if committed else None
        )
        self.session, self.pending, self._stored = None, None, None

    def load(self) -> list[Checkpoint]:
        assert self.session is not None
        if self.pending is not None:
            return list(self.pending)
        if self._stored is None:
            rows = self.session.execute(
                sa_select(
                    col(IndexerCheckpoint.block_number), col(IndexerCheckpoint.block_hash)
                ).order_by(col(IndexerCheckpoint.block_number))
            ).all()
            self._stored = [Checkpoint(int(number), str(block_hash)) for number, block_hash in rows]
        return list(self._stored)

    def save(self, checkpoints: Sequence[Checkpoint]) -> None:
        assert self.session is not None
        self.pending = list(checkpoints)

    def write(self) -> None:
        """Stage the saved checkpoints in the session (the caller commits)."""
        assert self.session is not None
        if self.pending is None:
            return
        if self._stored is None:
            saved, self.pending = self.pending, None
            self.load()
            self.pending = saved
        stored = set(self._stored or ())
        wanted = set(self.pending)
        gone = [cp.block_number for cp in stored - wanted]
        if gone:
            self.session.execute(
                delete(IndexerCheckpoint).where(col(IndexerCheckpoint.block_number).in_(gone))
            )
        added = [
            {"block_number": cp.block_number, "block_hash": cp.block_hash}
            for cp in sorted(wanted - stored, key=lambda c: c.block_number)
        ]
        if added:
            self.session.execute(insert(IndexerCheckpoint), added)
