"""What a running openplug holds: settings, database, secrets, org id."""

from __future__ import annotations

from dataclasses import dataclass

from openplug.db import Database
from openplug.identity.secrets_file import ServerSecrets
from openplug.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    secrets: ServerSecrets
    org_id: str
