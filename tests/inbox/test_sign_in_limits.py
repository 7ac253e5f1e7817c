"""A storm of inbox sign-ins (finding 8): counted per client address before
any argon2 work, and hashed on argon2's own threads while everything else,
including an agent signing in from elsewhere, is served.

Clients take distinct loopback source addresses (127.0.0.2, ...), which
Linux routes to the server on 127.0.0.1 like any other peer. Argon2's
threads are held busy by jobs of the test, so what a request does while
they are busy is decided, not raced.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from itertools import count
from typing import Any

import httpx

from openplug.runtime import SIGN_IN_FAILURES as MAX_FAILURES
from openplug.runtime import SIGN_IN_WINDOW_SECONDS
from tests.conftest import ServerFactory
from tests.live_server import LiveServer

# A safety net against hangs, never a synchronisation: generous, because on
# a loaded CI machine (a test worker per core) a request can stall for
# seconds before the server's thread runs it.
WAIT = 30.0

_fresh = count()


def fresh_email() -> dict[str, str]:
    """Sign-in credentials for an email nobody has: what the storm sends."""
    return {"email": f"storm-{next(_fresh)}@example.com", "password": "p" * 12}


def admin(server: LiveServer) -> dict[str, str]:
    assert server.first is not None
    return {"email": server.first.admin_email, "password": server.admin_password}


def client_from(server: LiveServer, address: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.base_url, timeout=30, transport=transport)


def async_client_from(server: LiveServer, address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=server.base_url, timeout=60, transport=transport)


class WatchedPool(ThreadPoolExecutor):
    """argon2's pool as the server makes it, which also tells the test what
    was queued on it: a test waits for a sign-in to reach argon2 (an
    event), never for a while."""

    def __init__(self, threads: int) -> None:
        super().__init__(threads, thread_name_prefix="openplug-argon2")
        self.threads = threads
        self.queued = 0  # jobs submitted, the test's own excluded
        self._lock = threading.Lock()
        self._arrivals = threading.Semaphore(0)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        with self._lock:
            self.queued += 1
        self._arrivals.release()
        return future

    def hold_every_thread(self, release: threading.Event) -> list[Future[Any]]:
        started = [threading.Event() for _ in range(self.threads)]

        def hold(running: threading.Event) -> None:
            running.set()
            release.wait()

        held = [super(WatchedPool, self).submit(hold, running) for running in started]
        for running in started:
            assert running.wait(WAIT), "argon2's threads did not take the jobs"
        return held

    async def until_queued(self, jobs: int) -> None:
        for _ in range(jobs):
            arrived = await asyncio.to_thread(self._arrivals.acquire, timeout=WAIT)
            assert arrived, "a sign-in never reached argon2's threads"


@contextmanager
def argon2_busy(server: LiveServer) -> Iterator[WatchedPool]:
    """Every argon2 thread of the server runs a job of ours until the block
    ends: no sign-in can finish its hash meanwhile."""
    assert server.runtime is not None
    hashing = server.runtime.password_hashing
    pool = hashing.executor
    if not isinstance(pool, WatchedPool):
        hashing.executor.shutdown()
        pool = hashing.executor = WatchedPool(hashing.threads)
    release = threading.Event()
    held = pool.hold_every_thread(release)
    try:
        yield pool
    finally:
        release.set()
        for job in held:
            job.result(WAIT)


def assert_limited(r: httpx.Response, retry_after: int | None = None) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["type"] == "too_many_requests"
    assert int(r.headers["retry-after"]) == r.json()["retry_after"] > 0
    if retry_after is not None:
        assert r.json()["retry_after"] == retry_after


def test_one_address_trying_fresh_emails_is_refused_before_any_hash(
    make_server: ServerFactory,
) -> None:
    server = make_server(failed_sign_ins_per_address_per_hour=3)
    with client_from(server, "127.0.0.2") as storm:
        for _ in range(3):
            assert storm.post("/inbox/sign-in", json=fresh_email()).status_code == 401
        r = storm.post("/inbox/sign-in", json=fresh_email())
        assert_limited(r)
        assert "address" in r.json()["message"]
        # The hour-long address window, not the 15-minute email one.
        assert SIGN_IN_WINDOW_SECONDS < r.json()["retry_after"] <= 3600
        # Refused without any argon2 work: its threads are all taken, and
        # nothing was queued for them.
        with argon2_busy(server) as argon2:
            assert_limited(storm.post("/inbox/sign-in", json=fresh_email()))
            # The right password from that address too: the limit is the
            # address's, and knowing the answer must not be testable.
            assert_limited(storm.post("/inbox/sign-in", json=admin(server)))
            assert argon2.queued == 0
    # Another address is not affected.
    with client_from(server, "127.0.0.3") as office:
        r = office.post("/inbox/sign-in", json=admin(server))
        assert r.status_code == 200, r.text


def test_successful_sign_ins_do_not_use_up_the_address_allowance(
    make_server: ServerFactory,
) -> None:
    server = make_server(failed_sign_ins_per_address_per_hour=2)
    with client_from(server, "127.0.0.2") as office:
        # Agents behind one NAT signing in all day.
        for _ in range(4):
            assert office.post("/inbox/sign-in", json=admin(server)).status_code == 200
        for _ in range(2):
            assert office.post("/inbox/sign-in", json=fresh_email()).status_code == 401
        assert_limited(office.post("/inbox/sign-in", json=fresh_email()))


def test_the_limit_can_be_turned_off(make_server: ServerFactory) -> None:
    server = make_server(failed_sign_ins_per_address_per_hour=0)
    with client_from(server, "127.0.0.2") as c:
        for _ in range(4):
            assert c.post("/inbox/sign-in", json=fresh_email()).status_code == 401


async def test_one_address_holds_at_most_two_places_in_argon2s_queue(
    server: LiveServer,
) -> None:
    async with async_client_from(server, "127.0.0.2") as storm:
        with argon2_busy(server) as argon2:
            sent = [
                asyncio.create_task(storm.post("/inbox/sign-in", json=fresh_email()))
                for _ in range(3)
            ]
            done, waiting = await asyncio.wait(
                sent, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED
            )
            # Two wait for argon2; the third is refused at once.
            assert len(done) == 1 and len(waiting) == 2
            assert_limited(done.pop().result(), retry_after=1)
            await argon2.until_queued(2)
            assert argon2.queued == 2
        for r in await asyncio.gather(*waiting):
            assert r.status_code == 401


async def test_other_requests_are_served_while_sign_ins_wait_for_argon2(
    server: LiveServer,
) -> None:
    async with (
        async_client_from(server, "127.0.0.2") as agent,
        async_client_from(server, "127.0.0.3") as stranger,
        async_client_from(server, "127.0.0.4") as guesser,
        server.async_client() as other,
    ):
        with argon2_busy(server) as argon2:
            sign_ins = [
                asyncio.create_task(agent.post("/inbox/sign-in", json=admin(server))),
                # An unknown email costs a hash too (the dummy one), so it
                # cannot answer sooner than a known one.
                asyncio.create_task(stranger.post("/inbox/sign-in", json=fresh_email())),
                asyncio.create_task(
                    guesser.post("/inbox/sign-in", json={**admin(server), "password": "w" * 12})
                ),
            ]
            # All three are waiting for argon2, the unknown email included.
            await argon2.until_queued(3)
            assert (await other.get("/health")).status_code == 200
            identify = await other.post(
                "/auth-tokens.create",
                json={"rev_info": {"user_ref": "shopper@example.com"}},
                headers={"Authorization": server.aat},
            )
            assert identify.status_code == 201, identify.text
            visitor = await other.post("/widget/session", json={"app_id": server.app_id})
            assert visitor.status_code == 200, visitor.text
            assert not any(task.done() for task in sign_ins)
        agent_r, stranger_r, guesser_r = await asyncio.gather(*sign_ins)
    assert agent_r.status_code == 200, agent_r.text
    assert stranger_r.status_code == guesser_r.status_code == 401
    assert stranger_r.json() == guesser_r.json()


async def test_guesses_sent_together_cannot_outrun_the_email_lockout(
    server: LiveServer,
) -> None:
    """Each attempt is counted when it arrives, not when its hash fails:
    six wrong passwords at once (from six addresses) get six answers of
    which one is a 429, not six hashes."""
    clients = [async_client_from(server, f"127.0.0.{n}") for n in range(2, 2 + MAX_FAILURES + 1)]
    guess = {**admin(server), "password": "guess-guess-guess"}
    try:
        with argon2_busy(server) as argon2:
            sent = [asyncio.create_task(c.post("/inbox/sign-in", json=guess)) for c in clients]
            done, waiting = await asyncio.wait(
                sent, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED
            )
            assert len(done) == 1 and len(waiting) == MAX_FAILURES
            refused = done.pop().result()
            assert_limited(refused)
            assert "email" in refused.json()["message"]
            await argon2.until_queued(MAX_FAILURES)
        for r in await asyncio.gather(*waiting):
            assert r.status_code == 401
        # The lockout holds for the right password as well.
        async with async_client_from(server, "127.0.0.100") as agent:
            assert_limited(await agent.post("/inbox/sign-in", json=admin(server)))
    finally:
        for c in clients:
            await c.aclose()
