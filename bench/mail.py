"""How long a conversation takes to cross mail, both ways, against a real
server and real SMTP on loopback.

Why these measurements
----------------------
A visitor who left the page gets the agent's reply by mail, and answers it
from their mail client; how long each crossing takes is what the outbox,
its worker's wake-up and the inbound listener add to a message. On ONE
server process (``openplug serve``: SQLite, the in-process broker, the
shipped outbox timing, a fresh temporary data directory) with an SMTP
server started by this script (aiosmtpd, in-process) as its relay and the
server's own SMTP listener (``OPENPLUG_SMTP_INBOUND_PORT``) for replies,
and the app's ``mail_delay_seconds`` set to 0 (mail as soon as a reply is
unseen), each sample is a new identified visitor with a conversation and no
widget open:

(a) REPLY -> MAIL: the agent posts a reply (``POST /timeline-entries.create``
    with a PAT); from just before the request until the relay has accepted
    the visitor's mail (end of DATA). Baseline, same requests: the agent's
    HTTP round trip. The ratio is what the mail path adds on top of the
    post the agent makes anyway.
(b) MAIL -> INBOX: the visitor's answer to that mail (to its Reply-To, over
    SMTP to the server's listener); from just before the SMTP connection
    opens until the agent's inbox socket (``/inbox/socket`` with the PAT,
    subscribed to ``inbox``) reads the ``conversation.activity`` that carries it. Baseline: the
    same visitor posting in the widget (``POST /widget/messages.create``)
    until the same socket reads that event.

A run counts only when every sample's mail went to its visitor's address
with a reply address, and every answer reached the inbox once as that
visitor's message; otherwise the script says so and exits 1.

Usage: ``.venv/bin/python bench/mail.py [--samples 30] [--keep]``
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import smtplib
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

# Same directory: the server process, its CLI and git_revision are shared.
from identify import BenchError, Check, Server, free_port, git_revision, http, run_and_report
from websockets.asyncio.client import ClientConnection, connect

DOMAIN = "replies.bench.example"
WAIT_S = 30.0  # a safety net against hangs, never a measurement


class Relay:
    """The SMTP server openplug sends through: notes when each mail's DATA ends."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrived: dict[str, tuple[float, EmailMessage]] = {}
        self._changed = threading.Condition()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.perf_counter()
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._changed:
            for rcpt in envelope.rcpt_tos:
                self.arrived[rcpt.lower()] = (at, message)
            self._changed.notify_all()
        return "250 OK"

    def wait_for(self, address: str) -> tuple[float, EmailMessage]:
        with self._changed:
            if not self._changed.wait_for(lambda: address in self.arrived, WAIT_S):
                raise BenchError(f"no mail reached {address} within {WAIT_S:.0f} s")
            return self.arrived[address]

    def __enter__(self) -> Relay:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


@dataclass
class Report:
    reply_to_mail: list[float] = field(default_factory=list)
    agent_post: list[float] = field(default_factory=list)
    mail_to_inbox: list[float] = field(default_factory=list)
    widget_to_inbox: list[float] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


async def inbox_event(ws: ClientConnection, body: str) -> float:
    """When the inbox topic brings the message whose body is ``body``."""
    async with asyncio.timeout(WAIT_S):
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong"}))
                continue
            event = frame.get("event") or {}
            if event.get("type") == "conversation.activity" and body in json.dumps(event):
                return time.perf_counter()


def timed_post(base: str, path: str, token: str, body: dict[str, Any]) -> tuple[float, float, Any]:
    start = time.perf_counter()
    status, data = http(base, "POST", path, token=token, body=body)
    end = time.perf_counter()
    if status not in (200, 201):
        raise BenchError(f"POST {path} answered {status}: {data}")
    return start, end, data


def send_answer(port: int, sender: str, mail: EmailMessage, text: str) -> float:
    answer = EmailMessage()
    answer["From"] = sender
    answer["To"] = str(mail["Reply-To"])
    answer["Subject"] = f"Re: {mail['Subject']}"
    answer["Message-ID"] = make_msgid(domain="visitor.example")
    answer["In-Reply-To"] = str(mail["Message-ID"])
    answer.set_content(f"{text}\n\nOn Monday, Support wrote:\n> an earlier reply\n")
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=WAIT_S) as smtp:
        smtp.send_message(answer, from_addr=sender, to_addrs=[str(mail["Reply-To"])])
    return start


