"""Who made a change. The low-level functions that change credentials,
agents and apps take an ``Actor`` as a required argument: a new path to
them cannot forget to say who it acts for."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from typing import Literal

ActorKind = Literal["dev_user", "rev_user", "operator", "system"]


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    key: int | None
    # The credential used: "pat", "web" (inbox sign-in), "aat", "session",
    # "password" (signing in), "cli" or "server".
    via: str
    # The client address for HTTP; ``user@host`` for the command line.
    address: str | None = None


def _operator_address() -> str:
    """The person at the server's shell running ``openplug``: their login
    name and host are the only "address" there is."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = "?"
    return f"{user}@{socket.gethostname()}"


OPERATOR = Actor("operator", None, "cli", _operator_address())
SYSTEM = Actor("system", None, "server")
