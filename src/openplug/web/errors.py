"""The one place where errors become HTTP responses.

Unexpected exceptions become a 500 with a ``reference_id`` that is also in
the server log, so an operator can find the traceback; the client sees no
stack trace, SQL or secret.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from openplug.errors import ApiError, TooManyRequests
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
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in routes
        )
    ]
    return ", ".join(allowed)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    reference_id = secrets.token_hex(8)
    log.error(
        "internal error reference_id=%s %s %s",
        reference_id,
        request.method,
        request.url.path,
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
    app.add_exception_handler(Exception, _unexpected_error)