async def measure(args: argparse.Namespace, server: Server, relay: Relay, report: Report) -> None:
    base, inbound = server.base, int(server.env["OPENPLUG_SMTP_INBOUND_PORT"])
    app_id = server.cli("apps", "list")["apps"][0]["app_id"]
    aat = server.cli("tokens", "create", "--app", app_id, "--hint", "bench")["token"]
    pat = server.cli("pat", "create", "--hint", "bench")["token"]
    status, data = http(base, "POST", "/apps.update", token=pat,
                        body={"app_id": app_id, "mail_delay_seconds": 0})  # fmt: skip
    if status != 200:
        raise BenchError(f"apps.update answered {status}: {data}")
    async with connect(base.replace("http", "ws") + "/inbox/socket") as ws:
        await ws.send(json.dumps({"type": "auth", "token": pat}))
        await ws.send(json.dumps({"type": "subscribe", "topic": "inbox"}))
        for i in range(args.samples + 1):  # the first warms up and is not counted
            address = f"visitor{i}@example.com"
            status, data = http(base, "POST", "/auth-tokens.create", token=aat, body={
                "rev_info": {"user_ref": f"bench-{i}", "user_traits": {"email": address}},
            })  # fmt: skip
            if status != 201:
                raise BenchError(f"auth-tokens.create answered {status}: {data}")
            visitor = data["access_token"]
            *_, created = await asyncio.to_thread(
                timed_post, base, "/widget/conversations.create", visitor,
                {"app_id": app_id, "body": f"question {i}"},
            )  # fmt: skip
            conversation = created["conversation"]["id"]
            await inbox_event(ws, f"question {i}")

            reply = {"object": conversation, "type": "timeline_comment", "body": f"answer {i}"}
            start, end, _ = await asyncio.to_thread(
                timed_post, base, "/timeline-entries.create", pat, reply
            )
            arrived, mail = await asyncio.to_thread(relay.wait_for, address)
            text = mail.get_body(("plain",))
            reply_to = str(mail["Reply-To"] or "")
            if text is None or f"answer {i}" not in text.get_content() or "reply+" not in reply_to:
                raise BenchError(f"the mail to {address} lacks the reply or a reply address")

            answer_start = await asyncio.to_thread(
                send_answer, inbound, address, mail, f"thanks {i}"
            )
            answered = await inbox_event(ws, f"thanks {i}")

            widget_start, *_ = await asyncio.to_thread(
                timed_post, base, "/widget/messages.create", visitor,
                {"app_id": app_id, "conversation": conversation, "body": f"one more {i}"},
            )  # fmt: skip
            widget_arrived = await inbox_event(ws, f"one more {i}")
            if i:
                report.reply_to_mail.append(arrived - start)
                report.agent_post.append(end - start)
                report.mail_to_inbox.append(answered - answer_start)
                report.widget_to_inbox.append(widget_arrived - widget_start)
    got = len(report.mail_to_inbox)
    report.checks.append(
        Check("every mail and every answer arrived", got == args.samples, f"{got} samples")
    )


def run_benchmark(args: argparse.Namespace, tmp: Path) -> Report:
    report = Report()
    with Relay() as relay:
        server = Server(tmp / "data", tmp / "server.log")
        server.env |= {
            "OPENPLUG_SMTP_URL": f"smtp://127.0.0.1:{relay.port}",
            "OPENPLUG_MAIL_FROM": f"Bench Support <support@{DOMAIN}>",
            "OPENPLUG_MAIL_INBOUND_DOMAIN": DOMAIN,
            "OPENPLUG_SMTP_INBOUND_PORT": str(free_port()),
        }
        try:
            print(f"starting openplug serve on {server.base}, relay on :{relay.port} ...")
            server.start()
            asyncio.run(measure(args, server, relay, report))
        finally:
            server.stop()
    return report


def ms(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def print_report(args: argparse.Namespace, report: Report) -> bool:
    print(f"\nopenplug {git_revision()}, {args.samples} samples, one process, SQLite")
    rows = (
        ("(a) agent reply -> visitor's mail", report.reply_to_mail, report.agent_post,
         "agent POST round trip"),
        ("(b) visitor's mail answer -> inbox", report.mail_to_inbox, report.widget_to_inbox,
         "widget post -> inbox"),
    )  # fmt: skip
    for label, values, baseline, base_label in rows:
        p50, p99 = ms(values, 50), ms(values, 99)
        b50 = 1000 * statistics.median(baseline)
        print(f"{label}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {1000 * max(values):.1f} ms")
        print(f"    baseline {base_label}: p50 {b50:.1f} ms; ratio p50 {p50 / b50:.1f}x")
    for check in report.checks:
        print(f"{'PASS' if check.ok else 'FAIL'}: {check.label} ({check.detail})")
    return all(c.ok for c in report.checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    args = parser.parse_args()
    if args.samples < 1:
        parser.error("--samples must be >= 1")
    return run_and_report(args, "openplug-mail-bench-", run_benchmark, print_report,
                          "data/ and server.log")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
