"""The hottest routes, served straight from the middleware.

A request that reaches a route through FastAPI pays, before and after the
endpoint: the exception middleware (a ``Request`` and a wrapper), the exit
stack middleware, the router, FastAPI's ``request_response`` wrapper,
dependency solving, response validation and ``jsonable_encoder``. For
``GET /health`` that was most of the request (profile in
bench/identify.py's docstring), and it is as much on every visitor's
``auth-tokens.create``.

A ``HandServedRoute`` is declared like any other route, so FastAPI
documents it from its declaration (``response_model``, ``openapi_extra``,
the docstring) and the OpenAPI document does not change. Its endpoint takes
the ``Request`` and returns the finished ``Response``: it authenticates and
parses itself. ``FastRoutes``, the innermost of the app's middleware, hands
a request for such a route (a path without parameters, one of its methods)
to the endpoint directly, with the scope keys the router would have set.
An exception the endpoint raises is answered by the app's own handler for
it (the ``ApiError`` shapes of ``web.errors``), exactly as behind the
exception middleware; any other goes up to ``InternalErrors``. Everything
else (and these routes under a ``root_path``) goes on to FastAPI.

A route whose declaration documented more than its body (a security
scheme, a header parameter) keeps that declaration for the document with
``documented_as``; ``json_body`` reads a body as FastAPI reads a body
parameter, refusals included, for a route that had one.
"""

from __future__ import annotations

import email.message
import inspect
import json
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]
Handler = Callable[[Request, Exception], Any]
Model = TypeVar("Model", bound=BaseModel)


class HandServedRoute(APIRoute):
    """See the module's docstring. Served by ``FastRoutes``; reached through
    the router (under a ``root_path``), FastAPI calls the endpoint with the
    request and sends what it returns, as a plain Starlette route does.
    Route-level ``dependencies`` would never run, so there must be none."""

    def get_route_handler(self) -> Endpoint:
        if self.dependencies:  # a mistake in the code, kept under python -O
            raise TypeError(f"{self.path}: a hand-served route runs no dependencies")
        handler: Endpoint = self.endpoint
        return handler


def hand_served(
    router: APIRouter, path: str, *, methods: list[str], **options: Any
) -> Callable[[Endpoint], Endpoint]:
    """``@router.post(path, ...)`` for a hand-served endpoint (the route
    decorators take no route class)."""

    def add(endpoint: Endpoint) -> Endpoint:
        router.add_api_route(
            path, endpoint, methods=methods, route_class_override=HandServedRoute, **options
        )
        return endpoint

    return add


def documented_as(declaration: Callable[..., Any]) -> Callable[[Endpoint], Endpoint]:
    """Document a hand-served endpoint with ``declaration``'s parameters:
    FastAPI reads a route's security schemes, header parameters and body
    from its endpoint's signature, and a hand-served endpoint's is only the
    ``Request``. ``declaration`` is never called and its dependencies never
    run (``HandServedRoute`` solves none): the endpoint must check by hand
    everything the declaration names, in the order it would have."""
    signature = inspect.signature(declaration, eval_str=True)

    def document(endpoint: Endpoint) -> Endpoint:
        endpoint.__signature__ = signature  # type: ignore[attr-defined]
        return endpoint

    return document


async def json_body(request: Request, model: type[Model]) -> Model:
    """The request's body as FastAPI reads a ``model`` body parameter, with
    the same refusals (a ``RequestValidationError``, which the app answers
    as for any route): a body without a JSON content type is not parsed, an
    empty one is missing, invalid JSON is FastAPI's ``json_invalid``."""
    raw = await request.body()
    data: Any
    if not raw:
        errors: list[Any] = [{"type": "missing", "loc": ("body",), "msg": "Field required"}]
        raise RequestValidationError(errors, body=None)
    if _is_json(request.headers.get("content-type")):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as e:
            error = {
                "type": "json_invalid", "loc": ("body", e.pos), "msg": "JSON decode error",
                "input": {}, "ctx": {"error": e.msg},
            }  # fmt: skip
            raise RequestValidationError([error], body=e.doc) from e
        except Exception as e:  # bytes that are not UTF-8, nesting too deep
            raise HTTPException(400, "There was an error parsing the body") from e
    else:
        data = raw
    try:
        return model.model_validate(data, from_attributes=True)  # as FastAPI validates
    except ValidationError as e:
        located = [{**error, "loc": ("body", *error["loc"])} for error in e.errors()]
        raise RequestValidationError(located, body=data) from None


def _is_json(content_type: str | None) -> bool:
    """FastAPI's test (``application/json`` or ``application/*+json``)."""
    if content_type == "application/json":
        return True
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


class FastRoutes:
    """ASGI middleware; add it first (innermost). Built when the app first
    runs, once every route is declared."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        self.app = app
        self.router = fastapi.router
        self.index: dict[tuple[str, str], HandServedRoute] = {
            (route.path, method): route
            for route in fastapi.router.routes
            if isinstance(route, HandServedRoute) and not route.param_convertors
            for method in route.methods or ()
        }
        # As the exception middleware has them (500 and Exception are the
        # outermost error middleware's, not the route's).
        self.handlers: Mapping[Any, Handler] = {
            key: handler
            for key, handler in fastapi.exception_handlers.items()
            if key not in (500, Exception)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self.index.get((scope["path"], scope["method"]))
            if scope["type"] == "http" and not scope.get("root_path")
            else None
        )
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        scope.setdefault("router", self.router)
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            response = await self._answer(request, exc)
        await response(scope, receive, send)

    async def _answer(self, request: Request, exc: Exception) -> Response:
        """The app's handler for ``exc`` (by class, most specific first, as
        Starlette looks it up); re-raised when there is none."""
        handler = next((self.handlers[c] for c in type(exc).__mro__ if c in self.handlers), None)
        if handler is None:
            raise exc
        if inspect.iscoroutinefunction(handler):
            response: Response = await handler(request, exc)
        else:
            response = await run_in_threadpool(handler, request, exc)
        return response
