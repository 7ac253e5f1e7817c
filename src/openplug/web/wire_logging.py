"""Keep credentials out of the WebSocket library's DEBUG lines.

uvicorn hands its ``uvicorn.error`` logger to the ``websockets`` protocol,
which at DEBUG logs every handshake header (``< cookie:
openplug_inbox=opl_web_...``) and every frame with its payload (``< TEXT
'{"type": "auth", "token": "opl_pat_...'``): with ``OPENPLUG_LOG_LEVEL=debug``
the inbox sign-in cookie and the first frame's PAT or session token would
reach the log. The filter keeps those lines (they are what DEBUG is for)
with a frame shown as its type and size, and a credential header's value
replaced.

A logger filter runs before any handler, however logging is configured,
and it is installed by ``create_app``: it holds whichever way the app is
served.
"""

from __future__ import annotations

import logging

# websockets' templates for one handshake header and for one frame.
_HEADER_TEMPLATES = frozenset({"< %s: %s", "> %s: %s"})
_FRAME_TEMPLATES = frozenset({"< %s", "> %s"})
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
SOCKET_LOGGERS = ("uvicorn.error", "websockets.server")


class WebSocketWireFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple):
            return True
        if record.msg in _HEADER_TEMPLATES and len(args) == 2:
            name = str(args[0])
            if name.lower() in CREDENTIAL_HEADERS:
                record.args = (name, "<redacted>")
        elif record.msg in _FRAME_TEMPLATES and len(args) == 1:
            frame = args[0]
            opcode, data = getattr(frame, "opcode", None), getattr(frame, "data", None)
            if opcode is not None and isinstance(data, bytes | bytearray | memoryview):
                record.args = (f"{getattr(opcode, 'name', opcode)} [{len(data)} bytes]",)
        return True


def install_wire_filter() -> None:
    """Idempotent: a test process creates many apps."""
    for name in SOCKET_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, WebSocketWireFilter) for f in logger.filters):
            logger.addFilter(WebSocketWireFilter())
