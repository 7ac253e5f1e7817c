"""``openplug serve --workers 2`` as an operator runs it, beside a second
``openplug serve`` of the same deployment (one PostgreSQL, one Redis, one
data directory): it answers from its workers, and on SIGTERM it closes
its open sockets with 1012 (service restart) and exits cleanly; the
widget's socket resumes on the other process, missing nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openplug.realtime import CloseCode
from tests.backends import postgres_database
from tests.conftest import ServerFactory
from tests.deploy.processes import Served, deployment_env
from tests.faults.redis_server import RedisServer
from tests.realtime.test_sockets import conv_topic, message_seqs, visitor_socket


@pytest.fixture
def deployment(make_server: ServerFactory, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The first process: a server of the test's own (which initialises the
    instance), on PostgreSQL and a Redis the test starts."""
    redis = RedisServer(tmp_path).start()
    try:
        with postgres_database() as url:
            redis_url = f"redis://127.0.0.1:{redis.port}/0"
            other = make_server(database_url=url, redis_url=redis_url)
            env = deployment_env(other.settings.data_dir, url, redis_url)
            yield {"env": env, "other": other, "tmp": tmp_path}
    finally:
        redis.stop()


def token_for(base_url: str, aat: str, user_ref: str) -> str:
    r = httpx.post(f"{base_url}/auth-tokens.create", headers={"Authorization": aat},
                   json={"rev_info": {"user_ref": user_ref}}, timeout=30)  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["access_token"])


def widget(base_url: str, token: str, app_id: str, path: str, **body: Any) -> dict[str, Any]:
    r = httpx.post(f"{base_url}/widget/{path}", headers={"Authorization": token},
                   json={"app_id": app_id, **body}, timeout=30)  # fmt: skip
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def test_serve_workers_answers_and_sigterm_closes_sockets_with_1012(
    deployment: dict[str, Any],
) -> None:
    env, other, tmp = deployment["env"], deployment["other"], deployment["tmp"]
    aat, app_id = other.aat, other.app_id
    workers = Served(env, ["--workers", "2"], app_id=app_id).start(tmp / "workers.log")
    try:
        assert len(workers.children()) >= 2  # the workers, under uvicorn's supervisor
        token = token_for(workers.base_url, aat, "restart@example.com")
        conversation = widget(workers.base_url, token, app_id, "conversations.create",
                              body="hello")["conversation"]  # fmt: skip
        topic = conv_topic(conversation)
        async with visitor_socket(workers, token, app_id) as visitor:  # type: ignore[arg-type]
            assert message_seqs(await visitor.subscribe(topic, after_seq=0)) == [1]
            assert workers.terminate() == 0
            assert await visitor.closed_with() == CloseCode.SERVICE_RESTART
        # Meanwhile the conversation goes on through the other process.
        widget(other.base_url, token, app_id, "messages.create",
               conversation=conversation["id"], body="while you were away")  # fmt: skip
        # The widget reconnects (to whichever process the balancer picks)
        # and resumes from the last seq it saw.
        async with visitor_socket(other, token, app_id) as visitor:
            assert message_seqs(await visitor.subscribe(topic, after_seq=1)) == [2]
    finally:
        workers.stop()
