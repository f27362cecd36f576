"""Per-account nonce allocation that stays correct under many threads, and optionally
under several processes on one machine.

Why not ask the node each time: two threads that both read ``pending`` count N before
either broadcast would both sign nonce N, and one transaction would be lost; and the query
is one more round trip per transaction. We hold a lock per address from "pick the nonce"
to "the node accepted the raw transaction", and keep a counter:

* the first allocation for an address reads the node's ``pending`` transaction count;
  later ones take the counter, which moves past every nonce the node accepted;
* the counter is re-read from the node only when the node says the nonce is wrong
  ("nonce too low"/"too high", or a pool slot held by a transaction that is not ours):
  the sender then calls :meth:`NonceSlot.resync`. That covers another process sending
  from the same account without a shared counter (its transactions move the node's count
  ahead of ours: our next send is refused once, resyncs, and goes out with the next free
  nonce). A counter *ahead* of the node (a node reset or restarted without its pool) is
  not refused by anvil or geth: they queue the transaction behind the gap (its wait
  times out), so after resetting a node call :meth:`NonceManager.reset`, which forgets
  the counter explicitly;
* a transaction the node *dropped* from its pool keeps its nonce: the counter does not
  move back, because the dropped transaction is still ours and :meth:`TransactionSender.wait
  <chain_client.transactions.TransactionSender.wait>` rebroadcasts it. Until then later
  transactions wait behind the gap (as they would on any node).

Within one process, all senders of an account must share one :class:`NonceManager`
(without a shared counter). Processes that sign for the same accounts share each
account's counter and its exclusive reservation through a :class:`SharedCounter`: the
manager holds the per-address thread lock, then the counter's own lock, from "pick the
nonce" to "the node accepted the raw transaction", reads the counter under it (None: the
node's pending count, as for a first allocation) and on exit stores what the in-process
counter would get. The rules above (resync on a refusal, :meth:`NonceManager.reset`) are
the manager's and hold for every counter. chain_client ships one counter,
:class:`FileCounter`, for processes of one machine; a service whose processes run on
several machines supplies its own (the API keeps its counters in PostgreSQL,
``api/nonces_pg.py``), so this package stays free of any database.

:class:`FileCounter` (``NonceManager(w3, shared_dir=...)``): processes on one machine (e.g.
the API's uvicorn workers) pass the same ``shared_dir`` (a local directory, not NFS): the
counter of an address then lives in the file ``<shared_dir>/<address>.nonce`` (the next
nonce in decimal), and a reservation holds an exclusive ``flock`` on that file for the
whole block. Under the lock it reads the counter from the file (missing, empty or
garbage: the node's pending count) and on exit writes it back. Why a file:

* the kernel releases a ``flock`` when its holder dies (killed mid-send, OOM), so no stale
  lock needs cleaning up; the file then still holds the previous value, which is right if
  the nonce was not used, and if the dead process did broadcast it the node refuses the
  reused nonce ("nonce too low", "already known", an underpriced replacement) and the
  sender resyncs;
* reading and writing a few bytes of a local file costs microseconds, while reading the
  node's pending count under a cross-process lock instead would add a round trip to every
  transaction (and the pending count alone is not enough without the lock, see above).

The lock file is opened for each reservation and closed after it, so processes share no
open file (a spawned child inherits nothing: the descriptor is close-on-exec). A child
*forked* while another thread held a reservation gets fresh thread locks and closes its
copy of that descriptor (closing a copy leaves the parent's lock alone); the parent also
unlocks explicitly before closing, so a copy kept anyway does not hold the lock.

The counter is overwritten in place (one fixed-width ``pwrite`` under the lock, readers
read only under it too) without ``fsync``. After a machine crash the file holds the last
value written, an older one, or nothing/zeros: never more than the last value written,
which never exceeds what the node had accepted (a nonce the node took, plus one, or the
node's own pending count). Nothing or garbage makes us ask the node; an older, lower value
makes the node refuse the nonce ("nonce too low" once mined; "already known" or an
underpriced replacement while still pooled) and the sender resyncs, as above. Two
caveats hold for any stale value: if the nonce is still held by a *pending* transaction
and our new fees are enough higher, the node replaces that transaction instead of refusing
(its waiter, if alive, gets :class:`~chain_client.errors.TransactionReplaced`); and a
value *higher* than the node's count is not re-learned at all (anvil and geth queue the
transaction, see above). That only happens when the node lost transactions it had
accepted (reset, restarted without its pool), and unlike the in-process counter it
survives a restart of our processes: :meth:`NonceManager.reset` empties the file, for
every process. The files are emptied, never deleted: a process may hold the lock on a file
another would unlink and re-create, and both would think they hold the lock.
"""

