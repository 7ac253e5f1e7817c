"""The audit trail: who changed what about access to openplug, when, and
from where. Rows are written by the change itself, in its own transaction,
so a change without its record (or a record of a change that rolled back)
cannot exist. Admins read it with ``audit-log.list`` and in Settings."""

from openplug.audit.actor import OPERATOR, SYSTEM, Actor
from openplug.audit.log import record

__all__ = ["OPERATOR", "SYSTEM", "Actor", "record"]
