"""Every openplug call that DevRev's public OpenAPI document also has,
held to that document against a live server:

- every request field the document lists for the call is accepted, one
  request per field (with the call's required fields), in the GET form with
  query parameters serialised as the document says (``style=form,
  explode=false``: arrays comma-joined) and in the POST form with a JSON
  body;
- every answer, success and error (401 without a credential, 400 for a
  value of the wrong type, 404 for an object that does not exist, 403 for a
  credential that may not make the call), has a status code the document
  lists for the call and a body valid against its schema
  (``devrev_document.response_problems``).

Which calls are checked is not a list kept here: it is every path both the
running app's OpenAPI document and DevRev's have. A call openplug adds
later is checked as soon as it is served, and fails until this module
knows how to make its objects (``BASES``).

Counts are printed at the end of the module (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from openplug.audit import SYSTEM
from openplug.identity import access_tokens
from openplug.identity.dev_users import create_dev_user
from openplug.ids import TOKEN, don
from tests.backends import postgres_database
from tests.devrev_reference import require_reference_document
from tests.interop import devrev_document as doc
from tests.leaks.registry import REGISTRY
from tests.live_server import LiveServer, make_settings

Json = dict[str, Any]
AFTER = "2020-01-01T00:00:00.000Z"
BEFORE = "2100-01-01T00:00:00.000Z"
SESSION_TYPE = "urn:devrev:params:oauth:token-type:session"
COUNTS: Counter[str] = Counter()


# --- the objects the requests name --------------------------------------------------


@dataclass
class World:
    server: LiveServer
    ids: dict[str, str] = field(default_factory=dict)
    agent_pat: str = ""

    def client(self, token: str | None) -> httpx.Client:
        return self.server.client(token)

    def ok(self, path: str, body: Json, token: str | None = None) -> Json:
        with self.client(token or self.server.pat) as c:
            r = c.post(path, json=body)
        assert r.status_code in (200, 201), f"{path}: {r.status_code} {r.text}"
        answer: Json = r.json()
        return answer

    def populate(self) -> None:
        s = self.server
        self.ids["dev_user"] = self.ok("/dev-users.self", {})["dev_user"]["id"]
        for n in (1, 2):
            rev_info = {
                "user_ref": f"conf-user-{n}",
                "account_ref": f"conf{n}.example",
                "workspace_ref": f"conf-ws-{n}",
                "user_traits": {"email": f"u{n}@conf.example", "display_name": f"User {n}"},
                "account_traits": {"display_name": f"Account {n}"},
                "workspace_traits": {"display_name": f"Workspace {n}"},
            }
            self.ok("/auth-tokens.create", {"rev_info": rev_info}, s.aat)
        user = self.ok("/rev-users.list", {"external_ref": ["conf-user-1"]})["rev_users"][0]
        self.ids["rev_user"] = user["id"]
        self.ids["rev_org"] = user["rev_org"]["id"]
        self.ids["account"] = user["account"]["id"]
        self.ids["other_user"] = self.ok("/rev-users.list", {"external_ref": ["conf-user-2"]})[
            "rev_users"
        ][0]["id"]
        self.ok(
            "/schemas.custom.set",
            {
                "type": "tenant_fragment",
                "leaf_type": "rev_user",
                "description": "conformance",
                "fields": [{"name": "plan", "field_type": "text"}],
            },
        )
        self.ids["fragment"] = self.ok("/schemas.custom.list", {})["result"][0]["id"]
        for n in (1, 2):
            conversation = self.ok(
                "/conversations.create",
                {"type": "support", "title": f"Conformance {n}", "members": [self.ids["rev_user"]]},
            )["conversation"]
            self.ids["conversation"] = conversation["id"]
            for _ in range(2):
                self.ids["entry"] = self.ok(
                    "/timeline-entries.create",
                    {"object": conversation["id"], "type": "timeline_comment", "body": "hello"},
                )["timeline_entry"]["id"]
        self.ids["pat"] = self.ok("/auth-tokens.info", {})["token"]["token_id"]
        self.ids["artifact"] = self.fresh_artifact()
        self.ids["webhook"] = self.fresh_webhook()
        self.ids["tag"] = self.fresh_tag()
        self.fresh_tag()  # a second one, so that tags.list pages
        self.agent_pat, self.ids["agent_pat"] = asyncio.run(self._agent())

    async def _agent(self) -> tuple[str, str]:
        """A second agent (not an admin) with a PAT, as the CLI makes one."""
        engine = create_async_engine(self.server.database_url)
        runtime = self.server.runtime
        assert runtime is not None
        try:
            async with engine.begin() as conn:
                agent = await create_dev_user(
                    conn, "agent@conf.example", None, "agent", actor=SYSTEM
                )
                secret, token = await access_tokens.issue_access_token(
                    conn, runtime.secrets.token_pepper, kind="pat", dev_user_id=agent.pk,
                    app_pk=None, expires_in_days=1, token_hint="conformance", actor=SYSTEM,
                )  # fmt: skip
        finally:
            await engine.dispose()
        REGISTRY.observe_text(secret)
        return secret, don(runtime.org_id, TOKEN, token.token_id)

    def fresh_artifact(self) -> str:
        """An uploaded file of this PAT's agent, not yet attached to anything."""
        prepared = self.ok("/artifacts.prepare", {"file_name": "notes.txt"})
        fields = {f["key"]: f["value"] for f in prepared["form_data"]}
        with self.client(None) as c:
            r = c.post(prepared["url"], data=fields, files={"file": ("notes.txt", b"some notes\n")})
        assert r.status_code in (200, 201), r.text
        return str(prepared["id"])

    def fresh_conversation(self) -> str:
        """A conversation for a call that deletes it."""
        body = {"type": "support", "members": [self.ids["rev_user"]], "title": "to delete"}
        return str(self.ok("/conversations.create", body)["conversation"]["id"])

    def fresh_entry(self) -> str:
        """A message of this PAT's agent, for a call that deletes it."""
        return str(
            self.ok(
                "/timeline-entries.create",
                {"object": self.ids["conversation"], "type": "timeline_comment", "body": "bye"},
            )["timeline_entry"]["id"]
        )

    def fresh_webhook(self) -> str:
        return str(self.ok("/webhooks.create", {"url": HOOK_URL})["webhook"]["id"])

    def fresh_tag(self) -> str:
        return str(self.ok("/tags.create", {"name": tag_name(self)})["tag"]["id"])

    def cursor(self, path: str, base: Json) -> str:
        """A ``next_cursor`` the list call itself handed out."""
        answer = self.ok(path, {**base, "limit": 1})
        cursor = answer.get("next_cursor")
        assert isinstance(cursor, str), f"{path} with limit 1 gave no next_cursor: {answer}"
        return cursor


