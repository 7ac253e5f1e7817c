"""The authorisation matrix: every HTTP call and socket message the running
app serves, against every kind of credential and, for calls that reach an
object, every kind of owner of that object. Each cell is its own test.

- ``CREDENTIALS`` are the columns: none, garbage, malformed headers, PATs
  of an admin and of an agent, the inbox sign-in cookie with and without
  its header, AATs of this and another app, session tokens of identified
  and anonymous visitors of this and another app, and the same kinds
  expired, revoked, signed out, logged out, deleted or merged.
- ``ROWS`` are the rows: one per route (method and path), each with the
  requests to make on it and the policy that says which answer every
  credential and owner gets: success (2xx), 401, 403, 404, or the 400 the
  API gives for an object that does not exist. A 404 or that 400 must be
  byte for byte the answer for an object that does not exist.
- The socket rows say which credentials each socket's auth frame accepts
  and which topics each accepted credential may subscribe to.

``test_every_route_has_a_row`` compares ``ROWS`` with what the running app
serves (its route table, its OpenAPI document and the sockets served ahead
of the router): a route added without its row fails, named.

One server per module and backend; its credentials and objects are made
once (``World.populate``). A call that uses up its credential (logout,
sign-out, a token revoking itself) or destroys its object (delete, merge,
revoke) gets a fresh one for its cell, so cells do not depend on order.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any, Literal, TypeVar

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Mount, WebSocketRoute
from websockets.asyncio.client import connect

from openplug.audit import SYSTEM
from openplug.db import Database
from openplug.identity import access_tokens as tokens
from openplug.identity.agent_sessions import COOKIE_NAME, CSRF_HEADER
from openplug.identity.apps import get_app
from openplug.identity.dev_users import create_dev_user
from openplug.ids import REV_USER, TOKEN, don, parse_int_key
from openplug.mail.addresses import unsubscribe_token
from openplug.realtime import CloseCode
from openplug.realtime.starlette_transport import SocketEndpoints
from tests.backends import postgres_database
from tests.conversations.helpers import expired_token, jwt_claims
from tests.leaks.registry import REGISTRY
from tests.live_server import TLS, LiveServer, make_settings
from tests.realtime.test_sockets import WAIT, Client, key_of, ws_url

T = TypeVar("T")
Json = dict[str, Any]

MAIL_SECRET = secrets.token_urlsafe(32)
REGISTRY.add("mail webhook secret", MAIL_SECRET)

AAT_TYPE = "urn:devrev:params:oauth:token-type:aat"
PAT_TYPE = "urn:devrev:params:oauth:token-type:pat"

# An owner for an object that does not exist; ``NO_OWNER`` for calls that
# reach no particular object.
NOBODY = "nobody"
NO_OWNER = ""


# --- answers ------------------------------------------------------------------------


class Outcome(Enum):
    OK = "2xx"
    UNAUTHENTICATED = "401"
    FORBIDDEN = "403"
    NOT_FOUND = "404"
    ABSENT = "400, as for an object that does not exist"


OK, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, ABSENT = Outcome
_BY_STATUS = {401: UNAUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND, 400: ABSENT}
ERROR_TYPES = {
    UNAUTHENTICATED: ("unauthenticated",),
    FORBIDDEN: ("forbidden",),
    NOT_FOUND: ("not_found",),
    # An id of nothing is DevRev's invalid_id; the widget's anonymous
    # credential (no id) an invalid_field.
    ABSENT: ("invalid_id", "invalid_field"),
}


def outcome_of(response: httpx.Response) -> Outcome | None:
    if 200 <= response.status_code < 300:
        return OK
    return _BY_STATUS.get(response.status_code)


# --- the columns: credentials ---------------------------------------------------------

Kind = Literal["none", "junk", "pat", "web", "aat", "session"]
# How the credential travels: ``literal`` is a header value as it stands,
# ``bare``/``bearer`` a token with or without the scheme, ``cookie`` the
# inbox page's sign-in (with the X-OpenPlug-Inbox header over HTTP, from the
# server's own origin on the socket), ``cookie_cross_site`` the same cookie
# as another site's page would make the browser send it (no header, a
# foreign origin).
Form = Literal["none", "literal", "bare", "bearer", "cookie", "cookie_cross_site"]


@dataclass(frozen=True)
class Credential:
    name: str
    kind: Kind
    form: Form = "bare"
    # False: the server must refuse it on every call that reads credentials.
    valid: bool = True
    dev: str | None = None  # the agent a PAT or sign-in belongs to
    visitor: str | None = None  # the rev user a session token names
    app: str | None = None  # the app an AAT or session token belongs to
    # The app_id the widget sends along, when not the token's own app.
    sent_for: str | None = None
    identified: bool = False
    # ``World.mint`` makes another just like it, for calls that use it up.
    renewable: bool = False

    @property
    def role(self) -> str:
        return "admin" if self.dev == "admin" else "agent"

    @property
    def widget_app(self) -> str:
        return self.sent_for or self.app or "first"


C = Credential
CREDENTIALS: tuple[Credential, ...] = (
    C("none", "none", "none", valid=False),
    C("garbage", "junk", "literal", valid=False),
    C("jwt_shaped_garbage", "junk", "literal", valid=False),
    C("unknown_pat", "junk", "literal", valid=False),
    C("bearer_without_token", "junk", "literal", valid=False),
    C("bearer_with_two_tokens", "junk", "literal", valid=False),
    C("admin_pat", "pat", dev="admin", renewable=True),
    C("agent_pat", "pat", "bearer", dev="sam", renewable=True),
    C("signin_cookie", "web", "cookie", dev="admin", renewable=True),
    C("signin_cookie_cross_site", "web", "cookie_cross_site", valid=False, dev="admin",
      renewable=True),
    C("signin_cookie_signed_out", "web", "cookie", valid=False, dev="admin"),
    C("aat", "aat", app="first", renewable=True),
    C("aat_other_app", "aat", app="second", renewable=True),
    C("session_alice", "session", visitor="alice", app="first", identified=True, renewable=True),
    C("session_bob", "session", "bearer", visitor="bob", app="first", identified=True,
      renewable=True),
    C("session_carol_other_app", "session", visitor="carol", app="second", identified=True,
      renewable=True),
    C("session_carol_sent_to_first_app", "session", visitor="carol", app="second",
      sent_for="first", identified=True, renewable=True),
    C("anonymous_anna", "session", visitor="anna", app="first", renewable=True),
    C("anonymous_ben", "session", "bearer", visitor="ben", app="first", renewable=True),
    C("anonymous_cleo_other_app", "session", visitor="cleo", app="second", renewable=True),
    # Issued before its app began to require identified visitors.
    C("anonymous_of_members_only_app", "session", visitor="maya", app="members"),
    C("session_expired", "session", valid=False, visitor="alice", app="first", identified=True),
    C("session_logged_out", "session", valid=False, visitor="alice", app="first",
      identified=True),
    C("session_sessions_revoked", "session", valid=False, visitor="erin", app="first",
      identified=True),
    C("session_of_deleted_user", "session", valid=False, visitor="dave", app="first",
      identified=True),
    C("anonymous_merged", "session", valid=False, visitor="mia", app="first"),
    C("pat_revoked", "pat", valid=False, dev="admin"),
    C("pat_expired", "pat", valid=False, dev="admin"),
    C("aat_revoked", "aat", valid=False, app="first"),
    C("aat_expired", "aat", valid=False, app="first"),
)  # fmt: skip
BY_NAME = {c.name: c for c in CREDENTIALS}

# The visitors behind the session tokens, and where they come from.
IDENTIFIED: dict[str, tuple[str, Json]] = {
    "alice": ("first", {"user_ref": "alice@example.com", "account_ref": "acme.example",
                        "workspace_ref": "acme-dev"}),
    "bob": ("first", {"user_ref": "bob@example.com"}),
    "carol": ("second", {"user_ref": "carol@example.com", "account_ref": "globex.example"}),
    "erin": ("first", {"user_ref": "erin@example.com"}),
    "dave": ("first", {"user_ref": "dave@example.com"}),
}  # fmt: skip
ANONYMOUS = {"anna": "first", "ben": "first", "cleo": "second", "maya": "members", "mia": "first"}
VISITOR_APP = {**{v: app for v, (app, _) in IDENTIFIED.items()}, **ANONYMOUS}
WITH_CONVERSATIONS = ("alice", "bob", "carol", "anna", "ben", "cleo")
GONE = ("dave", "mia")  # deleted; merged into bob


# --- who may: the policies ------------------------------------------------------------

Policy = Callable[[Credential, str], Outcome]
AGENT_KINDS = ("pat", "web")


def authenticated(c: Credential) -> bool:
    return c.valid and c.kind in ("pat", "web", "aat", "session")


def gate(c: Credential, kinds: tuple[str, ...]) -> Outcome:
    if not authenticated(c):
        return UNAUTHENTICATED
    return OK if c.kind in kinds else FORBIDDEN


def public(c: Credential, owner: str) -> Outcome:
    """Reads no credential: whatever is sent, the call is served."""
    return OK


def public_link(c: Credential, owner: str) -> Outcome:
    """Reads no credential; the link's own token decides."""
    return NOT_FOUND if owner == NOBODY else OK


