"""The bank's verifier: a sound certificate, and each way verification must fail."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from chain_client.deployment import deploy_ledger
from chain_client.events import FinancingAccepted
from chain_client.ledger_types import (
    Certificate,
    CertificateStatus,
    Fragment,
    format_fragment_id,
    fragment_id_of,
)
from chain_client.manifest import DeploymentManifest
from chain_client.verifier import (
    CHECK_ORDER,
    AcceptedEvent,
    SplitEvent,
    Verifier,
    check_financing,
    check_lineage,
    check_repayment,
    check_value_invariant,
)
from chain_client.verify import main
from tests.client.helpers import LedgerWorld


@pytest.fixture(scope="module")
def sound(world: LedgerWorld) -> tuple[int, int, int]:
    """A certificate split three levels deep, one branch financed: (cid, leaf, financed)."""
    w = world
    cid, root = w.issue(face_value=5_000_000)
    a = w.supplier.split(root, w.supplier2.account, 2_000_000).value
    b = w.supplier2.split(a, w.supplier3.account, 500_000).value
    leaf = w.supplier3.split(b, w.supplier2.account, 100_000).value
    offer = w.supplier2.offer_financing(a, w.bank.account, 300_000, 420, w.now() + 86_400).value
    financed = w.bank.accept_offer(offer).value
    return cid, leaf, financed


def test_sound_fragment_verifies(world: LedgerWorld, sound):
    cid, leaf, financed = sound
    report = Verifier(world.w3, world.manifest).verify(leaf)
    assert report.ok, report.summary()
    assert [c.name for c in report.checks] == list(CHECK_ORDER)
    assert report.lineage[0] == leaf and report.lineage[-1] == fragment_id_of(cid, 0)
    assert len(report.lineage) == 4
    assert report.fragments_read == 5
    # the financing split off an ancestor (fragment a) is reported, not in this lineage
    assert len(report.financing) == 1 and not report.financing[0]["in_lineage"]
    data = json.loads(report.to_json())
    assert data["ok"] is True and data["failed_checks"] == []
    assert data["fragment"]["value"] == "100000"  # money as strings
    assert "VERIFIED" in report.summary()

    financed_report = Verifier(world.w3, world.manifest).verify(financed)
    assert financed_report.ok, financed_report.summary()
    assert financed_report.financing[0]["in_lineage"]
    assert financed_report.financing[0]["rate_bps"] == 420


def test_unknown_fragment_fails_exactly_there(world: LedgerWorld, sound):
    cid, _leaf, _financed = sound
    report = Verifier(world.w3, world.manifest).verify(fragment_id_of(cid, 999))
    assert not report.ok
    assert [c.name for c in report.failed] == ["fragment_exists"]
    after = [c.name for c in report.checks].index("fragment_exists") + 1
    assert all(c.skipped for c in report.checks[after:])
    assert "failed check: fragment_exists" in report.summary()


def test_manifest_pointing_at_another_ledger(world: LedgerWorld, sound, tmp_path):
    _cid, leaf, _financed = sound
    # A second, genuine ledger: its code differs (it is bound to another token).
    other = deploy_ledger(world.w3, world.senders[0], manifest_path=tmp_path / "other.json")
    doctored = dataclasses.replace(world.manifest, ledger_address=other.ledger_address)
    report = Verifier(world.w3, doctored).verify(leaf)
    assert [c.name for c in report.failed] == ["manifest"]
    assert "code hash" in report.failed[0].detail
    # Same code, wrong creation block: a ledger that was not the one deployed there.
    shifted = dataclasses.replace(
        world.manifest, deployment_block=world.manifest.deployment_block + 1
    )
    report = Verifier(world.w3, shifted).verify(leaf)
    assert [c.name for c in report.failed] == ["manifest"]
    assert "not created at block" in report.failed[0].detail


def test_wrong_chain_id(world: LedgerWorld, sound):
    _cid, leaf, _financed = sound
    report = Verifier(world.w3, dataclasses.replace(world.manifest, chain_id=1)).verify(leaf)
    assert [c.name for c in report.failed] == ["manifest"]
    assert "chain id" in report.failed[0].detail


def test_cli_exit_codes(world: LedgerWorld, sound, tmp_path, capsys):
    _cid, leaf, _financed = sound
    rpc = world.node.rpc_url
    path = str(world.manifest_path)
    assert main(["--rpc-url", rpc, "--manifest", path, "--fragment", str(leaf)]) == 0
    assert "VERIFIED" in capsys.readouterr().out
    cid_seq = format_fragment_id(leaf)  # certificate/seq, as the CLI and the API print it
    assert main(["--rpc-url", rpc, "--manifest", path, "--fragment", cid_seq, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(world.manifest_path.read_text()), "chain_id": 5}))
    assert main(["--rpc-url", rpc, "--manifest", str(bad), "--fragment", str(leaf)]) == 1
    assert "failed check: manifest" in capsys.readouterr().out
    assert main(["--rpc-url", rpc, "--manifest", str(tmp_path / "none"), "--fragment", "1/0"]) == 1
    # and as a real process, the way a bank runs it
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chain_client.verify",
            "--rpc-url",
            rpc,
            "--manifest",
            path,
            "--fragment",
            hex(leaf),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["fragment_id"] == leaf


def test_the_cli_takes_the_one_fragment_id_syntax(capsys):
    """decimal, 0x hex or certificate/seq (chain_client.ledger_types.parse_fragment_id); the
    old certificate:seq is refused before any node is asked."""
    with pytest.raises(SystemExit) as refused:
        main(["--rpc-url", "http://127.0.0.1:9", "--manifest", "m.json", "--fragment", "1:2"])
    assert refused.value.code == 2
    assert "certificate/seq" in capsys.readouterr().err


# -- check functions with doctored inputs -------------------------------------------------

CID = 7
ROOT, A, B = fragment_id_of(CID, 0), fragment_id_of(CID, 1), fragment_id_of(CID, 2)
HOLDER = "0x" + "11" * 20


def _cert(**changes) -> Certificate:
    base = Certificate(
        id=CID,
        issuer=HOLDER,
        beneficiary=HOLDER,
        credit_provider=HOLDER,
        face_value=1_000,
        maturity=10,
        issued_at=1,
        status=CertificateStatus.ACTIVE,
        fragment_count=3,
        repaid=0,
        paid_out=0,
        invoice_key=b"\x01" * 32,
        document_hash=b"\x02" * 32,
    )
    return dataclasses.replace(base, **changes)


def _fragments(**values: int) -> dict[int, Fragment]:
    v = {"root": 700, "a": 200, "b": 100, **values}
    return {
        ROOT: Fragment(ROOT, CID, None, HOLDER, v["root"], 0),
        A: Fragment(A, CID, ROOT, HOLDER, v["a"], 0),
        B: Fragment(B, CID, A, HOLDER, v["b"], 0),
    }


def _split(child: int, parent: int, block: int) -> SplitEvent:
    return SplitEvent(CID, parent, child, HOLDER, HOLDER, 1, block, 0)


ACCEPTED = [AcceptedEvent(CID, HOLDER, ROOT, 5, 0)]
SPLITS = {A: [_split(A, ROOT, 6)], B: [_split(B, A, 7)]}


def test_lineage_sound_and_doctored():
    check, path = check_lineage(B, _fragments(), SPLITS, ACCEPTED, 3)
    assert check.passed and path == [B, A, ROOT]
    # an event that names another parent
    check, _ = check_lineage(B, _fragments(), {**SPLITS, B: [_split(B, ROOT, 7)]}, ACCEPTED, 3)
    assert not check.passed and "event says parent" in check.detail
    # a missing split event, and a duplicated one
    assert (
        "0 FragmentSplit" in check_lineage(B, _fragments(), {A: SPLITS[A]}, ACCEPTED, 3)[0].detail
    )
    doubled = {**SPLITS, B: [_split(B, A, 7), _split(B, A, 8)]}
    assert "2 FragmentSplit" in check_lineage(B, _fragments(), doubled, ACCEPTED, 3)[0].detail
    # a child whose event predates its parent's
    early = {A: [_split(A, ROOT, 9)], B: [_split(B, A, 7)]}
    assert "before its parent" in check_lineage(B, _fragments(), early, ACCEPTED, 3)[0].detail
    # a parent in another certificate, and a missing parent
    frags = _fragments()
    frags[B] = dataclasses.replace(frags[B], parent_id=fragment_id_of(CID + 1, 0))
    assert not check_lineage(B, frags, SPLITS, ACCEPTED, 3)[0].passed
    frags = _fragments()
    del frags[A]
    assert "does not exist" in check_lineage(B, frags, SPLITS, ACCEPTED, 3)[0].detail
    # no acceptance of the root
    assert "CertificateAccepted" in check_lineage(B, _fragments(), SPLITS, [], 3)[0].detail


def test_value_invariant_doctored():
    cert = _cert()
    assert check_value_invariant(cert, list(_fragments().values())).passed
    assert "sum to 1001" in check_value_invariant(cert, list(_fragments(b=101).values())).detail
    zero = check_value_invariant(cert, list(_fragments(root=800, b=0).values()))
    assert not zero.passed and "zero value" in zero.detail
    missing = check_value_invariant(_cert(fragment_count=4), list(_fragments().values()))
    assert "records 4" in missing.detail


def test_repayment_and_financing_doctored():
    frags = list(_fragments().values())
    ok, status = check_repayment(_cert(), frags, frags[0], 0)
    assert ok.passed and status["outstanding_fen"] == "1000"
    over, _ = check_repayment(_cert(repaid=500, paid_out=600), frags, frags[0], 0)
    assert not over.passed and "exceeds repaid" in over.detail
    wrong_status, _ = check_repayment(
        _cert(repaid=1_000, status=CertificateStatus.ACTIVE), frags, frags[0], 0
    )
    assert not wrong_status.passed
    event = FinancingAccepted(
        1, A, HOLDER, HOLDER, B, 100_000, 1_166, 30, 98_834, block_number=8, log_index=0
    )
    good, rows = check_financing([B, A, ROOT], [event], {1: 1_400})
    assert good.passed and rows[0]["in_lineage"]
    bad, _ = check_financing([B, A, ROOT], [dataclasses.replace(event, discount=1)], {1: 1_400})
    assert not bad.passed and "do not follow the rule" in bad.detail
    none, rows = check_financing([ROOT], [], {})
    assert none.passed and rows == [] and "never financed" in none.detail


def test_manifest_file_unusable_is_reported(tmp_path):
    from chain_client.errors import ManifestError
    from chain_client.verifier import failed_manifest_report

    with pytest.raises(ManifestError):
        DeploymentManifest.read(tmp_path / "missing.json")
    report = failed_manifest_report(fragment_id_of(1, 0), ManifestError("no deployment manifest"))
    assert not report.ok and report.failed[0].name == "manifest"
