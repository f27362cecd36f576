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
(without ``shared_dir``). Several processes on one machine (e.g. the API's uvicorn workers)
that sign for the same accounts pass the same ``shared_dir`` (a local directory, not
NFS): the counter of an address then lives in the file ``<shared_dir>/<address>.nonce``
(the next nonce in decimal), and :meth:`NonceManager.reserve` holds an exclusive ``flock`` on that
file for the whole block, besides the per-address thread lock. Under the lock it reads the
counter from the file (missing, empty or garbage: the node's pending count, as for a first
allocation) and on exit writes back what the in-process counter would get. Why a file:

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
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path

from web3 import Web3

from chain_client.addresses import checksum

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: only the in-process mode works
    fcntl = None  # type: ignore[assignment]

_SUFFIX = ".nonce"
_DECIMAL = re.compile(rb"\s*(\d{1,30})\s*")
#: Managers with a shared_dir, so a forked child can give them fresh thread locks.
_shared_managers: weakref.WeakSet[NonceManager] = weakref.WeakSet()


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
    """Nonces for the accounts of one process; with ``shared_dir``, of all processes that
    pass the same directory (see the module docstring)."""

    def __init__(self, w3: Web3, shared_dir: Path | str | None = None) -> None:
        self.w3 = w3
        self._next: dict[str, int] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.shared_dir = Path(shared_dir) if shared_dir is not None else None
        if self.shared_dir is not None:
            if fcntl is None:  # pragma: no cover
                raise RuntimeError("shared_dir needs fcntl.flock (POSIX)")
            self.shared_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Lock files open now (fd -> thread), see _after_fork.
            self._open: dict[int, int] = {}
            _shared_managers.add(self)

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
        With ``shared_dir`` the lock also excludes other processes and the counter is the
        address's file.
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
    def _counter(self, address: str) -> Iterator[tuple[int | None, Callable[[int], None]]]:
        """Hold ``address``'s locks; yield its next nonce if known, and how to store the
        next one (in this process's memory, or with ``shared_dir`` in its locked file)."""
        if self.shared_dir is None:
            with self._lock_for(address):
                yield self._next.get(address), partial(self._next.__setitem__, address)
            return
        with self._lock_for(address), self._file_lock(address, "reserve") as fd:
            assert fd is not None
            known, size = _read_counter(fd)
            yield known, lambda nonce: _write_counter(fd, nonce, size)

    def _path(self, address: str) -> Path:
        assert self.shared_dir is not None
        return self.shared_dir / f"{address}{_SUFFIX}"

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
        """In a forked child only the forking thread runs: thread locks held by the others
        would stay held forever, and their lock files are duplicates of the parent's."""
        self._locks = {}
        self._guard = threading.Lock()
        me = threading.get_ident()
        for fd, thread in list(self._open.items()):
            if thread != me:
                del self._open[fd]
                with suppress(OSError):
                    os.close(fd)  # closing a duplicate leaves the parent's lock alone

    def peek(self, address: str) -> int | None:
        """The expected next nonce (None before the first send, or if the file is empty)."""
        address = checksum(address)
        if self.shared_dir is None:
            return self._next.get(address)
        with self._file_lock(address, "peek") as fd:
            return None if fd is None else _read_counter(fd)[0]

    def reset(self, address: str | None = None) -> None:
        """Forget counters: the next send reads the node's count again. With
        ``shared_dir`` this empties the address's file (all files if ``address`` is None),
        under its lock, for every process."""
        with self._guard:
            if address is None:
                self._next.clear()
            else:
                self._next.pop(checksum(address), None)
        if self.shared_dir is None:
            return
        addresses: list[str]
        if address is not None:
            addresses = [checksum(address)]
        else:
            addresses = [p.name[: -len(_SUFFIX)] for p in self.shared_dir.glob(f"*{_SUFFIX}")]
        for each in addresses:
            with self._lock_for(each), self._file_lock(each, "reset") as fd:
                if fd is not None:
                    os.ftruncate(fd, 0)


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
    for manager in list(_shared_managers):
        manager._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