def any_credential(c: Credential, owner: str) -> Outcome:
    return gate(c, ("pat", "web", "aat", "session"))


def agents(c: Credential, owner: str) -> Outcome:
    """PAT or inbox sign-in, any role; agents reach every object of the org."""
    if (outcome := gate(c, AGENT_KINDS)) is not OK:
        return outcome
    return NOT_FOUND if owner == NOBODY else OK


def entry_authors(c: Credential, owner: str) -> Outcome:
    """``timeline-entries.update`` / ``.delete``: any agent reaches the
    entry, only its author may change it; DevRev documents no 404 there,
    so an entry that does not exist is a bad id."""
    if (outcome := gate(c, AGENT_KINDS)) is not OK:
        return outcome
    if owner == NOBODY:
        return ABSENT
    return OK if owner == c.dev else FORBIDDEN


def agents_naming(c: Credential, owner: str) -> Outcome:
    """An agents' call that names another object in its body: one that
    does not exist is a bad id (400), not a 404 of the call's own."""
    if (outcome := gate(c, AGENT_KINDS)) is not OK:
        return outcome
    return ABSENT if owner == NOBODY else OK


def admins(c: Credential, owner: str) -> Outcome:
    if (outcome := gate(c, AGENT_KINDS)) is not OK:
        return outcome
    if c.role != "admin":
        return FORBIDDEN
    return NOT_FOUND if owner == NOBODY else OK


def backends(c: Credential, owner: str) -> Outcome:
    """A website backend's AAT."""
    return gate(c, ("aat",))


def identify_by_id(c: Credential, owner: str) -> Outcome:
    """Any identified user of the org; anonymous visitors of the AAT's own
    app only. Anyone else, deleted and merged users too, answers as an id
    that does not exist."""
    if (outcome := gate(c, ("aat",))) is not OK:
        return outcome
    if owner in GONE:
        return ABSENT
    if owner in IDENTIFIED or VISITOR_APP.get(owner) == c.app:
        return OK
    return ABSENT


def token_readers(c: Credential, owner: str) -> Outcome:
    """Any agent reads the org's AATs; a PAT only its owner."""
    if (outcome := gate(c, AGENT_KINDS)) is not OK:
        return outcome
    if owner == NOBODY:
        return NOT_FOUND
    if owner == "aat":
        return OK
    return OK if owner == f"pat:{c.dev}" else FORBIDDEN


def token_changers(c: Credential, owner: str) -> Outcome:
    """AATs are the admins' to change; a PAT only its owner's."""
    if owner == "aat" and token_readers(c, owner) is OK:
        return OK if c.role == "admin" else FORBIDDEN
    return token_readers(c, owner)


def self_revokers(c: Credential, owner: str) -> Outcome:
    """``auth-tokens.delete`` without an id: a PAT, AAT or sign-in revokes
    itself; a session token is ended by the widget's logout instead."""
    return gate(c, ("pat", "web", "aat"))


def visitors(c: Credential, owner: str) -> Outcome:
    """The widget's calls: a session token for the app named in the body,
    and only the visitor's own conversations (anyone else's is a 404, the
    same as one that does not exist). The widget never reads the inbox
    cookie."""
    if not c.valid or c.kind in ("none", "junk", "web"):
        return UNAUTHENTICATED
    if c.kind != "session":
        return FORBIDDEN
    if c.widget_app != c.app:
        return UNAUTHENTICATED
    if c.app == "members" and not c.identified:
        return FORBIDDEN
    if owner == NO_OWNER:
        return OK
    return OK if owner == c.visitor else NOT_FOUND


def mergers(c: Credential, owner: str) -> Outcome:
    """An identified visitor takes over an anonymous visitor of the same app
    whose credential the browser holds; another app's credential answers
    as one that does not exist."""
    if (outcome := visitors(c, NO_OWNER)) is not OK:
        return outcome
    if not c.identified:
        return FORBIDDEN
    return OK if owner == f"anonymous@{c.app}" else ABSENT


def page_identity_updaters(c: Credential, owner: str) -> Outcome:
    """``updateIdentity``: only a visitor the page named (the ``identity``
    option). The matrix's visitors are identified by their site's backend
    or anonymous, so each valid one is refused (its success is in
    tests/widget/test_unverified_identity.py)."""
    if (outcome := visitors(c, NO_OWNER)) is not OK:
        return outcome
    return FORBIDDEN


def mail_relays(c: Credential, owner: str) -> Outcome:
    """The inbound mail webhook takes only its own shared secret, which is
    none of the credentials here: whatever else is presented, 401."""
    return UNAUTHENTICATED


def widget_socket_accepts(c: Credential) -> bool:
    return visitors(c, NO_OWNER) is OK


def inbox_socket_accepts(c: Credential) -> bool:
    return gate(c, AGENT_KINDS) is OK


def visitor_may_hear(c: Credential, topic: str) -> bool:
    return topic in (f"user:{c.visitor}", f"conversation:{c.visitor}")


def agent_may_hear(c: Credential, topic: str) -> bool:
    kind, _, owner = topic.partition(":")
    return topic == "inbox" or kind == "user" or (kind == "conversation" and owner != NOBODY)


# --- the rows -------------------------------------------------------------------------

Build = Callable[["World", "Presented", str], Json]
Check = Callable[["World", Credential, httpx.Response], None]


