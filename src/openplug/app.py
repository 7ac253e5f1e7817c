"""``create_app(settings)``: the ASGI application with its routers, lifespan
and error handlers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI, Request, Response

from openplug import __version__, idempotency
from openplug.activity.routes import router as activity_router
from openplug.artifacts import jobs as artifact_jobs
from openplug.artifacts.routes import UPLOAD_PREFIX
from openplug.artifacts.routes import router as artifacts_router
from openplug.artifacts.storage import open_storage
from openplug.audit.routes import router as audit_router
from openplug.bootstrap import FirstStart, open_runtime
from openplug.conversations.hub import ConversationHub
from openplug.conversations.routes import router as conversations_router
from openplug.crm.routes import router as crm_router
from openplug.identity.app_routes import router as apps_router
from openplug.identity.dev_user_routes import router as dev_users_router
from openplug.identity.routes import router as identity_router
from openplug.identity.schemas import AuthTokensCreateRequest
from openplug.inbox.pages import install_inbox_pages
from openplug.inbox.routes import inbox_socket
from openplug.inbox.routes import router as inbox_router
from openplug.mail import jobs as mail_jobs
from openplug.mail.inbound_routes import INBOUND_PATH
from openplug.mail.inbound_routes import router as inbound_mail_router
from openplug.mail.routes import pages as mail_pages
from openplug.mail.routes import router as mail_router
from openplug.metrics import Metrics, metrics_endpoint
from openplug.privacy.routes import router as privacy_router
from openplug.readiness import router as readiness_router
from openplug.realtime import announcements_sent
from openplug.realtime.starlette_transport import SocketEndpoints
from openplug.runtime import Runtime, broker_for
from openplug.settings import Settings
from openplug.tags.routes import router as tags_router
from openplug.web.body_limit import BodySizeLimit
from openplug.web.docs import install_docs
from openplug.web.errors import InternalErrors, install_error_handlers
from openplug.web.fast_routes import FastRoutes, HandServedRoute
from openplug.web.observe import RequestObserver
from openplug.web.openapi import Answer, answers, install_openapi
from openplug.web.routing import include_flat, install_static_index
from openplug.web.text_guard import TextGuard
from openplug.web.wire_logging import install_wire_filter
from openplug.webhooks.jobs import start_webhooks
from openplug.webhooks.routes import router as webhooks_router
from openplug.widget.pages import install_widget_pages
from openplug.widget.routes import HAND_PARSED_BODIES as widget_bodies
from openplug.widget.routes import router as widget_router
from openplug.widget.routes import widget_socket

FirstStartHook = Callable[[Runtime, FirstStart], None]


class Health(Answer):
    status: Literal["ok"]


async def health(_request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


def create_app(
    settings: Settings,
    on_first_start: FirstStartHook | None = None,
    *,
    freeze_startup_objects: bool = False,
) -> FastAPI:
    """``freeze_startup_objects``: for a server process (``openplug serve``),
    not for tests that start many apps in one process. Everything alive
    once the server has started (modules, routes, models: hundreds of
    thousands of objects that live as long as the process) is moved out of
    the garbage collector's sight with ``gc.freeze()``, so a full
    collection no longer rescans them: under load those pauses took about
    100 ms each and stalled every request. The collector also runs less
    often (see below); both change the whole process, hence not for tests."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime, first = await open_runtime(settings)
        runtime.broker = broker_for(settings)
        hub = ConversationHub(runtime, runtime.broker)
        hub.start()
        runtime.change_listeners.append(hub.on_change)
        runtime.storage = open_storage(settings.storage_url, settings.data_dir)
        mail = await mail_jobs.start_mail(runtime, artifact_jobs.handlers(runtime))
        artifact_jobs.schedule_sweep(runtime, mail.outbox)
        idempotency.schedule_sweep(runtime, mail.outbox)
        app.state.webhooks = webhooks = start_webhooks(runtime)
        app.state.runtime = runtime
        runtime.metrics = metrics.runtime_metrics(runtime)
        app.state.inbound_smtp = mail.listener
        if first is not None and on_first_start is not None:
            on_first_start(runtime, first)
        if freeze_startup_objects:
            gc.collect()
            gc.freeze()
            # Young collections every 10,000 allocations instead of 700:
            # each stays in the tens of milliseconds, and full collections
            # (150-350 ms with 2,000 open sockets) become ~14x rarer
            # (bench/realtime.py; 50,000 made young pauses reach 150 ms).
            gc.set_threshold(10_000, 10, 10)
        try:
            yield
        finally:
            await webhooks.aclose(runtime)
            await mail.aclose(runtime)
            runtime.change_listeners.remove(hub.on_change)
            await hub.aclose()
            await announcements_sent()
            await runtime.broker.aclose()
            await runtime.limits.aclose()
            await runtime.storage.aclose()
            await runtime.db.dispose()
            runtime.password_hashing.close()

    app = FastAPI(
        title="openplug",
        version=__version__,
        summary="Self-hostable support widget API, wire-compatible with DevRev PLuG",
        lifespan=lifespan,
        docs_url=None,  # served by web.docs, from our own files
        redoc_url=None,
        # FastAPI's OpenTelemetry hooks asked the global providers whether
        # they were configured on every request (a fifth of /health's
        # cost); openplug's figures are its own /metrics.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.metrics = metrics = Metrics(settings.metrics_token)
    install_error_handlers(app)
    install_wire_filter()
    include_flat(app, identity_router)
    include_flat(app, apps_router)
    include_flat(app, dev_users_router)
    include_flat(app, crm_router)
    include_flat(app, activity_router)
    include_flat(app, privacy_router)
    include_flat(app, audit_router)
    include_flat(app, webhooks_router)
    include_flat(app, tags_router)
    include_flat(app, conversations_router)
    include_flat(app, artifacts_router)
    include_flat(app, widget_router)
    include_flat(app, inbox_router)
    include_flat(app, mail_router)
    include_flat(app, inbound_mail_router)
    include_flat(app, mail_pages)
    include_flat(app, readiness_router)
    install_inbox_pages(app)
    install_widget_pages(app)

    app.router.add_api_route(
        "/health",
        health,
        methods=["GET"],
        tags=["meta"],
        summary="Liveness: the process answers",
        route_class_override=HandServedRoute,
        **answers(Health),
    )

    # Not in the API document: it is for Prometheus, not for API clients.
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    install_openapi(app, hand_parsed=[AuthTokensCreateRequest, *widget_bodies])
    install_docs(app)
    install_static_index(app)
    # Innermost: inside the body limit, the text guard and the 500s.
    app.add_middleware(FastRoutes, fastapi=app)
    # Inside the size limit, so it reads no more than the limit allows.
    # Files are not text, and are spooled to disk as they come (never
    # buffered whole): the upload URL passes the guard and the body limit,
    # and counts its bytes itself (artifacts.service).
    app.add_middleware(TextGuard, skip_prefixes=(UPLOAD_PREFIX,))
    # Whole mails reach the inbound webhook, only once it has a secret.
    larger = {INBOUND_PATH: settings.max_inbound_mail_bytes} if settings.mail_inbound_secret else {}
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        per_path=larger,
        unlimited_prefixes=(UPLOAD_PREFIX,),
    )
    # Outermost of our middleware but one: a socket served through
    # the router would keep the whole routing and dependency stack alive
    # for as long as it is open (~65 objects per idle socket).
    app.add_middleware(
        SocketEndpoints,
        endpoints={"/widget/socket": widget_socket, "/inbox/socket": inbox_socket},
    )
    # Every exception becomes a 500 (see web.errors).
    app.add_middleware(InternalErrors)
    # Outermost of all: request ids, metrics and the access log see every
    # answer, the 500s above included (see web.observe).
    app.add_middleware(RequestObserver, metrics=metrics, log_access=settings.access_log)
    return app


def from_environment() -> FastAPI:
    """The server as an app factory, its settings from ``OPENPLUG_*``: for
    ``uvicorn --factory openplug.app:from_environment`` or gunicorn with
    uvicorn workers (``gunicorn -k uvicorn.workers.UvicornWorker
    'openplug.app:from_environment()'``), which ``openplug serve --workers``
    uses too. Initialise the instance first (``openplug init``): processes
    started together on a new instance would each make one."""
    import logging

    from openplug.logs import configure_logging

    settings = Settings()
    # The same JSON lines as ``openplug serve``; called after uvicorn has
    # configured its loggers in this worker, so they go to it too.
    configure_logging(settings.log_level)
    logging.getLogger("alembic").setLevel(logging.WARNING)

    def announce(runtime: Runtime, first: FirstStart) -> None:
        from openplug.cli import _announce

        _announce(runtime, first)

    return create_app(settings, on_first_start=announce, freeze_startup_objects=True)
