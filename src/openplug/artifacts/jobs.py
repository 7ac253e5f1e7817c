"""What the artifacts room asks the outbox to do: delete stored objects
(after the rows that named them are gone, retried until the storage has
let them go), and the hourly sweep of artifacts prepared but never
attached, run by the outbox worker's loop in each process."""

from __future__ import annotations

from openplug.artifacts import service
from openplug.outbox import Handler, Job, OutboxWorker, Outcome
from openplug.runtime import Runtime

SWEEP_SECONDS = 3600.0


def handlers(runtime: Runtime) -> dict[str, Handler]:
    async def delete_objects(job: Job) -> Outcome:
        # A failure raises, and the outbox retries with backoff.
        await service.delete_objects(runtime, list(job.payload.get("storage_keys", [])))
        return "done"

    return {service.DELETE_OBJECTS: delete_objects}


def schedule_sweep(runtime: Runtime, outbox: OutboxWorker) -> None:
    async def sweep() -> None:
        # In batches, each its own transaction, until none is left.
        while await service.sweep_orphans(runtime) >= service.SWEEP_BATCH:
            pass

    outbox.every(SWEEP_SECONDS, sweep)
