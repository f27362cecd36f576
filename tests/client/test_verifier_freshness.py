"""The verifier knows when its node is stale (issue 12): a bank's verifier run against a
node 17 blocks behind reported a settled certificate as ``ACTIVE, repaid 0`` and passed.

The stale node here is a second anvil forked from the reference at a block (it holds the
reference's blocks up to there, hash for hash, and nothing after), while the reference,
another organization's node, moves on. The wall clock is injected (``now``), so an hour-old
head costs no hour.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator

import pytest

from chain_client.connection import connect
from chain_client.freshness import (
    MIN_HEAD_AGE,
    Head,
    ReferenceComparison,
    assess,
    block_period,
    default_max_head_age,
    display_url,
    judge,
    mines_on_demand,
)
from chain_client.ledger_types import CertificateStatus, format_fragment_id
from chain_client.node import AnvilNode, free_port
from chain_client.verifier import Verifier, check_node_freshness
from chain_client.verify import main
from tests.client.helpers import DAY, LedgerWorld

FACE_VALUE = 1_000_000


@pytest.fixture(scope="module")
def certificate(world: LedgerWorld) -> tuple[int, int]:
    """(certificate id, root fragment id), maturing in a day."""
    return world.issue(face_value=FACE_VALUE, tenor_days=1)


@pytest.fixture
def reference(world: LedgerWorld) -> Iterator[LedgerWorld]:
    """The world's node as the reference; whatever a test mines there is undone after it."""
    mark = world.node.snapshot()
    yield world
    world.node.revert(mark)


@contextlib.contextmanager
def fork_of(world: LedgerWorld, *args: str) -> Iterator[AnvilNode]:
    """A node that has the reference's chain up to its head now, and nothing after."""
    head = world.w3.eth.block_number
    extra = ("--fork-url", world.node.rpc_url, "--fork-block-number", str(head), *args)
    with AnvilNode(extra_args=extra) as node:
        yield node


def head_time(node: AnvilNode) -> int:
    return int(connect(node.rpc_url).eth.get_block("latest")["timestamp"])


def cli(node: AnvilNode, world: LedgerWorld, fragment: int, *more: str) -> list[str]:
    return [
        "--rpc-url",
        node.rpc_url,
        "--manifest",
        str(world.manifest_path),
        "--fragment",
        format_fragment_id(fragment),
        *more,
    ]


# -- against real nodes ---------------------------------------------------------------------


