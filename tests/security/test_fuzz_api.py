"""Schema-driven fuzzing of the whole HTTP API from its own OpenAPI document.

Schemathesis generates requests for every operation in ``/openapi.json``
(valid ones and ones that break the schema on purpose) and sends them to a
real server on loopback, once over SQLite and once over PostgreSQL, with
real credentials. Every built-in check runs on every response: no 5xx, the
status code, content type, headers and body as documented, schema-breaking
requests refused, missing credentials refused, other methods answered 405
with a truthful ``Allow``.

Valid requests name objects that exist (the seeded visitor, conversation,
account...) often enough to reach the success paths, and destructive calls
get objects and credentials of their own, so one case never takes away what
the next needs (see ``Target``).

Bounded in time: ``OPENPLUG_FUZZ_EXAMPLES`` examples per operation and
generation phase (default 100) plus the coverage phase's fixed cases. A
failure prints the failing request as curl and the seed; run again with
``OPENPLUG_FUZZ_SEED=<seed>`` to replay the same cases.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.transport.serialization import Binary

from openplug.app import create_app
from openplug.audit import SYSTEM
from openplug.db.engine import Database
from openplug.identity import access_tokens
from openplug.mail.addresses import reply_address
from openplug.settings import Settings
from tests.backends import postgres_database
from tests.leaks.registry import REGISTRY
from tests.live_server import LiveServer, make_settings

# The longest request target (path and query) uvicorn's parser (httptools)
# accepts; a longer one never reaches the app.
MAX_REQUEST_TARGET = 65535
MAX_EXAMPLES = int(os.environ.get("OPENPLUG_FUZZ_EXAMPLES", "100"))
SEED = int(os.environ.get("OPENPLUG_FUZZ_SEED") or secrets.randbelow(2**31))

# The document the server serves: the same code builds it (the fixture
# checks that the live server's /openapi.json is exactly this).
DOCUMENT = create_app(Settings(data_dir=Path("/nonexistent"), port=0)).openapi()

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        # A request that hangs fails its case instead of stalling the run.
        "request-timeout": 10,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            # Nothing replayed from earlier runs: a seed names one run.
            "database": "none",
        },
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
        },
        "checks": {
            "enabled": True,
            # A body over OPENPLUG_MAX_BODY_BYTES is refused with 413 before
            # it is read, whatever is wrong inside it.
            "negative_data_rejection": {
                "expected-statuses": ["400", "401", "403", "404", "405", "409", "413", "429"],
            },
            # Excluded: it expects every schema-valid request to succeed, but
            # DevRev answers 400 (invalid_field, bad_request...) for values the
            # schema cannot judge (an id naming nothing or another kind of
            # object, a cursor it never handed out, a custom field not
            # declared, a phone number that is not E.164) and openplug does the
            # same; and 413 for bodies over the server's limit.
            "positive_data_acceptance": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)

MAIL_SECRET = secrets.token_urlsafe(32)
REGISTRY.add("mail webhook secret", MAIL_SECRET)


@schemathesis.serializer("message/rfc822")
def _raw_mail(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    """The inbound webhook's body is a raw message: bytes as generated
    (schemathesis wraps them in ``Binary``), anything else (a
    schema-breaking case) as its text."""
    if isinstance(value, Binary):
        return value.data
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")


# --- the server under test and what it holds ------------------------------------


@dataclass
class Target:
    """A seeded server, and fresh objects for calls that use theirs up."""

    backend: str
    server: LiveServer
    setup: httpx.Client
    visitor_token: str = ""
    visitor_id: str = ""
    conversation_id: str = ""
    account_id: str = ""
    rev_org_id: str = ""
    managed_app_id: str = ""
    kept_aat_id: str = ""
    anonymous_credential: str = ""
    admin_id: str = ""
    # A file an agent attached in the seeded conversation.
    artifact_id: str = ""
    # An anonymous visitor's session: one with no email trait, whose
    # "get replies by email" address the widget may set.
    anonymous_token: str = ""
    # A visitor the page named without a session token (plugSDK's identity
    # option): the one kind whose traits updateIdentity changes.
    page_identified_token: str = ""
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def pat(self) -> str:
        return self.server.pat

    def call(self, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.setup.post(path, json=body, headers={"Authorization": token})
        assert r.status_code in (200, 201), f"{path}: {r.status_code} {r.text}"
        return dict(r.json())

    def seed(self) -> None:
        s = self.server
        self.call(s.pat, "/schemas.custom.set", {
            "type": "tenant_fragment", "leaf_type": "rev_user",
            "fields": [{"name": "plan", "field_type": "enum", "allowed_values": ["free", "pro"]},
                       {"name": "seats", "field_type": "int"}],
        })  # fmt: skip
        self.visitor_token = self.session_token("fuzz-visitor")
        user = self.call(s.pat, "/rev-users.list", {"external_ref": ["fuzz-visitor"]})
        visitor = user["rev_users"][0]
        self.visitor_id = visitor["id"]
        self.account_id = visitor["account"]["id"]
        self.rev_org_id = visitor["rev_org"]["id"]
        started = self.widget(self.visitor_token, "conversations.create", body="hello")
        self.conversation_id = started["conversation"]["id"]
        self.call(s.pat, "/timeline-entries.create",
                  {"object": self.conversation_id, "body": "hi, how can we help?"})  # fmt: skip
        prepared = self.call(s.pat, "/artifacts.prepare", {"file_name": "fuzz.txt"})
        fields = [(f["key"], (None, f["value"])) for f in prepared["form_data"]]
        r = self.setup.post(
            prepared["url"], files=[*fields, ("file", ("fuzz.txt", b"fuzz\n", "text/plain"))]
        )
        assert r.status_code == 200, r.text
        self.artifact_id = prepared["id"]
        self.call(s.pat, "/timeline-entries.create",
                  {"object": self.conversation_id, "artifacts": [self.artifact_id]})  # fmt: skip
        self.managed_app_id = self.call(s.pat, "/apps.create", {"name": "fuzzed"})["app"]["app_id"]
        self.kept_aat_id = self.new_aat()["token_id"]
        self.anonymous_credential = self.new_anonymous_credential()
        self.admin_id = self.call(s.pat, "/dev-users.self", {})["dev_user"]["id"]
        r = self.setup.post("/widget/session", json={"app_id": s.app_id})
        assert r.status_code == 200, r.text
        self.anonymous_token = str(r.json()["session_token"])
        r = self.setup.post(
            "/widget/identify", json={"app_id": s.app_id, "user_ref": "fuzz-page-visitor"}
        )
        assert r.status_code == 200, r.text
        self.page_identified_token = str(r.json()["session_token"])

    def session_token(self, user_ref: str) -> str:
        rev_info = {"user_ref": user_ref, "account_ref": "fuzz.example",
                    "workspace_ref": "fuzz-workspace",
                    "user_traits": {"email": f"{user_ref}@fuzz.example"}}  # fmt: skip
        return str(
            self.call(self.server.aat, "/auth-tokens.create", {"rev_info": rev_info})[
                "access_token"
            ]
        )

    def widget(self, token: str, call: str, **body: Any) -> dict[str, Any]:
        return self.call(token, f"/widget/{call}", {"app_id": self.server.app_id, **body})

    def new_aat(self) -> dict[str, Any]:
        return self.call(self.pat, "/auth-tokens.create", {
            "requested_token_type": "urn:devrev:params:oauth:token-type:aat",
            "aud": [self.server.app_id], "token_hint": "fuzz victim",
        })  # fmt: skip

    def new_pat(self) -> str:
        """Another PAT of the bootstrap admin (PATs are made by the CLI,
        not the API), for a call that may revoke the one it is sent with."""
        runtime = self.server.runtime
        assert runtime is not None
        pepper = runtime.secrets.token_pepper

        async def issue() -> str:
            db = Database(self.server.database_url)
            try:
                admin = await access_tokens.find_by_secret(db, pepper, self.pat)
                assert admin is not None
                async with db.write() as conn:
                    secret, _ = await access_tokens.issue_access_token(
                        conn, pepper, kind="pat", dev_user_id=admin.dev_user_id, app_pk=None,
                        expires_in_days=1, token_hint="fuzz: may revoke itself", actor=SYSTEM,
                    )  # fmt: skip
                return secret
            finally:
                await db.dispose()

        return asyncio.run(issue())

    def new_anonymous_credential(self) -> str:
        r = self.setup.post("/widget/session", json={"app_id": self.server.app_id})
        assert r.status_code == 200, r.text
        return str(r.json()["anonymous_credential"])

    def reply_mail(self) -> bytes:
        """A reply by mail from the seeded visitor to the seeded conversation."""
        runtime = self.server.runtime
        assert runtime is not None
        key = lambda don: int(don.rsplit("/", 1)[-1])  # noqa: E731
        email = "fuzz-visitor@fuzz.example"
        address = reply_address(
            runtime.secrets.token_pepper, runtime.mail.inbound_domain,
            key(self.conversation_id), key(self.visitor_id), email,
        )  # fmt: skip
        REGISTRY.add("reply-address token", address.partition("@")[0])
        return (
            f"From: {email}\r\nTo: {address}\r\nSubject: Re: hello\r\n"
            f"Message-ID: <{secrets.token_hex(8)}@fuzz.example>\r\n\r\n"
            "Thanks, that helps.\r\n"
        ).encode()

    def new_rev_user_id(self) -> str:
        token = self.session_token(f"fuzz-victim-{secrets.token_hex(4)}")
        r = self.setup.post("/auth-tokens.info", headers={"Authorization": token})
        return str(r.json()["user"]["id"])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    backend: str = request.param
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if backend == "postgresql" else None
        settings = make_settings(tmp_path_factory.mktemp(f"fuzz-{backend}"), url)
        settings.mail_inbound_secret = MAIL_SECRET
        server = LiveServer(settings, fuzzed=True).start()
        stack.callback(server.stop)
        # The harness's own calls come from another loopback address, so the
        # per-address limit on new visitors counts only the fuzzer's.
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        setup = stack.enter_context(
            httpx.Client(base_url=server.base_url, transport=transport, timeout=30)
        )
        assert setup.get("/openapi.json").json() == DOCUMENT
        target = Target(backend, server, setup)
        target.seed()
        started = time.monotonic()
        yield target
        report = request.config.pluginmanager.get_plugin("terminalreporter")
        if report is not None:
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(target.statuses.items()))
            report.write_line(
                f"\nfuzz {backend}: {target.cases} cases in {time.monotonic() - started:.0f} s "
                f"(seed {SEED}; statuses {statuses})"
            )


# --- which objects and credentials each operation gets ------------------------------

Steer = Callable[[Target], Any]

# For valid requests only (a schema-breaking one must stay broken): values
# that name existing objects, by operation and field.
STEERING: dict[str, dict[str, Steer]] = {
    "/rev-users.get": {"id": lambda t: t.visitor_id},
    "/rev-users.update": {"id": lambda t: t.visitor_id, "rev_org": lambda t: t.rev_org_id},
    "/rev-users.delete": {"id": lambda t: t.new_rev_user_id()},
    "/rev-users.revoke-sessions": {"id": lambda t: t.new_rev_user_id()},
    "/rev-users.list": {"rev_org": lambda t: [t.rev_org_id]},
    "/accounts.get": {"id": lambda t: t.account_id},
    "/accounts.update": {"id": lambda t: t.account_id},
    "/rev-orgs.get": {"id": lambda t: t.rev_org_id},
    "/rev-orgs.update": {"id": lambda t: t.rev_org_id, "account": lambda t: t.account_id},
    "/rev-orgs.list": {"account": lambda t: [t.account_id]},
    "/conversations.get": {"id": lambda t: t.conversation_id},
    "/conversations.update": {
        "id": lambda t: t.conversation_id,
        "owned_by": lambda t: {"set": [t.admin_id]},
    },
    "/conversations.mark-read": {"id": lambda t: t.conversation_id},
    "/conversations.create": {
        "members": lambda t: [t.visitor_id],
        "owned_by": lambda t: [t.admin_id],
    },
    "/conversations.list": {
        "members": lambda t: [t.visitor_id],
        "owned_by": lambda t: [t.admin_id],
    },
    "/timeline-entries.create": {"object": lambda t: t.conversation_id},
    "/timeline-entries.list": {"object": lambda t: t.conversation_id},
    "/auth-tokens.get": {"token_id": lambda t: t.kept_aat_id},
    "/auth-tokens.update": {"token_id": lambda t: t.kept_aat_id},
    "/auth-tokens.delete": {"token_id": lambda t: t.new_aat()["token_id"]},
    "/apps.update": {"app_id": lambda t: t.managed_app_id},
    "/widget/session": {
        "app_id": lambda t: t.server.app_id,
        "anonymous_credential": lambda t: t.anonymous_credential,
    },
    "/widget/merge": {"anonymous_credential": lambda t: t.new_anonymous_credential()},
    "/widget/conversations.get": {"conversation": lambda t: t.conversation_id},
    "/widget/messages.create": {"conversation": lambda t: t.conversation_id},
    "/widget/messages.list": {"conversation": lambda t: t.conversation_id},
    "/widget/conversations.mark-read": {"conversation": lambda t: t.conversation_id},
    "/widget/mail-settings.update": {"email": lambda t: "fuzz-claim@example.com"},
    "/visitor-activity.get": {"id": lambda t: t.visitor_id},
    "/artifacts.get": {"id": lambda t: t.artifact_id},
    "/artifacts.locate": {"id": lambda t: t.artifact_id},
    "/widget/artifacts.get": {"id": lambda t: t.artifact_id},
    "/widget/artifacts.locate": {"id": lambda t: t.artifact_id},
}
WIDGET_APP_ID: Steer = lambda t: t.server.app_id  # noqa: E731


def steer(case: schemathesis.Case, target: Target) -> None:
    """Point a valid request at existing objects (each field half the time,
    so values the generator made up are sent too)."""
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return
    if case.path == "/mail/inbound":
        # Made-up bytes are never a reply to anything: half of the valid
        # cases are a real reply, which reaches the posting path.
        if not case.meta.is_negative_at(ParameterLocation.BODY) and secrets.randbelow(2) == 0:
            # As text: schemathesis cannot validate a changed binary body,
            # and would count the case as schema-breaking.
            case.body = target.reply_mail().decode()
        return
    fields = dict(STEERING.get(case.path, {}))
    if case.path.startswith("/widget/"):
        fields.setdefault("app_id", WIDGET_APP_ID)
    container = case.query if case.method == "GET" else case.body
    if not isinstance(container, dict):
        return
    for name, value in fields.items():
        if name in container and secrets.randbelow(4) != 0:
            container[name] = value(target)


def credential(case: schemathesis.Case, target: Target) -> str | None:
    path = case.path
    if path in ("/widget/session", "/widget/identify"):
        return None
    if path == "/mail/inbound":
        return f"Bearer {MAIL_SECRET}"
    if path == "/widget/logout":
        return target.session_token("fuzz-visitor")
    if path == "/widget/mail-settings.update":
        return target.anonymous_token
    if path == "/widget/identity.update":
        return target.page_identified_token
    if path.startswith("/widget/"):
        return target.visitor_token
    if path == "/auth-tokens.create":
        # Session tokens are minted with the AAT; AATs with a PAT.
        body = case.body if isinstance(case.body, dict) else {}
        wants_aat = body.get("requested_token_type") == "urn:devrev:params:oauth:token-type:aat"
        return target.pat if wants_aat else target.server.aat
    if path == "/auth-tokens.delete":
        return target.new_pat()  # without a token_id it revokes itself
    return target.pat


@schema.parametrize()
def test_api(case: schemathesis.Case, target: Target) -> None:
    steer(case, target)
    headers: dict[str, str] = {}
    # A case whose headers break the schema on purpose (no Authorization, or
    # a malformed one) is sent as generated: it must be refused as it is.
    if case.meta is None or not case.meta.is_negative_at(ParameterLocation.HEADER):
        token = credential(case, target)
        if token is not None:
            headers["Authorization"] = token
    target.cases += 1
    try:
        response = case.call(base_url=target.server.base_url, headers=headers)
        if len(response.request.path_url) > MAX_REQUEST_TARGET:
            # Refused by uvicorn's HTTP parser before any of openplug runs
            # (its own plain-text 400), so no document describes it.
            assert response.status_code == 400, response.status_code
        else:
            case.validate_response(
                response, headers=headers, transport_kwargs={"base_url": target.server.base_url}
            )
    except BaseException as e:
        e.add_note(f"fuzz seed: OPENPLUG_FUZZ_SEED={SEED} ({target.backend})")
        raise
    target.statuses[response.status_code] = target.statuses.get(response.status_code, 0) + 1