@dataclass(frozen=True)
class Case:
    """One request on a route: ``build`` makes its parameters (the query of a
    GET, the JSON body of a POST) for a credential and an object owner."""

    build: Build
    policy: Policy
    owners: tuple[str, ...] = (NO_OWNER,)
    name: str = ""
    path: str | None = None  # the concrete path, for a templated route
    consumes: tuple[Kind, ...] = ()  # credentials the call uses up
    check: Check | None = None  # more to assert when it succeeds


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    cases: tuple[Case, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)


@dataclass(frozen=True)
class SocketRow:
    path: str
    accepts: Callable[[Credential], bool]
    may_hear: Callable[[Credential, str], bool]
    sends_app_id: bool

    @property
    def key(self) -> tuple[str, str]:
        return ("WS", self.path)


def row(route: str, *cases: Case) -> list[Row]:
    """``"GET|POST /path"``: the same cases for each method."""
    methods, path = route.split(" ")
    return [Row(method, path, cases) for method in methods.split("|")]


def nothing(w: World, p: Presented, owner: str) -> Json:
    return {}


def page(path: str | None = None) -> Case:
    return Case(nothing, public, path=path)


# Checks on what a successful call reveals.


def names_the_caller(w: World, c: Credential, r: httpx.Response) -> None:
    assert r.json()["user"]["id"] == w.subject_of(c)


def names_the_agent(w: World, c: Credential, r: httpx.Response) -> None:
    assert r.json()["agent"]["id"] == w.subject_of(c)


def names_the_dev_user(w: World, c: Credential, r: httpx.Response) -> None:
    assert r.json()["dev_user"]["id"] == w.subject_of(c)


def only_own_pats(w: World, c: Credential, r: httpx.Response) -> None:
    subjects = {t["subject"] for t in r.json()["tokens"]}
    assert subjects == {w.subject_of(c)}, subjects


def own_conversations_only(w: World, c: Credential, r: httpx.Response) -> None:
    listed = {conv["id"] for conv in r.json()["conversations"]}
    assert c.visitor is not None
    assert w.conversations[c.visitor] in listed
    others = {w.conversations[v] for v in WITH_CONVERSATIONS if v != c.visitor}
    assert not listed & others, listed & others


CONVERSATION_OWNERS = ("alice", "anna", "carol", NOBODY)
# Who wrote a timeline entry: an agent (admin, sam) or a visitor (alice).
ENTRY_OWNERS = ("admin", "sam", "alice", NOBODY)
REV_USER_OWNERS = ("alice", "anna", "carol", NOBODY)
FRESH_USER_OWNERS = ("identified", "anonymous", NOBODY)  # made for each cell
TOKEN_OWNERS = ("aat", "pat:admin", "pat:sam", "pat:olga", NOBODY)
SCHEMA = {
    "type": "tenant_fragment",
    "leaf_type": "rev_user",
    "fields": [{"name": "plan", "field_type": "text"}],
}


def on_conversation(key: str, **extra: Any) -> Build:
    """An agent call naming a conversation by ``key``."""
    return lambda w, p, o: {key: w.conversations[o], **extra}


def in_widget(**extra: Any) -> Build:
    return lambda w, p, o: {"app_id": p.app_id, **extra}


def in_widget_on_conversation(**extra: Any) -> Build:
    return lambda w, p, o: {"app_id": p.app_id, "conversation": w.conversations[o], **extra}


