"""The WebSocket library's DEBUG lines keep frames and headers but not the
credentials in them (finding: the first frame's PAT or session token and
the inbox sign-in cookie were logged at OPENPLUG_LOG_LEVEL=debug)."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect

from openplug.identity.agent_sessions import COOKIE_NAME
from tests.leaks.plugin import LeakCheck
from tests.leaks.registry import Secret
from tests.leaks.scan import Detector
from tests.live_server import LiveServer
from tests.realtime.test_sockets import WAIT, ws_url


async def test_socket_frames_and_credential_headers_are_logged_without_their_values(
    server: LiveServer, leak_check: LeakCheck
) -> None:
    log = leak_check.capture.path
    leak_check.capture.flush()
    start = log.stat().st_size
    cookie = "opl_web_" + "C" * 43  # what a browser would send; refused, never logged
    headers = {"Cookie": f"{COOKIE_NAME}={cookie}", "Authorization": server.pat}
    async with connect(ws_url(server, "/inbox/socket"), additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "auth", "token": server.pat}))
        async with asyncio.timeout(WAIT):
            assert json.loads(await ws.recv())["type"] == "ready"
    leak_check.capture.flush()
    with log.open(encoding="utf-8") as f:
        f.seek(start)
        lines = f.read().splitlines()

    server_lines = [line for line in lines if line.startswith("DEBUG uvicorn.error ")]
    assert any(line.endswith("< cookie: <redacted>") for line in server_lines)
    assert any(line.endswith("< authorization: <redacted>") for line in server_lines)
    assert any(line.endswith("< user-agent: " + ws.request.headers["User-Agent"])
               for line in server_lines)  # fmt: skip
    assert any(line.endswith("< TEXT [80 bytes]") for line in server_lines)
    detector = Detector([Secret("PAT", server.pat, 0), Secret("inbox sign-in", cookie, 1)])
    assert list(detector.scan_lines(lines, log.name)) == []
