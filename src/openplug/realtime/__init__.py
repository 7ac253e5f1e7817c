"""Realtime events: a small pub/sub interface (``Broker``), its in-process
and Redis implementations, and the per-socket protocol (``SocketSession``).

Nothing here knows about FastAPI or the database: a WebSocket route adapts
its socket to ``SocketTransport``, and the conversations layer supplies
``authenticate`` / ``SocketPolicy`` and publishes after each commit, and
whatever ends a credential calls ``announce_revoked`` after its commit.
"""

from __future__ import annotations

from openplug.realtime.broker import (
    Broker,
    BrokerClosed,
    BrokerDisconnected,
    Delivery,
    Event,
    PublishFailed,
    Subscription,
    SubscriptionEnded,
    SubscriptionOverflow,
    conversation_topic,
    user_topic,
)
from openplug.realtime.credentials import (
    Credential,
    CredentialBatch,
    CredentialEnded,
    CredentialOwner,
    Recheck,
    announce_revoked,
    announcements_sent,
    credential_topic,
)
from openplug.realtime.in_process import InProcessBroker
from openplug.realtime.socket_session import (
    MAX_SEQ,
    Authenticate,
    BinaryFrame,
    CloseCode,
    FrameRefused,
    ReplayTooLarge,
    SessionEnd,
    SessionLimits,
    SocketPolicy,
    SocketSession,
    SocketTransport,
)

__all__ = [
    "MAX_SEQ",
    "Authenticate",
    "BinaryFrame",
    "Broker",
    "BrokerClosed",
    "BrokerDisconnected",
    "CloseCode",
    "Credential",
    "CredentialBatch",
    "CredentialEnded",
    "CredentialOwner",
    "Delivery",
    "Event",
    "FrameRefused",
    "InProcessBroker",
    "PublishFailed",
    "Recheck",
    "ReplayTooLarge",
    "SessionEnd",
    "SessionLimits",
    "SocketPolicy",
    "SocketSession",
    "SocketTransport",
    "Subscription",
    "SubscriptionEnded",
    "SubscriptionOverflow",
    "announce_revoked",
    "announcements_sent",
    "conversation_topic",
    "credential_topic",
    "make_broker",
    "user_topic",
]


def make_broker(
    redis_url: str | None = None,
    *,
    timeout: float = 2.0,
    health_check_interval: float = 5.0,
    key_prefix: str = "openplug:",
) -> Broker:
    """``RedisBroker`` when a Redis URL is configured (several processes),
    else ``InProcessBroker`` (one process). Create one per process."""
    if redis_url:
        # Imported here so a single-process server never loads redis.
        from openplug.realtime.redis_broker import RedisBroker

        return RedisBroker(
            redis_url,
            channel_prefix=f"{key_prefix}rt:",
            timeout=timeout,
            health_check_interval=health_check_interval,
        )
    return InProcessBroker()