# --- what each call needs ------------------------------------------------------------

Value = Callable[[World], Any]


def ident(name: str) -> Value:
    return lambda w: w.ids[name]


def ids(name: str) -> Value:
    return lambda w: [w.ids[name]]


RANGE: Value = lambda w: {"after": AFTER, "before": BEFORE}  # noqa: E731

# The required fields of each call, and the credential it takes ("pat",
# "aat"). Calls that destroy their object are made on one made for them.
BASES: dict[str, tuple[str, dict[str, Value]]] = {
    "/accounts.create": ("pat", {"display_name": lambda w: "Made by the suite"}),
    "/accounts.get": ("pat", {"id": ident("account")}),
    "/accounts.list": ("pat", {}),
    "/accounts.update": ("pat", {"id": ident("account")}),
    "/auth-tokens.create": ("aat", {"rev_info": lambda w: {"user_ref": "conf-user-1"}}),
    "/auth-tokens.delete": ("pat", {"token_id": lambda w: w.fresh_pat()}),
    "/auth-tokens.get": ("pat", {"token_id": ident("pat")}),
    "/auth-tokens.info": ("pat", {}),
    "/auth-tokens.list": ("pat", {}),
    "/auth-tokens.update": ("pat", {"token_id": ident("pat"), "token_hint": lambda w: "conf"}),
    "/conversations.create": ("pat", {"type": lambda w: "support", "members": ids("rev_user")}),
    "/conversations.delete": ("pat", {"id": lambda w: w.fresh_conversation()}),
    "/conversations.get": ("pat", {"id": ident("conversation")}),
    "/conversations.list": ("pat", {}),
    "/conversations.update": ("pat", {"id": ident("conversation")}),
    "/dev-users.get": ("pat", {"id": ident("dev_user")}),
    "/dev-users.list": ("pat", {}),
    "/dev-users.self": ("pat", {}),
    "/dev-users.self.update": ("pat", {}),
    "/rev-orgs.create": (
        "pat",
        {"account": ident("account"), "display_name": lambda w: "Made by the suite"},
    ),
    "/rev-orgs.get": ("pat", {"id": ident("rev_org")}),
    "/rev-orgs.list": ("pat", {}),
    "/rev-orgs.update": ("pat", {"id": ident("rev_org")}),
    "/rev-users.create": ("pat", {}),
    "/rev-users.delete": ("pat", {"id": lambda w: w.fresh_rev_user()}),
    "/rev-users.merge": (
        "pat",
        {"primary_user": ident("other_user"), "secondary_user": lambda w: w.fresh_rev_user()},
    ),
    "/rev-users.get": ("pat", {"id": ident("rev_user")}),
    "/rev-users.list": ("pat", {}),
    "/rev-users.update": ("pat", {"id": ident("rev_user")}),
    "/schemas.custom.get": ("pat", {"id": ident("fragment")}),
    "/schemas.custom.list": ("pat", {}),
    "/schemas.custom.set": (
        "pat",
        {
            "type": lambda w: "tenant_fragment",
            "leaf_type": lambda w: "account",
            "description": lambda w: "accounts",
            "fields": lambda w: [{"name": "region", "field_type": "text"}],
        },
    ),
    "/timeline-entries.create": (
        "pat",
        {
            "object": ident("conversation"),
            "type": lambda w: "timeline_comment",
            "body": lambda w: "from the conformance suite",
        },
    ),
    "/timeline-entries.list": ("pat", {"object": ident("conversation")}),
    "/timeline-entries.get": ("pat", {"id": ident("entry")}),
    "/timeline-entries.update": (
        "pat",
        {"id": ident("entry"), "type": lambda w: "timeline_comment"},
    ),
    "/timeline-entries.delete": ("pat", {"id": lambda w: w.fresh_entry()}),
    "/artifacts.prepare": ("pat", {"file_name": lambda w: "notes.txt"}),
    "/artifacts.get": ("pat", {"id": ident("artifact")}),
    "/artifacts.locate": ("pat", {"id": ident("artifact")}),
    "/webhooks.create": ("pat", {"url": lambda w: HOOK_URL}),
    "/webhooks.get": ("pat", {"id": ident("webhook")}),
    "/webhooks.list": ("pat", {}),
    "/webhooks.update": ("pat", {"id": ident("webhook")}),
    "/webhooks.delete": ("pat", {"id": lambda w: w.fresh_webhook()}),
    "/tags.create": ("pat", {"name": lambda w: tag_name(w)}),
    "/tags.get": ("pat", {"id": ident("tag")}),
    "/tags.list": ("pat", {}),
    "/tags.update": ("pat", {"id": ident("tag")}),
    "/tags.delete": ("pat", {"id": lambda w: w.fresh_tag()}),
}


