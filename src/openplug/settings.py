"""One typed settings object, read from ``OPENPLUG_*`` environment variables.

Everything has an embedded default so that ``openplug serve`` works on a
fresh machine with no configuration at all.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from openplug.db.engine import PoolOptions


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENPLUG_", extra="ignore")

    data_dir: Path = Field(default=Path(".openplug"))
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # The URL visitors' browsers and website backends use to reach us; it
    # only shapes what is printed and the demo app's allowed origin.
    public_url: str | None = None
    # The /demo sample site (its fake login lets anyone chat as anyone, in
    # the demo app only); turn it off where nobody needs it.
    demo: bool = True
    # New anonymous visitors one client address may create per hour (each is
    # a rev user row); 0 turns the limit off. Generous for an office behind
    # one NAT, a wall for a script filling the CRM.
    new_visitors_per_address_per_hour: int = 60
    # Inbox sign-ins from one client address that may fail per hour, on top
    # of the per-email lockout; each costs an argon2 hash. Attempts count
    # from the moment they arrive (before any hash) and a successful one is
    # uncounted, so an office of agents behind one NAT signing in is never
    # refused, while a script trying fresh emails gets 30 hashes an hour.
    # 0 turns the limit off.
    failed_sign_ins_per_address_per_hour: int = 30
    # Logins to the /demo site's fake login from one client address per
    # hour; each mints a session token and may create a demo rev user.
    # 0 turns the limit off.
    demo_logins_per_address_per_hour: int = 30
    # Messages (and new conversations) one visitor may post per minute;
    # 0 turns the limit off. Far above anyone typing, a wall for a script.
    messages_per_visitor_per_minute: int = Field(default=120, ge=0)
    # Session tokens one AAT may mint per minute (auth-tokens.create, every
    # page view of an identified visitor): a bound on a runaway or stolen
    # website backend filling the CRM. 0 (the default) turns it off; size
    # it from your peak page views per minute, with room to spare.
    session_tokens_per_aat_per_minute: int = Field(default=0, ge=0)
    max_body_bytes: int = 64 * 1024
    # How often each server re-checks the credentials of its open sockets,
    # for the ends it was not told about (a CLI revocation without Redis, a
    # change made in the database): the longest such a socket stays open.
    credential_recheck_seconds: float = Field(default=5.0, gt=0)
    # PostgreSQL's connection pool, per process (SQLite ignores these): a
    # process holds at most db_pool_size + db_max_overflow connections, a
    # fifth of db_pool_size for the point reads (db.point_reads).
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    # How long a request waits for a free pooled connection.
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    # How long opening a PostgreSQL connection may take.
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # PostgreSQL cancels a statement running longer (statement_timeout);
    # the driver itself gives up a few seconds later, when the server
    # cannot even say so (a partition).
    db_statement_timeout_seconds: float = Field(default=30.0, gt=0)
    # On SIGTERM: how long requests in flight may take to finish (open
    # sockets are closed with 1012 at once) before they are cancelled.
    graceful_shutdown_seconds: int = Field(default=10, ge=0)
    # GET /ready's deadline for each dependency's answer.
    ready_timeout_seconds: float = Field(default=2.0, gt=0)
    log_level: str = "info"
    # One JSON line per request (method, route template, status, duration,
    # request id); never the path's values or the query string.
    access_log: bool = False
    # GET /metrics with Authorization: Bearer <token>; unset, loopback only.
    metrics_token: str | None = None
    secrets_file: Path | None = None
    # Set to share realtime events and rate limits between processes
    # (openplug.realtime, openplug.rate_limits).
    redis_url: str | None = None
    # What every channel and key this deployment uses in Redis starts with,
    # so several deployments (or test runs) can share one Redis: pub/sub
    # channels ignore the database number.
    redis_prefix: str = Field(default="openplug:", min_length=1, max_length=64)
    # Each Redis call's connect/read/write deadline, and how often an idle
    # Redis connection is PINGed; the subscriber connection is given up
    # (and sockets told 4503) when Redis has not answered for twice that.
    redis_timeout_seconds: float = Field(default=2.0, gt=0)
    redis_health_check_seconds: float = Field(default=5.0, gt=0)
    # Outgoing mail (openplug.mail): smtp://user:password@host:port (STARTTLS
    # when the server offers it; ?starttls=required insists), smtps://...
    # for TLS from the start. Unset: mail is composed and kept for
    # Settings -> Email, never sent.
    smtp_url: str | None = None
    mail_from: str | None = None
    # The domain of reply addresses (reply+<token>@<domain>); its MX or a
    # relay delivers to the inbound listener or the inbound webhook. Unset:
    # the domain of mail_from.
    mail_inbound_domain: str | None = None
    # The built-in SMTP listener for replies; unset, none runs.
    smtp_inbound_port: int | None = Field(default=None, ge=0, le=65535)
    smtp_inbound_host: str = "127.0.0.1"
    # The shared secret of the inbound-mail webhook (POST /mail/inbound);
    # unset, the webhook answers 404.
    mail_inbound_secret: str | None = None
    max_inbound_mail_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    # How long a visitor's message may wait unread before agents with no
    # inbox open are mailed about it (per their mail preference).
    agent_mail_delay_seconds: int = Field(default=120, ge=0)
    # The outbox worker (openplug.outbox): how often it looks for jobs
    # other processes enqueued, and the first retry's delay (it doubles).
    outbox_poll_seconds: float = Field(default=2.0, gt=0)
    outbox_retry_seconds: float = Field(default=5.0, gt=0)
    # Files in conversations (openplug.artifacts). Where the bytes live:
    # unset or file:///path, a directory (default: <data_dir>/artifacts);
    # s3://bucket?endpoint=http://host:port&region=..., S3-compatible
    # object storage (credentials from the URL's user:password or the
    # standard AWS_* variables), for several server processes.
    storage_url: str | None = None
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    # What one visitor may upload in 24 hours, all files together; 0: no limit.
    upload_bytes_per_visitor_per_day: int = Field(default=200 * 1024 * 1024, ge=0)
    # Content types (as detected from the bytes) that may be uploaded,
    # comma-separated.
    allowed_upload_types: str = (
        "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,text/csv,"
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document,"
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,"
        "application/vnd.openxmlformats-officedocument.presentationml.presentation,"
        "application/msword,application/vnd.ms-excel,application/vnd.ms-powerpoint,"
        "application/vnd.oasis.opendocument.text,"
        "application/vnd.oasis.opendocument.spreadsheet,"
        "application/vnd.oasis.opendocument.presentation,application/zip"
    )
    # How long the URLs of artifacts.locate (and in messages) work.
    artifact_url_seconds: int = Field(default=300, gt=0)
    # Images larger than this many pixels get no inline variant (and are
    # never decoded: a decompression bomb stays a download).
    max_image_pixels: int = Field(default=40_000_000, gt=0)
    # Prepared but never attached after this long: removed, bytes included.
    orphan_artifact_seconds: int = Field(default=24 * 3600, gt=0)
    # How long the file links in a visitor's notification mail work.
    mail_artifact_link_days: int = Field(default=30, gt=0)

    # Webhooks (openplug.webhooks): endpoints on loopback, private or
    # link-local addresses are refused unless this is set (SSRF: an admin's
    # webhook must not reach the server's own network), and how long one
    # delivery may take.
    webhooks_allow_private: bool = False
    webhooks_timeout_seconds: float = Field(default=10.0, gt=0)

    def pool_options(self) -> PoolOptions:
        return PoolOptions(
            pool_size=self.db_pool_size,
            max_overflow=self.db_max_overflow,
            pool_timeout=self.db_pool_timeout_seconds,
            connect_timeout=self.db_connect_timeout_seconds,
            statement_timeout=self.db_statement_timeout_seconds,
        )

    def allowed_upload_type_set(self) -> frozenset[str]:
        types = self.allowed_upload_types.split(",")
        return frozenset(t.strip().lower() for t in types if t.strip())

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.sqlite_file()}"

    def sqlite_file(self) -> Path:
        """The embedded database's file (used when no database URL is set)."""
        return (self.data_dir / "openplug.db").resolve()

    def resolved_secrets_file(self) -> Path:
        return self.secrets_file or self.data_dir / "secrets.json"

    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"
