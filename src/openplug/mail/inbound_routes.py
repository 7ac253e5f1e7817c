"""``POST /mail/inbound``: a mail provider's inbound webhook hands over a
reply as the raw MIME message.

Authenticated with ``OPENPLUG_MAIL_INBOUND_SECRET`` as a bearer token
(compared in constant time); with no secret set the route does not exist
(404), so a server that takes no mail this way offers nothing to guess at.
The body may be up to ``OPENPLUG_MAX_INBOUND_MAIL_BYTES`` (the global
request limit does not apply here; see app.py). Refused mail is a 4xx
naming the reason, which providers do not retry; accepted mail (posted,
a retry of one posted, or a robot's dropped) is 202.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import JSONResponse

from openplug.errors import InvalidField, NotFound, Unauthenticated
from openplug.mail.inbound import receive_reply
from openplug.web.deps import RuntimeDep
from openplug.web.openapi import Answer, answers

INBOUND_PATH = "/mail/inbound"
MEDIA_TYPE = "message/rfc822"

router = APIRouter(tags=["mail"])

_secret = HTTPBearer(
    scheme_name="MailInboundSecret",
    description="`Bearer <OPENPLUG_MAIL_INBOUND_SECRET>`",
    auto_error=False,
)


class InboundMailAccepted(Answer):
    """``posted``: the reply is in the conversation; ``duplicate``: this
    message was posted before (a retry); ``dropped``: an automatic mail
    (out-of-office, bounce), taken and thrown away."""

    outcome: Literal["posted", "duplicate", "dropped"]


@router.post(
    INBOUND_PATH,
    operation_id="mail.inbound",
    summary="Take a reply by mail from a provider's inbound webhook (the raw MIME message)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    **answers(InboundMailAccepted, 202),
)
async def mail_inbound(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_secret)],
) -> JSONResponse:
    expected = runtime.settings.mail_inbound_secret
    if not expected:
        raise NotFound("Not Found")
    if credentials is None or not hmac.compare_digest(
        credentials.credentials.encode(), expected.encode()
    ):
        raise Unauthenticated("the inbound mail secret is missing or wrong")
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != MEDIA_TYPE:
        raise InvalidField("Content-Type", f"Content-Type: must be {MEDIA_TYPE}")
    outcome = await receive_reply(
        runtime, await request.body(), recipients=[], envelope_sender=None, via="webhook"
    )
    return JSONResponse({"outcome": outcome.result}, status_code=202)
