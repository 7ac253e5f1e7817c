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
    # O_EXCL: never open (and close) a database that already exists. Closing
    # any descriptor of a file drops every POSIX lock this process holds on
    # it, SQLite's included: a second Database on a file this process has
    # open (two servers in one process, a test's own connection) would
    # otherwise break the first one's WAL locks and let it read stale pages.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for candidate in (path, *(path.with_name(path.name + s) for s in SQLITE_COMPANIONS)):
        with contextlib.suppress(FileNotFoundError):  # no WAL yet, or just removed
            _tighten(candidate)


def _tighten(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(mode & ~0o077)
