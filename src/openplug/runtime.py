"""What a running openplug holds: settings, database, secrets, org id."""

from __future__ import annotations

from dataclasses import dataclass, field

from openplug.artifacts.storage import Storage
from openplug.conversations.events import ChangeListener, TransactionHook
from openplug.crm.changes import CrmHook
from openplug.db import Database
from openplug.identity.passwords import PasswordHashing
from openplug.identity.secrets_file import ServerSecrets, load_secrets
from openplug.mail.config import MailConfig, mail_config
from openplug.metrics import Metrics
from openplug.outbox import OutboxWorker
from openplug.rate_limits import ConcurrentLimit, Limit, Limits
from openplug.realtime import Broker, InProcessBroker, SessionLimits, make_broker
from openplug.settings import Settings

SIGN_IN_FAILURES = 5
SIGN_IN_WINDOW_SECONDS = 15 * 60
# A browser sends one sign-in at a time; two leave room for two agents
# behind one NAT pressing the button together.
SIGN_INS_IN_PROGRESS_PER_ADDRESS = 2


def broker_for(settings: Settings) -> Broker:
    """The process's broker, as the settings configure it."""
    return make_broker(
        settings.redis_url,
        timeout=settings.redis_timeout_seconds,
        health_check_interval=settings.redis_health_check_seconds,
        key_prefix=settings.redis_prefix,
    )


@dataclass
class Runtime:
    settings: Settings
    db: Database
    secrets: ServerSecrets
    org_id: str
    # Called after each committed conversation change (see conversations.events).
    change_listeners: list[ChangeListener] = field(default_factory=list)
    # Run inside each conversation change's transaction (see conversations.events).
    transaction_hooks: list[TransactionHook] = field(default_factory=list)
    # Run inside each CRM change's transaction (see crm.changes).
    crm_hooks: list[CrmHook] = field(default_factory=list)
    # Runs outbox jobs; started by the server's lifespan (see openplug.outbox).
    outbox: OutboxWorker | None = None
    # Where artifacts' bytes live; opened by the server's lifespan.
    storage: Storage | None = None
    # Realtime events; the server's lifespan replaces it with
    # ``broker_for(settings)`` and closes it on shutdown.
    broker: Broker = field(default_factory=InProcessBroker)
    # GET /metrics's figures; set by the server's lifespan (see openplug.metrics).
    metrics: Metrics | None = None
    # The limits below: shared through Redis when it is configured (see
    # rate_limits.Limit); closed by the lifespan.
    limits: Limits = field(init=False)
    # Per email: failed inbox sign-ins (see identity.agent_sessions).
    failed_sign_ins: Limit = field(init=False)
    # Per client address: failed inbox sign-ins, and those in progress
    # (this process's own queue: never shared).
    failed_sign_ins_by_address: Limit = field(init=False)
    sign_ins_in_progress: ConcurrentLimit = field(init=False)
    # argon2's own threads (see identity.passwords); closed by the lifespan.
    password_hashing: PasswordHashing = field(default_factory=PasswordHashing)
    # Per client address: new anonymous visitors (see widget.service).
    new_visitors: Limit = field(init=False)
    # Per client address: the /demo site's fake logins (see widget.demo).
    demo_logins: Limit = field(init=False)
    # Per visitor (app and rev user): messages and new conversations.
    visitor_messages: Limit = field(init=False)
    # Per AAT: session tokens minted (auth-tokens.create).
    session_tokens_per_aat: Limit = field(init=False)
    # Every realtime socket's (one object, not one per socket).
    socket_limits: SessionLimits = field(init=False)
    # Parsed once: a wrong OPENPLUG_SMTP_URL stops the start, not each send.
    mail: MailConfig = field(init=False)
    _secrets_mtime: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._secrets_mtime = self._mtime()
        settings = self.settings
        self.limits = limits = Limits(
            settings.redis_url,
            timeout=settings.redis_timeout_seconds,
            retry_seconds=settings.redis_health_check_seconds,
            key_prefix=settings.redis_prefix,
        )
        self.failed_sign_ins = limits.window(
            "sign_in_failures_email", SIGN_IN_FAILURES, SIGN_IN_WINDOW_SECONDS
        )
        self.failed_sign_ins_by_address = limits.window(
            "sign_in_failures_address", settings.failed_sign_ins_per_address_per_hour, 3600
        )
        self.sign_ins_in_progress = ConcurrentLimit(SIGN_INS_IN_PROGRESS_PER_ADDRESS)
        self.new_visitors = limits.window(
            "new_visitors", settings.new_visitors_per_address_per_hour, 3600
        )
        self.demo_logins = limits.window(
            "demo_logins", settings.demo_logins_per_address_per_hour, 3600
        )
        self.visitor_messages = limits.window(
            "visitor_messages", settings.messages_per_visitor_per_minute, 60
        )
        self.session_tokens_per_aat = limits.window(
            "session_tokens_aat", settings.session_tokens_per_aat_per_minute, 60
        )
        self.socket_limits = SessionLimits(
            credential_recheck_interval=settings.credential_recheck_seconds
        )
        self.mail = mail_config(settings)

    def _mtime(self) -> float:
        try:
            return self.settings.resolved_secrets_file().stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def reload_secrets(self) -> bool:
        """Pick up a key ring rotated by ``openplug keys rotate`` (perhaps in
        another process) when a token names a key we do not know yet.
        Returns whether anything was reloaded."""
        mtime = self._mtime()
        if mtime == self._secrets_mtime:
            return False
        self.secrets = load_secrets(self.settings.resolved_secrets_file())
        self._secrets_mtime = mtime
        return True