def test_a_node_17_blocks_behind_its_reference_fails_with_its_lag(
    reference: LedgerWorld, certificate, capsys
):
    """The bank's defect: the stale node says ACTIVE, repaid 0; the verdict now fails."""
    w = reference
    cid, root = certificate
    with fork_of(w) as stale:
        stale_head = connect(stale.rpc_url).eth.block_number
        # the network settles the certificate; the stale node never hears of it
        w.travel(DAY + 1)
        w.core.repay(cid, FACE_VALUE)
        assert w.operator.certificate(cid).status == CertificateStatus.SETTLED
        w.node.mine(17 - (w.w3.eth.block_number - stale_head))
        args = cli(stale, w, root, "--reference-rpc-url", w.node.rpc_url)

        assert main([*args, "--json"]) == 1
        data = json.loads(capsys.readouterr().out)
        assert data["failed_checks"] == ["node_freshness"]
        assert data["repayment"]["status"] == "ACTIVE"  # what the stale node says
        assert data["repayment"]["repaid_fen"] == "0"
        assert data["block_number"] == stale_head
        (ref,) = data["freshness"]["references"]
        assert ref["lag_blocks"] == 17 and ref["head_number"] == stale_head + 17
        assert ref["hashes_match"] is True and ref["compared_block"] == stale_head
        assert data["freshness"]["stale"] is True and not data["freshness"]["wall_clock_applies"]

        assert main(args) == 1
        out = capsys.readouterr().out
        assert out.startswith("NOT VERIFIED")
        assert "failed check: node_freshness - 17 blocks behind reference" in out

        # allowed: the check passes, and the answer says it may be out of date
        assert main([*args, "--allow-stale"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("VERIFIED AS OF A STALE NODE")
        assert "STALE (allowed" in out and "may be out of date" in out

        # the reference, compared with the stale node, is ahead of it: current, and settled
        assert main([*cli(w.node, w, root, "--reference-rpc-url", stale.rpc_url), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["repayment"]["status"] == "SETTLED"
        assert data["freshness"]["references"][0]["lag_blocks"] == -17


def test_a_node_within_the_lag_limit_passes(reference: LedgerWorld, certificate):
    w = reference
    _cid, root = certificate
    with fork_of(w) as behind:
        w.node.mine(2)
        report = Verifier(
            connect(behind.rpc_url), w.manifest, reference_rpc_urls=[w.node.rpc_url]
        ).verify(root)
        assert report.ok, report.summary()
        assert report.freshness is not None
        assert report.freshness["references"][0]["lag_blocks"] == 2
        assert "2 block(s) behind, within the limit of 2" in report.checks[1].detail
        # a stricter limit fails the same node
        strict = Verifier(
            connect(behind.rpc_url),
            w.manifest,
            reference_rpc_urls=[w.node.rpc_url],
            max_lag_blocks=1,
        ).verify(root)
        assert [c.name for c in strict.failed] == ["node_freshness"]


def test_a_node_on_another_fork_fails_at_the_lower_head(reference: LedgerWorld, certificate):
    w = reference
    _cid, root = certificate
    with fork_of(w) as forked:
        fw3 = connect(forked.rpc_url)
        # a block of its own (a transaction the network never saw), then the network's three
        payer, payee = forked.dev_accounts(2)
        tx = fw3.eth.send_transaction({"from": payer.address, "to": payee.address, "value": 1})
        own = int(fw3.eth.wait_for_transaction_receipt(tx, timeout=30)["blockNumber"])
        w.node.mine(3)
        report = Verifier(fw3, w.manifest, reference_rpc_urls=[w.node.rpc_url]).verify(root)
        assert [c.name for c in report.failed] == ["node_freshness"]
        assert "on another fork" in report.failed[0].detail
        assert report.freshness is not None
        (ref,) = report.freshness["references"]
        assert ref["compared_block"] == own and ref["hashes_match"] is False
        assert ref["lag_blocks"] == 2  # within the lag limit: the fork is what fails it


def test_an_old_head_by_the_injected_clock_fails_the_cli(world: LedgerWorld, certificate, capsys):
    """A node that seals nothing more (``--no-mining``: not automine, so the wall clock
    applies), judged an hour after its head, a few seconds after it, and with options."""
    _cid, root = certificate
    with fork_of(world, "--no-mining") as halted:
        sealed = head_time(halted)
        args = cli(halted, world, root)

        def hour_later() -> float:
            return sealed + 3600.0

        assert main(args, now=hour_later) == 1
        out = capsys.readouterr().out
        assert out.startswith("NOT VERIFIED")
        assert "failed check: node_freshness - head" in out
        assert f"sealed 3600 s ago, over the {MIN_HEAD_AGE:g} s limit" in out

        assert main([*args, "--json"], now=hour_later) == 1
        freshness = json.loads(capsys.readouterr().out)["freshness"]
        assert freshness["wall_clock_applies"] is True and freshness["age_seconds"] == 3600
        assert freshness["head_timestamp"] == sealed and freshness["stale"] is True
        assert freshness["max_head_age_seconds"] == MIN_HEAD_AGE

        assert main([*args, "--allow-stale"], now=hour_later) == 0
        out = capsys.readouterr().out
        assert out.startswith("VERIFIED AS OF A STALE NODE") and "WARNING" in out

        assert main([*args, "--max-head-age", "7200"], now=hour_later) == 0
        assert "within the 7200 s limit (given)" in capsys.readouterr().out

        # fresh: a few seconds after its head
        assert main(args, now=lambda: sealed + 5.0) == 0
        out = capsys.readouterr().out
        assert out.startswith("VERIFIED: ") and "sealed 5 s ago" in out


def test_an_automine_chain_is_not_judged_by_the_wall_clock(world: LedgerWorld, certificate):
    """Blocks come only with transactions: an idle dev chain's head is old, its node current."""
    _cid, root = certificate
    month_later = world.now() + 30 * DAY
    report = Verifier(world.w3, world.manifest, now=lambda: month_later).verify(root)
    assert report.ok, report.summary()
    assert report.freshness is not None
    assert report.freshness["wall_clock_applies"] is False
    assert report.freshness["age_seconds"] == 30 * DAY
    assert "automines" in report.freshness["mining"]
    assert "the wall clock is not applied" in report.checks[1].detail


def test_an_unreachable_reference_fails_without_showing_its_credentials(
    world: LedgerWorld, certificate
):
    _cid, root = certificate
    # a query secret no hex digest can hold (a report shows invoice keys and hashes)
    url = f"http://bank:secret@127.0.0.1:{free_port()}/v3/apikey123?token=zqx"
    report = Verifier(world.w3, world.manifest, reference_rpc_urls=[url]).verify(root)
    assert [c.name for c in report.failed] == ["node_freshness"]
    assert "cannot compare with reference http://127.0.0.1:" in report.failed[0].detail
    text = report.to_json() + report.summary()
    assert "secret" not in text and "apikey123" not in text and "zqx" not in text


def test_the_default_limit_follows_a_sealing_chains_period():
    """A node sealing a block a second, judged by the real clock: current, its period
    measured, the limit at the floor (five 1-second periods are less)."""
    with AnvilNode(block_time=1) as node:
        w3 = connect(node.rpc_url)
        deadline = time.monotonic() + 30
        while w3.eth.block_number < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert mines_on_demand(w3, 31337)[0] is False
        fresh = assess(w3)
        assert fresh.wall_clock_applies and not fresh.stale, fresh.describe()
        assert fresh.block_period_seconds is not None and 1.0 <= fresh.block_period_seconds <= 2
        assert (fresh.max_head_age_seconds, fresh.max_head_age_source) == (MIN_HEAD_AGE, "floor")
        later = assess(w3, now=lambda: time.time() + 120)
        assert later.stale and "over the 30 s limit" in later.problems[0]


# -- with plain numbers ---------------------------------------------------------------------

HEAD = Head(number=100, hash="0x" + "ab" * 32, timestamp=1_000_000)


def test_the_block_period_is_the_median_interval():
    assert block_period([0, 3, 6, 9, 12, 9_000, 9_003]) == 3.0  # one long pause ignored
    assert block_period([50, 50, 50]) is None  # automine: many blocks in one second
    assert block_period([7]) is None
    assert default_max_head_age(15.0) == (75.0, "measured")  # five periods
    assert default_max_head_age(1.0) == (MIN_HEAD_AGE, "floor")
    assert default_max_head_age(None) == (MIN_HEAD_AGE, "floor")


def test_judge_names_each_problem_with_its_numbers():
    fresh = judge(HEAD, chain_id=5, now=HEAD.timestamp + 10, max_head_age=30)
    assert not fresh.stale and fresh.age_seconds == 10
    assert "within the 30 s limit" in fresh.describe()
    old = judge(HEAD, chain_id=5, now=HEAD.timestamp + 31, max_head_age=30)
    assert old.stale and "sealed 31 s ago, over the 30 s limit" in old.describe()
    ahead = judge(HEAD, chain_id=5, now=HEAD.timestamp - 50, max_head_age=30)
    assert not ahead.stale and "50 s ahead of this machine's clock" in ahead.describe()
    on_demand = judge(
        HEAD, chain_id=5, now=HEAD.timestamp + 10**6, max_head_age=30, wall_clock_applies=False
    )
    assert not on_demand.stale

    same = {"compared_block": 100, "our_hash": HEAD.hash, "their_hash": HEAD.hash}
    refs = [
        ReferenceComparison("http://a:1", chain_id=5, head_number=103, lag_blocks=3, **same),
        ReferenceComparison("http://b:1", chain_id=6, head_number=100, lag_blocks=0, **same),
        ReferenceComparison("http://c:1", error="ConnectionError: refused"),
        ReferenceComparison(
            "http://d:1",
            chain_id=5,
            head_number=99,
            lag_blocks=-1,
            compared_block=99,
            our_hash="0x" + "01" * 32,
            their_hash="0x" + "02" * 32,
            hashes_match=False,
        ),
    ]
    verdict = judge(HEAD, chain_id=5, now=HEAD.timestamp, max_head_age=30, references=refs)
    assert verdict.problems == [
        "3 blocks behind reference http://a:1 (its head 103, ours 100), over the limit of 2",
        "reference http://b:1 is on chain 6, this node on 5",
        "cannot compare with reference http://c:1: ConnectionError: refused",
        "block 99 is 0x0101010101... here and 0x0202020202... at reference http://d:1: this "
        "node is on another fork",
    ]
    assert not check_node_freshness(verdict).passed
    allowed = judge(
        HEAD, chain_id=5, now=HEAD.timestamp, max_head_age=30, references=refs, allow_stale=True
    )
    check = check_node_freshness(allowed)
    assert check.passed and check.detail.startswith("STALE (allowed")


def test_reported_urls_keep_only_scheme_host_and_port():
    assert display_url("https://u:pw@node.bank.cn:8545/v3/KEY?t=1") == "https://node.bank.cn:8545"
    assert display_url("http://[::1]:8545/") == "http://[::1]:8545"


def test_limits_must_make_sense(world: LedgerWorld, capsys):
    with pytest.raises(ValueError, match="max_head_age"):
        Verifier(world.w3, world.manifest, max_head_age=0)
    with pytest.raises(ValueError, match="max_lag_blocks"):
        Verifier(world.w3, world.manifest, max_lag_blocks=-1)
    never_asked = ["--rpc-url", "http://127.0.0.1:9", "--manifest", "m", "--fragment", "1/0"]
    refused_values = {"--max-head-age": ["0", "nan"], "--max-lag-blocks": ["-1"]}
    for option, value in [(o, v) for o, values in refused_values.items() for v in values]:
        with pytest.raises(SystemExit) as refused:
            main([*never_asked, option, value])
        assert refused.value.code == 2
        assert option in capsys.readouterr().err
