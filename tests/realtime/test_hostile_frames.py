"""Hostile clients on both sockets, over a real server and real WebSockets:
frames nested thousands deep, too large, binary, not UTF-8, not JSON, of the
wrong shape or types, floods. Each is answered with a close code that says
what was wrong, or with an error frame on a socket that stays open; never
1011, and never a traceback in the server's log."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openplug.realtime import CloseCode
from tests.conversations.helpers import anonymous_session, start_conversation
from tests.live_server import LiveServer, make_settings
from tests.realtime.test_sockets import (
    Client,
    agent_socket,
    conv_topic,
    raw_socket,
    visitor_socket,
)

PATHS = ["/widget/socket", "/inbox/socket"]
DEEP = 5_000
# Objects as deep as fit in the session's frame limit: still far beyond
# what the json module can parse without running out of recursion.
DEEP_OBJECTS = 2_500
# What the session reads (SessionLimits.max_frame_chars) and what the
# WebSocket layer buffers at all (ws_max_size, as ``openplug serve`` runs).
SESSION_LIMIT = 16 * 1024
TRANSPORT_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the whole module: every case opens sockets of its own."""
    data_dir: Path = tmp_path_factory.mktemp("hostile")
    settings = make_settings(data_dir, None)
    settings.new_visitors_per_address_per_hour = 0  # a fresh visitor per case
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


class ServerLog(logging.Handler):
    """Everything the server logs at WARNING or above, uvicorn's own
    (non-propagating) logger included."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def trouble(self) -> list[str]:
        return [
            f"{r.name} {r.levelname}: {r.getMessage()}"
            for r in self.records
            if r.exc_info is not None or r.levelno >= logging.ERROR
        ]


@pytest.fixture
def server_log() -> Iterator[ServerLog]:
    handler = ServerLog()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@pytest.fixture
def visitor_token(hostile_server: LiveServer) -> str:
    return str(anonymous_session(hostile_server)["session_token"])


def nested(depth: int, kind: str = "array") -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


async def closes_with(client: Client, raw: str | bytes, *, text: bool | None = None) -> int | None:
    await client.ws.send(raw, text=text)
    return await client.closed_with()


async def still_open(client: Client) -> None:
    """A ping answered: the socket is open and nothing closed it meanwhile."""
    await client.barrier()


def authenticated(server: LiveServer, path: str, visitor_token: str) -> Any:
    if path == "/widget/socket":
        return visitor_socket(server, visitor_token)
    return agent_socket(server)


# --- before the auth frame ----------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        pytest.param(nested(DEEP), CloseCode.PROTOCOL_ERROR, id="arrays-5000-deep"),
        pytest.param(
            nested(DEEP_OBJECTS, "object"), CloseCode.PROTOCOL_ERROR, id="objects-2500-deep"
        ),
        pytest.param(
            '{"type": "auth", "token": ' + nested(DEEP) + "}",
            CloseCode.PROTOCOL_ERROR,
            id="auth-with-a-deep-token",
        ),
        pytest.param(
            '{"type": "auth", "token": "' + "x" * SESSION_LIMIT + '"}',
            CloseCode.MESSAGE_TOO_BIG,
            id="over-the-session-limit",
        ),
        pytest.param(
            '{"type": "auth", "token": "' + "x" * TRANSPORT_LIMIT + '"}',
            CloseCode.MESSAGE_TOO_BIG,
            id="over-the-transport-limit",
        ),
        pytest.param("x{", CloseCode.PROTOCOL_ERROR, id="not-json"),
        pytest.param("", CloseCode.PROTOCOL_ERROR, id="empty"),
        pytest.param('{"type": "auth"', CloseCode.PROTOCOL_ERROR, id="truncated"),
        pytest.param('{"type": 5}', CloseCode.PROTOCOL_ERROR, id="type-not-a-string"),
        pytest.param("[]", CloseCode.PROTOCOL_ERROR, id="an-array"),
        pytest.param('"auth"', CloseCode.PROTOCOL_ERROR, id="a-string"),
        pytest.param("NaN", CloseCode.PROTOCOL_ERROR, id="nan"),
        pytest.param("1" * 5000, CloseCode.PROTOCOL_ERROR, id="a-5000-digit-number"),
        pytest.param('{"type": "auth", "token": 5}', CloseCode.UNAUTHORIZED, id="token-int"),
        pytest.param('{"type": "auth", "token": null}', CloseCode.UNAUTHORIZED, id="token-null"),
        pytest.param('{"type": "auth", "token": ["x"]}', CloseCode.UNAUTHORIZED, id="token-list"),
        pytest.param(
            '{"type": "auth", "token": {"a": 1}, "app_id": {"b": 2}}',
            CloseCode.UNAUTHORIZED,
            id="token-object",
        ),
        pytest.param(
            '{"type": "auth", "token": "' + "y" * 15_000 + '", "app_id": 7}',
            CloseCode.UNAUTHORIZED,
            id="token-long-junk",
        ),
        pytest.param(
            '{"type": "subscribe", "topic": "inbox"}', CloseCode.UNAUTHORIZED, id="no-auth-first"
        ),
    ],
)
async def test_hostile_first_frames_close_with_a_clear_code(
    hostile_server: LiveServer, server_log: ServerLog, path: str, raw: str, code: int
) -> None:
    async with raw_socket(hostile_server, path) as client:
        assert await closes_with(client, raw) == code
    assert not any('"ready"' in text for text in client.raw)
    assert server_log.trouble() == []


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\x00\xff\x10garbage", id="binary-garbage"),
        pytest.param(json.dumps({"type": "auth", "token": "x"}).encode(), id="binary-json"),
    ],
)
async def test_binary_frames_are_refused(
    hostile_server: LiveServer, server_log: ServerLog, path: str, raw: bytes
) -> None:
    async with raw_socket(hostile_server, path) as client:
        assert await closes_with(client, raw) == CloseCode.UNSUPPORTED_DATA
    assert server_log.trouble() == []


@pytest.mark.parametrize("path", PATHS)
async def test_a_text_frame_that_is_not_utf8_is_refused(
    hostile_server: LiveServer, server_log: ServerLog, path: str
) -> None:
    """The WebSocket layer refuses it before openplug sees it (RFC 6455:
    1007). uvicorn's sans-I/O implementation logs that with a traceback of
    its own (``uvicorn.error``), which openplug cannot change: only
    openplug's log is checked here."""
    async with raw_socket(hostile_server, path) as client:
        assert await closes_with(client, b'{"type": "\xff\xfe"}', text=True) == 1007
    assert [t for t in server_log.trouble() if not t.startswith("uvicorn.")] == []


