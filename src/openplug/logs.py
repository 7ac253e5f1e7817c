"""The server's log: one JSON object per line (structlog over the standard
``logging`` module, so uvicorn's, SQLAlchemy's and openplug's own records
all come out the same way), with the time (UTC, ISO 8601), the level, the
logger, the message, the request id of the request that caused it, and
whatever fields the record carries (the access log's route, status and
duration).

Nothing here adds a secret: records are logged with route templates, never
raw paths or query strings (``web.observe``), the WebSocket library's
credential headers and frames are masked (``web.wire_logging``), and the
tests/leaks suite searches every line the tests produce for every secret
they minted.
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import Processor

_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
]


def configure_logging(level: str) -> None:
    """For a server process (``openplug serve``); replaces the root
    logger's handlers. Tests keep pytest's own capture instead."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn configures its own loggers with handlers of their own; they
    # propagate to the root's JSON handler instead.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # uvicorn's access lines carry the raw path and query string (a file
    # URL's token, say): never. OPENPLUG_ACCESS_LOG writes route templates.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
