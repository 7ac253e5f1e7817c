"""``GET /ready``: whether this process can serve requests now, for a load
balancer or an orchestrator's readiness probe (``/health`` only says the
process answers: a liveness probe, which must not fail because a
dependency did, or every process would be restarted at once).

Ready means: the database answers within the deadline, its schema is at
the newest migration this code knows (a process of a newer release
started against a database not yet migrated is not ready, nor one of an
older release after a newer one migrated it), and Redis, when
configured, answers a PING within the deadline. Not ready is a 503 naming
each failed check and why, without internals.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, Literal

from alembic.script import ScriptDirectory
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from openplug.db.migrate import alembic_config
from openplug.runtime import Runtime
from openplug.web.deps import RuntimeDep
from openplug.web.openapi import Answer

log = logging.getLogger(__name__)
router = APIRouter(tags=["meta"])


class Readiness(Answer):
    status: Literal["ready", "not_ready"]
    # Per dependency: "ok", "not configured" (Redis), or why it failed.
    checks: dict[str, str]


@functools.cache
def newest_migration() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:  # a packaging mistake, not a state of the deployment
        raise RuntimeError(f"the migrations have {len(heads)} heads: {heads}")
    return str(heads[0])


async def _database(runtime: Runtime, deadline: float) -> str:
    try:
        async with asyncio.timeout(deadline):
            async with runtime.db.read() as conn:
                found = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    except TimeoutError:
        return f"no answer within {deadline:g} s"
    except Exception as e:  # refused, reset, authentication, no such table
        log.warning("readiness: the database check failed: %r", e)
        return "not reachable"
    versions = [str(v) for (v,) in found]
    if versions != [newest_migration()]:
        at = ", ".join(versions) or "no migration"
        return f"schema at {at}, this release needs {newest_migration()}"
    return "ok"


async def _redis(runtime: Runtime, deadline: float) -> str:
    if not runtime.limits.shared:
        return "not configured"
    try:
        async with asyncio.timeout(deadline):
            await runtime.limits.ping()
    except TimeoutError:
        return f"no answer within {deadline:g} s"
    except Exception as e:
        log.warning("readiness: the Redis check failed: %r", e)
        return "not reachable"
    return "ok"


@router.get(
    "/ready",
    summary="Readiness: the database and Redis answer and the schema is current",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: `checks` says why"}},
)
async def ready(runtime: RuntimeDep) -> Any:
    deadline = runtime.settings.ready_timeout_seconds
    database, redis = await asyncio.gather(_database(runtime, deadline), _redis(runtime, deadline))
    checks = {"database": database, "redis": redis}
    ok = all(v in ("ok", "not configured") for v in checks.values())
    body = {"status": "ready" if ok else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)