ROWS: tuple[Row | SocketRow, ...] = (
    # Pages, documents and files: no credential is read.
    *row("GET /health", page()),
    # Loopback-only without OPENPLUG_METRICS_TOKEN (the test server is on
    # loopback); the token mode and the refusal are in tests/web/test_metrics.py.
    *row("GET /metrics", page()),
    *row("GET /ready", page()),
    *row("GET /openapi.json", page()),
    *row("GET /docs", page()),
    *row("GET /docs/assets/{path}", page("/docs/assets/swagger-ui.css")),
    *row("GET /inbox", page()),
    *row("GET /inbox/settings", page()),
    *row("GET /inbox/settings/{section}", page("/inbox/settings/tokens")),
    *row("GET /static/plug.js", page()),
    *row("GET /static/{path}", page("/static/widget/frame.js")),
    *row("GET /static/inbox/{path}", page("/static/inbox/app.js")),
    *row("GET /widget/frame", Case(lambda w, p, o: {"app_id": w.app_ids["first"]}, public)),
    *row("GET /demo", page()),
    *row("POST /demo/login",
         Case(lambda w, p, o: {"name": "Demo Visitor", "email": "demo@example.com"}, public)),
    # Where credentials come from: they take none.
    *row("POST /inbox/sign-in", Case(lambda w, p, o: w.sign_in_body, public)),
    *row("POST /inbox/sign-out", Case(nothing, public, consumes=("web",))),
    *row("POST /widget/session",
         Case(lambda w, p, o: {"app_id": w.app_ids["first"]}, public, name="new_visitor"),
         Case(lambda w, p, o: {"app_id": w.app_ids["first"],
                               "anonymous_credential": w.anonymous_credentials["anna"]},
              public, name="returning_visitor")),
    # plugSDK.init({identity}): the page names its visitor, no token (an
    # unverified user; tests/widget/test_unverified_identity.py).
    *row("POST /widget/identify",
         Case(lambda w, p, o: {"app_id": w.app_ids["first"], "user_ref": "matrix-page-user"},
              public)),
    # What the widget shows before anyone writes (availability): public
    # like the frame page.
    *row("POST /widget/config", Case(lambda w, p, o: {"app_id": w.app_ids["first"]}, public)),
    # auth-tokens.*
    *row("GET|POST /auth-tokens.info", Case(nothing, any_credential, check=names_the_caller)),
    *row("POST /auth-tokens.create",
         Case(lambda w, p, o: {"rev_info": {"user_ref": "matrix@example.com"}}, backends,
              name="session_token"),
         Case(lambda w, p, o: {"rev_info": {"user_id": w.user_ids[o]}}, identify_by_id,
              ("alice", "anna", "cleo", *GONE, NOBODY), name="session_token_by_user_id"),
         Case(lambda w, p, o: {"requested_token_type": AAT_TYPE, "aud": [w.app_ids["first"]],
                               "expires_in": 1}, admins, name="aat")),
    *row("GET|POST /auth-tokens.list",
         Case(lambda w, p, o: {"requested_token_type": AAT_TYPE}, agents, name="aats"),
         Case(lambda w, p, o: {"requested_token_type": PAT_TYPE}, agents, name="pats",
              check=only_own_pats)),
    *row("GET|POST /auth-tokens.get",
         Case(lambda w, p, o: {"token_id": w.token_ids[o]}, token_readers, TOKEN_OWNERS)),
    *row("POST /auth-tokens.update",
         Case(lambda w, p, o: {"token_id": w.token_ids[o], "token_hint": "renamed by the matrix"},
              token_changers, TOKEN_OWNERS)),
    *row("POST /auth-tokens.delete",
         Case(lambda w, p, o: {"token_id": w.fresh_token(o)}, token_changers, TOKEN_OWNERS,
              name="by_id"),
         Case(nothing, self_revokers, name="itself", consumes=("pat", "web", "aat"))),
    # apps.*
    *row("GET|POST /apps.list", Case(nothing, agents)),
    *row("POST /apps.create", Case(lambda w, p, o: {"name": "Made by the matrix"}, admins)),
    *row("POST /apps.update",
         Case(lambda w, p, o: {"app_id": w.app_ids[o], "name": w.app_names[o]}, admins,
              ("first", "second", NOBODY))),
    # The CRM.
    *row("GET|POST /rev-users.get",
         Case(lambda w, p, o: {"id": w.user_ids[o]}, agents, REV_USER_OWNERS)),
    *row("GET|POST /rev-users.list", Case(nothing, agents)),
    *row("POST /rev-users.create", Case(lambda w, p, o: {"display_name": "Made by the matrix"},
                                        agents)),
    *row("POST /accounts.create", Case(lambda w, p, o: {"display_name": "Made by the matrix"},
                                       agents)),
    *row("POST /rev-orgs.create",
         Case(lambda w, p, o: {"account": w.account_ids[o], "display_name": "Made by the matrix"},
              agents_naming, ("acme", NOBODY))),
    # What the site told about a visitor (trackEvent, addSessionProperties).
    *row("GET|POST /visitor-activity.get",
         Case(lambda w, p, o: {"id": w.user_ids[o]}, agents, REV_USER_OWNERS)),
    *row("POST /rev-users.update",
         Case(lambda w, p, o: {"id": w.user_ids[o], "description": "seen by the matrix"}, agents,
              REV_USER_OWNERS)),
    *row("POST /rev-users.delete",
         Case(lambda w, p, o: {"id": w.fresh_user(o)}, agents, FRESH_USER_OWNERS)),
    *row("POST /rev-users.merge",
         Case(lambda w, p, o: {"primary_user": w.user_ids["bob"],
                               "secondary_user": w.fresh_user(o)}, agents_naming,
              FRESH_USER_OWNERS)),
    *row("POST /rev-users.revoke-sessions",
         Case(lambda w, p, o: {"id": w.fresh_user(o)}, agents, FRESH_USER_OWNERS)),
    # Data rights and the audit trail: everything about a person, and who
    # changed access, are for admins.
    *row("POST /rev-users.personal-data.export",
         Case(lambda w, p, o: {"id": w.user_ids[o]}, admins, REV_USER_OWNERS)),
    *row("GET|POST /audit-log.list", Case(nothing, admins)),
    # Webhooks: where the org's changes are sent, and the secret that signs them.
    *row("POST /webhooks.create",
         Case(lambda w, p, o: {"url": "https://example.com/matrix"}, admins)),
    *row("GET|POST /webhooks.list", Case(nothing, admins)),
    *row("GET|POST /webhooks.get",
         Case(lambda w, p, o: {"id": "WEBHOOK-999999"}, admins, (NOBODY,))),
    *row("POST /webhooks.update",
         Case(lambda w, p, o: {"id": "WEBHOOK-999999", "action": "deactivate"}, admins,
              (NOBODY,))),
    *row("POST /webhooks.delete",
         Case(lambda w, p, o: {"id": "WEBHOOK-999999"}, admins, (NOBODY,))),
    *row("GET|POST /webhooks.deliveries.list", Case(nothing, admins)),
    # Tags: agents read the org's tags (they tag conversations), admins change them.
    *row("GET|POST /tags.list", Case(nothing, agents)),
    *row("GET|POST /tags.get", Case(lambda w, p, o: {"id": "TAG-999999"}, agents, (NOBODY,))),
    *row("POST /tags.create",
         Case(lambda w, p, o: {"name": f"matrix-{secrets.token_hex(4)}"}, admins)),
    *row("POST /tags.update",
         Case(lambda w, p, o: {"id": "TAG-999999", "name": "renamed"}, admins, (NOBODY,))),
    *row("POST /tags.delete", Case(lambda w, p, o: {"id": "TAG-999999"}, admins, (NOBODY,))),
    # Every mail openplug sent or would have sent: conversations and addresses.
    *row("GET|POST /outgoing-mail.list", Case(nothing, admins)),
    *row("GET|POST /outgoing-mail.get",
         Case(lambda w, p, o: {"id": "MAIL-999999"}, admins, (NOBODY,))),
    # The link in a visitor's mail: its token is the only authority.
    *row("GET /mail/unsubscribe",
         # (A link that is not ours is an HTML page's 404: tests/mail.)
         Case(lambda w, p, o: {"token": w.unsubscribe_token(o)}, public, ("alice",))),
    # The one-click POST carries its token in the query, as the link has it
    # (tests/mail); with none, it is nobody's link.
    *row("POST /mail/unsubscribe", Case(nothing, public_link, (NOBODY,))),
    *row("GET|POST /accounts.get",
         Case(lambda w, p, o: {"id": w.account_ids[o]}, agents, ("acme", "globex", NOBODY))),
    *row("GET|POST /accounts.list", Case(nothing, agents)),
    *row("POST /accounts.update",
         Case(lambda w, p, o: {"id": w.account_ids[o], "description": "seen by the matrix"},
              agents, ("acme", "globex", NOBODY))),
    *row("GET|POST /rev-orgs.get",
         Case(lambda w, p, o: {"id": w.rev_org_ids[o]}, agents, ("acme-dev", NOBODY))),
    *row("GET|POST /rev-orgs.list", Case(nothing, agents)),
    *row("POST /rev-orgs.update",
         Case(lambda w, p, o: {"id": w.rev_org_ids[o], "description": "seen by the matrix"},
              agents, ("acme-dev", NOBODY))),
    *row("POST /schemas.custom.set", Case(lambda w, p, o: SCHEMA, admins)),
    *row("GET|POST /schemas.custom.get",
         # Nobody declared account fields: that schema does not exist.
         Case(lambda w, p, o: {"leaf_type": "account" if o == NOBODY else o}, agents,
              ("rev_user", NOBODY))),
    *row("GET|POST /schemas.custom.list", Case(nothing, agents)),
    # Conversations, agents' side.
    *row("POST /conversations.create",
         Case(lambda w, p, o: {"members": [w.user_ids[o]], "messages": [{"body": "matrix"}]},
              agents, ("alice", "anna", "carol"))),
    *row("GET|POST /conversations.get",
         Case(on_conversation("id"), agents, CONVERSATION_OWNERS)),
    *row("GET|POST /conversations.list", Case(nothing, agents)),
    *row("POST /conversations.update",
         Case(on_conversation("id", title="Seen by the matrix"), agents, CONVERSATION_OWNERS)),
    *row("POST /conversations.delete",
         Case(lambda w, p, o: {"id": w.fresh_conversation(o)}, agents, ("alice", NOBODY))),
    *row("POST /conversations.mark-read",
         Case(on_conversation("id"), agents, CONVERSATION_OWNERS)),
    *row("POST /timeline-entries.create",
         Case(on_conversation("object", body="from the matrix"), agents, CONVERSATION_OWNERS)),
    *row("GET|POST /timeline-entries.list",
         Case(on_conversation("object"), agents, CONVERSATION_OWNERS)),
    *row("GET|POST /timeline-entries.get",
         Case(lambda w, p, o: {"id": w.entries[o]}, agents, ENTRY_OWNERS)),
    *row("POST /timeline-entries.update",
         Case(lambda w, p, o: {"id": w.entries[o], "type": "timeline_comment",
                               "body": "edited by the matrix"}, entry_authors, ENTRY_OWNERS)),
    *row("POST /timeline-entries.delete",
         Case(lambda w, p, o: {"id": w.fresh_entry(o)}, entry_authors, ENTRY_OWNERS)),
    # Files: agents read every attached file; the upload and download URLs
    # take no credential, their signed token decides (tests/artifacts has
    # the success of each, and a token of someone else's file).
    *row("POST /artifacts.prepare", Case(lambda w, p, o: {"file_name": "matrix.txt"}, agents)),
    *row("GET|POST /artifacts.get",
         Case(lambda w, p, o: {"id": w.artifacts[o]}, agents, CONVERSATION_OWNERS)),
    *row("GET|POST /artifacts.locate",
         Case(lambda w, p, o: {"id": w.artifacts[o]}, agents, CONVERSATION_OWNERS)),
    *row("POST /artifacts/upload/{token}",
         Case(nothing, public_link, (NOBODY,), path="/artifacts/upload/opl_file_bm9ib2R5")),
    *row("GET /artifacts/download/{token}",
         Case(nothing, public_link, (NOBODY,), path="/artifacts/download/opl_file_bm9ib2R5")),
    *row("GET /inbox/me", Case(nothing, agents, check=names_the_agent)),
    # Agents: any of them lists all (to assign a conversation); each reads
    # and sets only their own preferences.
    *row("GET|POST /dev-users.list", Case(nothing, agents)),
    *row("GET|POST /dev-users.get",
         Case(lambda w, p, o: {"id": w.dev_ids.get(o, "DEVU-999999")}, agents,
              ("sam", NOBODY))),
    *row("GET|POST /dev-users.self", Case(nothing, agents, check=names_the_dev_user)),
    *row("POST /dev-users.self.update",
         Case(lambda w, p, o: {"mail_notifications": "all"}, agents, check=names_the_dev_user)),
    # The widget's calls.
    *row("POST /widget/logout", Case(in_widget(), visitors, consumes=("session",))),
    *row("POST /widget/merge",
         Case(lambda w, p, o: {"app_id": p.app_id, "anonymous_credential": w.fresh_anonymous(o)},
              mergers, ("anonymous@first", "anonymous@second", NOBODY))),
    *row("POST /widget/conversations.list",
         Case(in_widget(), visitors, check=own_conversations_only)),
    *row("POST /widget/conversations.create", Case(in_widget(body="from the matrix"), visitors)),
    *row("POST /widget/conversations.get",
         Case(in_widget_on_conversation(), visitors, CONVERSATION_OWNERS)),
    *row("POST /widget/messages.create",
         Case(in_widget_on_conversation(body="from the matrix"), visitors, CONVERSATION_OWNERS)),
    *row("POST /widget/messages.list",
         Case(in_widget_on_conversation(), visitors, CONVERSATION_OWNERS)),
    *row("POST /widget/conversations.mark-read",
         Case(in_widget_on_conversation(), visitors, CONVERSATION_OWNERS)),
    *row("POST /widget/artifacts.prepare", Case(in_widget(file_name="matrix.txt"), visitors)),
    *row("POST /widget/artifacts.get",
         Case(lambda w, p, o: {"app_id": p.app_id, "id": w.artifacts[o]}, visitors,
              CONVERSATION_OWNERS)),
    *row("POST /widget/artifacts.locate",
         Case(lambda w, p, o: {"app_id": p.app_id, "id": w.artifacts[o]}, visitors,
              CONVERSATION_OWNERS)),
    *row("POST /widget/mail-settings.get", Case(in_widget(), visitors)),
    *row("POST /widget/mail-settings.update", Case(in_widget(subscribed=True), visitors)),
    *row("POST /widget/identity.update",
         Case(in_widget(user_traits={"display_name": "Matrix"}), page_identity_updaters)),
    *row("POST /widget/events.track", Case(in_widget(event_name="matrix_event"), visitors)),
    *row("POST /widget/visit-properties.add",
         Case(in_widget(properties={"from": "matrix"}), visitors)),
    # Replies by mail, from a provider's webhook (tests/mail has its success).
    *row("POST /mail/inbound", Case(nothing, mail_relays)),
    # The sockets.
    SocketRow("/widget/socket", widget_socket_accepts, visitor_may_hear, sends_app_id=True),
    SocketRow("/inbox/socket", inbox_socket_accepts, agent_may_hear, sends_app_id=False),
)  # fmt: skip

