"""Files and directories only their owner may read: the data directory and
the SQLite database in it (rows hold users' details, token digests, password
hashes), next to ``secrets.json``.

Created that way on a first start (whatever the umask), and tightened on
every start, so an install made before this rule (0644 and 0755 under the
usual umask) is fixed by a restart. Only group and other bits are taken
away; the owner's stay as they are.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

# SQLite's companions of a database file; SQLite creates each with the
# database file's own mode, so a private database keeps them private.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> None:
    """``path`` exists as a directory its owner alone may enter (0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(path)


def private_sqlite_file(path: Path) -> None:
    """The database file at ``path`` exists, owner-only (0600), before SQLite
    opens it, and so do its WAL, shared-memory and journal files if any."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    for candidate in (path, *(path.with_name(path.name + s) for s in SQLITE_COMPANIONS)):
        with contextlib.suppress(FileNotFoundError):  # no WAL yet, or just removed
            _tighten(candidate)


def _tighten(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(mode & ~0o077)