from __future__ import annotations

import os
import re
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Protocol

from web3 import Web3

from chain_client.addresses import checksum

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: only the in-process mode works
    fcntl = None  # type: ignore[assignment]

_SUFFIX = ".nonce"
_DECIMAL = re.compile(rb"\s*(\d{1,30})\s*")
#: Managers, so a forked child can give them (and their file counters) fresh thread locks.
_managers: weakref.WeakSet[NonceManager] = weakref.WeakSet()

#: What a counter's reservation yields: the stored next nonce (None: unknown, ask the
#: node), and how to store the next one before the reservation ends.
Held = tuple[int | None, Callable[[int], None]]


class SharedCounter(Protocol):
    """Each account's next nonce, shared by every process that signs for it, and an
    exclusive hold on it.

    :meth:`hold` excludes every other holder of the same address (in any process sharing
    the counter) until the block ends, and must release the hold if its process dies
    (a kernel ``flock``, a database row lock whose connection closes), so no stale lock
    needs cleaning up. A value stored inside the block is kept when it ends, also when it
    ends with an exception. The manager calls :meth:`hold` from one thread per address
    at a time."""

    def hold(self, address: str) -> AbstractContextManager[Held]: ...

    def peek(self, address: str) -> int | None:
        """The stored next nonce, None if unknown (read without holding)."""
        ...

    def reset(self, address: str | None = None) -> None:
        """Forget the stored counter of ``address`` (of every address if None), under
        its hold: the next reservation asks the node."""
        ...


class NonceSlot:
    """The nonce reserved for one send. Valid only inside :meth:`NonceManager.reserve`."""

    def __init__(self, manager: NonceManager, address: str, nonce: int) -> None:
        self._manager = manager
        self.address = address
        self.nonce = nonce
        self.consumed = False
        self.resynced = False

    def consume(self) -> None:
        """Mark the nonce as used (the node accepted a transaction with it)."""
        self.consumed = True

    def resync(self) -> int:
        """Re-read the node's pending count and take that as the nonce."""
        self.nonce = self._manager._pending_count(self.address)
        self.resynced = True
        return self.nonce


class NonceManager:
    """Nonces for the accounts of one process; with a shared counter (``shared_dir``: a
    :class:`FileCounter`, or ``counter``), of all processes that share it (see the module
    docstring)."""

    def __init__(
        self,
        w3: Web3,
        shared_dir: Path | str | None = None,
        *,
        counter: SharedCounter | None = None,
    ) -> None:
        if shared_dir is not None and counter is not None:
            raise ValueError("pass shared_dir or counter, not both")
        self.w3 = w3
        self._next: dict[str, int] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.shared_dir = Path(shared_dir) if shared_dir is not None else None
        self.counter: SharedCounter | None = (
            FileCounter(self.shared_dir) if self.shared_dir is not None else counter
        )
        _managers.add(self)

    @property
    def _open(self) -> dict[int, int]:
        """The file counter's lock files open now (fd -> thread)."""
        return self.counter._open if isinstance(self.counter, FileCounter) else {}

    def _lock_for(self, address: str) -> threading.Lock:
        lock = self._locks.get(address)
        if lock is None:
            with self._guard:
                lock = self._locks.setdefault(address, threading.Lock())
        return lock

    def _pending_count(self, address: str) -> int:
        return int(self.w3.eth.get_transaction_count(address, "pending"))  # type: ignore[arg-type]

    @contextmanager
    def reserve(self, address: str) -> Iterator[NonceSlot]:
        """Hold ``address``'s lock and yield its next nonce.

        If the block ends with ``slot.consume()`` called, the counter moves past the slot's
        nonce. Otherwise (an exception, or a send that was refused) the nonce is not used
        up; if the slot was resynced meanwhile, the node's count is kept as the counter.
        With a shared counter the lock also excludes the other processes sharing it, and
        the counter is theirs too.
        """
        address = checksum(address)
        with self._counter(address) as (known, store):
            slot = NonceSlot(
                self, address, known if known is not None else self._pending_count(address)
            )
            try:
                yield slot
            finally:
                if slot.consumed:
                    store(slot.nonce + 1)
                elif slot.resynced:
                    store(slot.nonce)

    @contextmanager
    def _counter(self, address: str) -> Iterator[Held]:
        """Hold ``address``'s locks; yield its next nonce if known, and how to store the
        next one (in this process's memory, or in the shared counter)."""
        with self._lock_for(address):
            if self.counter is None:
                yield self._next.get(address), partial(self._next.__setitem__, address)
                return
            with self.counter.hold(address) as held:
                yield held

    def _after_fork(self) -> None:
        """In a forked child only the forking thread runs: thread locks held by the others
        would stay held forever."""
        self._locks = {}
        self._guard = threading.Lock()
        if isinstance(self.counter, FileCounter):
            self.counter._after_fork()

    def peek(self, address: str) -> int | None:
        """The expected next nonce (None before the first send, or if the counter is
        empty)."""
        address = checksum(address)
        if self.counter is None:
            return self._next.get(address)
        return self.counter.peek(address)

    def reset(self, address: str | None = None) -> None:
        """Forget counters: the next send reads the node's count again. With a shared
        counter this empties the address's counter (every address's if ``address`` is
        None), under its lock, for every process."""
        with self._guard:
            if address is None:
                self._next.clear()
            else:
                self._next.pop(checksum(address), None)
        if self.counter is None:
            return
        if address is None:
            self.counter.reset(None)
            return
        address = checksum(address)
        with self._lock_for(address):
            self.counter.reset(address)


