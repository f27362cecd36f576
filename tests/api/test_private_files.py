"""Secrets at rest: the master passphrase from a file the operator names (refused when others
can read it), and a data folder an older version left open tightened to its owner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.private_files import secure_folder
from api.settings import Settings


def _passphrase_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_passphrase_is_read_from_the_named_file(tmp_path: Path) -> None:
    path = _passphrase_file(tmp_path, "correct horse battery staple\n")
    settings = Settings.from_env(
        {"SCF_MASTER_PASSPHRASE_FILE": str(path), "SCF_DATA_DIR": str(tmp_path)}
    )
    assert settings.master_passphrase.get_secret_value() == "correct horse battery staple"
    # worker processes get the file's name, never the passphrase, in their environment
    env = settings.to_env()
    assert "SCF_MASTER_PASSPHRASE" not in env
    assert env["SCF_MASTER_PASSPHRASE_FILE"] == str(path)
    again = Settings.from_env(env)
    assert again.master_passphrase == settings.master_passphrase
    assert again.document_key_bytes() == settings.document_key_bytes()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_passphrase_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = _passphrase_file(tmp_path, "s3cret", mode)
    with pytest.raises(ValidationError, match=r"readable by others .*chmod 600"):
        Settings.from_env({"SCF_MASTER_PASSPHRASE_FILE": str(path)})


def test_passphrase_file_missing_empty_or_doubled_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot be read"):
        Settings.from_env({"SCF_MASTER_PASSPHRASE_FILE": str(tmp_path / "nope")})
    empty = _passphrase_file(tmp_path, "\n")
    with pytest.raises(ValidationError, match="is empty"):
        Settings.from_env({"SCF_MASTER_PASSPHRASE_FILE": str(empty)})
    path = _passphrase_file(tmp_path, "one")
    with pytest.raises(ValidationError, match="not both"):
        Settings.from_env({"SCF_MASTER_PASSPHRASE_FILE": str(path), "SCF_MASTER_PASSPHRASE": "two"})


def test_an_older_open_data_folder_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "chain").mkdir(parents=True)
    for name in ("scf-api.sqlite3", "scf-api.sqlite3-wal", "chain/state.json"):
        (data / name).write_text("x")
        os.chmod(data / name, 0o644)
    os.chmod(data / "chain", 0o755)
    os.chmod(data, 0o755)
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    os.chmod(outside, 0o644)
    (data / "link.json").symlink_to(outside)
    (data / "not-ours.txt").write_text("a file the ledger did not make")
    os.chmod(data / "not-ours.txt", 0o644)
    tightened = secure_folder(data)
    assert data in tightened and len(tightened) == 5
    assert (data / "not-ours.txt").stat().st_mode & 0o777 == 0o644  # only the ledger's own
    assert data.stat().st_mode & 0o777 == 0o700
    assert (data / "chain").stat().st_mode & 0o777 == 0o700
    for name in ("scf-api.sqlite3", "scf-api.sqlite3-wal", "chain/state.json"):
        assert (data / name).stat().st_mode & 0o777 == 0o600
    assert outside.stat().st_mode & 0o777 == 0o644  # a link's target is not touched
    assert secure_folder(data) == []
    fresh = tmp_path / "fresh" / "data"
    secure_folder(fresh)
    assert fresh.stat().st_mode & 0o777 == 0o700
