"""Agents' sign-in passwords: argon2id through ``argon2-cffi``.

Unlike AATs and PATs (256 random bits, a keyed digest is enough), a
password is chosen by a person and may be weak, so it gets a slow,
memory-hard hash: about 0.2 s of CPU per verification on a small server.
That cost must not be turned against the server, hence two things: the
sign-in endpoint counts attempts per email and per client address before
any hash runs (see ``agent_sessions``), and a running server verifies only
on ``PasswordHashing``'s few threads, never on the event loop, so a flood
of sign-ins waits for those threads while every other request is served.
(New hashes are made only where a password is set: by the CLI, and on the
first start before the server listens.)
"""

from __future__ import annotations

import asyncio
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from openplug.errors import InvalidField

MIN_LENGTH = 12
MAX_LENGTH = 256

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown (or the agent has no
    password), so that a wrong email costs as long as a wrong password and
    sign-in does not reveal who has an account. Same parameters as every
    new hash; made at the first sign-in, not at import, where it cost every
    ``openplug`` command a fifth of a second."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str, field_name: str = "password") -> str:
    if len(password) < MIN_LENGTH:
        raise InvalidField(field_name, f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidField(field_name, f"a password has at most {MAX_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; always a full argon2 verification, of
    the dummy hash when there is no stored one."""
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    """Printed once to the operator (bootstrap, ``agents set-password``)."""
    return secrets.token_urlsafe(15)


def default_hashing_threads() -> int:
    """Half the cores, at least one: argon2 releases the GIL, so each thread
    can take a whole core, and the other half stays for the event loop
    (and the database) however many sign-ins are waiting."""
    return max(1, (os.cpu_count() or 1) // 2)


class PasswordHashing:
    """argon2 for a running server, on at most ``threads`` threads of its own.

    Not ``asyncio.to_thread``: the loop's default executor has up to 32
    threads (``cpu_count + 4``) shared with everything else, so a burst of
    sign-ins would run that many hashes at once, take every core from the
    event loop and queue in front of unrelated work. Here at most
    ``threads`` hashes run at once; the rest wait in this pool's queue,
    costing nothing but memory (bounded by the sign-in limits).
    """

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or default_hashing_threads()
        # Threads start on first use: a runtime that never hashes has none.
        self.executor = ThreadPoolExecutor(self.threads, thread_name_prefix="openplug-argon2")

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """``verify_password`` on the pool (the dummy hash for ``None``)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, verify_password, stored_hash, password)

    def close(self) -> None:
        """Stop the threads; hashes still queued are cancelled."""
        self.executor.shutdown(wait=False, cancel_futures=True)
