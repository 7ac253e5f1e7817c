"""What ``GET /metrics`` reports, in Prometheus's text format.

One registry per app (tests start many apps in one process; the default
global registry would refuse the second). Per-request figures are kept by
``web.observe`` at microsecond cost: each (route, method, status) gets its
counter and histogram child once, then every request is two lookups and an
``observe``. Figures that already live elsewhere (open sockets, the pool,
the outbox, the broker) are read when Prometheus scrapes, not kept twice.

Several processes (``serve --workers``, several servers): each process
answers for itself; Prometheus scrapes each, or sums them by ``instance``.

Who may read it: with ``OPENPLUG_METRICS_TOKEN`` set, a request carrying
``Authorization: Bearer <token>``; unset, only a client on the loopback
interface (the socket's peer, never a forwarded header). Route templates
label the requests, never raw paths, so no id or token reaches a label.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from openplug.errors import Forbidden, Unauthenticated
from openplug.realtime.broker import Event

if TYPE_CHECKING:
    from openplug.runtime import Runtime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Request latencies from a cached read (~0.2 ms) to a slow write.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, token: str | None = None) -> None:
        self.token = token  # OPENPLUG_METRICS_TOKEN
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "openplug_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "openplug_http_request_duration_seconds",
            "Time from a request's arrival to its response's end, by route template.",
            ("route", "method"),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.tokens_minted = Counter(
            "openplug_session_tokens_minted",
            "Session tokens minted by auth-tokens.create and the widget.",
            registry=self.registry,
        )
        self.message_delivery = Histogram(
            "openplug_realtime_message_delivery_seconds",
            "From a message's creation to its hand-off to this process's sockets "
            "(once per message per process, however many sockets; across processes "
            "it includes the hop through Redis and the clocks' difference).",
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.runtime: Runtime | None = None
        self.outbox_depth = 0
        self.registry.register(_RuntimeCollector(self))

    def runtime_metrics(self, runtime: Runtime) -> Metrics:
        """Bind to the runtime the lifespan opened; returns self."""
        self.runtime = runtime
        runtime.broker.watch_deliveries(self._delivered)
        return self

    def _delivered(self, topic: str, event: Event, sockets: int) -> None:
        if event.get("type") != "message.created" or not topic.startswith("conversation:"):
            return
        message = event.get("message")
        created = message.get("created_date") if isinstance(message, dict) else None
        if not isinstance(created, str):
            return
        try:
            age = time.time() - datetime.fromisoformat(created).timestamp()
        except ValueError:
            return
        self.message_delivery.observe(max(age, 0.0))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
        children[0].inc()
        children[1].observe(seconds)

    async def refresh(self) -> None:
        """The figures that need the database, read once per scrape."""
        runtime = self.runtime
        if runtime is None:
            return
        from openplug.outbox.tables import outbox_jobs

        async with runtime.db.read() as conn:
            depth = await conn.scalar(
                select(func.count())
                .select_from(outbox_jobs)
                .where(outbox_jobs.c.state == "pending")
            )
        self.outbox_depth = int(depth or 0)


class _RuntimeCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        runtime = self.metrics.runtime
        if runtime is None:
            return
        stats = runtime.broker.stats()
        yield GaugeMetricFamily(
            "openplug_realtime_subscriptions",
            "Open realtime sockets' subscriptions in this process.",
            value=stats.subscriptions,
        )
        yield CounterMetricFamily(
            "openplug_realtime_deliveries",
            "Events handed to local sockets (one per socket per event).",
            value=stats.delivered,
        )
        yield GaugeMetricFamily(
            "openplug_broker_up",
            "1 while the realtime broker delivers (Redis reachable, or in-process).",
            value=1 if stats.up else 0,
        )
        yield GaugeMetricFamily(
            "openplug_outbox_pending_jobs",
            "Deferred jobs (mail, webhooks, files) waiting in the outbox.",
            value=self.metrics.outbox_depth,
        )
        pool = runtime.db.writer.sync_engine.pool
        checked_out = getattr(pool, "checkedout", None)
        size = getattr(pool, "size", None)
        if callable(checked_out) and callable(size):
            yield GaugeMetricFamily(
                "openplug_db_pool_in_use",
                "Database connections checked out of the write pool (all of it on PostgreSQL).",
                value=checked_out(),
            )
            yield GaugeMetricFamily("openplug_db_pool_size", "The pool's base size.", value=size())


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else None
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    token = metrics.token
    if token:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthenticated("metrics need Authorization: Bearer <OPENPLUG_METRICS_TOKEN>")
    elif not _loopback(request):
        raise Forbidden("metrics are served to loopback only unless OPENPLUG_METRICS_TOKEN is set")
    await metrics.refresh()
    body = generate_latest(metrics.registry)
    return Response(body, media_type=CONTENT_TYPE)
