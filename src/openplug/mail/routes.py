"""Mail over HTTP: ``outgoing-mail.list`` / ``.get`` (openplug's own calls,
admins only: Settings -> Email, where the embedded setup shows every mail
it would have sent) and the unsubscribe link every visitor mail carries."""

from __future__ import annotations

import email
import email.policy
import html
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from openplug.crm.records import decode_cursor, encode_cursor
from openplug.db.base import rfc3339
from openplug.errors import NotFound
from openplug.ids import CONVERSATION, ObjectKind, display_id, parse_int_key
from openplug.mail import visitor_settings
from openplug.mail.addresses import unsubscribe_target
from openplug.mail.schemas import (
    OutgoingMailGetQuery,
    OutgoingMailGetRequest,
    OutgoingMailGetResponse,
    OutgoingMailListQuery,
    OutgoingMailListRequest,
    OutgoingMailListResponse,
)
from openplug.mail.tables import outgoing_mails
from openplug.runtime import Runtime
from openplug.web.deps import AdminDep, RuntimeDep
from openplug.web.openapi import answers

router = APIRouter(tags=["mail"])
Json = dict[str, Any]
MAIL = ObjectKind("core", "mail", "MAIL")
SHOWN_HEADERS = ("From", "To", "Reply-To", "Subject", "Date", "Message-ID", "List-Unsubscribe")


def _summary(row: Any) -> Json:
    out: Json = {
        "id": f"MAIL-{row.id}",
        "kind": row.kind,
        "message_id": row.message_id,
        "recipient": row.recipient,
        "subject": row.subject,
        "state": row.state,
        "created_date": rfc3339(row.created_at),
    }
    if row.sent_at is not None:
        out["sent_date"] = rfc3339(row.sent_at)
    if row.last_error:
        out["last_error"] = row.last_error
    if row.conversation_id is not None:
        out["conversation"] = display_id(CONVERSATION, int(row.conversation_id))
    return out


async def _list(runtime: Runtime, req: OutgoingMailListRequest) -> Json:
    c = outgoing_mails.c
    query = select(
        c.id, c.kind, c.message_id, c.recipient, c.subject, c.state, c.created_at, c.sent_at,
        c.last_error, c.conversation_id,
    ).order_by(c.id.desc()).limit(req.limit + 1)  # fmt: skip
    if req.cursor is not None:
        query = query.where(c.id < decode_cursor(req.cursor))
    if req.conversation is not None:
        key = parse_int_key(req.conversation, CONVERSATION, "conversation")
        query = query.where(c.conversation_id == key)
    async with runtime.db.read() as conn:
        rows = (await conn.execute(query)).all()
    page = rows[: req.limit]
    out: Json = {"mails": [_summary(r) for r in page]}
    if len(rows) > req.limit:
        out["next_cursor"] = encode_cursor(int(page[-1].id))
    return out


async def _get(runtime: Runtime, req: OutgoingMailGetRequest) -> Json:
    key = parse_int_key(req.id, MAIL, "id")
    async with runtime.db.read() as conn:
        row = (await conn.execute(select(outgoing_mails).where(outgoing_mails.c.id == key))).first()
    if row is None:
        raise NotFound("mail not found")
    message = email.message_from_string(row.raw, policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    headers = {n: str(message[n]).strip() for n in SHOWN_HEADERS if message[n] is not None}
    return {"mail": {**_summary(row), "text": text, "headers": headers, "raw": row.raw}}


@router.get("/outgoing-mail.list", operation_id="outgoing-mail.list",
            **answers(OutgoingMailListResponse))  # fmt: skip
async def outgoing_mail_list_get(
    runtime: RuntimeDep, _: AdminDep, q: Annotated[OutgoingMailListQuery, Query()]
) -> Json:
    return await _list(runtime, q)


@router.post("/outgoing-mail.list", operation_id="outgoing-mail.list.post",
             **answers(OutgoingMailListResponse))  # fmt: skip
async def outgoing_mail_list_post(
    runtime: RuntimeDep, _: AdminDep, body: OutgoingMailListRequest
) -> Json:
    return await _list(runtime, body)


@router.get("/outgoing-mail.get", operation_id="outgoing-mail.get",
            **answers(OutgoingMailGetResponse))  # fmt: skip
async def outgoing_mail_get_get(
    runtime: RuntimeDep, _: AdminDep, q: Annotated[OutgoingMailGetQuery, Query()]
) -> Json:
    return await _get(runtime, q)


@router.post("/outgoing-mail.get", operation_id="outgoing-mail.get.post",
             **answers(OutgoingMailGetResponse))  # fmt: skip
async def outgoing_mail_get_post(
    runtime: RuntimeDep, _: AdminDep, body: OutgoingMailGetRequest
) -> Json:
    return await _get(runtime, body)


# --- the unsubscribe link -----------------------------------------------------------

pages = APIRouter(include_in_schema=False)
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">'
        f"<h1>{html.escape(title)}</h1>{body}</body></html>",
        status,
        headers=_PAGE_HEADERS,
    )


_INVALID = "<p>This unsubscribe link is not valid (it may have been cut off).</p>"


@pages.get("/mail/unsubscribe")
async def unsubscribe_page(runtime: RuntimeDep, token: str = "") -> HTMLResponse:
    """A page with a button, never an unsubscribe on GET: mail scanners
    and link previews fetch every link in a mail."""
    if unsubscribe_target(runtime.secrets.token_pepper, token) is None:
        return _page("Unsubscribe", _INVALID, 404)
    action = html.escape(f"/mail/unsubscribe?token={token}", quote=True)
    return _page(
        "Stop these emails?",
        "<p>You will no longer get replies to your conversations by email. You can turn "
        "them back on in the chat.</p>"
        f'<form method="post" action="{action}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>',
    )


@pages.post("/mail/unsubscribe")
async def unsubscribe(runtime: RuntimeDep, token: str = "") -> HTMLResponse:
    """RFC 8058 one-click: the mail client POSTs ``List-Unsubscribe=One-Click``
    to the link; the token is the whole authority, so nothing else is asked."""
    rev_user_key = unsubscribe_target(runtime.secrets.token_pepper, token)
    if rev_user_key is None:
        # Answered to a mail provider's one-click POST as any API error is.
        raise NotFound("not an unsubscribe link of this server")
    await visitor_settings.update_visitor_mail(runtime, rev_user_key, subscribed=False)
    return _page(
        "You are unsubscribed",
        "<p>No more emails about your conversations. To get them again, turn them back on "
        "in the chat on the website.</p>",
    )
