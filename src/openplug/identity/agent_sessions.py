"""Agents signing in to the inbox with email and password.

Every attempt costs an argon2 verification (a dummy one for an unknown
email, so that the answer's timing does not tell who has an account),
about 0.2 s of a core. What keeps that cost from being turned against the
server is decided before any hash runs, in this order:

- one client address may have two sign-ins in progress at once
  (``Runtime.sign_ins_in_progress``), so a flood from one address holds
  at most two places in the queue for argon2's threads and an agent
  signing in from elsewhere waits behind two hashes, not two hundred;
- five wrong passwords for one email within 15 minutes lock that email out
  for the rest of the window (``Runtime.failed_sign_ins``), whatever the
  password: argon2 makes each guess slow, this makes them few;
- one client address may fail ``OPENPLUG_FAILED_SIGN_INS_PER_ADDRESS_PER_HOUR``
  times an hour (``Runtime.failed_sign_ins_by_address``), whatever the
  emails: the per-email count alone let one address try a fresh email
  each time and keep every core on argon2.

Both counts take the attempt when it arrives, not when its hash says it
failed: otherwise requests sent together would all pass the check before
the first failure was counted. A successful sign-in is then uncounted (and
clears its email's failures), so agents who know their password never use
up their office's allowance. The hash itself runs on
``Runtime.password_hashing``'s few threads, never on the event loop.

A sign-in is an access token of kind ``web``: a digest in the database
like any PAT, valid for a working day, revoked on sign-out and when the
agent's password changes (and, like a PAT, when it is revoked, the agent's
open inbox sockets close). Its secret lives only in an ``HttpOnly``
cookie, so the inbox's JavaScript, which renders text written by
strangers, never holds a credential.

A cookie is sent by the browser on its own, so two more checks stop other
sites from using it (CSRF): the cookie is ``SameSite=Strict``, and the API
accepts it only together with the ``X-OpenPlug-Inbox`` header, which a
cross-site page cannot add without a CORS preflight that openplug never
grants. The inbox socket, where browsers cannot add headers, instead
requires the ``Origin`` to be the server's own.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from openplug.audit import Actor
from openplug.errors import Unauthenticated
from openplug.identity import access_tokens as tokens
from openplug.identity.dev_users import DevUser, password_hash_of, set_password
from openplug.realtime import announce_revoked
from openplug.runtime import Runtime

COOKIE_NAME = "openplug_inbox"
CSRF_HEADER = "X-OpenPlug-Inbox"
SESSION_LIFETIME = timedelta(hours=12)


async def sign_in(
    runtime: Runtime, email: str, password: str, client_address: str
) -> tuple[str, DevUser]:
    """The new sign-in's secret (for the cookie) and who signed in.

    ``client_address``: the key of ``web.client_address`` for the caller.
    """
    key = email.strip().lower()
    with runtime.sign_ins_in_progress.hold(
        client_address, "a sign-in from this address is already in progress; try again"
    ):
        await runtime.failed_sign_ins.check(
            key, "too many failed sign-ins for this email; try again later"
        )
        attempt = await runtime.failed_sign_ins_by_address.admit(
            client_address, "too many failed sign-ins from this address; try again later"
        )
        await runtime.failed_sign_ins.record(key)
        async with runtime.db.read() as conn:
            found = await password_hash_of(conn, email)
        stored_hash = found[1] if found is not None else None
        if not await runtime.password_hashing.verify(stored_hash, password) or found is None:
            raise Unauthenticated("wrong email or password")
    await runtime.failed_sign_ins.clear(key)
    await runtime.failed_sign_ins_by_address.forget(client_address, attempt)
    user = found[0]
    async with runtime.db.write() as conn:
        secret, _ = await tokens.issue_access_token(
            conn,
            runtime.secrets.token_pepper,
            kind="web",
            dev_user_id=user.pk,
            app_pk=None,
            expires_in=SESSION_LIFETIME,
            token_hint="inbox sign-in",
            actor=Actor("dev_user", user.pk, "password", client_address),
        )
    return secret, user


async def sign_out(runtime: Runtime, secret: str, client_address: str) -> None:
    token = await tokens.find_by_secret(runtime.db, runtime.secrets.token_pepper, secret)
    if token is not None and token.kind == "web" and token.revoked_at is None:
        actor = Actor("dev_user", token.dev_user_id, "web", client_address)
        async with runtime.db.write() as conn:
            await tokens.revoke_token(conn, token.token_id, actor=actor)
        # Committed: the inbox tabs on this sign-in close their sockets.
        await announce_revoked(runtime.broker, "dev_user", token.dev_user_id, "signed out")


async def change_password(runtime: Runtime, email: str, password: str, *, actor: Actor) -> DevUser:
    """Set an agent's password and end every sign-in made with the old one,
    open inbox sockets included: a password is changed because it leaked or
    someone left, and a sign-in that outlived it would keep them in. (PATs
    are not sign-ins and stay; revoke them one by one.)"""
    async with runtime.db.write() as conn:
        user = await set_password(conn, email, password, actor=actor)
        await tokens.revoke_sign_ins(conn, user.pk)
    await announce_revoked(runtime.broker, "dev_user", user.pk, "password changed")
    return user


def cookie_credential(cookie: str | None, csrf_header: str | None) -> str:
    """The sign-in secret from a cookie, when the request may use it."""
    if not cookie:
        raise Unauthenticated("missing Authorization header")
    if tokens.token_kind_of(cookie) != "web":
        raise Unauthenticated("the inbox cookie does not hold a sign-in; sign in again")
    if csrf_header != "1":
        raise Unauthenticated(f"a cookie sign-in must send the {CSRF_HEADER}: 1 header")
    return cookie


def is_same_origin(origin: str | None, host: str | None) -> bool:
    """The socket handshake's ``Origin`` names this server (``Host``)."""
    if not origin or not host:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()
