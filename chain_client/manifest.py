"""The deployment manifest: what "the ledger" is, written once at deployment.

Why a manifest: the API, the scripts and every bank's verifier must talk to the *same*
contracts, and must notice when they do not (a restarted dev chain, a redeployment, a
node of another network). The manifest pins the chain id, the addresses, the block of
deployment, the compiler and sources the code came from, and the keccak of each
contract's runtime code as read from the chain right after deployment. It also carries
the ABIs, so that a verifier needs nothing but an RPC URL and this one file.

:func:`load_manifest` checks all of that against the chain and raises
:class:`~chain_client.errors.ManifestMismatch` on any difference.

A deployment takes several transactions, and a run can die between them. Its steps go to a
partial manifest beside the manifest (:func:`partial_manifest_path`, a
:class:`DeploymentProgress`) as they happen, so that the next run finishes that deployment
instead of starting another (an orphan token on a bank's chain, issue 12). The manifest
itself is written only when the deployment is complete: everyone who reads ``manifest.json``
(the API, ``scf up``, the verifier) keeps seeing either a whole deployment or none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.types import BlockParams

from chain_client.encoding import to_hex
from chain_client.errors import ManifestError, ManifestMismatch
from chain_client.files import atomic_write_text

#: /2: the ledger's BidBook (issue 14) is part of the deployment
MANIFEST_FORMAT = "scf-ledger-manifest/2"
PROGRESS_FORMAT = "scf-ledger-deployment-progress/1"
LEDGER = "CreditLedger"
TOKEN = "SettlementToken"
#: made by the ledger's constructor: its address is read from the ledger, never chosen
BID_BOOK = "BidBook"
#: every contract of a deployment, each with an address, an ABI and a code hash
CONTRACTS = (LEDGER, TOKEN, BID_BOOK)


@dataclass(frozen=True)
class DeploymentManifest:
    """One deployment of CreditLedger (with the BidBook it made) + SettlementToken on one
    chain."""

    chain_id: int
    ledger_address: str
    token_address: str
    bid_book_address: str
    deployment_block: int  # the block that created CreditLedger (events start here)
    token_deployment_block: int
    compiler_version: str
    source_hash: str  # Compiler cache key: compiler, settings, every source, lock file
    code_hashes: dict[str, str]  # contract name -> 0x keccak of its runtime code
    deployer: str
    grace_period: int
    token_name: str
    token_symbol: str
    abis: dict[str, list[dict[str, Any]]] = field(repr=False)
    format: str = MANIFEST_FORMAT

    @property
    def ledger_abi(self) -> list[dict[str, Any]]:
        return self.abis[LEDGER]

    @property
    def token_abi(self) -> list[dict[str, Any]]:
        return self.abis[TOKEN]

    @property
    def bid_book_abi(self) -> list[dict[str, Any]]:
        return self.abis[BID_BOOK]

    def address_of(self, name: str) -> str:
        return {
            LEDGER: self.ledger_address,
            TOKEN: self.token_address,
            BID_BOOK: self.bid_book_address,
        }[name]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeploymentManifest:
        try:
            if data.get("format") != MANIFEST_FORMAT:
                raise ManifestError(
                    f"unsupported manifest format {data.get('format')!r}, "
                    f"expected {MANIFEST_FORMAT!r}"
                )
            abis = {str(k): list(v) for k, v in dict(data["abis"]).items()}
            for name in CONTRACTS:
                if name not in abis:
                    raise ManifestError(f"manifest has no ABI for {name}")
            return cls(
                chain_id=int(data["chain_id"]),
                ledger_address=to_checksum_address(data["ledger_address"]),
                token_address=to_checksum_address(data["token_address"]),
                bid_book_address=to_checksum_address(data["bid_book_address"]),
                deployment_block=int(data["deployment_block"]),
                token_deployment_block=int(data["token_deployment_block"]),
                compiler_version=str(data["compiler_version"]),
                source_hash=str(data["source_hash"]),
                code_hashes={str(k): str(v).lower() for k, v in dict(data["code_hashes"]).items()},
                deployer=to_checksum_address(data["deployer"]),
                grace_period=int(data["grace_period"]),
                token_name=str(data["token_name"]),
                token_symbol=str(data["token_symbol"]),
                abis=abis,
            )
        except ManifestError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"malformed manifest: {exc!r}") from exc

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> DeploymentManifest:
        """Parse a manifest file without touching any chain (see :func:`load_manifest`)."""
        file = Path(path)
        if not file.is_file():
            raise ManifestError(f"no deployment manifest at {file}")
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ManifestError(f"manifest {file} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ManifestError(f"manifest {file} is not a JSON object")
        return cls.from_dict(data)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Atomically replace ``path`` (a crash leaves the previous manifest intact)."""
        atomic_write_text(path, self.to_json())


def partial_manifest_path(path: str | os.PathLike[str]) -> Path:
    """Where the deployment that will write the manifest ``path`` records its steps
    (``deployments/consortium.json`` -> ``deployments/consortium.partial.json``).

    A ``.json`` name, so that a data folder's tightening (api/private_files.py) covers it.
    """
    file = Path(path)
    return file.with_name(f"{file.stem}.partial.json")


