"""A mail test's world: a real SMTP server started by the test and an
openplug server sending to it, once over SQLite and once over PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.backends import database_url
from tests.conversations.helpers import agent_ok
from tests.live_server import LiveServer, make_settings
from tests.mail.smtp_sink import SmtpSink

DOMAIN = "replies.example.test"


@dataclass
class Setup:
    server: LiveServer
    sink: SmtpSink
    data_dir: Path
    database_url: str | None


def start_server(data_dir: Path, database_url: str | None, sink: SmtpSink | None) -> LiveServer:
    settings = make_settings(data_dir, database_url)
    settings.smtp_url = sink.url if sink is not None else None
    settings.mail_from = f"Acme Support <support@{DOMAIN}>"
    settings.mail_inbound_domain = DOMAIN
    settings.outbox_poll_seconds = 0.05
    settings.outbox_retry_seconds = 0.05
    return LiveServer(settings).start()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    sink = SmtpSink().start()
    with database_url(request.param) as url:
        data_dir = tmp_path_factory.mktemp(f"mail-{request.param}")
        server = start_server(data_dir, url, sink)
        s = Setup(server, sink, data_dir, url)
        try:
            yield s
        finally:
            s.server.stop()
            sink.stop()


def identified_visitor(server: LiveServer, ref: str, email: str) -> str:
    with server.client(server.aat) as c:
        r = c.post(
            "/auth-tokens.create",
            json={
                "rev_info": {"user_ref": ref, "user_traits": {"email": email, "display_name": ref}}
            },
        )
    assert r.status_code == 201, r.text
    return str(r.json()["access_token"])


def set_delay(server: LiveServer, seconds: int) -> None:
    agent_ok(server, "/apps.update", {"app_id": server.app_id, "mail_delay_seconds": seconds})
