"""NonceManager(shared_dir=...): several OS processes sending from the same account.

The processes here are real ones (``subprocess``, a fresh interpreter, as uvicorn's
spawned workers are), against a real anvil. Without the shared counter two processes
only survive each other (refused sends, resyncs); with it no nonce is ever refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path

import pytest

from chain_client.addresses import checksum
from chain_client.connection import connect
from chain_client.node import AnvilNode
from chain_client.nonces import NonceManager
from tests.client.helpers import make_sender

ROOT = Path(__file__).resolve().parents[2]

# One worker process: N zero-value transfers from the account, from a few threads, through
# its own NonceManager on the shared directory. Says "ready" once imported and connected,
# starts on a line from stdin (so both processes really send at the same time), and prints
# the nonces it got, the node reads of its manager and any error as JSON.
SENDER_SCRIPT = """
import json, sys, threading
from eth_account import Account
from chain_client.addresses import checksum
from chain_client.connection import connect
from chain_client.nonces import NonceManager
from chain_client.transactions import TransactionSender

rpc_url, key, shared_dir, to = sys.argv[1:5]
threads_n, per_thread = int(sys.argv[5]), int(sys.argv[6])
w3 = connect(rpc_url)
manager = NonceManager(w3, shared_dir=shared_dir)
reads = []
real_count = manager._pending_count

def counting(address):
    reads.append(address)
    return real_count(address)

manager._pending_count = counting
sender = TransactionSender(
    w3, Account.from_key(key), nonce_manager=manager, poll_interval=0.05, timeout=30
)
sender.chain_id
print("ready", flush=True)
sys.stdin.readline()
sent, errors = [], []

def work():
    try:
        pendings = [sender.submit({"to": to, "value": 0}) for _ in range(per_thread)]
        for p in pendings:
            receipt = sender.wait(p)
            sent.append([p.nonce, p.tx_hash, int(receipt["status"])])
    except Exception as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=work) for _ in range(threads_n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"sent": sent, "errors": errors, "node_reads": len(reads)}), flush=True)
"""

# Holds a reservation and never leaves the block: killed by the test mid-send.
HOLDER_SCRIPT = """
import sys, time
from chain_client.addresses import checksum
from chain_client.connection import connect
from chain_client.nonces import NonceManager

rpc_url, address, shared_dir = sys.argv[1:4]
manager = NonceManager(connect(rpc_url), shared_dir=shared_dir)
with manager.reserve(address) as slot:
    print(slot.nonce, flush=True)
    time.sleep(60)
