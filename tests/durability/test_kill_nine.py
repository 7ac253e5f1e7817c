"""Durability: SIGKILL the server in the middle of a burst of writes, start
it again on the same data, and check that every acknowledged request is
there and that nothing is there half-written. Twenty rounds on SQLite and
on PostgreSQL, one server process killed per round.

The burst mixes what the hot paths write: identifies of new users (each
request writes the user, usually a new account and workspace too, with
traits and custom fields), visitors starting conversations and posting
messages (the conversation, its member, the message, the seq and read mark
in one transaction), and agents posting to those conversations. The server
is killed when a random number of responses has been received; requests
then in flight may or may not have been committed, and the checks hold for
them too: whatever is stored is whole.

A request is *acknowledged* when its whole 2xx response was read. After the
restart, through the API and by SQL on the server's database:

- every acknowledged identify's user exists, with all its traits, in the
  workspace and account it named; every acknowledged conversation and
  message exists once, with its body, at the seq its response gave;
- every stored row is one a request sent, complete: a user with the
  account or workspace it named, a workspace under its account, no account
  or workspace without the user whose request made it, a conversation with
  its member and its first message, seqs 1..last_seq without a gap, the
  author's read mark at or past their message, no orphaned rows.

The run's seed is printed (``-s`` shows it, and a failure shows it anyway);
``OPENPLUG_TEST_SEED=<seed>`` replays each round's workload and kill point
(which earlier requests a round builds on still depends on what the earlier
rounds happened to acknowledge before their kill).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.backends import postgres_database
from tests.durability.server_process import ServerProcess
from tests.helpers import jwt_claims
from tests.live_server import TLS

ROUNDS = int(os.environ.get("OPENPLUG_DURABILITY_ROUNDS", "20"))
NEWCOMERS_PER_ROUND = 20  # identify, start a conversation, post 0-3 more
RETURNING_PER_ROUND = 12  # a visitor of an earlier round starts one, posts 0-2 more
VISITOR_POSTS_PER_ROUND = 30  # to conversations acknowledged in earlier rounds
AGENT_POSTS_PER_ROUND = 15
SEED = int(os.environ.get("OPENPLUG_TEST_SEED") or random.SystemRandom().randrange(10**9))

Json = dict[str, Any]


# --- what was sent, and what was acknowledged ------------------------------------


def account_traits(ref: str) -> Json:
    return {
        "display_name": f"Account {ref}",
        "domains": [f"{ref}.example"],
        "custom_fields": {"tnt__region": f"region-{ref}"},
    }


def workspace_traits(ref: str) -> Json:
    return {"display_name": f"Workspace {ref}"}


def workspace_account(workspace_ref: str) -> str:
    """A workspace always belongs to the same account (its ref's prefix), so
    concurrent identifies naming it never move it."""
    return workspace_ref.rsplit("-ws", 1)[0]


@dataclass
class Identify:
    user_ref: str
    account_ref: str
    workspace_ref: str | None  # None: the user hangs straight off the account
    seats: int
    acked: bool = False
    user_key: int | None = None
    token: str | None = field(default=None, repr=False)

    @property
    def user_traits(self) -> Json:
        return {
            "email": f"{self.user_ref}@durable.example",
            "display_name": f"User {self.user_ref}",
            "phone_numbers": [f"+1415555{self.seats % 10**4:04d}"],  # a real plan: 415-555
            "custom_fields": {"tnt__plan": "pro" if self.seats % 2 else "free",
                              "tnt__seats": self.seats},
        }  # fmt: skip

    def rev_info(self) -> Json:
        info: Json = {
            "user_ref": self.user_ref,
            "account_ref": self.account_ref,
            "user_traits": self.user_traits,
            "account_traits": account_traits(self.account_ref),
        }
        if self.workspace_ref is not None:
            info["workspace_ref"] = self.workspace_ref
            info["workspace_traits"] = workspace_traits(self.workspace_ref)
        return info


@dataclass
class Conversation:
    tag: str
    visitor: Identify
    acked: bool = False
    key: int | None = None

    @property
    def title(self) -> str:
        return f"Title {self.tag}"

    @property
    def first_body(self) -> str:
        return f"first {self.tag}"

    @property
    def display_id(self) -> str:
        return f"CONV-{self.key}"


@dataclass
class Message:
    body: str
    conversation: Conversation
    by_agent: bool
    round: int
    acked: bool = False
    seq: int | None = None


@dataclass
class RoundReport:
    round: int
    kill_after: int
    sent: Counter[str] = field(default_factory=Counter)
    acked: Counter[str] = field(default_factory=Counter)
    killed_during_burst: bool = True
    # Requests not acknowledged whose effect is stored all the same: the
    # server died between the commit and the response reaching the client.
    stored_unacked: int = 0


@dataclass
class Ledger:
    """Everything the test sent, keyed by what makes it unique in the
    database (refs, titles, bodies), and whether it was acknowledged."""

    identifies: dict[str, Identify] = field(default_factory=dict)
    conversations: dict[str, Conversation] = field(default_factory=dict)  # by title
    messages: dict[str, Message] = field(default_factory=dict)  # by body
    rounds: list[RoundReport] = field(default_factory=list)
    agent_key: int | None = None

    def account_refs(self) -> set[str]:
        return {i.account_ref for i in self.identifies.values()}

    def workspace_refs(self) -> set[str]:
        return {i.workspace_ref for i in self.identifies.values() if i.workspace_ref}

    def dump(self, path: Path) -> None:
        """What was sent and acknowledged, for replaying a failure by hand."""
        data = {
            "seed": SEED,
            "rounds": [{**vars(r), "sent": dict(r.sent), "acked": dict(r.acked)}
                       for r in self.rounds],
            "identifies": [
                {"user_ref": i.user_ref, "acked": i.acked, "user_key": i.user_key}
                for i in self.identifies.values()
            ],
            "conversations": [
                {"title": c.title, "acked": c.acked, "key": c.key}
                for c in self.conversations.values()
            ],
            "messages": [
                {"body": m.body, "conversation": m.conversation.title, "acked": m.acked,
                 "seq": m.seq}
                for m in self.messages.values()
            ],
        }  # fmt: skip
        path.write_text(json.dumps(data, indent=1))


# --- one burst, killed in the middle --------------------------------------------------


@dataclass
class Chain:
    """What one client sends, each request after the previous one's
    acknowledgement: an identify, a conversation to start, messages."""

    identify: Identify | None = None
    conversation: Conversation | None = None
    posts: list[Message] = field(default_factory=list)

    def __len__(self) -> int:
        return (self.identify is not None) + (self.conversation is not None) + len(self.posts)


class Burst:
    """One round's concurrent requests; SIGKILLs the server when the
    ``kill_after``-th acknowledgement arrives."""

    def __init__(
        self, server: ServerProcess, ledger: Ledger, rng: random.Random, round_no: int,
        app_id: str, aat: str, pat: str,
    ) -> None:  # fmt: skip
        self.server, self.ledger, self.rng, self.round = server, ledger, rng, round_no
        self.app_id, self.aat, self.pat = app_id, aat, pat
        self._serial = 0
        # Drawn first: the rest of the plan depends on what earlier rounds
        # happened to have acknowledged.
        kill_at = rng.random()
        self.chains = self._plan()
        planned = sum(len(chain) for chain in self.chains)
        self.report = RoundReport(round_no, kill_after=1 + int(kill_at * planned * 4 // 5))
        self.acked = 0
        self.killed = False
        self.problems: list[str] = []

    def _tag(self, kind: str) -> str:
        self._serial += 1
        return f"r{self.round}-{kind}{self._serial}-s{SEED}"

    def _message(self, conversation: Conversation, by_agent: bool) -> Message:
        body = f"{'agent' if by_agent else 'visitor'} {self._tag('m')}"
        return Message(body, conversation, by_agent, self.round)

    def _plan(self) -> list[Chain]:
        rng = self.rng
        chains = []
        for i in range(NEWCOMERS_PER_ROUND):
            # New accounts and workspaces, and ones named in earlier rounds.
            account = f"acc{self.round}x{i % 6}"
            if self.round > 1 and rng.random() < 0.3:
                account = f"acc{rng.randrange(1, self.round)}x{rng.randrange(6)}"
            workspace = None if rng.random() < 0.25 else f"{account}-ws{rng.randrange(3)}"
            ident = Identify(self._tag("u"), account, workspace, seats=rng.randrange(10**7))
            conversation = Conversation(self._tag("c"), ident)
            posts = [self._message(conversation, False) for _ in range(rng.randrange(4))]
            chains.append(Chain(ident, conversation, posts))
        visitors = [i for i in self.ledger.identifies.values() if i.acked]
        for visitor in rng.sample(visitors, min(len(visitors), RETURNING_PER_ROUND)):
            conversation = Conversation(self._tag("c"), visitor)
            posts = [self._message(conversation, False) for _ in range(rng.randrange(3))]
            chains.append(Chain(None, conversation, posts))
        earlier = [c for c in self.ledger.conversations.values() if c.acked]
        for by_agent, count in ((False, VISITOR_POSTS_PER_ROUND), (True, AGENT_POSTS_PER_ROUND)):
            for _ in range(count if earlier else 0):
                chains.append(Chain(posts=[self._message(rng.choice(earlier), by_agent)]))
        rng.shuffle(chains)
        return chains

    async def run(self) -> None:
        # Idle connections are dropped after 2 s, before uvicorn closes them
        # at 5 (its keep-alive timeout, and httpx's default expiry too): at
        # equal timeouts a request sent on a connection the server is closing
        # failed with ReadError while the server was alive (a loaded CI run).
        limits = httpx.Limits(
            max_connections=128, max_keepalive_connections=128, keepalive_expiry=2
        )
        async with httpx.AsyncClient(
            verify=TLS, base_url=self.server.base_url, timeout=60, limits=limits
        ) as client:
            await asyncio.gather(*(self._run_chain(client, chain) for chain in self.chains))
        if not self.killed:  # every request was answered before the chosen one
            self.report.killed_during_burst = False
            self.server.kill()
        await self.server.wait_killed()

    async def _run_chain(self, client: httpx.AsyncClient, chain: Chain) -> None:
        if chain.identify is not None and not await self._identify(client, chain.identify):
            return
        if chain.conversation is not None and not await self._start(client, chain.conversation):
            return
        for message in chain.posts:
            if not await self._post(client, message):
                return

    async def _request(self, client: httpx.AsyncClient, kind: str, path: str, body: Json,
                       token: str) -> Json | None:  # fmt: skip
        """The response if acknowledged; None if the request died with the server."""
        self.report.sent[kind] += 1
        try:
            response = await client.post(path, json=body, headers={"Authorization": token})
        except httpx.TransportError as e:
            if not self.killed:
                self.problems.append(f"{kind} {path} failed before the kill: {e!r}")
            return None
        if not response.is_success:
            self.problems.append(f"{kind} {path} -> {response.status_code} {response.text[:300]}")
            return None
        data: Json = response.json()
        self.report.acked[kind] += 1
        self.acked += 1
        if self.acked == self.report.kill_after:
            self.server.kill()
            self.killed = True
        return data

    # Each step records its request as sent, unless the server is already
    # dead: a request made after the kill would never reach a server.

    async def _identify(self, client: httpx.AsyncClient, ident: Identify) -> bool:
        if self.killed:
            return False
        self.ledger.identifies[ident.user_ref] = ident
        data = await self._request(
            client, "identify", "/auth-tokens.create", {"rev_info": ident.rev_info()}, self.aat
        )
        if data is None:
            return False
        ident.acked, ident.token = True, str(data["access_token"])
        ident.user_key = int(jwt_claims(ident.token)["uid"])
        return True

    async def _start(self, client: httpx.AsyncClient, conversation: Conversation) -> bool:
        if self.killed:
            return False
        self.ledger.conversations[conversation.title] = conversation
        first = Message(conversation.first_body, conversation, False, self.round)
        self.ledger.messages[first.body] = first
        assert conversation.visitor.token is not None
        data = await self._request(
            client, "conversation", "/widget/conversations.create",
            {"app_id": self.app_id, "title": conversation.title, "body": first.body},
            conversation.visitor.token,
        )  # fmt: skip
        if data is None:
            return False
        view = data["conversation"]
        conversation.acked, conversation.key = True, int(view["display_id"].split("-")[1])
        first.acked, first.seq = True, int(view["messages"][0]["seq"])
        return True

    async def _post(self, client: httpx.AsyncClient, message: Message) -> bool:
        if self.killed:
            return False
        self.ledger.messages[message.body] = message
        target = message.conversation
        if message.by_agent:
            data = await self._request(
                client, "agent message", "/timeline-entries.create",
                {"object": target.display_id, "type": "timeline_comment", "body": message.body,
                 "body_type": "text"}, self.pat,
            )  # fmt: skip
            entry = None if data is None else data["timeline_entry"]
            if entry is not None:
                self.ledger.agent_key = int(entry["created_by"]["id"].rsplit("/", 1)[1])
        else:
            assert target.visitor.token is not None
            data = await self._request(
                client, "visitor message", "/widget/messages.create",
                {"app_id": self.app_id, "conversation": target.display_id, "body": message.body},
                target.visitor.token,
            )  # fmt: skip
            entry = None if data is None else data["message"]
        if entry is None:
            return False
        message.acked, message.seq = True, int(entry["seq"])
        return True


# --- the checks -------------------------------------------------------------------------

TABLES = {
    "accounts": "id, external_ref, display_name, domains, custom_fields",
    "rev_orgs": "id, external_ref, display_name, account_id",
    "rev_users": "id, external_ref, display_name, email, phone_numbers, custom_fields,"
    " rev_org_id, account_id, is_verified, state",
    "conversations": "id, title, last_seq",
    "conversation_members": "conversation_id, rev_user_id, last_read_seq",
    "messages": "id, conversation_id, seq, author_rev_user_id, author_dev_user_id, body",
    "agent_reads": "conversation_id, dev_user_id, last_read_seq",
}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def read_tables(server: ServerProcess) -> tuple[dict[str, list[Json]], list[str]]:
    """Every row the checks look at, and SQLite's own integrity findings."""
    engine = create_async_engine(server.sql_url, poolclass=NullPool)
    problems: list[str] = []
    try:
        async with engine.connect() as conn:
            tables = {
                name: [dict(r._mapping) for r in await conn.execute(
                    text(f"SELECT {columns} FROM {name} ORDER BY 1"))]
                for name, columns in TABLES.items()
            }  # fmt: skip
            if engine.dialect.name == "sqlite":
                integrity = (await conn.execute(text("PRAGMA integrity_check"))).all()
                if [tuple(r) for r in integrity] != [("ok",)]:
                    problems.append(f"SQLite integrity_check: {integrity}")
                foreign = (await conn.execute(text("PRAGMA foreign_key_check"))).all()
                if foreign:
                    problems.append(f"SQLite foreign_key_check: {foreign[:10]}")
    finally:
        await engine.dispose()
    for row in tables["accounts"]:
        row["domains"], row["custom_fields"] = _json(row["domains"]), _json(row["custom_fields"])
    for row in tables["rev_users"]:
        row["phone_numbers"] = _json(row["phone_numbers"])
        row["custom_fields"] = _json(row["custom_fields"])
    return tables, problems


def check_tables(t: dict[str, list[Json]], ledger: Ledger) -> list[str]:
    """Every acknowledged write is stored; every stored row is whole."""
    p: list[str] = []
    accounts = {r["id"]: r for r in t["accounts"]}
    orgs = {r["id"]: r for r in t["rev_orgs"]}
    users = {r["id"]: r for r in t["rev_users"]}
    convs = {r["id"]: r for r in t["conversations"]}
    members: dict[int, list[Json]] = defaultdict(list)
    for m in t["conversation_members"]:
        members[m["conversation_id"]].append(m)
    by_conv: dict[int, list[Json]] = defaultdict(list)
    for m in t["messages"]:
        by_conv[m["conversation_id"]].append(m)
    account_refs, workspace_refs = ledger.account_refs(), ledger.workspace_refs()

    # Accounts and workspaces: named by a request, with that request's traits,
    # and never without the user whose identify made them.
    used_accounts = {o["account_id"] for o in orgs.values()} | {
        u["account_id"] for u in users.values()
    }
    for a in accounts.values():
        ref = a["external_ref"]
        if ref not in account_refs:
            p.append(f"account {a['id']} {ref!r}: no request named it")
            continue
        want = account_traits(ref)
        got = {k: a[k] for k in want}
        if got != want:
            p.append(f"account {ref}: {got} != {want}")
        if a["id"] not in used_accounts:
            p.append(f"account {ref}: half-written, no user or workspace in it")
    used_orgs = {u["rev_org_id"] for u in users.values()}
    for o in orgs.values():
        ref = o["external_ref"]
        if ref not in workspace_refs:
            p.append(f"workspace {o['id']} {ref!r}: no request named it")
            continue
        if o["display_name"] != workspace_traits(ref)["display_name"]:
            p.append(f"workspace {ref}: display_name {o['display_name']!r}")
        parent = accounts.get(o["account_id"])
        if parent is None or parent["external_ref"] != workspace_account(ref):
            p.append(f"workspace {ref}: account {o['account_id']} is not {workspace_account(ref)}")
        if o["id"] not in used_orgs:
            p.append(f"workspace {ref}: half-written, no user in it")

    # Users: exactly what their identify sent, where it said.
    users_by_ref = {u["external_ref"]: u for u in users.values()}
    for u in users.values():
        ident = ledger.identifies.get(u["external_ref"])
        if ident is None:
            p.append(f"rev user {u['id']} {u['external_ref']!r}: no request identified it")
            continue
        want = {**ident.user_traits, "is_verified": True, "state": "active"}
        got = {k: bool(u[k]) if k == "is_verified" else u[k] for k in want}
        if got != want:
            p.append(f"user {ident.user_ref}: {got} != {want}")
        if ident.workspace_ref is not None:
            org = orgs.get(u["rev_org_id"])
            if org is None or org["external_ref"] != ident.workspace_ref or u["account_id"]:
                p.append(f"user {ident.user_ref}: not in workspace {ident.workspace_ref}")
        else:
            account = accounts.get(u["account_id"])
            if account is None or account["external_ref"] != ident.account_ref or u["rev_org_id"]:
                p.append(f"user {ident.user_ref}: not in account {ident.account_ref}")
        if ident.acked and ident.user_key != u["id"]:
            p.append(f"user {ident.user_ref}: id {u['id']}, acknowledged as {ident.user_key}")
    for ident in ledger.identifies.values():
        if ident.acked and ident.user_ref not in users_by_ref:
            p.append(f"LOST: acknowledged identify of {ident.user_ref}")

    # Conversations: their visitor as the one member, their first message,
    # seqs 1..last_seq without a gap.
    convs_by_title = {c["title"]: c for c in convs.values()}
    for c in convs.values():
        sent = ledger.conversations.get(c["title"])
        if sent is None:
            p.append(f"conversation {c['id']} {c['title']!r}: no request started it")
            continue
        if sent.acked and sent.key != c["id"]:
            p.append(f"conversation {sent.tag}: id {c['id']}, acknowledged as {sent.key}")
        who = [m["rev_user_id"] for m in members[c["id"]]]
        if who != [sent.visitor.user_key]:
            p.append(f"conversation {sent.tag}: members {who}, not [{sent.visitor.user_key}]")
        seqs = sorted(m["seq"] for m in by_conv[c["id"]])
        if c["last_seq"] < 1 or seqs != list(range(1, c["last_seq"] + 1)):
            p.append(f"conversation {sent.tag}: seqs {seqs} for last_seq {c['last_seq']}")
        first = [m for m in by_conv[c["id"]] if m["seq"] == 1]
        if [m["body"] for m in first] != [sent.first_body]:
            p.append(f"conversation {sent.tag}: first message {first}")
    for sent in ledger.conversations.values():
        if sent.acked and sent.title not in convs_by_title:
            p.append(f"LOST: acknowledged conversation {sent.tag}")

    # Messages: each body once, in its conversation, by its author, at the
    # seq acknowledged; the author's read mark moved with it.
    bodies = Counter(m["body"] for m in t["messages"])
    read_marks = {(m["conversation_id"], m["rev_user_id"]): m["last_read_seq"]
                  for m in t["conversation_members"]}  # fmt: skip
    agent_marks = {(a["conversation_id"], a["dev_user_id"]): a["last_read_seq"]
                   for a in t["agent_reads"]}  # fmt: skip
    for m in t["messages"]:
        sent_m = ledger.messages.get(m["body"])
        if sent_m is None:
            p.append(f"message {m['id']} {m['body']!r}: no request posted it")
            continue
        if bodies[m["body"]] > 1:
            p.append(f"message {m['body']!r} stored {bodies[m['body']]} times")
        conv = convs.get(m["conversation_id"])
        if conv is None or conv["title"] != sent_m.conversation.title:
            p.append(f"message {m['body']!r}: in conversation {m['conversation_id']}")
        if sent_m.by_agent:
            author = (m["author_rev_user_id"], m["author_dev_user_id"])
            mark = agent_marks.get((m["conversation_id"], m["author_dev_user_id"]))
            if author != (None, ledger.agent_key) and ledger.agent_key is not None:
                p.append(f"message {m['body']!r}: author {author}, not agent {ledger.agent_key}")
        else:
            visitor = sent_m.conversation.visitor.user_key
            author = (m["author_rev_user_id"], m["author_dev_user_id"])
            mark = read_marks.get((m["conversation_id"], m["author_rev_user_id"]))
            if author != (visitor, None):
                p.append(f"message {m['body']!r}: author {author}, not visitor {visitor}")
        if mark is None or mark < m["seq"]:
            p.append(f"message {m['body']!r}: seq {m['seq']} but its author's read mark {mark}")
        if sent_m.acked and sent_m.seq != m["seq"]:
            p.append(f"message {m['body']!r}: seq {m['seq']}, acknowledged as {sent_m.seq}")
    for sent_m in ledger.messages.values():
        if sent_m.acked and sent_m.body not in bodies:
            p.append(f"LOST: acknowledged message {sent_m.body!r}")

    # Orphans and read marks past the end.
    for m in t["conversation_members"]:
        conv = convs.get(m["conversation_id"])
        if conv is None or m["rev_user_id"] not in users:
            p.append(f"orphaned member row {m}")
        elif m["last_read_seq"] > conv["last_seq"]:
            p.append(f"member {m} read past last_seq {conv['last_seq']}")
    for a in t["agent_reads"]:
        conv = convs.get(a["conversation_id"])
        if conv is None or a["last_read_seq"] > conv["last_seq"]:
            p.append(f"agent read mark {a} without its conversation or past its end")
    for m in t["messages"]:
        if m["conversation_id"] not in convs:
            p.append(f"orphaned message {m}")
    return p


async def check_api(server: ServerProcess, ledger: Ledger, round_no: int, app_id: str,
                    pat: str) -> list[str]:  # fmt: skip
    """What this round acknowledged, as the API shows it: users with their
    traits and places (by the PAT), and each touched conversation's
    messages (by its visitor's session token, minted before the kill)."""
    p: list[str] = []
    latest = [i for i in ledger.identifies.values() if i.acked and i.user_ref.startswith(
        f"r{round_no}-")]  # fmt: skip
    touched = {m.conversation.title: m.conversation for m in ledger.messages.values()
               if m.acked and m.round == round_no}  # fmt: skip
    async with httpx.AsyncClient(verify=TLS, base_url=server.base_url, timeout=60) as client:
        for start in range(0, len(latest), 50):
            batch = {i.user_ref: i for i in latest[start : start + 50]}
            r = await client.get(
                "/rev-users.list", params={"external_ref": list(batch), "limit": 100},
                headers={"Authorization": pat},
            )  # fmt: skip
            assert r.status_code == 200, r.text
            found = {u["external_ref"]: u for u in r.json()["rev_users"]}
            for ref, ident in batch.items():
                p.extend(_api_user_problems(ident, found.get(ref)))
        for conv in touched.values():
            assert conv.visitor.token is not None
            seen: list[Json] = []
            while True:
                r = await client.post(
                    "/widget/messages.list",
                    json={"app_id": app_id, "conversation": conv.display_id,
                          "after_seq": seen[-1]["seq"] if seen else 0, "limit": 200},
                    headers={"Authorization": conv.visitor.token},
                )  # fmt: skip
                if r.status_code != 200:
                    p.append(f"messages.list {conv.tag}: {r.status_code} {r.text[:300]}")
                    break
                seen += r.json()["messages"]
                if not r.json()["has_more"]:
                    break
            if [m["seq"] for m in seen] != list(range(1, len(seen) + 1)):
                p.append(f"API: conversation {conv.tag} seqs {[m['seq'] for m in seen]}")
            at = Counter((m["body"], m["seq"]) for m in seen)
            for m in ledger.messages.values():
                if m.conversation is conv and m.acked and at[(m.body, m.seq)] != 1:
                    p.append(f"API: message {m.body!r} at seq {m.seq} seen {at[(m.body, m.seq)]}x")
    return p


def _api_user_problems(ident: Identify, user: Json | None) -> Iterator[str]:
    if user is None:
        yield f"API: acknowledged user {ident.user_ref} not listed"
        return
    want = ident.user_traits
    got = {k: user.get(k) for k in want}
    if got != want:
        yield f"API: user {ident.user_ref}: {got} != {want}"
    account = user.get("account") or {}
    if account.get("display_name") != account_traits(ident.account_ref)["display_name"]:
        yield f"API: user {ident.user_ref}: account {account}"
    org = user.get("rev_org")
    if ident.workspace_ref is None:
        if org is not None:
            yield f"API: user {ident.user_ref}: in workspace {org}, sent none"
    elif (org or {}).get("display_name") != workspace_traits(ident.workspace_ref)["display_name"]:
        yield f"API: user {ident.user_ref}: workspace {org}"


# --- the test ------------------------------------------------------------------------------


async def _provision(server: ServerProcess) -> tuple[str, str, str]:
    """The instance, an app, an AAT for it and the admin's PAT, made by the CLI."""
    await server.cli("init")
    app = await server.cli("apps", "create", "--name", "Durability", "--origin",
                           "https://shop.example")  # fmt: skip
    aat, pat = await asyncio.gather(
        server.cli("tokens", "create", "--app", app["app_id"]), server.cli("pat", "create")
    )
    return str(app["app_id"]), str(aat["token"]), str(pat["token"])


async def _declare_custom_fields(server: ServerProcess, pat: str) -> None:
    declared = {
        "rev_user": [{"name": "plan", "field_type": "enum", "allowed_values": ["free", "pro"]},
                     {"name": "seats", "field_type": "int"}],
        "account": [{"name": "region", "field_type": "text"}],
    }  # fmt: skip
    async with httpx.AsyncClient(
        verify=TLS, base_url=server.base_url, headers={"Authorization": pat}
    ) as c:
        for leaf_type, fields in declared.items():
            r = await c.post("/schemas.custom.set", json={
                "type": "tenant_fragment", "leaf_type": leaf_type, "fields": fields})  # fmt: skip
            assert r.status_code == 201, r.text


def stored_unacknowledged(t: dict[str, list[Json]], ledger: Ledger, round_no: int) -> int:
    users = {u["external_ref"] for u in t["rev_users"]}
    titles = {c["title"] for c in t["conversations"]}
    bodies = {m["body"] for m in t["messages"]}
    this_round = f"r{round_no}-"
    return (
        sum(not i.acked and i.user_ref in users for i in ledger.identifies.values()
            if i.user_ref.startswith(this_round))
        + sum(not c.acked and c.title in titles for c in ledger.conversations.values()
              if c.tag.startswith(this_round))
        + sum(not m.acked and m.body in bodies for m in ledger.messages.values()
              if m.round == round_no and m.body != m.conversation.first_body)
    )  # fmt: skip


def _summary(backend: str, ledger: Ledger, seconds: float) -> str:
    sent: Counter[str] = Counter()
    acked: Counter[str] = Counter()
    for r in ledger.rounds:
        sent.update(r.sent)
        acked.update(r.acked)
    kinds = ", ".join(f"{k} {acked[k]}/{sent[k]}" for k in sorted(sent))
    return (
        f"[durability {backend}] seed {SEED}: {len(ledger.rounds)} rounds in {seconds:.0f}s;"
        f" acknowledged/sent {sum(acked.values())}/{sum(sent.values())} ({kinds});"
        f" stored though unacknowledged {sum(r.stored_unacked for r in ledger.rounds)};"
        " nothing lost, nothing half-written"
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_acknowledged_writes_survive_kill_nine(backend: str, tmp_path: Path) -> None:
    started = time.monotonic()
    print(f"\n[durability {backend}] seed {SEED} (replay: OPENPLUG_TEST_SEED={SEED})")
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if backend == "postgresql" else None
        server = ServerProcess(tmp_path / "data", url)
        server.data_dir.mkdir()
        app_id, aat, pat = await _provision(server)
        ledger = Ledger()
        try:
            await server.start()
            await _declare_custom_fields(server, pat)
            for round_no in range(1, ROUNDS + 1):
                rng = random.Random(f"{SEED}-{backend}-{round_no}")
                burst = Burst(server, ledger, rng, round_no, app_id, aat, pat)
                ledger.rounds.append(burst.report)
                await burst.run()
                restart = time.monotonic()
                await server.start()
                restart = time.monotonic() - restart
                tables, problems = await read_tables(server)
                problems += burst.problems + check_tables(tables, ledger)
                problems += await check_api(server, ledger, round_no, app_id, pat)
                r = burst.report
                r.stored_unacked = stored_unacknowledged(tables, ledger, round_no)
                print(
                    f"  round {round_no}: killed after {burst.acked} of {sum(r.sent.values())}"
                    f" requests acknowledged (target {r.kill_after}"
                    f"{'' if r.killed_during_burst else ', burst ended first'}),"
                    f" {r.stored_unacked} stored unacknowledged; restarted in {restart:.1f}s"
                )
                if problems:
                    ledger.dump(tmp_path / "ledger.json")
                    shown = "\n  ".join(problems[:30])
                    pytest.fail(
                        f"seed {SEED}, {backend}, round {round_no}: {len(problems)} problems"
                        f" (ledger in {tmp_path / 'ledger.json'}):\n  {shown}"
                    )
        finally:
            await server.stop()
    print(_summary(backend, ledger, time.monotonic() - started))
