"""Compile the project's Solidity sources offline, with an on-disk cache.

Why this exists beside brownie: the API service and the Python client must get ABIs and
bytecode without brownie's project machinery, and on these machines solc is only reachable
through the slow solc-js stand-in (tools/solc, several seconds per run), so results are
cached by a hash of everything that can change the output.

Why we resolve imports ourselves: we walk the import graph in Python (applying the same
remappings solc would), and hand solc *every* source unit with its content. That makes the
compilation hermetic (solc never reads the disk) and lets the cache key cover the imported
OpenZeppelin files too, not just the project's own sources.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import solcx

from chain_client.encoding import to_hex
from chain_client.errors import CompilerError
from chain_client.files import atomic_write_text

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Mirrors brownie-config.yaml (compiler.solc.remappings); kept here so the client does not
#: need brownie to compile. :func:`CompilerSettings.from_brownie_config` reads the real file.
DEFAULT_REMAPPINGS: tuple[str, ...] = (
    "@openzeppelin/=node_modules/@openzeppelin/",
    "@solvprotocol/=node_modules/@solvprotocol/",
    "node_modules/@solvprotocol/erc-3525/:@openzeppelin/="
    "node_modules/@solvprotocol/erc-3525/node_modules/@openzeppelin/",
)

_OUTPUT_SELECTION = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]

# A string literal (kept) or a comment (blanked), so commented-out imports are ignored.
_STRINGS_OR_COMMENTS = re.compile(
    r"(\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*')|(//[^\n]*|/\*.*?\*/)", re.S
)
_IMPORT = re.compile(r"\bimport\s+(?:[^;\"']*?\bfrom\s+)?[\"']([^\"']+)[\"']", re.S)


@dataclass(frozen=True)
class CompilerSettings:
    """Everything besides the sources that changes solc's output (so: part of the cache key)."""

    evm_version: str = "paris"
    optimizer_runs: int | None = 200  # None disables the optimizer
    remappings: tuple[str, ...] = DEFAULT_REMAPPINGS

    @classmethod
    def from_brownie_config(cls, path: str | os.PathLike[str]) -> CompilerSettings:
        """Read evm_version, optimizer and remappings from a brownie-config.yaml."""
        import yaml  # brownie's dependency; imported lazily as only this helper needs it

        config = yaml.safe_load(Path(path).read_text()) or {}
        compiler = config.get("compiler", {}) or {}
        solc = compiler.get("solc", {}) or {}
        optimizer = solc.get("optimizer", {}) or {}
        runs = int(optimizer.get("runs", 200)) if optimizer.get("enabled", True) else None
        remappings = solc.get("remappings") or list(DEFAULT_REMAPPINGS)
        if isinstance(remappings, str):
            remappings = [remappings]
        return cls(
            evm_version=str(compiler.get("evm_version") or "paris"),
            optimizer_runs=runs,
            remappings=tuple(str(r) for r in remappings),
        )

    def solc_settings(self) -> dict[str, Any]:
        """The ``settings`` object of a standard-JSON input."""
        settings: dict[str, Any] = {
            "evmVersion": self.evm_version,
            "optimizer": {
                "enabled": self.optimizer_runs is not None,
                "runs": self.optimizer_runs if self.optimizer_runs is not None else 200,
            },
            "remappings": list(self.remappings),
            "outputSelection": {"*": {"*": list(_OUTPUT_SELECTION)}},
        }
        return settings


@dataclass(frozen=True)
class ContractArtifact:
    """What deploying and talking to one contract needs. Bytecode is 0x-prefixed hex."""

    name: str
    source: str  # solc source unit name, e.g. "contracts/Ledger.sol"
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str

    @property
    def qualified_name(self) -> str:
        return f"{self.source}:{self.name}"

    @property
    def is_deployable(self) -> bool:
        """False for interfaces and abstract contracts (empty creation code)."""
        return len(self.bytecode) > 2


@dataclass
class CompilationResult(Mapping[str, ContractArtifact]):
    """Artifacts by contract name (and by ``source:Name`` for names that are ambiguous).

    Plain names resolve to the project's own contracts first, so a project contract may
    shadow a dependency's contract of the same name.
    """

    artifacts: dict[str, ContractArtifact]  # by qualified name
    project_sources: frozenset[str] = field(default_factory=frozenset)
    cache_key: str = ""
    from_cache: bool = False

    def _by_name(self, name: str) -> list[ContractArtifact]:
        found = [a for a in self.artifacts.values() if a.name == name]
        own = [a for a in found if a.source in self.project_sources]
        return own or found

    def __getitem__(self, key: str) -> ContractArtifact:
        if key in self.artifacts:
            return self.artifacts[key]
        found = self._by_name(key)
        if len(found) == 1:
            return found[0]
        if not found:
            raise KeyError(key)
        names = ", ".join(sorted(a.qualified_name for a in found))
        raise KeyError(f"contract name {key!r} is ambiguous: use one of {names}")

    def __iter__(self) -> Iterator[str]:
        return iter(self.artifacts)

    def __len__(self) -> int:
        return len(self.artifacts)