def tag_name(w: World) -> str:
    """A new name each time: a tag's name is unique, a second one a 409."""
    return f"conformance-{secrets.token_hex(4)}"


# Nothing listens there: webhooks stay unverified, which is all these calls need.
HOOK_URL = "http://127.0.0.1:9/conformance"

# Fields that need other companions than the call's required ones: the
# request is the base without ``drop``, with ``add``.
COMPANIONS: dict[tuple[str, str], tuple[set[str], dict[str, Value]]] = {
    ("/auth-tokens.create", "subject_token"): (
        {"rev_info"},
        {
            "subject_token": lambda w: json.dumps({"user_ref": "conf-user-1"}),
            "subject_token_type": lambda w: "urn:devrev:params:oauth:token-type:revinfo",
        },
    ),
    ("/auth-tokens.create", "subject_token_type"): (
        {"rev_info"},
        {
            "subject_token": lambda w: json.dumps({"user_ref": "conf-user-1"}),
            "subject_token_type": lambda w: "urn:devrev:params:oauth:token-type:revinfo",
        },
    ),
}

# Fields another piece of work brings (named here so that they are not
# silently left out).
ELSEWHERE: dict[tuple[str, str], str] = {}

# A value for a field, by call then by field name; then ``COMMON`` by name;
# then one made from the field's schema (``example_of``).
COMMON: dict[str, Value] = {
    "limit": lambda w: 1,
    "mode": lambda w: "after",
    "sort_by": lambda w: ["created_date:desc"],
    "created_date": RANGE,
    "modified_date": RANGE,
    "created_date.after": lambda w: AFTER,
    "created_date.before": lambda w: BEFORE,
    "modified_date.after": lambda w: AFTER,
    "modified_date.before": lambda w: BEFORE,
    "created_by": ids("dev_user"),
    "owned_by": ids("dev_user"),
    "members": ids("rev_user"),
    "rev_org": ids("rev_org"),
    "rev_orgs": ids("rev_org"),
    "description": lambda w: "described",
    "tier": lambda w: "tier-1",
    "title": lambda w: "a title",
}

