"""The session's log leak check, registered from ``tests/conftest.py``.

From ``pytest_configure`` to the end, every log record of the test process
(the live servers run in its threads) and of every Python child it starts
(the CLI) goes to ``<basetemp>/log-capture/``; at the end every captured
line is searched for every secret the run registered (``registry``) and
every shaped secret, and a find fails the session: the kind and the line
are printed with the secret masked.

Under pytest-xdist each worker process captures and checks its own logs and
sends what it found to the controller (``workeroutput``), which adds the
workers' findings up, prints them and fails the run.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.leaks.capture import CHILD_DIR_ENV, LogCapture, child_sitecustomize
from tests.leaks.registry import KINDS, REGISTRY, SecretRegistry
from tests.leaks.scan import Detector, Leak

# The tests' own HTTP and WebSocket clients: at DEBUG they log the test's
# side of the wire (a Set-Cookie received, an auth frame sent), as a
# browser's network log would. What the servers log is all captured.
_CLIENT_SIDE_LOGGERS = ("httpcore", "websockets.client")


@dataclass
class LeakReport:
    """What one process's check found, in a form a worker can send."""

    lines: int = 0
    files: int = 0
    directories: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    planted_found: int = 0
    missed_plants: int = 0
    leaks: list[str] = field(default_factory=list)  # masked, never the secret

    def add(self, other: LeakReport) -> None:
        self.lines += other.lines
        self.files += other.files
        self.directories += other.directories
        for kind, n in other.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n
        self.planted_found += other.planted_found
        self.missed_plants += other.missed_plants
        self.leaks += other.leaks

    @property
    def failed(self) -> bool:
        return self.missed_plants > 0 or bool(self.leaks)


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

    def report(self) -> LeakReport:
        return LeakReport(
            lines=self.lines,
            files=self.files,
            directories=[str(self.directory)],
            counts=dict(self.registry.counts()),
            planted_found=sum(1 for leak in self.leaks if leak.planted),
            missed_plants=self.missed_plants,
            leaks=[str(leak) for leak in self.leaks if not leak.planted],
        )


_KEY = pytest.StashKey[LeakCheck]()
# The whole run's findings: this process's, plus every xdist worker's.
_REPORT = pytest.StashKey[LeakReport]()


@pytest.hookimpl(trylast=True)  # after tmpdir's, which makes the basetemp
def pytest_configure(config: pytest.Config) -> None:
    if _is_xdist_controller(config):
        # It runs no test; its workers must not inherit a capture into its
        # directory (each captures, and checks, its own).
        return
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


def _is_xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))


@pytest.fixture(scope="session")
def leak_check(pytestconfig: pytest.Config) -> LeakCheck:
    return pytestconfig.stash[_KEY]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """An xdist worker has finished: add its findings to the run's."""
    sent = getattr(node, "workeroutput", {}).get("leak_check")
    if sent is not None:
        node.config.stash.setdefault(_REPORT, LeakReport()).add(LeakReport(**sent))


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    report = config.stash.setdefault(_REPORT, LeakReport())
    check = config.stash.get(_KEY, None)
    if check is not None:
        check.run()
        report.add(check.report())
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["leak_check"] = asdict(report)
    if report.failed:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    report = terminalreporter.config.stash.get(_REPORT, LeakReport())
    write = terminalreporter.write_line
    terminalreporter.section("log leak check", sep="-", bold=report.failed, red=report.failed)
    by_kind = ", ".join(f"{report.counts.get(kind.name, 0)} {kind.name}" for kind in KINDS)
    where = ", ".join(report.directories)
    write(
        f"{report.lines} log lines captured in {report.files} file(s) under {where};"
        f" {sum(report.counts.values())} secrets searched: {by_kind}"
    )
    if report.planted_found:
        write(f"{report.planted_found} planted secret(s) found, as the self-test expects")
    if report.missed_plants:
        write(f"FAILED: {report.missed_plants} planted secret(s) were NOT found", red=True)
    for leak in report.leaks[:50]:
        write(f"LEAK: {leak}", red=True)
    if len(report.leaks) > 50:
        write(f"... and {len(report.leaks) - 50} more", red=True)
    if not report.failed:
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
