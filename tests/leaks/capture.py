"""Every log record of this process, at every level, written to a file.

The record is taken where ``logging`` hands it to handlers
(``Logger.callHandlers``, after the logger's own filters): a logger with
``propagate = False`` and its own handlers (uvicorn's), the root logger and
a logger nobody configured are all seen alike, and whatever handlers are
installed or replaced later (uvicorn reconfigures logging on every start)
changes nothing. Each record is written as the message, then every
``extra`` field, then the traceback and stack, so a secret in any of them
is in the file.

Standard library only: a Python child process of the test session loads
this file by path from ``sitecustomize`` (see ``child_sitecustomize``)
before anything else, so the CLI's records are captured too.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import IO, Any

# Below DEBUG: uvicorn's TRACE (5) lines are what an operator sees with
# ``--log-level trace``, so they are captured like the rest.
CAPTURE_LEVEL = 1
CHILD_DIR_ENV = "OPENPLUG_TEST_LOG_CAPTURE_DIR"

_STANDARD_ATTRIBUTES = frozenset(
    {*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime"}
)


def format_record(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:
        # logging prints "--- Logging error ---" and drops the arguments;
        # they may hold exactly what must not be logged.
        message = f"{record.msg!r} % {record.args!r}"
    text = f"{record.levelname} {record.name} [{record.processName}/{record.threadName}] {message}"
    extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES}
    if extras:
        text += "  " + " ".join(f"{k}={_safe_repr(v)}" for k, v in extras.items())
    if record.exc_info and record.exc_info[1] is not None:
        text += "\n" + format_exception(record.exc_info[1])
    elif record.exc_text:
        text += "\n" + record.exc_text
    if record.stack_info:
        text += "\n" + record.stack_info
    return text


def format_exception(exc: BaseException) -> str:
    """``traceback.format_exception`` without CPython 3.11's carets, whose
    ``ast.parse`` is not thread-safe (a server thread and the test thread
    format tracebacks at the same time)."""
    seen: set[int] = set()
    return "".join(_format_chain(exc, seen)).rstrip("\n")


def _format_chain(exc: BaseException, seen: set[int]) -> list[str]:
    seen.add(id(exc))
    lines: list[str] = []
    if exc.__cause__ is not None and id(exc.__cause__) not in seen:
        lines += _format_chain(exc.__cause__, seen)
        lines.append("\nThe above exception was the direct cause of the following exception:\n\n")
    elif (
        exc.__context__ is not None
        and not exc.__suppress_context__
        and id(exc.__context__) not in seen
    ):
        lines += _format_chain(exc.__context__, seen)
        lines.append("\nDuring handling of the above exception, another exception occurred:\n\n")
    lines += _format_frames(exc.__traceback__)
    lines += traceback.format_exception_only(type(exc), exc)
    return lines


def _format_frames(tb: TracebackType | None) -> list[str]:
    if tb is None:
        return []
    lines = ["Traceback (most recent call last):\n"]
    for frame in traceback.extract_tb(tb):
        lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n')
        if frame.line:
            lines.append(f"    {frame.line.strip()}\n")
    return lines


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as e:
        return f"<unrepresentable {type(value).__name__}: {e!r}>"


class LogCapture:
    """Writes every record of this process to ``path`` until ``uninstall``."""

    def __init__(self, path: Path, *, flush_each: bool = False) -> None:
        self.path = path
        self.records = 0
        self._flush_each = flush_each
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._original: Any = None

    def install(self) -> LogCapture:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8", errors="backslashreplace")
        original = self._original = logging.Logger.callHandlers
        capture = self

        def call_handlers(logger: logging.Logger, record: logging.LogRecord) -> None:
            capture.write(record)
            original(logger, record)

        logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign]
        logging.getLogger().setLevel(CAPTURE_LEVEL)
        return self

    def write(self, record: logging.LogRecord) -> None:
        try:
            text = format_record(record)
        except Exception as e:  # never break the code that logged
            text = f"{record.levelname} {record.name} <capture could not format: {e!r}>"
        with self._lock:
            if self._file is None:
                return
            self._file.write(text + "\n")
            self.records += 1
            if self._flush_each:
                self._file.flush()

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def uninstall(self) -> None:
        if self._original is not None:
            logging.Logger.callHandlers = self._original  # type: ignore[method-assign]
            self._original = None
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def capture_child_process() -> None:
    """Called by the session's ``sitecustomize`` in every Python child."""
    directory = os.environ.get(CHILD_DIR_ENV)
    if not directory:
        return
    path = Path(directory) / f"process-{os.getpid()}.log"
    # Flushed record by record: a child may be killed on a timeout.
    capture = LogCapture(path, flush_each=True).install()
    atexit.register(capture.uninstall)


def child_sitecustomize() -> str:
    """The ``sitecustomize.py`` that makes Python children capture their
    logs; it then runs any ``sitecustomize`` it shadows (Debian ships one)."""
    return f'''"""Written by tests/leaks: capture this process's log records."""
import importlib.util as _util
import os as _os
import sys as _sys

_spec = _util.spec_from_file_location("_openplug_log_capture", {str(Path(__file__).resolve())!r})
_module = _util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
_module.capture_child_process()

_here = _os.path.dirname(_os.path.abspath(__file__))
_sys.path[:] = [p for p in _sys.path if _os.path.abspath(p or ".") != _here]
_this = _sys.modules.pop("sitecustomize")
try:
    import sitecustomize  # noqa: F401
except ImportError:
    _sys.modules["sitecustomize"] = _this
'''