class Compiler:
    """Compiles every ``*.sol`` under ``contracts_dir`` (and what they import).

    ``project_root`` is the base of source unit names and of remapping targets (where
    ``node_modules`` lives). ``cache_dir`` defaults to ``<project_root>/build/chain_client``.
    """

    def __init__(
        self,
        contracts_dir: str | os.PathLike[str] = "contracts",
        *,
        project_root: str | os.PathLike[str] = PROJECT_ROOT,
        settings: CompilerSettings | None = None,
        solc_binary: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.project_root = Path(project_root).resolve()
        contracts = Path(contracts_dir)
        self.contracts_dir = (
            contracts if contracts.is_absolute() else self.project_root / contracts
        ).resolve()
        self.settings = settings or CompilerSettings()
        binary = solc_binary or os.environ.get("SCF_SOLC") or self.project_root / "tools" / "solc"
        self.solc_binary = Path(binary)
        self.cache_dir = (
            Path(cache_dir) if cache_dir else self.project_root / "build" / "chain_client"
        )
        self._remappings = [_parse_remapping(r) for r in self.settings.remappings]
        self._version: str | None = None

    # -- public ---------------------------------------------------------------------------

    def compile(self, *, use_cache: bool = True) -> CompilationResult:
        """Compile (or load from cache) and return the artifacts."""
        project = self.project_sources()
        if not project:
            raise CompilerError(f"no .sol files under {self.contracts_dir}")
        sources = self.collect_sources(project)
        key = self.cache_key(sources)
        cache_file = self.cache_dir / f"{key}.json"
        if use_cache and cache_file.is_file():
            try:
                cached = json.loads(cache_file.read_text())
                return _result_from_json(cached, frozenset(project), key, from_cache=True)
            except (ValueError, KeyError, TypeError):
                pass  # a corrupt cache entry is just a miss
        output = self._run_solc(sources)
        artifacts = _artifacts_from_output(output)
        payload = {qn: _artifact_to_json(a) for qn, a in artifacts.items()}
        atomic_write_text(cache_file, json.dumps(payload, sort_keys=True))
        return CompilationResult(artifacts, frozenset(project), key, from_cache=False)

    def project_sources(self) -> list[str]:
        """Source unit names of the project's own .sol files, sorted."""
        return sorted(self._unit_name(p) for p in self.contracts_dir.rglob("*.sol") if p.is_file())

    def collect_sources(self, roots: Iterable[str]) -> dict[str, str]:
        """The import closure of ``roots``: source unit name -> content."""
        sources: dict[str, str] = {}
        pending = list(roots)
        while pending:
            unit = pending.pop()
            if unit in sources:
                continue
            content = self._read_unit(unit)
            sources[unit] = content
            for imported in _imports_of(content):
                pending.append(self._resolve_import(unit, imported))
        return dict(sorted(sources.items()))

    def compiler_version(self) -> str:
        """The full version string the binary reports (part of the cache key)."""
        if self._version is None:
            if not self.solc_binary.exists():
                raise CompilerError(f"solc binary not found: {self.solc_binary}")
            try:
                out = subprocess.run(
                    [str(self.solc_binary), "--version"],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=60,
                ).stdout
            except (OSError, subprocess.SubprocessError) as exc:
                raise CompilerError(f"cannot run {self.solc_binary}: {exc}") from exc
            match = re.search(r"Version:\s*(\S+)", out)
            self._version = match.group(1) if match else out.strip()
        return self._version

    def cache_key(self, sources: Mapping[str, str]) -> str:
        """sha256 of compiler version, settings, every source, and package-lock.json."""
        digest = hashlib.sha256()
        digest.update(b"chain_client.compiler/1\0")
        digest.update(self.compiler_version().encode() + b"\0")
        digest.update(json.dumps(self.settings.solc_settings(), sort_keys=True).encode())
        for unit, content in sorted(sources.items()):
            digest.update(b"\0" + unit.encode() + b"\0")
            digest.update(hashlib.sha256(content.encode()).digest())
        lock = self.project_root / "package-lock.json"
        if lock.is_file():
            digest.update(b"\0package-lock\0" + hashlib.sha256(lock.read_bytes()).digest())
        return digest.hexdigest()

    # -- internals ------------------------------------------------------------------------

    def _unit_name(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.project_root).as_posix()
        except ValueError:
            return path.resolve().as_posix()  # outside the project: absolute unit name

    def _read_unit(self, unit: str) -> str:
        # Same lookup order as tools/solc: the project root, then its node_modules.
        candidates = (
            [Path(unit)]
            if posixpath.isabs(unit)
            else [self.project_root / unit, self.project_root / "node_modules" / unit]
        )
        for candidate in candidates:
            if candidate.is_file():
                return candidate.read_text(encoding="utf-8")
        raise CompilerError(f"source not found: {unit} (check remappings / npm install)")

    def _resolve_import(self, importer: str, path: str) -> str:
        if path.startswith(("./", "../")):
            path = posixpath.normpath(posixpath.join(posixpath.dirname(importer), path))
        return _apply_remappings(self._remappings, importer, path)

    def _run_solc(self, sources: Mapping[str, str]) -> dict[str, Any]:
        if not self.solc_binary.exists():
            raise CompilerError(f"solc binary not found: {self.solc_binary}")
        input_data = {
            "language": "Solidity",
            "sources": {unit: {"content": content} for unit, content in sources.items()},
            "settings": self.settings.solc_settings(),
        }
        try:
            output = solcx.compile_standard(
                input_data,
                base_path=str(self.project_root),
                allow_paths=[str(self.project_root)],
                solc_binary=self.solc_binary,
            )
        except solcx.exceptions.SolcError as exc:
            raise CompilerError(_format_solc_error(exc)) from exc
        errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
        if errors:
            raise CompilerError("\n".join(e.get("formattedMessage", str(e)) for e in errors))
        return output


def compile_contracts(
    contracts_dir: str | os.PathLike[str] = "contracts",
    *,
    project_root: str | os.PathLike[str] = PROJECT_ROOT,
    settings: CompilerSettings | None = None,
    solc_binary: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> CompilationResult:
    """Convenience wrapper: ``Compiler(...).compile()``."""
    return Compiler(
        contracts_dir,
        project_root=project_root,
        settings=settings,
        solc_binary=solc_binary,
        cache_dir=cache_dir,
    ).compile(use_cache=use_cache)


# -- helpers ------------------------------------------------------------------------------


def _parse_remapping(text: str) -> tuple[str, str, str]:
    """``[context:]prefix=target`` -> (context, prefix, target)."""
    left, sep, target = text.partition("=")
    if not sep or not left:
        raise CompilerError(f"invalid remapping: {text!r}")
    context, colon, prefix = left.partition(":")
    if not colon:
        context, prefix = "", left
    return context, prefix, target


def _apply_remappings(remappings: Sequence[tuple[str, str, str]], importer: str, path: str) -> str:
    """solc's rule: longest matching context wins, then longest matching prefix."""
    best: tuple[int, int, str, str] | None = None
    for context, prefix, target in remappings:
        if importer.startswith(context) and path.startswith(prefix):
            rank = (len(context), len(prefix))
            if best is None or rank > best[:2]:
                best = (rank[0], rank[1], prefix, target)
    if best is None:
        return path
    return best[3] + path[len(best[2]) :]


def _imports_of(source: str) -> list[str]:
    stripped = _STRINGS_OR_COMMENTS.sub(lambda m: m.group(1) or " ", source)
    return _IMPORT.findall(stripped)


def _artifacts_from_output(output: Mapping[str, Any]) -> dict[str, ContractArtifact]:
    artifacts: dict[str, ContractArtifact] = {}
    for unit, contracts in output.get("contracts", {}).items():
        for name, data in contracts.items():
            evm = data.get("evm", {})
            artifact = ContractArtifact(
                name=name,
                source=unit,
                abi=data.get("abi", []),
                bytecode=to_hex(evm.get("bytecode", {}).get("object", "")),
                deployed_bytecode=to_hex(evm.get("deployedBytecode", {}).get("object", "")),
            )
            artifacts[artifact.qualified_name] = artifact
    return artifacts


def _artifact_to_json(artifact: ContractArtifact) -> dict[str, Any]:
    return {
        "name": artifact.name,
        "source": artifact.source,
        "abi": artifact.abi,
        "bytecode": artifact.bytecode,
        "deployedBytecode": artifact.deployed_bytecode,
    }


def _result_from_json(
    payload: Mapping[str, Any], project: frozenset[str], key: str, *, from_cache: bool
) -> CompilationResult:
    artifacts = {
        qn: ContractArtifact(
            name=d["name"],
            source=d["source"],
            abi=d["abi"],
            bytecode=d["bytecode"],
            deployed_bytecode=d["deployedBytecode"],
        )
        for qn, d in payload.items()
    }
    return CompilationResult(artifacts, project, key, from_cache=from_cache)


def _format_solc_error(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 4000 else text[:4000] + " ..."