TOPICS = (
    "user:alice", "user:anna", "user:carol",
    "conversation:alice", "conversation:anna", "conversation:carol", "conversation:nobody",
    "inbox",
    # The per-person revocation channels are the server's, never a client's.
    "credentials:rev_user:alice", "credentials:dev_user:admin",
)  # fmt: skip
REFUSED = {
    "type": "error",
    "code": "forbidden",
    "message": "not allowed to subscribe to this topic",
}


# --- the cells ------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpCell:
    row: Row
    case: Case
    owner: str
    credential: Credential

    @property
    def expected(self) -> Outcome:
        return self.case.policy(self.credential, self.owner)

    @property
    def id(self) -> str:
        parts = [self.row.method, self.row.path]
        if self.case.name:
            parts.append(self.case.name)
        if self.owner != NO_OWNER:
            parts.append(f"owner={self.owner}")
        return ":".join([*parts, self.credential.name])


@dataclass(frozen=True)
class SocketCell:
    row: SocketRow
    credential: Credential
    topic: str | None = None  # None: the auth frame alone

    @property
    def expected(self) -> bool:
        if self.topic is None:
            return self.row.accepts(self.credential)
        return self.row.may_hear(self.credential, self.topic)

    @property
    def id(self) -> str:
        parts = ["WS", self.row.path, self.topic or "auth", self.credential.name]
        return ":".join(parts)


HTTP_CELLS = [
    HttpCell(r, case, owner, credential)
    for r in ROWS
    if isinstance(r, Row)
    for case in r.cases
    for owner in case.owners
    for credential in CREDENTIALS
]
SOCKET_ROWS = [r for r in ROWS if isinstance(r, SocketRow)]
SOCKET_AUTH_CELLS = [SocketCell(r, c) for r in SOCKET_ROWS for c in CREDENTIALS]
SOCKET_SUBSCRIBE_CELLS = [
    SocketCell(r, c, topic)
    for r in SOCKET_ROWS
    for c in CREDENTIALS
    if r.accepts(c)
    for topic in TOPICS
]

# Cells that fail today: a hole, reported and waiting for its fix
# (``pytest.mark.xfail(strict=True)``, so the fix turns them into failures
# to remove from here).
KNOWN_HOLES: dict[str, str] = {}


def params(cells: list[Any]) -> list[Any]:
    return [
        pytest.param(
            cell,
            id=cell.id,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_HOLES[cell.id])]
            if cell.id in KNOWN_HOLES
            else [],
        )
        for cell in cells
    ]


# --- the world: one server, its credentials and objects -------------------------------


