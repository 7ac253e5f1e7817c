"""What a running openplug holds: settings, database, secrets, org id."""

from __future__ import annotations

from dataclasses import dataclass, field

from openplug.conversations.events import ChangeListener
from openplug.db import Database
from openplug.identity.secrets_file import ServerSecrets, load_secrets
from openplug.identity.sign_in_throttle import SignInThrottle
from openplug.realtime import Broker, InProcessBroker
from openplug.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    secrets: ServerSecrets
    org_id: str
    # Called after each committed conversation change (see conversations.events).
    change_listeners: list[ChangeListener] = field(default_factory=list)
    # Realtime events; the server's lifespan replaces it with
    # ``make_broker(settings.redis_url)`` and closes it on shutdown.
    broker: Broker = field(default_factory=InProcessBroker)
    sign_in_throttle: SignInThrottle = field(default_factory=SignInThrottle)
    _secrets_mtime: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._secrets_mtime = self._mtime()

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
