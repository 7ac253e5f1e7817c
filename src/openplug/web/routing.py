"""Route a request in one dictionary look-up instead of a walk over every
route.

FastAPI's router tries each route in order until one matches; an included
router is tried as a unit that walks its own routes, and each try swaps
per-request context in and out of the scope. With ~110 routes in 18
routers, finding ``/health`` (the last one) took 18 included-router walks
and 106 route matches: about 1.4 ms of a 2 ms request, far more than the
endpoint itself (profile in bench/identify.py's docstring).

Two changes, neither of which changes what a request gets:

- ``include_flat`` adds a router's routes to the app's own list, which is
  what ``include_router`` did before FastAPI grew lazily-combined included
  routers. openplug's routers carry their prefix, tags and dependencies on
  each route already (``APIRouter(prefix=...)`` applies them as routes are
  declared), so nothing is lost; an include that would add something
  (a prefix or dependencies at include time) is not offered.
- ``StaticRouteIndex`` maps each path without parameters to the few routes
  that can match it (in the router's order), and hands a request whose
  path is one of them to the first route that fully matches, exactly as the
  router would (the routes not in the list cannot match that path). Any
  other request (a path with parameters, a wrong method's 405, a 404, a
  trailing-slash redirect) goes to the router itself, unchanged.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send


def include_flat(app: FastAPI, router: APIRouter) -> None:
    app.router.routes.extend(router.routes)


def _static_paths(routes: list[BaseRoute]) -> set[str]:
    return {
        route.path
        for route in routes
        if isinstance(route, Route) and not route.param_convertors and route.path.startswith("/")
    }


def _probe(path: str, method: str) -> Scope:
    return {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}


class StaticRouteIndex:
    """Wraps the router's own ASGI app (``app.router.middleware_stack``), so
    it runs inside every exception handler and middleware, where the router
    runs. Built once all routes are added (``install_static_index``)."""

    def __init__(self, app: ASGIApp, router: APIRouter) -> None:
        self.app = app
        self.router = router
        routes = list(router.routes)
        self.index: dict[str, tuple[BaseRoute, ...]] = {}
        for path in _static_paths(routes):
            candidates = tuple(
                route
                for route in routes
                if any(route.matches(_probe(path, method))[0] != Match.NONE for method in ("GET",))
            )
            if candidates:
                self.index[path] = candidates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        candidates = (
            self.index.get(scope["path"])
            if scope["type"] == "http" and not scope.get("root_path")
            else None
        )
        if candidates is not None:
            for route in candidates:
                match, child_scope = route.matches(scope)
                if match == Match.FULL:
                    scope.setdefault("router", self.router)
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def install_static_index(app: FastAPI) -> None:
    """Call after the last route is added: a route added later would be
    unknown to the index (and found by the router only for other paths)."""
    router = app.router
    router.middleware_stack = StaticRouteIndex(router.middleware_stack, router)
