"""The package's front door: the example in chain_client's docstring runs as written
against a deployed ledger, and the lazily imported public names (PEP 562) are the ones
``__all__``, the TYPE_CHECKING block and the lookup table each list."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import pytest

import chain_client
from chain_client.keystore import KeyStore
from tests.client.helpers import LedgerWorld


def _example() -> str:
    """The code block of the docstring: the indented lines after the first '::'."""
    doc = chain_client.__doc__ or ""
    block = doc.split("::\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


def test_the_docstring_example_runs(
    world: LedgerWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, fragment_id = world.issue(face_value=1_000_000)
    supplier = world.senders[2].account  # the world's supplier holds the root fragment
    store = KeyStore(
        tmp_path / "keys", scrypt_n=2**10
    )  # the file records it: load() needs no setting
    key_id = store.import_key(supplier.key, "a passphrase").id
    names = {
        "rpc_url": world.node.rpc_url,
        "manifest_path": world.manifest_path,
        "keys_dir": tmp_path / "keys",
        "key_id": key_id,
        "passphrase": "a passphrase",
        "fragment_id": fragment_id,
        "supplier_address": world.supplier2.account,
    }
    exec(compile(_example(), "chain_client.__doc__", "exec"), names)
    assert names["held"] == 1_000_000
    assert "'fragmentValue': 990000" in capsys.readouterr().out  # the refusal was caught
    assert world.operator.fragment(names["new_fragment_id"]).value == 10_000
    assert world.operator.fragment(fragment_id).value == 990_000


def test_every_public_name_is_listed_once_and_resolves() -> None:
    tree = ast.parse(inspect.getsource(chain_client))
    checked: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                checked |= {alias.name for alias in statement.names}
    assert checked == set(chain_client.__all__) == set(chain_client._HOME)
    for name in chain_client.__all__:
        value = getattr(chain_client, name)
        assert getattr(value, "__module__", chain_client._HOME[name]) == chain_client._HOME[name]