class Loop:
    """An event loop in a thread of its own, for the database work done beside
    the server (agents and tokens made as the CLI makes them)."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()


@dataclass(frozen=True)
class Presented:
    """A credential as one request carries it."""

    app_id: str
    authorization: str | None = None
    cookie: str | None = None
    inbox_header: bool = False
    origin: str | None = None


class World:
    def __init__(self, server: LiveServer) -> None:
        assert server.runtime is not None and server.first is not None
        self.server = server
        self.org_id = server.runtime.org_id
        self.pepper = server.runtime.secrets.token_pepper
        self.http = httpx.Client(verify=TLS, base_url=server.base_url, timeout=30)
        self.loop = Loop()
        self.db = Database(server.database_url)
        self.sign_in_body = {"email": server.first.admin_email, "password": server.admin_password}
        self.secrets: dict[str, str] = {}  # credential name -> token or header value
        self.known_secrets: set[str] = set()  # never to appear in a response
        self.app_ids: dict[str, str] = {NOBODY: "app_nobody"}
        self.app_names: dict[str, str] = {NOBODY: "Nobody's"}
        self.aat_of: dict[str, str] = {}
        self.dev_keys: dict[str, int] = {}
        self.dev_ids: dict[str, str] = {}
        self.user_ids: dict[str, str] = {NOBODY: "REVU-999999"}
        self.conversations: dict[str, str] = {NOBODY: "CONV-999999"}
        # A file attached in each visitor's conversation, by that visitor.
        self.artifacts: dict[str, str] = {NOBODY: "ARTIFACT-999999"}
        self.anonymous_credentials: dict[str, str] = {}
        self.token_ids: dict[str, str] = {NOBODY: "0000000000000000"}
        self.account_ids: dict[str, str] = {NOBODY: "ACC-999999"}
        self.rev_org_ids: dict[str, str] = {NOBODY: "REV-999999"}
        # A message in alice's conversation by each of ``ENTRY_OWNERS``.
        self.entries: dict[str, str] = {NOBODY: "COMMENT-999999"}
        self.entry_pats: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()
        self.loop.run(self.db.dispose())
        self.loop.close()

    # --- making things

    def call(self, method: str, path: str, payload: Json, p: Presented) -> httpx.Response:
        headers: dict[str, str] = {}
        if p.authorization is not None:
            headers["Authorization"] = p.authorization
        if p.cookie is not None:
            headers["Cookie"] = f"{COOKIE_NAME}={p.cookie}"
        if p.inbox_header:
            headers[CSRF_HEADER] = "1"
        # Only what the cell presents: nothing a sign-in set may carry over.
        self.http.cookies.clear()
        if method == "GET":
            return self.http.get(path, params=payload, headers=headers)
        return self.http.post(path, json=payload, headers=headers)

    def ok(self, path: str, payload: Json, token: str | None = None) -> Json:
        p = Presented(app_id="", authorization=token or self.server.pat)
        r = self.call("POST", path, payload, p)
        assert r.status_code in (200, 201), (path, r.text)
        return dict(r.json())

    def widget_ok(self, token: str, app: str, path: str, **body: Any) -> Json:
        return self.ok(f"/widget/{path}", {"app_id": self.app_ids[app], **body}, token)

    def remember(self, secret: str) -> str:
        self.known_secrets.add(secret)
        return secret

    def issue(
        self, kind: tokens.TokenKind, dev: str, app: str | None = None, lifetime: float = 86400
    ) -> tuple[str, str]:
        """A PAT or AAT made as the CLI makes them: its secret and id."""

        async def work() -> tuple[str, tokens.AccessToken]:
            async with self.db.write() as conn:
                app_pk = (await get_app(conn, self.app_ids[app])).pk if app else None
                return await tokens.issue_access_token(
                    conn, self.pepper, kind=kind, dev_user_id=self.dev_keys[dev], app_pk=app_pk,
                    expires_in=timedelta(seconds=lifetime), token_hint="matrix", actor=SYSTEM,
                )  # fmt: skip

        secret, token = self.loop.run(work())
        return self.remember(secret), don(self.org_id, TOKEN, token.token_id)

    def sign_in(self) -> str:
        r = self.call("POST", "/inbox/sign-in", self.sign_in_body, Presented(app_id=""))
        assert r.status_code == 200, r.text
        return self.remember(r.cookies[COOKIE_NAME])

    def identify(self, visitor: str) -> str:
        app, rev_info = IDENTIFIED[visitor]
        token = self.ok("/auth-tokens.create", {"rev_info": rev_info}, self.aat_of[app])
        return self.remember(str(token["access_token"]))

    def anonymous(self, visitor: str | None, app: str) -> Json:
        body = {"app_id": self.app_ids[app]}
        if visitor in self.anonymous_credentials:
            body["anonymous_credential"] = self.anonymous_credentials[visitor]
        r = self.call("POST", "/widget/session", body, Presented(app_id=""))
        assert r.status_code == 200, r.text
        session = dict(r.json())
        self.remember(session["session_token"])
        if "anonymous_credential" in session:
            self.remember(session["anonymous_credential"])
        return session

    def mint(self, c: Credential) -> str:
        """Another credential just like ``c``, for a call that uses it up."""
        assert c.renewable, c.name
        if c.kind == "pat":
            assert c.dev is not None
            return self.issue("pat", c.dev)[0]
        if c.kind == "web":
            return self.sign_in()
        if c.kind == "aat":
            assert c.app is not None
            return self.issue("aat", "admin", c.app)[0]
        assert c.visitor is not None and c.app is not None
        if c.identified:
            return self.identify(c.visitor)
        return str(self.anonymous(c.visitor, c.app)["session_token"])

    def fresh_token(self, owner: str) -> str:
        """A token to revoke: an AAT, or a PAT of ``pat:<agent>``."""
        if owner == NOBODY:
            return self.token_ids[NOBODY]
        if owner == "aat":
            return self.issue("aat", "admin", "first")[1]
        return self.issue("pat", owner.removeprefix("pat:"))[1]

    def fresh_user(self, owner: str) -> str:
        """A rev user to delete or log out everywhere."""
        if owner == NOBODY:
            return self.user_ids[NOBODY]
        if owner == "identified":
            ref = f"victim-{secrets.token_hex(6)}@example.com"
            token = self.ok("/auth-tokens.create", {"rev_info": {"user_ref": ref}}, self.server.aat)
            return str(jwt_claims(token["access_token"])["sub"])
        return str(self.anonymous(None, "first")["user"]["id"])

    def fresh_conversation(self, owner: str) -> str:
        """A conversation with ``owner`` in it, for a cell that deletes it."""
        if owner == NOBODY:
            return self.conversations[NOBODY]
        body = {"members": [self.user_ids[owner]], "title": "to be deleted"}
        return str(self.ok("/conversations.create", body)["conversation"]["id"])

    def fresh_entry(self, owner: str) -> str:
        """A message for a cell that deletes it: a new one by an agent; the
        visitor's own (no agent may delete it, so it stays)."""
        if owner not in self.entry_pats:
            return self.entries[owner]
        body = {"object": self.conversations["alice"], "body": "to be deleted"}
        return str(self.ok("/timeline-entries.create", body, self.entry_pats[owner])
                   ["timeline_entry"]["id"])  # fmt: skip

    def unsubscribe_token(self, owner: str) -> str:
        return unsubscribe_token(self.pepper, parse_int_key(self.user_ids[owner], REV_USER, "id"))

    def fresh_anonymous(self, owner: str) -> str:
        """An anonymous visitor's credential (``anonymous@<app>``) to merge."""
        if owner == NOBODY:
            return "opl_anon_" + secrets.token_urlsafe(32)  # random: nobody has it
        return str(self.anonymous(None, owner.removeprefix("anonymous@"))["anonymous_credential"])

    # --- presenting credentials

    def present(self, c: Credential, *, fresh: bool = False) -> Presented:
        secret = self.mint(c) if fresh else self.secrets.get(c.name, "")
        app_id = self.app_ids[c.widget_app]
        match c.form:
            case "none":
                return Presented(app_id)
            case "literal" | "bare":
                return Presented(app_id, authorization=secret)
            case "bearer":
                return Presented(app_id, authorization=f"Bearer {secret}")
            case "cookie":
                return Presented(app_id, cookie=secret, inbox_header=True, origin=self.base_url)
            case "cookie_cross_site":
                return Presented(app_id, cookie=secret, origin="https://elsewhere.example")

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def subject_of(self, c: Credential) -> str:
        """Whom ``auth-tokens.info`` and ``/inbox/me`` must name for ``c``."""
        if c.kind == "session":
            assert c.visitor is not None
            return self.user_ids[c.visitor]
        return self.dev_ids[c.dev or "admin"]  # AATs are the admin's, who made them

    def topic(self, name: str) -> str:
        """A topic of ``TOPICS`` with the keys this server gave its objects."""
        if name == "inbox":
            return name
        *prefix, owner = name.split(":")
        if prefix == ["credentials", "dev_user"]:
            return f"credentials:dev_user:{self.dev_keys[owner]}"
        if prefix == ["conversation"]:
            key = key_of(self.conversations[owner]) if owner != NOBODY else 999999
            return f"conversation:{key}"
        return ":".join([*prefix, str(key_of(self.user_ids[owner]))])

    def assert_no_secret(self, text: str, cell: str) -> None:
        leaked = [s for s in self.known_secrets if s in text]
        assert not leaked, f"{cell}: the response carries {len(leaked)} credential(s)"

    # --- everything, once

    def populate(self) -> None:
        server = self.server
        pat = server.pat
        admin = self.loop.run(tokens.find_by_secret(self.db, self.pepper, pat))
        assert admin is not None
        self.dev_keys["admin"] = admin.dev_user_id

        async def make_agents() -> None:
            async with self.db.write() as conn:
                for name in ("sam", "olga"):
                    user = await create_dev_user(
                        conn, f"{name}@example.com", None, "agent", actor=SYSTEM
                    )
                    self.dev_keys[name] = user.pk

        self.loop.run(make_agents())

        # Apps: the first start's, another, and one that will require identification.
        self.app_ids["first"] = server.app_id
        for key, name in (("second", "Second"), ("members", "Members only")):
            self.app_ids[key] = self.ok("/apps.create", {"name": name})["app"]["app_id"]
        for app in self.ok("/apps.list", {})["apps"]:
            for key, app_id in list(self.app_ids.items()):
                if app["app_id"] == app_id:
                    self.app_names[key] = app["name"]

        # PATs, and the tokens whose owners the token calls are tried on.
        self.secrets["admin_pat"] = self.remember(pat)
        self.secrets["agent_pat"] = self.issue("pat", "sam")[0]
        for owner in ("admin", "sam", "olga"):
            self.token_ids[f"pat:{owner}"] = self.issue("pat", owner)[1]
        revoked, revoked_id = self.issue("pat", "admin")
        self.ok("/auth-tokens.delete", {"token_id": revoked_id})
        self.secrets["pat_revoked"] = revoked
        self.secrets["pat_expired"] = self.issue("pat", "admin", lifetime=-60)[0]
        for name in ("admin", "sam"):
            info = self.ok("/auth-tokens.info", {}, self.issue("pat", name)[0])
            self.dev_ids[name] = info["user"]["id"]

        # AATs.
        self.secrets["aat"] = self.aat_of["first"] = self.remember(server.aat)
        other = self.issue("aat", "admin", "second")[0]
        self.secrets["aat_other_app"] = self.aat_of["second"] = other
        self.token_ids["aat"] = self.issue("aat", "admin", "first")[1]
        revoked, revoked_id = self.issue("aat", "admin", "first")
        self.ok("/auth-tokens.delete", {"token_id": revoked_id})
        self.secrets["aat_revoked"] = revoked
        self.secrets["aat_expired"] = self.issue("aat", "admin", "first", lifetime=-60)[0]

        # Inbox sign-ins.
        self.secrets["signin_cookie"] = self.sign_in()
        self.secrets["signin_cookie_cross_site"] = self.sign_in()
        signed_out = self.sign_in()
        r = self.call("POST", "/inbox/sign-out", {}, Presented("", cookie=signed_out))
        assert r.status_code == 200, r.text
        self.secrets["signin_cookie_signed_out"] = signed_out

        # Visitors, each with a conversation of their own.
        for visitor, app in ANONYMOUS.items():
            session = self.anonymous(visitor, app)
            self.anonymous_credentials[visitor] = session["anonymous_credential"]
            self.user_ids[visitor] = session["user"]["id"]
        sessions = {v: self.identify(v) for v in IDENTIFIED}
        sessions.update(
            {v: self.anonymous(v, app)["session_token"] for v, app in ANONYMOUS.items()}
        )
        for visitor in IDENTIFIED:
            self.user_ids[visitor] = str(jwt_claims(sessions[visitor])["sub"])
        for visitor in WITH_CONVERSATIONS:
            started = self.widget_ok(
                sessions[visitor], VISITOR_APP[visitor], "conversations.create", body="hello"
            )
            self.conversations[visitor] = started["conversation"]["id"]
            app = VISITOR_APP[visitor]
            prepared = self.widget_ok(
                sessions[visitor], app, "artifacts.prepare", file_name="matrix.txt"
            )
            fields = [(f["key"], (None, f["value"])) for f in prepared["form_data"]]
            up = self.http.post(
                prepared["url"], files=[*fields, ("file", ("matrix.txt", b"hello\n", "text/plain"))]
            )
            assert up.status_code == 200, up.text
            self.widget_ok(
                sessions[visitor], app, "messages.create",
                conversation=self.conversations[visitor], artifacts=[prepared["id"]],
            )  # fmt: skip
            self.artifacts[visitor] = prepared["id"]
        listed = self.ok("/timeline-entries.list", {"object": self.conversations["alice"]})
        self.entries["alice"] = listed["timeline_entries"][-1]["id"]  # the oldest: "hello"
        self.entry_pats = {"admin": pat, "sam": self.issue("pat", "sam")[0]}
        for owner in ("admin", "sam"):
            self.entries[owner] = self.fresh_entry(owner)
        for name, visitor in (
            ("session_alice", "alice"),
            ("session_bob", "bob"),
            ("session_carol_other_app", "carol"),
            ("session_carol_sent_to_first_app", "carol"),
            ("anonymous_anna", "anna"),
            ("anonymous_ben", "ben"),
            ("anonymous_cleo_other_app", "cleo"),
            ("anonymous_of_members_only_app", "maya"),
        ):
            self.secrets[name] = sessions[visitor]
        self.ok("/apps.update", {"app_id": self.app_ids["members"], "require_identification": True})

        # Session tokens that stopped working, each in its own way.
        self.secrets["session_expired"] = self.remember(expired_token(server, sessions["alice"]))
        logged_out = self.identify("alice")
        self.widget_ok(logged_out, "first", "logout")
        self.secrets["session_logged_out"] = logged_out
        self.ok("/rev-users.revoke-sessions", {"id": self.user_ids["erin"]})
        self.secrets["session_sessions_revoked"] = sessions["erin"]
        self.ok("/rev-users.delete", {"id": self.user_ids["dave"]})
        self.secrets["session_of_deleted_user"] = sessions["dave"]
        self.widget_ok(
            sessions["bob"], "first", "merge",
            anonymous_credential=self.anonymous_credentials.pop("mia"),
        )  # fmt: skip
        self.secrets["anonymous_merged"] = sessions["mia"]

        # Garbage, shaped like nothing and like real credentials.
        self.secrets["garbage"] = "not-a-token"
        self.secrets["jwt_shaped_garbage"] = "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"
        self.secrets["unknown_pat"] = "opl_pat_" + secrets.token_urlsafe(32)
        self.secrets["bearer_without_token"] = "Bearer"
        self.secrets["bearer_with_two_tokens"] = f"Bearer {pat} {pat}"

        # CRM objects and a custom schema.
        for owner, visitor in (("acme", "alice"), ("globex", "carol")):
            user = self.ok("/rev-users.get", {"id": self.user_ids[visitor]})["rev_user"]
            self.account_ids[owner] = user["account"]["id"]
            if owner == "acme":
                self.rev_org_ids["acme-dev"] = user["rev_org"]["id"]
        self.ok("/schemas.custom.set", SCHEMA)

        assert set(self.secrets) == {c.name for c in CREDENTIALS if c.form != "none"}


BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if request.param == "postgresql" else None
        settings = make_settings(tmp_path_factory.mktemp("matrix"), url)
        # Merge and delete cells start anonymous visitors of their own: more
        # than one address may start per hour by default.
        settings.new_visitors_per_address_per_hour = 0
        # With a secret, so the webhook is served (without one it is a 404).
        settings.mail_inbound_secret = MAIL_SECRET
        server = LiveServer(settings).start()
        stack.callback(server.stop)
        w = World(server)
        stack.callback(w.close)
        w.populate()
        yield w


# --- every route has its row ------------------------------------------------------------


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of everything ``app`` serves: its routes (through the
    routers it includes), its mounts, and the sockets served ahead of the
    router."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    routes: list[Any] = list(iterate(app.routes)) if iterate is not None else list(app.routes)
    served: set[tuple[str, str]] = set()
    for route in routes:
        original = getattr(route, "original_route", route)
        if isinstance(original, Mount):
            served.add(("GET", f"{route.path}/{{path}}"))
        elif isinstance(original, WebSocketRoute | fastapi.routing.APIWebSocketRoute):
            served.add(("WS", route.path))
        else:
            served.update((m, route.path) for m in (route.methods or {"ANY"}) - {"HEAD"})
    for middleware in app.user_middleware:
        if middleware.cls is SocketEndpoints:
            served.update(("WS", path) for path in middleware.kwargs["endpoints"])
    return served