"""


def _python(script: str, *args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def _counter_file(shared: Path, address: str) -> Path:
    return shared / f"{address}.nonce"


def _stored(path: Path) -> int:
    return int(path.read_text())


def _locked_elsewhere(path: Path) -> bool:
    """Whether some open file description holds a flock on ``path``."""
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@pytest.fixture(scope="module")
def anvil():
    with AnvilNode() as node:
        yield node


def _counting(manager: NonceManager) -> list[str]:
    """Record every time ``manager`` asks the node for the pending count."""
    reads: list[str] = []
    real = manager._pending_count

    def counting(address: str) -> int:
        reads.append(address)
        return real(address)

    manager._pending_count = counting  # type: ignore[method-assign]
    return reads


# -- several processes ----------------------------------------------------------------------


@pytest.mark.parametrize("block_time", [None, 1], ids=["automine", "block_time_1"])
def test_two_processes_share_one_account(tmp_path, block_time):
    """Two processes x 3 threads x 5 transfers from one account, at the same time: 30
    distinct nonces 0..29, all mined, and no send was ever refused for its nonce (the node
    was asked for the pending count once in all, for the very first allocation)."""
    shared = tmp_path / "nonces"
    with AnvilNode(block_time=block_time) as node:
        w3 = connect(node.rpc_url)
        account, receiver = node.dev_accounts(2)
        workers = [
            _python(SENDER_SCRIPT, node.rpc_url, account.key.hex(), shared, receiver.address, 3, 5)
            for _ in range(2)
        ]
        try:
            for worker in workers:
                assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write("go\n")
                worker.stdin.flush()
            outputs = [worker.communicate(timeout=60)[0] for worker in workers]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
        assert [worker.returncode for worker in workers] == [0, 0]
        results = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
        assert [r["errors"] for r in results] == [[], []]
        assert [len(r["sent"]) for r in results] == [15, 15]
        sent = [tx for r in results for tx in r["sent"]]
        assert sorted(nonce for nonce, _hash, _status in sent) == list(range(30))
        assert len({tx_hash for _nonce, tx_hash, _status in sent}) == 30
        assert all(status == 1 for _nonce, _hash, status in sent)
        for _nonce, tx_hash, _status in sent:
            assert w3.eth.get_transaction_receipt(tx_hash)["from"] == account.address
        assert sum(r["node_reads"] for r in results) == 1  # no resync, ever
        assert w3.eth.get_transaction_count(account.address, "latest") == 30
        assert _counter_file(shared, account.address).read_text() == f"{30:020d}\n"
        assert NonceManager(w3, shared_dir=shared).peek(account.address) == 30
    assert stat_mode(shared) == 0o700
    assert stat_mode(_counter_file(shared, account.address)) == 0o600


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_process_killed_mid_send_releases_the_lock(anvil, tmp_path):
    """The kernel drops the flock of a dead process; the file keeps the previous value
    (the dead process never consumed its nonce), and the next send uses it."""
    shared = tmp_path / "nonces"
    w3 = connect(anvil.rpc_url)
    account = anvil.dev_accounts(3)[2]
    sender = make_sender(w3, account, nonce_manager=NonceManager(w3, shared_dir=shared))
    sender.send({"to": account.address, "value": 0})
    before = w3.eth.get_transaction_count(account.address)
    path = _counter_file(shared, account.address)
    assert _stored(path) == before

    holder = _python(HOLDER_SCRIPT, anvil.rpc_url, account.address, shared)
    try:
        assert holder.stdout is not None
        assert int(holder.stdout.readline()) == before
        assert _locked_elsewhere(path)
        # Our own reservation waits for it (in a thread, so the test can go on).
        got: list[int] = []

        def reserve() -> None:
            with sender.nonces.reserve(account.address) as slot:
                got.append(slot.nonce)

        waiter = threading.Thread(target=reserve)
        waiter.start()
        time.sleep(0.3)
        assert got == []
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        waiter.join(timeout=10)
        assert got == [before]
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert not _locked_elsewhere(path)
    assert _stored(path) == before
    pending = sender.submit({"to": account.address, "value": 0})
    assert pending.nonce == before
    assert sender.wait(pending)["status"] == 1
    assert _stored(path) == before + 1


# -- the file's content ---------------------------------------------------------------------


@pytest.mark.parametrize("content", ["garbage", "", "-3\n", "1e3", "\x00\x00", "9" * 100])
def test_unreadable_counter_asks_the_node(anvil, tmp_path, content):
    shared = tmp_path / "nonces"
    w3 = connect(anvil.rpc_url)
    account = anvil.dev_accounts(4)[3]
    manager = NonceManager(w3, shared_dir=shared)
    reads = _counting(manager)
    sender = make_sender(w3, account, nonce_manager=manager)
    _counter_file(shared, account.address).write_text(content)
    assert manager.peek(account.address) is None
    start = w3.eth.get_transaction_count(account.address, "pending")
    receipt = sender.send({"to": account.address, "value": 0})
    assert receipt["status"] == 1
    assert w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == start
    assert reads == [account.address]  # the node's count, once; no refusal
    assert manager.peek(account.address) == start + 1
    assert _counter_file(shared, account.address).read_text() == f"{start + 1:020d}\n"


def test_counter_behind_the_node_resyncs(anvil, tmp_path):
    """A stale, lower value (an old file, or one that lost its last write in a crash): the
    node refuses the nonce ("nonce too low"), the sender resyncs once, and the file is
    right again."""
    shared = tmp_path / "nonces"
    w3 = connect(anvil.rpc_url)
    account = anvil.dev_accounts(5)[4]
    manager = NonceManager(w3, shared_dir=shared)
    sender = make_sender(w3, account, nonce_manager=manager)
    for _ in range(3):
        sender.send({"to": account.address, "value": 0})
    mined = w3.eth.get_transaction_count(account.address)
    assert manager.peek(account.address) == mined
    _counter_file(shared, account.address).write_text(f"{mined - 2}\n")
    # A new process (this sender would recognize nonce mined-2 with identical fields as
    # bytes it broadcast itself, and count that old transaction as sent).
    manager = NonceManager(w3, shared_dir=shared)
    reads = _counting(manager)
    sender = make_sender(w3, account, nonce_manager=manager)
    receipt = sender.send({"to": account.address, "value": 0})
    assert receipt["status"] == 1
    assert w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == mined
    assert reads == [account.address]  # the resync after the refusal
    assert manager.peek(account.address) == mined + 1


def test_counter_ahead_of_the_node_is_queued_until_reset(anvil, tmp_path):
    """A value above the node's count (only if the node lost transactions it had
    accepted): anvil does not refuse it with "nonce too high", it queues the transaction
    behind the gap (as geth does), so the sender cannot notice. ``reset`` empties the
    file, for every process, and the next send asks the node."""
    shared = tmp_path / "nonces"
    w3 = connect(anvil.rpc_url)
    account = anvil.dev_accounts(6)[5]
    manager = NonceManager(w3, shared_dir=shared)
    sender = make_sender(w3, account, nonce_manager=manager)
    mined = w3.eth.get_transaction_count(account.address)
    path = _counter_file(shared, account.address)
    path.write_text(f"{mined + 5}\n")

    queued = sender.submit({"to": account.address, "value": 0})
    assert queued.nonce == mined + 5  # accepted, not refused
    anvil.mine()
    assert w3.eth.get_transaction_count(account.address, "pending") == mined
    assert w3.eth.get_transaction_count(account.address) == mined
    assert int(anvil.rpc("txpool_status")["queued"], 16) >= 1
    assert manager.peek(account.address) == mined + 6  # and the counter moves on

    other = NonceManager(w3, shared_dir=shared)  # think: another process
    other.reset(account.address)
    assert path.read_text() == ""
    assert manager.peek(account.address) is None
    receipt = sender.send({"to": account.address, "value": 0})
    assert w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == mined
    assert manager.peek(account.address) == mined + 1
    anvil.rpc("anvil_dropTransaction", [queued.tx_hash])


def test_reset_all_and_peek_without_a_file(anvil, tmp_path):
    shared = tmp_path / "nonces"
    w3 = connect(anvil.rpc_url)
    manager = NonceManager(w3, shared_dir=shared)
    a, b = (account.address for account in anvil.dev_accounts(9)[7:9])
    assert manager.peek(a) is None
    assert not _counter_file(shared, a).exists()  # peek creates nothing
    _counter_file(shared, a).write_text("12\n")
    _counter_file(shared, b).write_text("34\n")
    assert (manager.peek(a), manager.peek(b.lower())) == (12, 34)
    manager.reset()
    assert (manager.peek(a), manager.peek(b)) == (None, None)
    assert _counter_file(shared, a).exists()  # emptied, not deleted (see the module doc)


def test_a_block_that_fails_keeps_or_resyncs_the_file(tmp_path):
    """As the in-process counter: an exception leaves the counter alone, unless the slot
    was resynced, whose count is kept. No node needed: the file holds a valid value."""
    shared = tmp_path / "nonces"
    manager = NonceManager(None, shared_dir=shared)  # type: ignore[arg-type]
    manager._pending_count = lambda address: 9  # type: ignore[method-assign]
    address = "0x" + "ab" * 20
    path = shared / f"{checksum(address)}.nonce"
    path.write_text("5\n")
    with pytest.raises(RuntimeError), manager.reserve(address) as slot:
        assert slot.nonce == 5
        raise RuntimeError("broadcast failed")
    assert manager.peek(address) == 5
    with pytest.raises(RuntimeError), manager.reserve(address) as slot:
        assert slot.resync() == 9
        raise RuntimeError("broadcast failed again")
    assert manager.peek(address) == 9
    with manager.reserve(address) as slot:
        assert slot.nonce == 9
    assert manager.peek(address) == 9  # not consumed: unchanged
    assert not _locked_elsewhere(path)


# -- fork -----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_forked_child_gets_fresh_thread_locks_and_leaves_the_parents_flock(anvil, tmp_path):
    """A thread holds a reservation while another thread forks. In the child the thread
    lock is free (its holder does not exist there), the file's flock is still the
    parent's (the child's duplicate was closed, not unlocked), and the child can reserve
    once the parent is done."""
    shared = tmp_path / "nonces"
    manager = NonceManager(connect(anvil.rpc_url), shared_dir=shared)
    address = anvil.dev_accounts(8)[7].address
    path = _counter_file(shared, address)
    path.write_text("7\n")
    entered, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with manager.reserve(address) as slot:
            slot.consume()
            entered.set()
            leave.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert entered.wait(10)
    to_child, from_parent = os.pipe()
    from_child, to_parent = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: plain calls only, then os._exit
        ok = False
        try:
            os.close(from_parent)
            os.close(from_child)
            lock = manager._lock_for(address)
            if lock.acquire(blocking=False):  # would block forever without the fork hook
                lock.release()
                ok = manager._open == {}
            ok = ok and _locked_elsewhere(path)  # the parent still holds the flock
            os.write(to_parent, b"1" if ok else b"0")
            if ok:
                os.read(to_child, 1)  # the parent has left its block
                with manager.reserve(address) as slot:
                    ok = slot.nonce == 8
        finally:
            os._exit(0 if ok else 1)
    os.close(to_child)
    os.close(to_parent)
    try:
        child_saw = os.read(from_child, 1)
        assert _locked_elsewhere(path)  # the child's copy was closed, not unlocked
    finally:
        leave.set()
        holder.join(10)
        with suppress(BrokenPipeError):  # the child may have given up already
            os.write(from_parent, b"x")
        os.close(from_parent)
        os.close(from_child)
        status = _reap(pid, timeout=10)
    assert child_saw == b"1"
    assert status == 0
    assert _stored(path) == 8


def _reap(pid: int, timeout: float) -> int:
    """The child's exit code; killed (and -9) if it is not done in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
