"""One way to write a file that a crash or a concurrent reader never sees half-written.

Manifests, key files, checkpoints, the compile cache and the seeded API keys all need it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: the umask of a process that writes key material or a data folder (the API's entry
#: points, anvil and its children): new files 0600, new folders 0700
PRIVATE_UMASK = 0o077


def atomic_write_text(path: str | os.PathLike[str], text: str, *, private: bool = False) -> None:
    """Write ``text`` to a temp file beside ``path``, then rename it over ``path``.

    The temp file is created 0600 (mkstemp's mode), so the result is readable by the owner
    only; ``private`` also creates a missing folder 0700 and states the file mode
    explicitly, for key material.
    """
    file = Path(path)
    if private:
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    else:
        file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{file.name}-", dir=file.parent)
    try:
        if private:
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