# --- after the auth frame -----------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        pytest.param(nested(DEEP), CloseCode.PROTOCOL_ERROR, id="arrays-5000-deep"),
        pytest.param(
            '{"type": "subscribe", "topic": ' + nested(DEEP_OBJECTS, "object") + "}",
            CloseCode.PROTOCOL_ERROR,
            id="deep-topic",
        ),
        pytest.param(
            '{"type": "typing", "pad": "' + "x" * SESSION_LIMIT + '"}',
            CloseCode.MESSAGE_TOO_BIG,
            id="over-the-session-limit",
        ),
        pytest.param(
            '{"type": "ping", "pad": "' + "x" * TRANSPORT_LIMIT + '"}',
            CloseCode.MESSAGE_TOO_BIG,
            id="over-the-transport-limit",
        ),
        pytest.param('{"type": 5}', CloseCode.PROTOCOL_ERROR, id="type-5"),
        pytest.param("[]", CloseCode.PROTOCOL_ERROR, id="empty-array"),
        pytest.param('"x"', CloseCode.PROTOCOL_ERROR, id="a-string"),
        pytest.param("null", CloseCode.PROTOCOL_ERROR, id="null"),
        pytest.param("{}", CloseCode.PROTOCOL_ERROR, id="no-type"),
        pytest.param("not json at all", CloseCode.PROTOCOL_ERROR, id="not-json"),
    ],
)
async def test_hostile_frames_after_auth_close_with_a_clear_code(
    hostile_server: LiveServer,
    server_log: ServerLog,
    visitor_token: str,
    path: str,
    raw: str,
    code: int,
) -> None:
    async with authenticated(hostile_server, path, visitor_token) as client:
        assert await closes_with(client, raw) == code
    assert server_log.trouble() == []


@pytest.mark.parametrize("path", PATHS)
async def test_binary_after_auth_is_refused(
    hostile_server: LiveServer, server_log: ServerLog, visitor_token: str, path: str
) -> None:
    async with authenticated(hostile_server, path, visitor_token) as client:
        await client.ws.send(json.dumps({"type": "ping"}).encode())
        assert await client.closed_with() == CloseCode.UNSUPPORTED_DATA
    assert server_log.trouble() == []


