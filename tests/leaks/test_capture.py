"""The capture end to end: secrets logged on purpose through real loggers,
in this process and in a child, are in the session's capture and found by
the search. Each is planted, so the session's own check must find it again
at the end (or fail) and does not count it as a leak."""

from __future__ import annotations

import logging
import secrets
import subprocess
import sys
import threading
from pathlib import Path

from tests.leaks.plugin import LeakCheck
from tests.leaks.registry import Secret
from tests.leaks.scan import Detector


def found_in(path: Path, planted: dict[str, str]) -> dict[str, str]:
    """value -> kind of the planted secrets found in ``path``."""
    detector = Detector([Secret(kind, value, n) for n, (value, kind) in enumerate(planted.items())])
    return {leak.secret: leak.kind for leak in detector.scan_file(path)}


def plant(leak_check: LeakCheck, kind: str, value: str) -> str:
    leak_check.registry.plant(kind, value)
    return value


def test_records_of_every_logger_and_level_are_captured_with_extras_and_tracebacks(
    leak_check: LeakCheck,
) -> None:
    planted = {
        plant(leak_check, "PAT", "opl_pat_" + secrets.token_urlsafe(32)): "PAT",
        plant(leak_check, "AAT", "opl_aat_" + secrets.token_urlsafe(32)): "AAT",
        plant(leak_check, "anonymous credential", "opl_anon_" + secrets.token_urlsafe(32)): (
            "anonymous credential"
        ),
        plant(leak_check, "password", secrets.token_urlsafe(15)): "password",
        plant(leak_check, "password", "planted pass phrase " + secrets.token_hex(4)): "password",
        plant(leak_check, "inbox sign-in", "opl_web_" + secrets.token_urlsafe(32)): (
            "inbox sign-in"
        ),
    }
    pat, aat, anon, generated, typed, web = planted

    # openplug's own DEBUG, as the socket code logs it.
    logging.getLogger("openplug.realtime").debug("closing a realtime socket: %r", pat)
    # A logger that does not propagate and has its own handler (as uvicorn
    # configures its loggers), at uvicorn's TRACE level.
    isolated, handler = logging.getLogger("tests.leaks.isolated"), logging.NullHandler()
    isolated.propagate = False
    isolated.addHandler(handler)
    try:
        isolated.log(5, "trace %s", aat)
        # Arguments that do not fit the message: logging drops them (a
        # handler that formats reports an error), the capture keeps them.
        isolated.warning("listener failed: %s %s", web)
    finally:
        isolated.removeHandler(handler)
    # An ``extra`` field, and a traceback whose message holds the secret.
    logging.getLogger("openplug.errors").error("internal error", extra={"credential": anon})
    try:
        raise ValueError(f"could not parse {generated}")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    # Another thread, as the server's.
    thread = threading.Thread(target=logging.getLogger("openplug").info, args=(typed,))
    thread.start()
    thread.join()

    leak_check.capture.flush()
    assert found_in(leak_check.capture.path, planted) == planted


def test_python_children_capture_their_logs_and_print_nothing_more(
    leak_check: LeakCheck,
) -> None:
    pat = plant(leak_check, "PAT", "opl_pat_" + secrets.token_urlsafe(32))
    code = "import logging, sys; logging.getLogger('openplug.cli').debug('given %s', sys.argv[1])"
    child = subprocess.Popen(
        [sys.executable, "-c", code, pat], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0 and (out, err) == ("", "")
    log = leak_check.directory / f"process-{child.pid}.log"
    assert found_in(log, {pat: "PAT"}) == {pat: "PAT"}