class FileCounter:
    """The :class:`SharedCounter` of processes on one machine: one ``flock``-ed file per
    address in ``directory`` (see the module docstring)."""

    def __init__(self, directory: Path | str) -> None:
        if fcntl is None:  # pragma: no cover
            raise RuntimeError("shared_dir needs fcntl.flock (POSIX)")
        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Lock files open now (fd -> thread), see _after_fork.
        self._open: dict[int, int] = {}

    @contextmanager
    def hold(self, address: str) -> Iterator[Held]:
        with self._file_lock(address, "reserve") as fd:
            assert fd is not None
            known, size = _read_counter(fd)
            yield known, lambda nonce: _write_counter(fd, nonce, size)

    def peek(self, address: str) -> int | None:
        with self._file_lock(address, "peek") as fd:
            return None if fd is None else _read_counter(fd)[0]

    def reset(self, address: str | None = None) -> None:
        """Empties the files, never deletes them: a process may hold the lock on a file
        another would unlink and re-create, and both would think they hold the lock."""
        if address is not None:
            addresses = [address]
        else:
            addresses = [p.name[: -len(_SUFFIX)] for p in self.directory.glob(f"*{_SUFFIX}")]
        for each in addresses:
            # flock is per open file: this waits for a reservation of this process too
            with self._file_lock(each, "reset") as fd:
                if fd is not None:
                    os.ftruncate(fd, 0)

    def _path(self, address: str) -> Path:
        return self.directory / f"{address}{_SUFFIX}"

    @contextmanager
    def _file_lock(self, address: str, mode: str) -> Iterator[int | None]:
        """The address's file, open and ``flock``-ed. ``mode``: "reserve" (create it, lock
        exclusively), "reset" (exclusively, None if missing), "peek" (shared, None if
        missing)."""
        flags = {"reserve": os.O_RDWR | os.O_CREAT, "reset": os.O_RDWR, "peek": os.O_RDONLY}
        try:
            fd = os.open(self._path(address), flags[mode] | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            if mode == "reserve":
                raise
            yield None
            return
        self._open[fd] = threading.get_ident()  # before a fork can copy it locked
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if mode == "peek" else fcntl.LOCK_EX)
            try:
                yield fd
            finally:
                # Explicitly: a child forked meanwhile may hold a duplicate of this open
                # file, which would otherwise keep the lock until the child closes it.
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._open.pop(fd, None)
            os.close(fd)

    def _after_fork(self) -> None:
        """A forked child's copies of the files other threads held are duplicates of the
        parent's: closed (closing a duplicate leaves the parent's lock alone)."""
        me = threading.get_ident()
        for fd, thread in list(self._open.items()):
            if thread != me:
                del self._open[fd]
                with suppress(OSError):
                    os.close(fd)


def _read_counter(fd: int) -> tuple[int | None, int]:
    """(the counter, or None if the file is empty or not a plain decimal number; the number
    of bytes read, at most 64)."""
    data = os.pread(fd, 64, 0)
    match = _DECIMAL.fullmatch(data)
    return (int(match.group(1)) if match else None), len(data)


def _write_counter(fd: int, value: int, size: int) -> None:
    """In place, under the caller's lock (readers only read under it too).

    Fixed width (zero-padded to 20 digits, enough for any uint64 nonce), so each write is
    one ``pwrite`` over the same bytes: no moment with an empty file, and no truncation,
    which on ext4 costs 0.15-0.3 ms and makes the next close start writeback. The file is
    cut only when it held something longer (garbage).
    """
    data = f"{value:020d}\n".encode()
    os.pwrite(fd, data, 0)
    if size > len(data):
        os.ftruncate(fd, len(data))


def _after_fork_in_child() -> None:
    for manager in list(_managers):
        manager._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
