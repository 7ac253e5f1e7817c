"""argon2 on the server's own threads: right answers, off the event loop."""

from __future__ import annotations

import asyncio
import threading

from openplug.identity.passwords import PasswordHashing, hash_password
from tests.realtime.test_sockets import WAIT


async def test_verification_answers_on_the_pool() -> None:
    hashing = PasswordHashing(threads=1)
    try:
        stored = hash_password("correct horse battery")
        assert await hashing.verify(stored, "correct horse battery")
        assert not await hashing.verify(stored, "wrong horse battery")
        # No stored hash (unknown email, no password set): a full
        # verification of the dummy hash, and never a match.
        assert not await hashing.verify(None, "correct horse battery")
        assert not await hashing.verify("not an argon2 hash", "x")
    finally:
        hashing.close()


async def test_verification_waits_for_the_pool_while_the_loop_runs_on() -> None:
    hashing = PasswordHashing(threads=1)
    release, running = threading.Event(), threading.Event()

    def hold() -> None:
        running.set()
        release.wait()

    held = hashing.executor.submit(hold)
    try:
        assert running.wait(WAIT)
        stored = hash_password("correct horse battery")
        verifying = asyncio.create_task(hashing.verify(stored, "correct horse battery"))
        # A round trip through another thread: the loop ran the verify task
        # meanwhile (it was ready first), and runs this test on.
        await asyncio.to_thread(lambda: None)
        assert not verifying.done()
        release.set()
        assert await asyncio.wait_for(verifying, WAIT)
    finally:
        release.set()
        held.result(WAIT)
        hashing.close()