@dataclass(frozen=True)
class DeploymentStep:
    """One contract creation of a deployment in progress: pending, then landed.

    Recorded before the broadcast: the hash to wait for, the signed transaction to send
    again if the node lost it (``raw``, and the ``fields`` that were signed, so that it can
    be re-priced), and the sender and nonce, which fix the address the contract gets
    whichever copy of the transaction is mined. Once the receipt is in, ``block`` and the
    ``code_hash`` read from the chain are recorded, and the transaction itself is dropped.
    """

    sender: str
    nonce: int
    tx_hash: str
    address: str  # the CREATE address of (sender, nonce)
    raw: str | None = None  # 0x hex of the signed transaction, while pending
    fields: dict[str, Any] | None = None  # the signed fields (bytes as 0x hex), while pending
    block: int | None = None  # the block that created the contract, once landed
    code_hash: str | None = None  # keccak of its runtime code as read then, once landed

    @property
    def landed(self) -> bool:
        return self.block is not None

    def as_landed(self, tx_hash: str, block: int, code: str) -> DeploymentStep:
        return replace(
            self, tx_hash=tx_hash, raw=None, fields=None, block=block, code_hash=code.lower()
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeploymentStep:
        block = data.get("block")
        return cls(
            sender=to_checksum_address(data["sender"]),
            nonce=int(data["nonce"]),
            tx_hash=str(data["tx_hash"]),
            address=to_checksum_address(data["address"]),
            raw=None if data.get("raw") is None else str(data["raw"]),
            fields=None if data.get("fields") is None else dict(data["fields"]),
            block=None if block is None else int(block),
            code_hash=None if data.get("code_hash") is None else str(data["code_hash"]).lower(),
        )


@dataclass(frozen=True)
class DeploymentProgress:
    """The partial manifest: what a deployment was asked to do and which steps it took.

    The parameters are kept so that a rerun finishes the deployment that was started, not
    a different one over its first contracts (another operator, token name, grace period
    or source tree would leave a manifest describing contracts nobody deployed together).
    """

    chain_id: int
    deployer: str
    source_hash: str
    grace_period: int
    token_name: str
    token_symbol: str
    steps: dict[str, DeploymentStep] = field(default_factory=dict)
    format: str = PROGRESS_FORMAT

    def with_step(self, name: str, step: DeploymentStep | None) -> DeploymentProgress:
        """This progress with ``name``'s step recorded (None: forgotten, to be redone)."""
        steps = {k: v for k, v in self.steps.items() if k != name}
        if step is not None:
            steps[name] = step
        return replace(self, steps=steps)

    def differences(self, other: DeploymentProgress) -> list[str]:
        """How ``other``'s parameters differ from the ones this deployment started with."""
        mine, theirs = asdict(self), asdict(other)
        return [
            f"{key} {mine[key]!r} (this run: {theirs[key]!r})"
            for key in (
                "chain_id",
                "deployer",
                "source_hash",
                "grace_period",
                "token_name",
                "token_symbol",
            )
            if mine[key] != theirs[key]
        ]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> DeploymentProgress:
        file = Path(path)
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != PROGRESS_FORMAT:
                raise ManifestError(
                    f"partial manifest {file} is not in the format {PROGRESS_FORMAT!r}"
                )
            return cls(
                chain_id=int(data["chain_id"]),
                deployer=to_checksum_address(data["deployer"]),
                source_hash=str(data["source_hash"]),
                grace_period=int(data["grace_period"]),
                token_name=str(data["token_name"]),
                token_symbol=str(data["token_symbol"]),
                steps={
                    str(name): DeploymentStep.from_dict(step)
                    for name, step in dict(data["steps"]).items()
                },
            )
        except ManifestError:
            raise
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"partial manifest {file} is unreadable: {exc!r}") from exc

    def write(self, path: str | os.PathLike[str]) -> None:
        """Atomically replace ``path``: a crash leaves the previous step's record intact."""
        atomic_write_text(path, self.to_json())


def code_hash(w3: Web3, address: str, block: int | BlockParams = "latest") -> str:
    """0x keccak256 of the runtime code at ``address`` (keccak of b"" if there is none)."""
    code = bytes(w3.eth.get_code(to_checksum_address(address), block_identifier=block))
    return to_hex(keccak(code))


EMPTY_CODE_HASH = to_hex(keccak(b""))


def mismatches(manifest: DeploymentManifest, w3: Web3) -> list[str]:
    """Every way the chain behind ``w3`` differs from ``manifest`` (empty if none)."""
    problems: list[str] = []
    chain_id = int(w3.eth.chain_id)
    if chain_id != manifest.chain_id:
        # Nothing else is meaningful on another chain.
        return [f"chain id is {chain_id}, the manifest was written for {manifest.chain_id}"]
    for name in CONTRACTS:
        expected = manifest.code_hashes.get(name)
        actual = code_hash(w3, manifest.address_of(name))
        if actual == EMPTY_CODE_HASH:
            problems.append(f"no contract code at {name} address {manifest.address_of(name)}")
        elif expected is None or actual != expected.lower():
            problems.append(
                f"{name} at {manifest.address_of(name)} has code hash {actual}, "
                f"the manifest says {expected}"
            )
    return problems


def load_manifest(path: str | os.PathLike[str], w3: Web3) -> DeploymentManifest:
    """Read a manifest and check it against the chain; ManifestMismatch if they differ."""
    manifest = DeploymentManifest.read(path)
    problems = mismatches(manifest, w3)
    if problems:
        raise ManifestMismatch(f"manifest {path} does not match the chain: " + "; ".join(problems))
    return manifest
