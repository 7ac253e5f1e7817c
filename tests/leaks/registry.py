"""Every secret the test run creates, gathered where it crosses a boundary.

Nothing here relies on a test remembering to register what it made: the
servers' own edge is observed (``ObservedApp`` wraps every ``LiveServer``
and reads each request, response and socket frame), so every secret a
server hands out, to httpx, a WebSocket client, Chromium or DevRev's SDK,
and every credential a test presents to it (even one the test forged), is
registered as it passes; the first-start credentials, the CLI's output and
the passwords typed into it are registered by ``LiveServer`` and the CLI
helpers.

What counts as a secret is a table of kinds (``KINDS``): a kind with a
``shape`` is also recognised on sight, so its leak is caught even if it
was never registered. Adding a kind (the mail feature's reply-address
tokens) is one line there.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from openplug.identity.access_tokens import TOKEN_PREFIXES
from openplug.identity.passwords import MIN_LENGTH as PASSWORD_MIN_LENGTH
from openplug.widget.service import ANONYMOUS_CREDENTIAL_PREFIX

URLSAFE = "A-Za-z0-9_-"


def _whole(value: str) -> str:
    return value


@dataclass(frozen=True)
class SecretKind:
    """``shape``: a regex without capturing groups that finds this kind in
    any text. ``secret_part``: what of a value must never be logged (a
    token's prefix and a JWT's header and claims are public)."""

    name: str
    shape: str | None = None
    secret_part: Callable[[str], str] = _whole


def prefixed(name: str, prefix: str) -> SecretKind:
    return SecretKind(
        name, shape=re.escape(prefix) + f"[{URLSAFE}]{{16,}}",
        secret_part=lambda value: value[len(prefix):],
    )  # fmt: skip


JWT_SHAPE = rf"eyJ[{URLSAFE}]*\.eyJ[{URLSAFE}]*\.[{URLSAFE}]{{16,}}"
# Never handed out, so never registered: found on sight only. A hash in a
# log is a password open to offline guessing.
ARGON2_SHAPE = r"\$argon2(?:id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]{16,}"

KINDS: tuple[SecretKind, ...] = (
    prefixed("AAT", TOKEN_PREFIXES["aat"]),
    prefixed("PAT", TOKEN_PREFIXES["pat"]),
    prefixed("inbox sign-in", TOKEN_PREFIXES["web"]),
    prefixed("anonymous credential", ANONYMOUS_CREDENTIAL_PREFIX),
    SecretKind("session token", JWT_SHAPE, secret_part=lambda value: value.rsplit(".", 1)[-1]),
    SecretKind("password"),
    SecretKind("password hash", ARGON2_SHAPE),
    # Not here: a visitor mail's unsubscribe token. It can only turn that
    # visitor's mail off (which the visitor can undo), and as a link in a
    # mail it passes through the recipient's mail servers and link
    # scanners anyway; it is no credential to anyone's data.
    # A reply address (reply+c<conversation>u<rev user>-<mac>@...): whoever
    # holds it may post as that visitor from their mailbox. The keys are
    # ids; the MAC is the secret.
    SecretKind(
        "reply-address token",
        r"reply\+c[0-9]+u[0-9]+-[a-z2-7]{26}",
        secret_part=lambda value: value.rsplit("-", 1)[-1],
    ),
    # OPENPLUG_MAIL_INBOUND_SECRET, the inbound mail webhook's bearer token.
    SecretKind("mail webhook secret"),
    # A webhook's signing secret (webhooks.*: whoever holds it can forge events).
    SecretKind("webhook secret"),
)
KIND_BY_NAME = {kind.name: kind for kind in KINDS}
SHAPED = tuple(kind for kind in KINDS if kind.shape)
# One group per shaped kind, so one search of a text finds them all.
SHAPES = re.compile("|".join(f"({kind.shape})" for kind in SHAPED))
PASSWORD_FIELDS = frozenset({"password"})
_FEWEST_DISTINCT_IN_A_PASSWORD = 4


def shaped_secrets(text: str) -> Iterator[tuple[SecretKind, re.Match[str]]]:
    for match in SHAPES.finditer(text):
        assert match.lastindex is not None
        yield SHAPED[match.lastindex - 1], match


@dataclass(frozen=True)
class Secret:
    kind: str
    value: str
    seq: int


@dataclass
class SecretRegistry:
    """Thread-safe: server threads register while tests run."""

    _secrets: dict[str, Secret] = field(default_factory=dict)
    _planted: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    cli_findings: list[Any] = field(default_factory=list)

    def add(self, kind: str, value: str) -> None:
        if kind not in KIND_BY_NAME:
            raise ValueError(f"unknown secret kind {kind!r}")
        if kind == "password" and (
            len(value) < PASSWORD_MIN_LENGTH or len(set(value)) < _FEWEST_DISTINCT_IN_A_PASSWORD
        ):
            # Refused by the server, so never a credential; and short
            # strings occur in ordinary text, as do runs of one or two
            # letters (a test's "p" * 12 is in every fuzzer's "ppppp...").
            return
        with self._lock:
            if value not in self._secrets:
                self._secrets[value] = Secret(kind, value, len(self._secrets))

    def plant(self, kind: str, value: str) -> None:
        """A secret a self-test logs on purpose: the session's check must
        find it (proving the capture and the search end to end) and does
        not count it as a leak."""
        self.add(kind, value)
        with self._lock:
            self._planted.add(value)

    def observe_text(self, text: str) -> None:
        for kind, match in shaped_secrets(text):
            # Shaped like a token but not random (a fuzzer's "opl_web_CCCC..."):
            # no server made it, and its run of one letter would match
            # unrelated junk. 256 random bits use far more distinct characters.
            if len(set(match.group())) >= _FEWEST_DISTINCT_IN_A_SECRET:
                self.add(kind.name, match.group())

    def observe_json(self, value: Any, key: str | None = None, *, passwords: bool = True) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                self.observe_json(v, k, passwords=passwords)
        elif isinstance(value, list):
            for v in value:
                self.observe_json(v, key, passwords=passwords)
        elif isinstance(value, str):
            if passwords and key in PASSWORD_FIELDS:
                self.add("password", value)
            # A run of one or two letters (a refusal test's "x" * 33) is no
            # secret the server would keep, and every fuzzer's junk has it.
            if (
                passwords
                and key == "secret"
                and len(value) >= 8
                and len(set(value)) >= _FEWEST_DISTINCT_IN_A_PASSWORD
            ):
                self.add("webhook secret", value)
            self.observe_text(value)

    def observe_body(self, body: bytes, *, passwords: bool = True) -> None:
        text = body.decode("utf-8", errors="replace")
        self.observe_text(text)
        if text.lstrip()[:1] in ("{", "["):
            # Hostile-input tests send JSON nested too deep to parse: the
            # text scan above has seen everything in it already.
            with contextlib.suppress(ValueError, RecursionError):
                self.observe_json(json.loads(text), passwords=passwords)

    def mark(self) -> int:
        with self._lock:
            return len(self._secrets)

    def secrets(self) -> list[Secret]:
        with self._lock:
            return list(self._secrets.values())

    def planted(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._planted)

    def counts(self) -> Counter[str]:
        return Counter(secret.kind for secret in self.secrets())


REGISTRY = SecretRegistry()


# -- the CLI ----------------------------------------------------------------

# The CLI's text forms of a password it prints once (bootstrap, agents).
_PRINTED_PASSWORDS = (
    re.compile(r"^\s*Admin password\s+(\S+)\s*$", re.MULTILINE),
    re.compile(r"inbox password \(shown once\): (\S+)"),
)


def before_cli(args: Sequence[str], input: str | None, registry: SecretRegistry = REGISTRY) -> int:
    """Register what a CLI call is given (a typed password, a token in an
    argument); returns the mark that ``after_cli`` checks against."""
    for line in (input or "").splitlines():
        registry.add("password", line)
    for arg in args:
        registry.observe_text(arg)
    return registry.mark()


def after_cli(
    mark: int,
    args: Sequence[str],
    done: subprocess.CompletedProcess[str],
    registry: SecretRegistry = REGISTRY,
) -> None:
    """Register what the call printed (the credentials it makes are shown
    once, on stdout or in the first-start banner on stderr), and record a
    finding for any secret that existed before the call and appears on
    its stderr: the CLI prints what it creates, never what it was given.
    Its log records are checked with everything else (the child captures
    them itself)."""
    from tests.leaks.scan import Detector

    for output in (done.stdout or "", done.stderr or ""):
        registry.observe_text(output)
        for pattern in _PRINTED_PASSWORDS:
            for match in pattern.finditer(output):
                registry.add("password", match.group(1))
        with contextlib.suppress(ValueError):
            registry.observe_json(json.loads(output))
    secrets = registry.secrets()
    known_before = [s for s in secrets if s.seq < mark]
    issued_now = frozenset(s.value for s in secrets if s.seq >= mark)
    detector = Detector(known_before, allowed=issued_now)
    # The command's name only: its arguments might be secrets.
    command = " ".join(itertools.takewhile(lambda a: not a.startswith("-"), args[:2]))
    source = f"stderr of `openplug {command}`"
    registry.cli_findings.extend(detector.scan_lines((done.stderr or "").splitlines(), source))


# -- the servers' edge --------------------------------------------------------

_OBSERVED_HEADERS = frozenset({b"authorization", b"cookie", b"set-cookie", b"location"})
_MAX_OBSERVED_BODY = 1 << 20

ASGIApp = Callable[..., Any]


_FEWEST_DISTINCT_IN_A_SECRET = 16


class ObservedApp:
    """ASGI middleware: registers every secret in what crosses the server's
    edge (headers, bodies, socket frames), both ways. It only reads."""

    def __init__(
        self, app: ASGIApp, registry: SecretRegistry = REGISTRY, *, request_passwords: bool = True
    ) -> None:
        self.app = app
        self.registry = registry
        self.request_passwords = request_passwords

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        registry = self.registry
        self._headers(scope.get("headers", ()))
        registry.observe_text(scope.get("query_string", b"").decode("latin-1"))
        request_body = bytearray()
        response_body = bytearray()

        async def observed_receive() -> dict[str, Any]:
            message: dict[str, Any] = await receive()
            kind = message["type"]
            if kind == "http.request":
                _collect(request_body, message)
            elif kind == "websocket.receive":
                self._frame(message)
            return message

        async def observed_send(message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind in ("http.response.start", "websocket.accept"):
                self._headers(message.get("headers", ()))
            elif kind == "http.response.body":
                _collect(response_body, message)
            elif kind == "websocket.send":
                self._frame(message)
            await send(message)

        try:
            await self.app(scope, observed_receive, observed_send)
        finally:
            registry.observe_body(bytes(request_body), passwords=self.request_passwords)
            # Under a fuzzer, an answer's passwords and secrets are its own
            # made-up ones echoed back (webhooks.create returns the secret it
            # was given), which also turn up in its other junk requests.
            registry.observe_body(bytes(response_body), passwords=self.request_passwords)

    def _headers(self, headers: Any) -> None:
        for name, value in headers:
            if name.lower() in _OBSERVED_HEADERS:
                self.registry.observe_text(value.decode("latin-1"))

    def _frame(self, message: dict[str, Any]) -> None:
        data = message.get("text") or message.get("bytes") or b""
        self.registry.observe_body(data.encode() if isinstance(data, str) else data)


def _collect(buffer: bytearray, message: dict[str, Any]) -> None:
    if len(buffer) < _MAX_OBSERVED_BODY:
        buffer += message.get("body", b"")[: _MAX_OBSERVED_BODY - len(buffer)]