VALUES: dict[str, dict[str, Value]] = {
    "/artifacts.prepare": {
        "file_type": lambda w: "text/plain",
        "configuration_set": lambda w: "default",
    },
    "/webhooks.create": {
        "event_types": lambda w: ["conversation_created"],
        "secret": lambda w: "conformance-secret-1",
    },
    "/tags.update": {"name": tag_name, "allowed_values": lambda w: {"set": ["low", "high"]}},
    "/tags.list": {"sort_by": lambda w: ["name:asc"]},
    "/webhooks.update": {
        "action": lambda w: "deactivate",
        "event_types": lambda w: {"set": ["conversation_updated"]},
        "secret": lambda w: "conformance-secret-2",
        "url": lambda w: HOOK_URL + "/2",
    },
    # A new external ref each time: the same one twice is a 409.
    "/accounts.create": {
        "external_refs": lambda w: [f"made-{secrets.token_hex(4)}.example"],
        "domains": lambda w: ["made.example"],
        "websites": lambda w: ["www.made.example"],
    },
    "/rev-orgs.create": {
        "external_ref": lambda w: f"made-ws-{secrets.token_hex(4)}",
        "domain": lambda w: "made.example",
    },
    "/rev-users.create": {
        "external_ref": lambda w: f"made-user-{secrets.token_hex(4)}",
        "email": lambda w: "made@conf.example",
        "rev_org": ident("rev_org"),
        "phone_numbers": lambda w: ["+911122334455"],
        "display_picture": lambda w: "don:core:dvrv-us-1:devo/0:artifact/1",
    },
    "/accounts.list": {
        "display_name": lambda w: ["Account 1"],
        "external_refs": lambda w: ["conf1.example"],
        "tier": lambda w: ["tier-1"],
        "websites": lambda w: ["conf1.example"],
        "stage": lambda w: ["don:core:dvrv-us-1:devo/0:custom_stage/1"],
    },
    "/accounts.update": {
        "display_name": lambda w: "Account One",
        "domains": lambda w: ["conf1.example"],
        "external_refs": lambda w: ["conf1.example"],
        "websites": lambda w: {"set": ["www.conf1.example"]},
    },
    "/auth-tokens.create": {
        "act_as": lambda w: w.ids["dev_user"],
        "aud": lambda w: [w.server.app_id],
        "client_id": lambda w: w.server.app_id,
        "expires_in": lambda w: 30,
        "grant_type": lambda w: "urn:devrev:params:oauth:grant-type:token-issue",
        "requested_token_type": lambda w: SESSION_TYPE,
        "scope": lambda w: "session",
        "token_hint": lambda w: "conformance",
    },
    "/auth-tokens.list": {
        "client_id": lambda w: w.server.app_id,
        "requested_token_type": lambda w: "urn:devrev:params:oauth:token-type:aat",
        "subject": ident("dev_user"),
    },
    "/conversations.create": {
        "messages": lambda w: [{"body": "first"}],
        "stage": lambda w: {"name": "open"},
        "tags": lambda w: [{"id": "billing"}],
        "custom_fields": lambda w: {"tnt__priority": "p1"},
    },
    "/conversations.list": {
        "stage": lambda w: {"name": ["open"]},
        "stage.name": lambda w: ["open"],
        "state": lambda w: ["open"],
        "tags": lambda w: ["billing"],
    },
    "/conversations.update": {
        "members": lambda w: {"set": [w.ids["rev_user"]]},
        "owned_by": lambda w: {"set": [w.ids["dev_user"]]},
        "stage": lambda w: {"name": "open"},
        "status": lambda w: "open",
        "tags": lambda w: {"set": [{"id": "billing"}]},
        "custom_fields": lambda w: {"tnt__priority": "p2"},
    },
    "/dev-users.list": {
        "email": lambda w: ["admin@example.com"],
        "state": lambda w: ["active"],
    },
    "/dev-users.self.update": {
        "display_name": lambda w: "admin",
        "full_name": lambda w: "The Admin",
    },
    "/rev-orgs.get": {"account": ident("account")},
    "/rev-orgs.list": {
        "display_name": lambda w: ["Workspace 1"],
        "external_ref": lambda w: ["conf-ws-1"],
    },
    "/rev-orgs.update": {
        "display_name": lambda w: "Workspace One",
        "domain": lambda w: "ws1.conf.example",
        "external_ref": lambda w: "conf-ws-1",
    },
    "/rev-users.list": {
        "email": lambda w: ["u1@conf.example"],
        "external_ref": lambda w: ["conf-user-1", "conf-user-2"],
        "phone_numbers": lambda w: ["+911122334455"],
    },
    "/rev-users.update": {
        "display_name": lambda w: "User One",
        "email": lambda w: "u1@conf.example",
        "external_ref": lambda w: "conf-user-1",
        "phone_numbers": lambda w: ["+911122334455"],
        "custom_fields": lambda w: {"tnt__plan": "gold"},
        "display_picture": lambda w: "don:core:dvrv-us-1:devo/0:artifact/1",
    },
    "/schemas.custom.get": {"leaf_type": lambda w: "rev_user"},
    "/schemas.custom.list": {"leaf_type": lambda w: ["rev_user"]},
    "/schemas.custom.set": {
        "deleted_fields": lambda w: [],
        "fields": lambda w: [
            {
                "name": "region",
                "field_type": "text",
                "description": "where",
                "is_required": False,
                "is_filterable": True,
                "is_pii": False,
                "is_immutable": False,
                "ui": {"display_name": "Region", "is_hidden": False},
            }
        ],
    },
    "/timeline-entries.create": {
        "artifacts": lambda w: [w.fresh_artifact()],
        "visibility": lambda w: "external",
        "body_type": lambda w: "text",
    },
    "/timeline-entries.list": {"visibility": lambda w: ["external", "internal"]},
    "/timeline-entries.update": {"body": lambda w: "edited", "body_type": lambda w: "text"},
}


