"""The session's log leak check, registered from ``tests/conftest.py``.

From ``pytest_configure`` to the end, every log record of the test process
(the live servers run in its threads) and of every Python child it starts
(the CLI) goes to ``<basetemp>/log-capture/``; at the end every captured
line is searched for every secret the run registered (``registry``) and
every shaped secret, and a find fails the session: the kind and the line
are printed with the secret masked.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.leaks.capture import CHILD_DIR_ENV, LogCapture, child_sitecustomize
from tests.leaks.registry import KINDS, REGISTRY, SecretRegistry
from tests.leaks.scan import Detector, Leak

# The tests' own HTTP and WebSocket clients: at DEBUG they log the test's
# side of the wire (a Set-Cookie received, an auth frame sent), as a
# browser's network log would. What the servers log is all captured.
_CLIENT_SIDE_LOGGERS = ("httpcore", "websockets.client")


@dataclass
class LeakCheck:
    directory: Path
    capture: LogCapture
    registry: SecretRegistry = field(default_factory=lambda: REGISTRY)
    leaks: list[Leak] = field(default_factory=list)
    missed_plants: int = 0
    lines: int = 0
    files: int = 0
    _saved_env: dict[str, str | None] = field(default_factory=dict)

    def log_files(self) -> list[Path]:
        return [self.capture.path, *sorted(self.directory.glob("process-*.log"))]

    def run(self) -> None:
        self.capture.flush()
        detector = Detector(self.registry.secrets(), planted=self.registry.planted())
        files = self.log_files()
        for path in files:
            self.leaks.extend(detector.scan_file(path))
        self.leaks.extend(self.registry.cli_findings)
        self.lines, self.files = detector.lines, len(files)
        found = {leak.secret for leak in self.leaks if leak.planted}
        self.missed_plants = len(self.registry.planted() - found)

    @property
    def failed(self) -> bool:
        return self.missed_plants > 0 or any(not leak.planted for leak in self.leaks)


_KEY = pytest.StashKey[LeakCheck]()


@pytest.hookimpl(trylast=True)  # after tmpdir's, which makes the basetemp
def pytest_configure(config: pytest.Config) -> None:
    # pytest offers the base temporary directory to fixtures only; the
    # capture has to start before the first fixture does.
    directory = config._tmp_path_factory.getbasetemp() / "log-capture"  # type: ignore[attr-defined]
    site = directory / "site"
    site.mkdir(parents=True)
    (site / "sitecustomize.py").write_text(child_sitecustomize())
    check = LeakCheck(directory, LogCapture(directory / "session.log"))
    for name, value in (
        (CHILD_DIR_ENV, str(directory)),
        ("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))),
    ):
        check._saved_env[name] = os.environ.get(name)
        os.environ[name] = value
    for name in _CLIENT_SIDE_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    check.capture.install()
    config.stash[_KEY] = check


@pytest.fixture(scope="session")
def leak_check(pytestconfig: pytest.Config) -> LeakCheck:
    return pytestconfig.stash[_KEY]


def pytest_sessionfinish(session: pytest.Session) -> None:
    check = session.config.stash[_KEY]
    check.run()
    if check.failed:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    check = terminalreporter.config.stash[_KEY]
    write = terminalreporter.write_line
    terminalreporter.section("log leak check", sep="-", bold=check.failed, red=check.failed)
    counts = check.registry.counts()
    by_kind = ", ".join(f"{counts[kind.name]} {kind.name}" for kind in KINDS)
    write(
        f"{check.lines} log lines captured in {check.files} file(s) under {check.directory};"
        f" {sum(counts.values())} secrets searched: {by_kind}"
    )
    planted = [leak for leak in check.leaks if leak.planted]
    if planted:
        write(f"{len(planted)} planted secret(s) found, as the self-test expects")
    if check.missed_plants:
        write(f"FAILED: {check.missed_plants} planted secret(s) were NOT found", red=True)
    leaks = [leak for leak in check.leaks if not leak.planted]
    for leak in leaks[:50]:
        write(f"LEAK: {leak}", red=True)
    if len(leaks) > 50:
        write(f"... and {len(leaks) - 50} more", red=True)
    if not leaks and not check.missed_plants:
        write("no secret in any log line")


def pytest_unconfigure(config: pytest.Config) -> None:
    check = config.stash.get(_KEY, None)
    if check is None:
        return
    check.capture.uninstall()
    for name, value in check._saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
