"""The data directory and the SQLite database (with its WAL and shared-memory
files) are owner-only, whatever the umask, on a fresh install and, after a
restart, on one made before the rule."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_server import LiveServer, make_settings


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask (022), under which files used to come out 0644."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def database_files(data_dir: Path) -> list[Path]:
    db = data_dir / "openplug.db"
    return [db, *(db.with_name(db.name + s) for s in ("-wal", "-shm"))]


def test_a_fresh_install_is_owner_only(tmp_path: Path, loose_umask: None) -> None:
    data_dir = tmp_path / "data"
    server = LiveServer(make_settings(data_dir, None)).start()
    try:
        with server.client(server.aat) as c:  # a write, so the WAL is in use
            assert (
                c.post("/auth-tokens.create", json={"rev_info": {"user_ref": "u"}}).status_code
                == 201
            )
        assert mode(data_dir) == 0o700
        files = database_files(data_dir)
        assert all(f.exists() for f in files), files
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert mode(data_dir / "secrets.json") == 0o600
    finally:
        server.stop()


def test_an_existing_install_is_tightened_on_start(tmp_path: Path, loose_umask: None) -> None:
    data_dir = tmp_path / "data"
    LiveServer(make_settings(data_dir, None)).start().stop()
    # As an install made before the rule left them.
    data_dir.chmod(0o755)
    for f in database_files(data_dir):
        if f.exists():
            f.chmod(0o644)
    assert mode(data_dir / "openplug.db") == 0o644

    server = LiveServer(make_settings(data_dir, None)).start()
    try:
        assert mode(data_dir) == 0o700
        for f in database_files(data_dir):
            if f.exists():
                assert mode(f) == 0o600, f
    finally:
        server.stop()


def test_openplug_init_makes_them_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    env = {**os.environ, "OPENPLUG_DATA_DIR": str(data_dir)}
    env.pop("OPENPLUG_DATABASE_URL", None)
    r = subprocess.run(
        [sys.executable, "-c", "import os; os.umask(0o022); from openplug.cli import main; main()",
         "init", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "openplug.db") == 0o600