# Frames a socket survives: (name, frame, the error frame's code). "TOPIC"
# stands for the socket's own conversation.
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("topic-object", {"type": "subscribe", "topic": {"a": 1}}, "invalid_topic"),
    ("topic-int", {"type": "subscribe", "topic": 12}, "invalid_topic"),
    ("no-topic", {"type": "subscribe"}, "invalid_topic"),
    ("topic-empty", {"type": "subscribe", "topic": ""}, "invalid_topic"),
    ("topic-long", {"type": "subscribe", "topic": "x" * 500}, "invalid_topic"),
    ("topic-space", {"type": "subscribe", "topic": "a b"}, "invalid_topic"),
    ("after_seq-string", {"type": "subscribe", "topic": "TOPIC", "after_seq": "x"},
     "invalid_after_seq"),
    ("after_seq-negative", {"type": "subscribe", "topic": "TOPIC", "after_seq": -1},
     "invalid_after_seq"),
    ("after_seq-1e308", {"type": "subscribe", "topic": "TOPIC", "after_seq": 1e308},
     "invalid_after_seq"),
    ("after_seq-float", {"type": "subscribe", "topic": "TOPIC", "after_seq": 1.5},
     "invalid_after_seq"),
    ("after_seq-bool", {"type": "subscribe", "topic": "TOPIC", "after_seq": True},
     "invalid_after_seq"),
    ("after_seq-list", {"type": "subscribe", "topic": "TOPIC", "after_seq": [1]},
     "invalid_after_seq"),
    ("after_seq-beyond-any-seq", {"type": "subscribe", "topic": "TOPIC", "after_seq": 10**30},
     "invalid_after_seq"),
    ("superscript-digit", {"type": "subscribe", "topic": "conversation:\u00b2"}, "forbidden"),
    ("arabic-indic-digit", {"type": "subscribe", "topic": "conversation:\u0661"}, "forbidden"),
    ("user-superscript", {"type": "subscribe", "topic": "user:\u00b2"}, "forbidden"),
    ("conversation-beyond-any-key",
     {"type": "subscribe", "topic": "conversation:99999999999999999999"}, "forbidden"),
    ("conversation-int32-overflow", {"type": "subscribe", "topic": "conversation:2147483648"},
     "forbidden"),
    ("conversation-negative", {"type": "subscribe", "topic": "conversation:-1"}, "forbidden"),
    ("control-topic", {"type": "subscribe", "topic": "credentials:rev_user:1"}, "forbidden"),
    ("unsub-object", {"type": "unsubscribe", "topic": {"a": 1}}, "not_subscribed"),
    ("unsub-nothing", {"type": "unsubscribe"}, "not_subscribed"),
    ("typing-object", {"type": "typing", "conversation": {"a": 1}}, "invalid_conversation"),
    ("typing-superscript", {"type": "typing", "conversation": "CONV-\u00b2"},
     "invalid_conversation"),
    ("typing-huge", {"type": "typing", "conversation": "CONV-99999999999999999999"},
     "invalid_conversation"),
    ("typing-nothing", {"type": "typing"}, "invalid_conversation"),
    ("second-auth", {"type": "auth", "token": "again"}, "unknown_type"),
    ("long-type", {"type": "x" * 1000}, "unknown_type"),
    ("nul-type", {"type": "\u0000"}, "unknown_type"),
]  # fmt: skip


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("frame", "code"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
async def test_wrong_types_after_auth_get_an_error_frame_and_the_socket_stays(
    hostile_server: LiveServer,
    server_log: ServerLog,
    visitor_token: str,
    path: str,
    frame: dict[str, Any],
    code: str,
) -> None:
    conversation = start_conversation(hostile_server, visitor_token, "mine")
    topic = conv_topic(conversation)
    if frame.get("topic") == "TOPIC":
        frame = {**frame, "topic": topic}
    async with authenticated(hostile_server, path, visitor_token) as client:
        await client.send(**frame)
        error, _ = await client.until(type="error")
        assert error["code"] == code
        # Still open and still working.
        await client.subscribe(topic)
        await still_open(client)
    assert server_log.trouble() == []


# --- floods -------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", ["subscribe", "typing", "ping"])
async def test_a_flood_of_frames_is_cut_off_and_the_server_stays_responsive(
    hostile_server: LiveServer,
    server_log: ServerLog,
    visitor_token: str,
    path: str,
    kind: str,
) -> None:
    conversation = start_conversation(hostile_server, visitor_token, "flooded")
    topic = conv_topic(conversation)
    frame = {
        "subscribe": {"type": "subscribe", "topic": topic, "after_seq": 0},
        "typing": {"type": "typing", "conversation": conversation["id"]},
        "ping": {"type": "ping"},
    }[kind]
    text = json.dumps(frame)
    async with (
        authenticated(hostile_server, path, visitor_token) as flooder,
        agent_socket(hostile_server) as bystander,
    ):
        await flooder.subscribe(topic)

        async def flood() -> None:
            for _ in range(5_000):
                await flooder.ws.send(text)

        sending = asyncio.create_task(flood())
        # The flooder reads everything it is sent, so only a limit on what
        # it sends can stop it.
        code = await flooder.closed_with()
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        assert code == CloseCode.TOO_MANY_FRAMES
        assert flooder.ws.close_reason == "too many frames: slow down"
        await still_open(bystander)
    with hostile_server.client() as http:
        assert http.get("/health").status_code == 200
    assert server_log.trouble() == []
