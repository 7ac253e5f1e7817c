"""The durable outbox: work that must happen after a commit, however long
it takes and whatever fails meanwhile (mail now, webhooks later).

A change writes its job in its own transaction (``enqueue``), so a job
exists exactly when the change does. Workers in every server process claim
due jobs with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write
lock on SQLite), so each job runs in one process at a time; a handler that
fails is retried with backoff, and a process that dies mid-job leaves a
lease that expires and another process takes the job over.
"""

from openplug.outbox.queue import Job, enqueue, enqueue_sync
from openplug.outbox.worker import GiveUp, Handler, OutboxWorker, Outcome, Retry

__all__ = [
    "GiveUp",
    "Handler",
    "Job",
    "OutboxWorker",
    "Outcome",
    "Retry",
    "enqueue",
    "enqueue_sync",
]