def _fresh_pat(w: World) -> str:
    async def issue() -> str:
        engine = create_async_engine(w.server.database_url)
        runtime = w.server.runtime
        assert runtime is not None
        try:
            async with engine.begin() as conn:
                (admin,) = [u for u in await _dev_users(conn) if u.role == "admin"]
                secret, token = await access_tokens.issue_access_token(
                    conn, runtime.secrets.token_pepper, kind="pat", dev_user_id=admin.pk,
                    app_pk=None, expires_in_days=1, token_hint="to delete", actor=SYSTEM,
                )  # fmt: skip
        finally:
            await engine.dispose()
        REGISTRY.observe_text(secret)
        return don(runtime.org_id, TOKEN, token.token_id)

    return asyncio.run(issue())


async def _dev_users(conn: Any) -> list[Any]:
    from openplug.identity.dev_users import list_dev_users

    return await list_dev_users(conn)


def _fresh_rev_user(w: World) -> str:
    w.fresh_n = getattr(w, "fresh_n", 0) + 1
    ref = f"conf-delete-{w.fresh_n}"
    w.ok("/auth-tokens.create", {"rev_info": {"user_ref": ref}}, w.server.aat)
    user_id: str = w.ok("/rev-users.list", {"external_ref": [ref]})["rev_users"][0]["id"]
    return user_id


World.fresh_pat = _fresh_pat  # type: ignore[attr-defined]
World.fresh_rev_user = _fresh_rev_user  # type: ignore[attr-defined]


