"""Fixtures: real servers on loopback over real SQLite files and real
PostgreSQL databases."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.backends import postgres_database
from tests.live_server import LiveServer, make_settings

ServerFactory = Callable[..., LiveServer]

# Redis pub/sub channels are global to a Redis server: every test process
# (each pytest-xdist worker, and a second run beside this one) gets its own
# prefix, so one's realtime events never reach another's sockets. Servers
# started in the same process share it, as one deployment's processes do.
os.environ["OPENPLUG_REDIS_PREFIX"] = f"openplug-test-{os.getpid()}-{secrets.token_hex(3)}:"

# Every log line of the session is searched for every secret it made.
pytest_plugins = ["tests.leaks.plugin"]


# The files that take minutes, longest first: pytest-xdist hands out whole
# files (``--dist loadfile``) in collection order, so a long file collected
# last keeps one worker busy while the others have finished. Started first,
# they run beside the many short files instead (longest-first scheduling).
LONG_FIRST = (
    "tests/durability/",
    "tests/test_cli.py",
    "tests/e2e/",
    "tests/security/",
    "tests/faults/",
    "tests/deploy/",
    "tests/mail/",
    "tests/widget/test_credential_before_body.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Reorders whole files only (a stable sort keeps each file's own order)."""
    root = Path(str(config.rootpath))

    def rank(item: pytest.Item) -> int:
        path = Path(str(item.path)).relative_to(root).as_posix()
        return next((i for i, p in enumerate(LONG_FIRST) if path.startswith(p)), len(LONG_FIRST))

    items.sort(key=rank)


@pytest.fixture(autouse=True)
def _no_ast_in_tracebacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPython 3.11 formats traceback carets with ``ast.parse``, which is not
    thread-safe; a server thread logging a 500 while pytest reports a failure
    can kill the session with INTERNALERROR. Carets are cosmetic."""
    import traceback

    if hasattr(traceback, "_extract_caret_anchors_from_line_segment"):
        monkeypatch.setattr(traceback, "_extract_caret_anchors_from_line_segment", lambda _: None)


@pytest.fixture
def make_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Start servers on demand: ``make_server()`` on SQLite,
    ``make_server(backend="postgresql")`` on a fresh PostgreSQL database."""
    with ExitStack() as stack:

        def start(backend: str = "sqlite", **overrides: object) -> LiveServer:
            data_dir: Path = tmp_path_factory.mktemp("openplug")
            url = None
            if backend == "postgresql":
                url = stack.enter_context(postgres_database())
            settings = make_settings(data_dir, url)
            for key, value in overrides.items():
                setattr(settings, key, value)
            server = LiveServer(settings).start()
            stack.callback(server.stop)
            return server

        yield start


@pytest.fixture
def server(make_server: ServerFactory) -> LiveServer:
    """A fresh server on SQLite, the default deployment."""
    return make_server()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_server(request: pytest.FixtureRequest, make_server: ServerFactory) -> LiveServer:
    """The same test on each database backend."""
    return make_server(backend=request.param)
