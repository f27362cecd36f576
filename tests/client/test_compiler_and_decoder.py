"""Compiler cache and remappings; revert decoding without a node."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as sel
from eth_utils import to_checksum_address

from chain_client.compiler import PROJECT_ROOT, Compiler, CompilerSettings, _apply_remappings
from chain_client.errors import CompilerError, Panic, RevertWithReason, UnknownRevert
from chain_client.reverts import error_decoder

SOURCE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
contract Tiny {
    function f() external pure returns (uint256) { return %d; }
}
"""


def _tiny_compiler(tmp_path: Path) -> Compiler:
    (tmp_path / "contracts").mkdir(exist_ok=True)
    return Compiler(
        tmp_path / "contracts",
        project_root=tmp_path,
        solc_binary=PROJECT_ROOT / "tools" / "solc",
        cache_dir=tmp_path / "cache",
    )


def test_cache_hit_and_invalidation(tmp_path):
    compiler = _tiny_compiler(tmp_path)
    (tmp_path / "contracts" / "Tiny.sol").write_text(SOURCE % 1)
    first = compiler.compile()
    assert not first.from_cache
    assert first["Tiny"].is_deployable and first["Tiny"].deployed_bytecode.startswith("0x")
    started = time.monotonic()
    second = compiler.compile()
    assert second.from_cache and time.monotonic() - started < 1.0
    assert second["Tiny"] == first["Tiny"]
    (tmp_path / "contracts" / "Tiny.sol").write_text(SOURCE % 2)
    third = compiler.compile()
    assert not third.from_cache and third.cache_key != first.cache_key
    assert third["Tiny"].bytecode != first["Tiny"].bytecode


def test_settings_change_the_key_and_errors_are_reported(tmp_path):
    compiler = _tiny_compiler(tmp_path)
    (tmp_path / "contracts" / "Tiny.sol").write_text(SOURCE % 1)
    sources = compiler.collect_sources(compiler.project_sources())
    other = Compiler(
        tmp_path / "contracts",
        project_root=tmp_path,
        settings=CompilerSettings(optimizer_runs=None),
        solc_binary=PROJECT_ROOT / "tools" / "solc",
        cache_dir=tmp_path / "cache",
    )
    assert other.cache_key(sources) != compiler.cache_key(sources)
    (tmp_path / "contracts" / "Tiny.sol").write_text("pragma solidity ^0.8.0; contract {")
    with pytest.raises(CompilerError):
        compiler.compile()


def test_imports_are_hashed_including_node_modules():
    compiler = Compiler(Path(__file__).parent / "fixtures" / "contracts")
    sources = compiler.collect_sources(compiler.project_sources())
    assert "node_modules/@openzeppelin/contracts/access/Ownable.sol" in sources
    assert "node_modules/@openzeppelin/contracts/utils/Context.sol" in sources  # relative


def test_brownie_config_remappings_are_read():
    settings = CompilerSettings.from_brownie_config(PROJECT_ROOT / "brownie-config.yaml")
    assert settings.evm_version == "paris"
    assert any(r.startswith("@openzeppelin/=") for r in settings.remappings)


def test_remapping_context_wins():
    remaps = [
        ("", "@openzeppelin/", "node_modules/@openzeppelin/"),
        ("node_modules/x/", "@openzeppelin/", "node_modules/x/node_modules/@openzeppelin/"),
    ]
    path = "@openzeppelin/contracts/a.sol"
    assert _apply_remappings(remaps, "contracts/L.sol", path) == "node_modules/" + path
    assert (
        _apply_remappings(remaps, "node_modules/x/T.sol", path)
        == "node_modules/x/node_modules/" + path
    )


ABI = [
    {
        "type": "error",
        "name": "TooLarge",
        "inputs": [
            {"name": "value", "type": "uint256"},
            {"name": "limit", "type": "uint256"},
        ],
    },
    {"type": "error", "name": "Who", "inputs": [{"name": "", "type": "address"}]},
]


def test_decoder_without_node():
    decoder = error_decoder(ABI)
    data = sel("TooLarge(uint256,uint256)") + encode(["uint256", "uint256"], [7, 5])
    exc = decoder.decode("0x" + data.hex())
    assert type(exc).__name__ == "TooLarge" and exc.args == {"value": 7, "limit": 5}
    assert exc.data == data and isinstance(exc, decoder.errors.TooLarge)
    who = decoder.decode(sel("Who(address)") + encode(["address"], ["0x" + "ab" * 20]))
    assert list(who.args) == ["arg0"]  # unnamed parameter
    assert who.args["arg0"] == to_checksum_address("0x" + "ab" * 20)
    reason = decoder.decode(sel("Error(string)") + encode(["string"], ["no"]))
    assert isinstance(reason, RevertWithReason) and reason.args == {"reason": "no"}
    panic = decoder.decode(sel("Panic(uint256)") + encode(["uint256"], [0x11]))
    assert isinstance(panic, Panic) and panic.args == {"code": 0x11}
    assert isinstance(decoder.decode(b""), UnknownRevert)
    assert isinstance(decoder.decode(b"\x01\x02\x03\x04"), UnknownRevert)
    # right selector, truncated payload: reported, not crashed
    assert isinstance(decoder.decode(data[:10]), UnknownRevert)
    assert error_decoder([dict(e) for e in ABI]).errors.TooLarge is decoder.errors.TooLarge