def example_of(schema: Json, depth: int = 0) -> Any:
    """A plain value the schema admits: its first enum value, "x", 1,
    true, a list of one, an object of its required fields."""
    schema = doc.resolve(schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "array":
        return [example_of(schema["items"], depth + 1)]
    if kind == "integer" or kind == "number":
        return 1
    if kind == "boolean":
        return True
    if kind == "string":
        return AFTER if schema.get("format") == "date-time" else "x"
    props = doc.properties(schema)
    required = set(doc.resolve(schema).get("required", []))
    for part in doc.resolve(schema).get("allOf", []):
        required |= set(doc.resolve(part).get("required", []))
    if depth > 3:
        return {}
    return {name: example_of(props[name], depth + 1) for name in sorted(required) if name in props}


def value_for(w: World, path: str, name: str, schema: Json) -> Any:
    if name in VALUES.get(path, {}):
        return VALUES[path][name](w)
    if name in COMMON:
        return COMMON[name](w)
    return example_of(schema)


# --- the forms of a request ----------------------------------------------------------


def query_string(params: Json, declared: dict[str, Json]) -> list[tuple[str, str]]:
    """As OpenAPI serialises ``style=form``: arrays comma-joined unless the
    parameter says ``explode: true``; objects as ``name.key`` parameters
    (how DevRev's document spells ``created_date.after``)."""
    out: list[tuple[str, str]] = []
    for name, value in params.items():
        if isinstance(value, dict):
            out += query_string({f"{name}.{k}": v for k, v in value.items()}, declared)
        elif isinstance(value, list):
            if declared.get(name, {}).get("explode", False):
                out += [(name, _scalar(v)) for v in value]
            else:
                out.append((name, ",".join(_scalar(v) for v in value)))
        else:
            out.append((name, _scalar(value)))
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


@dataclass
class Answer:
    status: int
    body: Any
    problems: list[str]


def call(w: World, path: str, method: str, payload: Json, token: str | None) -> Answer:
    with w.client(token) as c:
        if method == "get":
            r = c.get(path, params=query_string(payload, doc.query_parameters(path)))
        else:
            r = c.post(path, json=payload)
    try:
        body = r.json()
    except ValueError:
        body = r.text
    COUNTS[f"responses {r.status_code}"] += 1
    return Answer(r.status_code, body, doc.response_problems(path, method, r.status_code, body))


def token_of(w: World, path: str) -> str:
    kind = BASES[path][0]
    return w.server.aat if kind == "aat" else w.server.pat


def base_of(w: World, path: str) -> Json:
    return {name: make(w) for name, make in BASES[path][1].items()}


def documented_fields(path: str, method: str) -> dict[str, Json]:
    if method == "get":
        return {name: p["schema"] for name, p in doc.query_parameters(path).items()}
    fields = doc.body_fields(path)
    for value, target in _variants(path).items():
        if value == base_variant(path):
            fields.update(doc.properties({"$ref": target}))
    return fields


def _variants(path: str) -> dict[str, str]:
    schema = doc.resolve(doc.body_schema(path))
    mapping: dict[str, str] = schema.get("discriminator", {}).get("mapping", {})
    return mapping


def base_variant(path: str) -> str | None:
    schema = doc.resolve(doc.body_schema(path))
    prop = schema.get("discriminator", {}).get("propertyName")
    if prop is None:
        return None
    make = BASES[path][1].get(prop)
    return None if make is None else str(make(None))  # type: ignore[arg-type]


# --- the server ------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    from contextlib import ExitStack

    with ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            url = stack.enter_context(postgres_database())
        settings = make_settings(tmp_path_factory.mktemp("conformance"), url)
        settings.webhooks_allow_private = True  # the webhook URL is on loopback
        server = LiveServer(settings).start()
        stack.callback(server.stop)
        w = World(server)
        w.populate()
        yield w
    print(f"\nDevRev document conformance ({request.param}): {dict(sorted(COUNTS.items()))}")
    COUNTS.clear()


def shared_paths() -> list[tuple[str, str]]:
    """Every (path, method) both documents have, from openplug's own
    document as the app serves it (``/openapi.json``)."""
    import tempfile
    from pathlib import Path

    from openplug.app import create_app
    from openplug.settings import Settings

    ours = create_app(Settings(data_dir=Path(tempfile.mkdtemp()))).openapi()["paths"]
    theirs = doc.document()["paths"]
    return [
        (path, method)
        for path in sorted(ours)
        if path in theirs
        for method in sorted(ours[path])
        if method in theirs[path]
    ]


# Without the document there is nothing to compare: the parametrised checks
# are empty and the test below says why (a failure in CI).
SHARED = shared_paths() if doc.DOCUMENT is not None else []


def test_devrev_document_is_there() -> None:
    require_reference_document()


SHARED_IDS = [f"{m.upper()} {p}" for p, m in SHARED]


# --- the checks --------------------------------------------------------------------------


def test_every_shared_call_has_a_base() -> None:
    missing = sorted({p for p, _ in SHARED} - set(BASES))
    assert not missing, f"calls this module cannot yet make: {missing}"


@pytest.mark.parametrize(("path", "method"), SHARED, ids=SHARED_IDS)
def test_every_documented_field_is_accepted(world: World, path: str, method: str) -> None:
    """One request per documented field, beside the call's required ones;
    each answered with success, in a shape the document allows."""
    failures: list[str] = []
    fields = documented_fields(path, method)
    required = set(BASES[path][1])
    for name in ["", *sorted(set(fields) - required)]:
        if (path, name) in ELSEWHERE:
            COUNTS["fields left to other work"] += 1
            continue
        payload = base_of(w=world, path=path)
        drop, add = COMPANIONS.get((path, name), (set(), {}))
        payload = {k: v for k, v in payload.items() if k not in drop}
        payload.update({k: make(world) for k, make in add.items()})
        if name and name not in add:
            payload[name] = value_for(world, path, name, fields[name])
        if name == "cursor" and path != "/schemas.custom.list":
            listed = {k: v for k, v in payload.items() if k != "cursor"}
            payload["cursor"] = world.cursor(path, listed)
        if name == "mode" and path != "/schemas.custom.list":
            listed = {k: v for k, v in payload.items() if k != "mode"}
            payload["cursor"] = world.cursor(path, listed)
        answer = call(world, path, method, payload, token_of(world, path))
        COUNTS["fields sent"] += bool(name)
        what = f"{name or '(required fields only)'}={json.dumps(payload.get(name))[:80]}"
        if not 200 <= answer.status < 300:
            failures.append(f"{what}: {answer.status} {json.dumps(answer.body)[:300]}")
        failures += [f"{what}: {p}" for p in answer.problems]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("path", "method"), SHARED, ids=SHARED_IDS)
