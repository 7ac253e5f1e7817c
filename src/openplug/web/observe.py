"""Request ids, metrics and the access log, as one pure ASGI layer.

Outermost of the app's layers, so it sees every answer, 500s included, and
its cost is a dictionary look-up, a clock read and a Prometheus
``observe``: microseconds, where a ``BaseHTTPMiddleware`` costs a task and
a stream per request.

The request id is the client's ``X-Request-Id`` when it is a plain token
(letters, digits, ``-_.:``, at most 64), else a new one; it is echoed in
the response, carried by every log line the request causes (structlog's
context variables) and is a 500's ``reference_id``. Routes are named by
their template (``/artifacts/download/{token}``), never by the path itself,
so neither ids nor URL tokens reach a metric label or the access log, and
the query string is never looked at.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openplug.metrics import Metrics

REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID_KEY = "openplug.request_id"
UNMATCHED = "<unmatched>"
_CLIENT_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")

access_log = logging.getLogger("openplug.access")


def request_id_of(scope: Scope) -> str | None:
    found = scope.get(REQUEST_ID_KEY)
    return found if isinstance(found, str) else None


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestObserver:
    def __init__(self, app: ASGIApp, metrics: Metrics, *, log_access: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.log_access = log_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope[REQUEST_ID_KEY] = request_id
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500
        recorded = False

        def record() -> None:
            nonlocal recorded
            recorded = True
            seconds = time.perf_counter() - started
            route = route_template(scope)
            self.metrics.observe(route, scope["method"], status, seconds)
            if self.log_access:
                access_log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                    },
                )

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Recorded before the last bytes go: whoever has the
                # response can find its line and its count.
                record()
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, observed)
        finally:
            if not recorded:  # no complete response: an error, a dropped client
                record()
            structlog.contextvars.reset_contextvars(**tokens)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            if _CLIENT_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return secrets.token_hex(8)
