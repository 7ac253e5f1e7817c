"""A webhook receiver on loopback, in a thread: records every request,
answers the ``verify`` handshake (rightly or not), and can go down
(refusing connections) and come back on the same port."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes

    @property
    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.raw)
        return value

    def signed_by(self, secret: str) -> bool:
        expected = hmac.new(secret.encode(), self.raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("x-devrev-signature", ""))


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.echo_challenge = True
        self.status = 200
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                got = Received({k.lower(): v for k, v in self.headers.items()}, raw)
                event = got.event
                answer: dict[str, Any] = {}
                if event.get("type") == "verify":
                    challenge = event["verify"]["challenge"]
                    answer = {"challenge": challenge if receiver.echo_challenge else "nope"}
                body = json.dumps(answer).encode()
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with receiver._changed:
                    receiver.received.append(got)
                    receiver._changed.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: the port refuses connections until ``start``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self, event_type: str | None = None) -> list[Received]:
        with self._changed:
            return [r for r in self.received if event_type in (None, r.event.get("type"))]

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self), timeout):
                types = [r.event.get("type") for r in self.received]
                raise AssertionError(f"receiver did not get what was awaited; got {types}")
