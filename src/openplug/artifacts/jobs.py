"""What the artifacts room asks the outbox to do later: delete stored
objects (after the rows that named them are gone), and the hourly sweep
of artifacts prepared but never attached."""

from __future__ import annotations

from openplug.artifacts import service
from openplug.db.base import utcnow
from openplug.outbox import Handler, Job, Outcome
from openplug.runtime import Runtime


def handlers(runtime: Runtime) -> dict[str, Handler]:
    async def delete_objects(job: Job) -> Outcome:
        # A failure raises, and the outbox retries with backoff.
        await service.delete_objects(runtime, list(job.payload.get("storage_keys", [])))
        return "done"

    async def sweep(job: Job) -> Outcome:
        while await service.sweep_orphans(runtime) >= 500:
            pass
        async with runtime.db.write() as conn:
            await service.schedule_sweep(conn, utcnow())
        return "done"

    return {service.DELETE_OBJECTS: delete_objects, service.SWEEP: sweep}


async def schedule_first_sweep(runtime: Runtime) -> None:
    """At start: the next hour's sweep, unless one is waiting (another
    process's, or this one's from before a restart)."""
    async with runtime.db.write() as conn:
        await service.schedule_sweep(conn, utcnow())