def test_every_route_has_a_row_and_every_row_a_route(world: World) -> None:
    assert world.server.app is not None
    served = served_routes(world.server.app)
    document = world.http.get("/openapi.json").json()
    documented = {(m.upper(), path) for path, ops in document["paths"].items() for m in ops}
    rows = [r.key for r in ROWS]
    assert len(rows) == len(set(rows)), "a route has two rows"
    missing = sorted((served | documented) - set(rows))
    assert not missing, (
        "served without a row in the authorisation matrix (add one to ROWS in "
        f"{__name__}): {', '.join(' '.join(k) for k in missing)}"
    )
    stale = sorted(set(rows) - served)
    assert not stale, f"rows for routes the app does not serve: {stale}"


# --- HTTP cells -------------------------------------------------------------------------


@pytest.mark.parametrize("cell", params(HTTP_CELLS))
def test_http(world: World, cell: HttpCell) -> None:
    case, credential, method = cell.case, cell.credential, cell.row.method
    fresh = credential.renewable and credential.kind in case.consumes
    presented = world.present(credential, fresh=fresh)
    path = case.path or cell.row.path
    r = world.call(method, path, case.build(world, presented, cell.owner), presented)
    got = outcome_of(r)
    assert got is cell.expected, (
        f"expected {cell.expected.value}, got {r.status_code}: {r.text[:300]}"
    )
    world.assert_no_secret(r.text, cell.id)
    if got is OK:
        if case.check is not None:
            case.check(world, credential, r)
        return
    body = r.json()
    assert body["type"] in ERROR_TYPES[got], body
    if got in (NOT_FOUND, ABSENT) and cell.owner != NOBODY:
        # Someone else's object is answered exactly as one that does not exist.
        absent = world.call(method, path, case.build(world, presented, NOBODY), presented)
        assert (absent.status_code, absent.json()) == (r.status_code, body)


# --- socket cells -----------------------------------------------------------------------


@asynccontextmanager
async def socket(world: World, row: SocketRow, p: Presented) -> AsyncIterator[Client]:
    """The socket, opened and sent its auth frame as ``p`` says."""
    headers: dict[str, str] = {}
    if p.cookie is not None:
        headers["Cookie"] = f"{COOKIE_NAME}={p.cookie}"
    if p.origin is not None:
        headers["Origin"] = p.origin
    url = ws_url(world.server, row.path)
    async with connect(
        url, additional_headers=headers, open_timeout=WAIT, close_timeout=WAIT
    ) as ws:
        client = Client(ws)
        frame: Json = {"type": "auth"}
        if p.authorization is not None:
            frame["token"] = p.authorization
        if row.sends_app_id:
            frame["app_id"] = p.app_id
        await client.send(**frame)
        yield client


@pytest.mark.parametrize("cell", params(SOCKET_AUTH_CELLS))
async def test_socket_auth(world: World, cell: SocketCell) -> None:
    async with socket(world, cell.row, world.present(cell.credential)) as client:
        if cell.expected:
            await client.until(type="ready")
            await client.barrier()  # and it stays open
        else:
            assert await client.closed_with() == CloseCode.UNAUTHORIZED
    world.assert_no_secret("\n".join(client.raw), cell.id)


@pytest.mark.parametrize("cell", params(SOCKET_SUBSCRIBE_CELLS))
async def test_socket_subscribe(world: World, cell: SocketCell) -> None:
    assert cell.topic is not None
    topic = world.topic(cell.topic)
    async with socket(world, cell.row, world.present(cell.credential)) as client:
        await client.until(type="ready")
        await client.send(type="subscribe", topic=topic)
        answer, _ = await client.until(topic=topic)
        await client.barrier()  # still open either way
    if cell.expected:
        assert answer["type"] == "subscribed", answer
    else:
        # One refusal for everything: as for a conversation that does not exist.
        assert answer == {**REFUSED, "topic": topic}


def test_the_matrix_has_the_cells_it_claims() -> None:
    """Every credential and every kind of answer is exercised somewhere, so a
    policy that collapsed to one answer would be noticed."""
    outcomes = {cell.expected for cell in HTTP_CELLS}
    assert outcomes == set(Outcome)
    for credential in CREDENTIALS:
        mine = [cell for cell in HTTP_CELLS if cell.credential is credential]
        assert {cell.expected for cell in mine} != {OK}, credential.name
    assert {cell.expected for cell in SOCKET_SUBSCRIBE_CELLS} == {True, False}
    assert {cell.expected for cell in SOCKET_AUTH_CELLS} == {True, False}
