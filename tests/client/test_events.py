"""EventReader: paging, decoding, confirmations, restart from a persisted checkpoint, reorg."""

from __future__ import annotations

import pytest

from chain_client.connection import connect
from chain_client.contract import deploy
from chain_client.encoding import to_hex
from chain_client.events import EventReader, JsonFileCheckpointStore, MemoryCheckpointStore
from tests.client.helpers import make_sender


def _adds(records):
    return [r.args["amount"] for r in records if r.event == "Added"]


def test_read_pages_and_resume_after_restart(counter, sender, w3, tmp_path):
    for amount in (1, 2, 3):
        counter.transact("add", amount)
    counter.transact("setLimit", 2_000)

    store = JsonFileCheckpointStore(tmp_path / "checkpoint.json")
    reader = EventReader(w3, counter.address, counter.abi, store, page_size=2)
    records = [e for result in reader.read_available() for e in result.events]
    assert _adds(records) == [1, 2, 3]
    limit_changes = [r.args for r in records if r.event == "LimitChanged"]
    assert limit_changes == [{"oldLimit": 1_000, "newLimit": 2_000}]
    # the constructor's event, inherited from OpenZeppelin's Ownable, is decoded too
    assert records[0].event == "OwnershipTransferred"
    assert records[0].args["newOwner"] == sender.address
    first = next(r for r in records if r.event == "Added")
    assert first.args["by"] == sender.address
    assert first.args["total"] == 1
    receipt = w3.eth.get_transaction_receipt(first.tx_hash)
    assert receipt["blockNumber"] == first.block_number
    positions = [(r.block_number, r.log_index) for r in records]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    saved = store.load()[-1]
    assert saved.block_hash == to_hex(w3.eth.get_block(saved.block_number)["hash"])

    # "restart": a new reader built only from the file continues where the old one stopped
    counter.transact("add", 4)
    counter.transact("add", 5)
    again = EventReader(w3, counter.address, counter.abi, JsonFileCheckpointStore(store.path))
    more = [e for result in again.read_available() for e in result.events]
    assert _adds(more) == [4, 5]
    assert {e.key for e in more}.isdisjoint({e.key for e in records})
    assert list(again.read_available()) == []  # caught up: nothing twice


def test_confirmations_hold_back_recent_blocks(automine_node, counter_artifact):
    w3 = connect(automine_node.rpc_url)
    sender = make_sender(w3, automine_node.dev_accounts(6)[5])
    counter = deploy(sender, counter_artifact.abi, counter_artifact.bytecode, 100)
    reader = EventReader(
        w3, counter.address, counter.abi, confirmations=3, start_block=w3.eth.block_number
    )
    counter.transact("add", 9)
    assert _adds(e for r in reader.read_available() for e in r.events) == []
    automine_node.mine(2)
    assert _adds(e for r in reader.read_available() for e in r.events) == []
    automine_node.mine(1)
    assert _adds(e for r in reader.read_available() for e in r.events) == [9]


def test_reorg_rolls_back_and_rereads(automine_node, counter_artifact):
    node = automine_node
    w3 = connect(node.rpc_url)
    sender = make_sender(w3, node.dev_accounts(5)[4])
    counter = deploy(sender, counter_artifact.abi, counter_artifact.bytecode, 1_000)
    deployed_at = w3.eth.block_number

    model: dict[tuple[str, int], tuple[int, int]] = {}  # a toy read model: key -> (block, amount)
    reorgs = []

    def undo(reorg) -> None:
        reorgs.append(reorg)
        for key in [k for k, (block, _) in model.items() if block > reorg.undo_above]:
            del model[key]

    reader = EventReader(
        w3,
        counter.address,
        counter.abi,
        MemoryCheckpointStore(),
        start_block=deployed_at,
        page_size=1,
        on_reorg=undo,
    )

    def sync() -> list:
        results = list(reader.read_available())
        for result in results:
            for e in result.events:
                if e.event == "Added":
                    model[e.key] = (e.block_number, e.args["amount"])
        return results

    counter.transact("add", 1)
    sync()
    fork_point = w3.eth.block_number
    snapshot = node.snapshot()
    counter.transact("add", 2)
    counter.transact("add", 3)
    sync()
    assert sorted(a for _, a in model.values()) == [1, 2, 3]

    assert node.revert(snapshot)
    assert w3.eth.block_number == fork_point
    sender.nonces.reset()  # the node forgot our two transactions
    counter.transact("add", 10)
    counter.transact("add", 20)
    node.mine(1)  # the new branch is longer than the old one

    results = sync()
    assert len(reorgs) == 1 and results[0].reorg == reorgs[0]
    assert reorgs[0].rollback_to is not None
    assert deployed_at <= reorgs[0].rollback_to.block_number <= fork_point
    assert sorted(a for _, a in model.values()) == [1, 10, 20]
    # the model now equals what a fresh reader sees on the canonical chain
    fresh = EventReader(w3, counter.address, counter.abi, start_block=deployed_at)
    canonical = {
        e.key: (e.block_number, e.args["amount"])
        for r in fresh.read_available()
        for e in r.events
        if e.event == "Added"
    }
    assert model == canonical
    assert counter.call("total") == 31


def test_invalid_reader_arguments(w3, counter):
    with pytest.raises(ValueError):
        EventReader(w3, counter.address, counter.abi, page_size=0)


def test_lean_decoding_matches_web3s(counter, w3):
    """Every log decoded by the reader's own decoder equals web3's get_event_data."""
    from web3._utils.events import get_event_data

    for amount in (5, 7):
        counter.transact("add", amount)
    counter.transact("setLimit", 3_000)
    reader = EventReader(w3, counter.address, counter.abi)
    assert all(layout.simple for layout in reader._layouts.values())  # not web3's fallback
    logs = w3.eth.get_logs({"address": counter.address, "fromBlock": 0, "toBlock": "latest"})
    assert len(logs) >= 4
    events = {e["name"]: e for e in counter.abi if e.get("type") == "event"}
    names = set()
    for entry in logs:
        ours = reader._decode(entry)
        assert ours is not None
        theirs = get_event_data(w3.codec, events[ours.event], entry)
        assert ours.args == dict(theirs["args"])
        assert list(ours.args) == list(theirs["args"])  # the same order too
        names.add(ours.event)
    assert {"Added", "LimitChanged", "OwnershipTransferred"} <= names
