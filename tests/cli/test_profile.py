"""The profile `scf up` leaves for the other commands (api.cli.profile): where it is kept,
that it is owner-only, and that an option or an environment variable still wins over it.
`scf up` itself writing it is tested with the real console script in test_up.py."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from api.cli.profile import Profile, profile_path, read_profile, write_profile
from chain_client.node import free_port
from tests.cli.helpers import cli_app, make_runner


@pytest.fixture(autouse=True)
def own_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A configuration folder per test: no profile of one test is read by another."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _profile(tmp_path: Path, api_url: str) -> Profile:
    keys = tmp_path / "data" / "api-keys.json"
    keys.parent.mkdir(parents=True, exist_ok=True)
    keys.write_text(json.dumps({"Bank A": {"api_key": "k", "org_id": 3, "role": "financier"}}))
    return Profile(api_url, "http://127.0.0.1:9", keys, tmp_path / "data")


def test_kept_under_xdg_config_home_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    written = write_profile(Profile("http://127.0.0.1:8100", "r", Path("rel/keys.json"), Path(".")))
    assert written == tmp_path / "config" / "scf" / "profile.json" == profile_path()
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700
    found = read_profile()
    assert found is not None and found.api_url == "http://127.0.0.1:8100"
    assert found.keys_file == tmp_path / "rel" / "keys.json"  # absolute: serves from anywhere
    assert found.data_dir == tmp_path


def test_without_xdg_config_home_it_is_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for unset in ("", None):
        if unset is None:
            monkeypatch.delenv("XDG_CONFIG_HOME")
        else:
            monkeypatch.setenv("XDG_CONFIG_HOME", unset)
        assert profile_path() == tmp_path / ".config" / "scf" / "profile.json"
    assert read_profile() is None


def test_commands_use_it_unless_told_otherwise(tmp_path: Path) -> None:
    """Nobody listens on these ports: the unreachable message names the URL used, and a
    keys file that was found gets as far as calling."""
    profile_url, other_url = (f"http://127.0.0.1:{free_port()}" for _ in range(2))
    write_profile(_profile(tmp_path, profile_url))
    scf = make_runner(cli_app(), {"COLUMNS": "220", "SCF_API_KEY": ""})
    assert profile_url in scf("status", "--as", "Bank A", code=3).stderr
    assert other_url in scf("status", "--as", "Bank A", "--api-url", other_url, code=3).stderr
    assert other_url in scf("status", "--as", "Bank A", code=3, SCF_API_URL=other_url).stderr
    given = tmp_path / "given.json"
    assert str(given) in scf("status", "--as", "Bank A", "--keys-file", given, code=2).stderr
    assert str(given) in scf("status", "--as", "Bank A", code=2, SCF_KEYS_FILE=str(given)).stderr


def test_a_damaged_profile_is_a_usage_error_that_says_so(tmp_path: Path) -> None:
    write_profile(_profile(tmp_path, "http://127.0.0.1:1"))
    profile_path().write_text('{"api_url": "http://127.0.0.1:1"}')
    scf = make_runner(cli_app(), {"COLUMNS": "220", "SCF_API_KEY": ""})
    refused = scf("status", "--as", "Bank A", code=2)
    assert "damaged" in refused.stderr and "scf up" in refused.stderr
    # given everything it would take from the profile, the command does not read it
    url = f"http://127.0.0.1:{free_port()}"
    scf("status", "--key", "k", "--api-url", url, code=3)