def test_errors_have_devrev_shapes(world: World, path: str, method: str) -> None:
    failures: list[str] = []

    def expect(what: str, payload: Json, token: str | None, status: int) -> None:
        answer = call(world, path, method, payload, token)
        COUNTS[f"errors checked {status}"] += 1
        if answer.status != status:
            failures.append(f"{what}: wanted {status}, got {answer.status} {answer.body}")
        failures.extend(f"{what}: {p}" for p in answer.problems)

    base = base_of(world, path)
    expect("no credential", base, None, 401)
    expect("a malformed credential", base, "Bearer not-a-token", 401)

    fields = documented_fields(path, method)
    wrong = _wrong_type(path, method, fields)
    if wrong is not None:
        expect(f"{wrong} of the wrong type", {**base, **wrong}, token_of(world, path), 400)

    for id_field in ("id", "token_id"):
        if id_field in base:
            expect(f"malformed {id_field}", {**base, id_field: "nope"}, token_of(world, path), 400)
            absent = _absent_id(world, path, id_field)
            if absent is not None:
                # Calls whose document lists no 404 name a missing object as a bad id.
                status = 404 if "404" in doc.operation(path, method)["responses"] else 400
                expect(f"{id_field} of nothing", {**base, id_field: absent},
                       token_of(world, path), status)  # fmt: skip

    if BASES[path][0] == "pat" and not path.startswith("/auth-tokens."):
        expect("an AAT on an agents' call", base, world.server.aat, 403)
    if path == "/schemas.custom.set":
        expect("an agent who is no admin", base, world.agent_pat, 403)
    if path in ("/timeline-entries.update", "/timeline-entries.delete"):
        expect("another agent's message", base, world.agent_pat, 403)
    assert not failures, "\n".join(failures)


def _wrong_type(path: str, method: str, fields: dict[str, Json]) -> Json | None:
    """One documented field given a value of another JSON type."""
    for name, schema in sorted(fields.items()):
        kind = doc.resolve(schema).get("type")
        if method == "get":
            if kind == "integer":
                return {name: "many"}
            if kind == "boolean":
                return {name: "perhaps"}
        elif kind == "string" and "enum" not in doc.resolve(schema):
            return {name: 12345}
        elif kind == "integer":
            return {name: "many"}
    return None


def _absent_id(w: World, path: str, field_name: str) -> str | None:
    """A well-formed id of an object that does not exist."""
    existing = str(base_of(w, path)[field_name])
    if "/" not in existing or not existing[-1].isdigit():
        return None
    stem, _, _ = existing.rpartition("/")
    return f"{stem}/999999"
