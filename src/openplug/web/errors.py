"""The one place where errors become HTTP responses.

Unexpected exceptions become a 500 with a ``reference_id`` that is also in
the server log, so an operator can find the traceback; the client sees no
stack trace, SQL or secret. They are answered by ``InternalErrors``, the
outermost middleware, rather than by Starlette's handler for ``Exception``:
that one re-raises after answering, so the server logged the traceback
twice more and closed the keep-alive connection of every 500.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openplug.errors import ApiError, TooManyRequests
from openplug.web.observe import request_id_of, route_template
from openplug.web.validation import error_from_pydantic

log = logging.getLogger("openplug.errors")

_HTTP_TYPES = {404: "not_found", 405: "bad_request", 401: "unauthenticated", 403: "forbidden"}


class ApiErrorWhileReading(StarletteHTTPException):
    """An ``ApiError`` raised while a request's body is read (by
    ``text_guard``). FastAPI lets only HTTP exceptions out of its body
    reading (anything else becomes a bare "error parsing the body"), so
    the error travels inside one and is answered as itself. ``body`` is what
    was read, for a caller that still looks at it (the widget's calls find
    the ``app_id`` to check the visitor's token against first)."""

    def __init__(self, error: ApiError, body: bytes) -> None:
        super().__init__(error.status_code, error.message)
        self.error = error
        self.body = body


def api_error_response(error: ApiError) -> JSONResponse:
    headers = None
    if isinstance(error, TooManyRequests):
        headers = {"Retry-After": str(error.retry_after)}
    return JSONResponse(error.body(), status_code=error.status_code, headers=headers)


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return api_error_response(exc)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    error = error_from_pydantic(dict(errors[0]), from_fastapi=True)
    if len(errors) > 1:
        error.detail = f"{len(errors) - 1} more problem(s) in this request"
    return api_error_response(error)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc, ApiErrorWhileReading):
        return api_error_response(exc.error)
    error_type = _HTTP_TYPES.get(exc.status_code, "bad_request")
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return JSONResponse(
        {"type": error_type, "message": message}, status_code=exc.status_code, headers=headers
    )


def _allowed_methods(request: Request) -> str:
    """Every method served at this path. Starlette names only those of the
    first route whose path matched, but ``.get`` and ``.list`` are two
    routes each (GET with a query, POST with a body). Asked of the routes
    themselves (``matches``), so included routers are searched too."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _unexpected_error(scope: Scope, exc: BaseException) -> Response:
    """The one log record (a line and the traceback) and the body of a 500.
    The reference is the request's id (``web.observe``), so the access log
    line and this one are found together. The route template, not the
    path: a path may carry a file's URL token."""
    reference_id = request_id_of(scope) or secrets.token_hex(8)
    log.error(
        "internal error reference_id=%s %s %s",
        reference_id,
        scope["method"],
        route_template(scope),
        exc_info=exc,
    )
    return JSONResponse(
        {
            "type": "internal_error",
            "message": "internal error; quote the reference_id to the operator",
            "reference_id": reference_id,
        },
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


class InternalErrors:
    """Answers an HTTP request whose handling raised with the 500 above and
    swallows the exception (it is logged once, with its reference_id), so
    the server keeps the connection. Add it last, as the outermost
    middleware. After the response has started there is nothing left to
    answer with: the exception is logged and the incomplete response makes
    the server close that connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            response = _unexpected_error(scope, exc)
            if not started:
                await response(scope, receive, send)
