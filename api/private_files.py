"""The data folder and the secret files an operator names are their owner's only.

What the data folder holds is worth a lot to another local user (README, "What the data
folder is worth"): the SQLite database with every organization's records and the API key
hashes, the encrypted signing keys, the chain state. So the folder is 0700 and everything
in it 0600 (folders 0700): not only what we write ourselves but what SQLite (-wal, -shm),
anvil (the state dump), lock files and sockets create, which is why the two entry points
(`scf up` and ``python -m api``) also set the process umask to 077 before anything is
created. A folder made by an older version (0755, files 0644) is tightened on start.

A passphrase file is read only if nobody but its owner can read it: one left readable by
the group or everyone is refused (the passphrase would already be out), as ssh refuses a
private key with such a mode.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from pathlib import Path

from chain_client.files import PRIVATE_UMASK

#: what the ledger keeps in a data folder, this version or an older one (the database and
#: its -wal/-shm/-journal, lock files, sockets, secrets.json, api-keys.json, manifest.json,
#: the demo passphrase, and the folders of keys, nonces and the chain). Tightening touches
#: these only: a data folder set to a folder holding other things too (a home directory,
#: say) gets the folder itself made 0700, which already shuts others out, and the ledger's
#: own files fixed, not everything else in it.
OWN_ENTRIES = (
    "scf-api.sqlite3*",
    "*.lock",
    "*.sock",
    "*.json",
    "master-passphrase",
    "keys",
    "nonces",
    "chain",
    "operator",
    "bank-signer",  # the demo bank's own key and passphrase (api.cli.own_signer)
)


def restrict_new_files() -> int:
    """Make every file this process creates from now on owner-only; the previous umask."""
    return os.umask(PRIVATE_UMASK)


def secure_folder(folder: Path) -> list[Path]:
    """Create ``folder`` 0700 if missing, and take group and other permissions off it and
    off the ledger's entries in it (:data:`OWN_ENTRIES`, everything inside their folders;
    symbolic links are left alone, not followed). Returns what was tightened, so the caller
    can say that an older folder was fixed."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = [folder]
    for entry in sorted(folder.iterdir()):
        if not any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in OWN_ENTRIES):
            continue
        paths.append(entry)
        if entry.is_dir() and not entry.is_symlink():
            paths += _walk(entry)
    return [path for path in paths if _tighten(path)]


def secure_file(path: Path) -> bool:
    """Take group and other permissions off one file if it exists (e.g. a SQLite database
    kept outside the data folder); whether it had any."""
    return path.exists() and _tighten(path)


def read_secret_file(path: Path, what: str = "the passphrase file") -> str:
    """The secret in ``path`` (one trailing line break dropped). Refused, with a sentence
    saying why, if the file is readable by anyone but its owner, missing or empty."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ValueError(f"{what} {path} cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{what} {path} is not a regular file")
    if info.st_mode & 0o077:
        raise ValueError(
            f"{what} {path} is readable by others (mode "
            f"{stat.S_IMODE(info.st_mode):04o}): `chmod 600 {path}`, and "
            "consider the secret known"
        )
    value = path.read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
    if not value:
        raise ValueError(f"{what} {path} is empty")
    return value


def _walk(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        found += [Path(root, name) for name in [*dirs, *files]]
    return found


def _tighten(path: Path) -> bool:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or not info.st_mode & 0o077:
        return False
    os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o077)
    return True
