"""The README's curl examples, run as written (in the order a reader meets
them) against a live server on a fresh data directory, with ``$PAT``,
``$AAT`` and ``$APP_ID`` the server's own: an example that a newcomer pastes
must work. Each answers the status its ``# -> 201`` comment says, or a 2xx
when it says none. Examples for another host (``https://support.example.com``:
a production setting such as the inbound mail webhook) are not run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live_server import LiveServer, make_settings

README = Path(__file__).resolve().parents[1] / "README.md"
LOCAL = "http://127.0.0.1:8000"
_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
_STATUS = re.compile(r"#\s*->\s*(\d{3})\b")


@dataclass
class Example:
    line: int
    command: str
    status: int | None


def examples(text: str) -> list[Example]:
    found: list[Example] = []
    for block in _BLOCK.finditer(text):
        first_line = text.count("\n", 0, block.start()) + 2
        lines = block.group(1).splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].lstrip().startswith("curl "):
                i += 1
                continue
            start, command = i, lines[i]
            while command.rstrip().endswith("\\") or command.count("'") % 2:
                i += 1
                command += "\n" + lines[i]  # bash reads the continuation as written
            i += 1
            status = _STATUS.search(lines[i]) if i < len(lines) else None
            found.append(Example(first_line + start, command, int(status[1]) if status else None))
    return found


def test_the_readme_has_curl_examples_to_run() -> None:
    assert len([e for e in examples(README.read_text()) if LOCAL in e.command]) >= 6


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (the README's examples use it)")
    live = LiveServer(make_settings(tmp_path_factory.mktemp("readme"), None)).start()
    yield live  # type: ignore[misc]
    live.stop()


def test_every_curl_example_works_as_written(server: LiveServer) -> None:
    env = {**os.environ, "PAT": server.pat, "AAT": server.aat, "APP_ID": server.app_id}
    ran = 0
    for example in examples(README.read_text()):
        if LOCAL not in example.command:
            continue
        command = example.command.replace(LOCAL, server.base_url).replace(
            "curl ", "curl -w '\\n%{http_code}' ", 1
        )
        done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
        body, _, status = done.stdout.rpartition("\n")
        where = f"README.md line {example.line}: {example.command.splitlines()[0]}"
        assert done.returncode == 0, f"{where}\n{done.stderr}"
        if example.status is not None:
            assert int(status) == example.status, f"{where}\n-> {status} {body}"
        else:
            assert 200 <= int(status) < 300, f"{where}\n-> {status} {body}"
        ran += 1
    assert ran >= 6
