"""Where the network of the last `scf up` is: the profile the other `scf` commands read.

`scf up --api-port 8100` writes the API's URL, the chain's, the keys file and the data
folder to ``$XDG_CONFIG_HOME/scf/profile.json`` (``~/.config/scf/profile.json`` without
the variable), so that `scf status --as NAME` finds that network without
``--api-url --keys-file`` on every call. What is given explicitly still wins: an option,
then its environment variable (SCF_API_URL, SCF_KEYS_FILE, SCF_RPC_URL, SCF_DATA_DIR),
then the profile, then the defaults (http://127.0.0.1:8000, .data/api-keys.json).

Why in the user's configuration folder rather than the current one: `scf` is called from
anywhere, and the last network started is the one meant. The file names no secret (the
keys file it points to holds them, and keeps its own 0600), but is written owner-only
like every file `scf up` writes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from chain_client.files import atomic_write_text


class ProfileError(ValueError):
    """A profile file that cannot be read; the message says which and how to fix it."""


@dataclass(frozen=True)
class Profile:
    api_url: str
    rpc_url: str
    keys_file: Path
    data_dir: Path
    #: the key `scf` signs a self-custody organization's commands with (a key file, or an
    #: id or address in SCF_KEYSTORE); `scf up` writes its bank's own key file here
    #: (api.cli.own_signer), or set it by hand
    signing_key: str | None = None


def profile_path() -> Path:
    """``$XDG_CONFIG_HOME/scf/profile.json``, or under ``~/.config`` when the variable is
    unset or empty (the XDG Base Directory rule)."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "scf" / "profile.json"


def write_profile(profile: Profile) -> Path:
    """Save ``profile`` (paths made absolute, so it serves from any folder); returns where."""
    path = profile_path()
    data = asdict(profile)
    data["keys_file"] = str(profile.keys_file.resolve())
    data["data_dir"] = str(profile.data_dir.resolve())
    atomic_write_text(path, json.dumps(data, indent=2) + "\n", private=True)
    return path


def read_profile() -> Profile | None:
    """The saved profile, None if there is none, or ProfileError if it is damaged."""
    path = profile_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProfileError(f"the profile {path} cannot be read: {exc}") from None
    try:
        data = json.loads(text)
        return Profile(
            api_url=str(data["api_url"]),
            rpc_url=str(data["rpc_url"]),
            keys_file=Path(data["keys_file"]),
            data_dir=Path(data["data_dir"]),
            signing_key=str(data["signing_key"]) if data.get("signing_key") else None,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ProfileError(
            f"the profile {path} is damaged ({exc!r}): delete it, or run `scf up` again"
        ) from None
