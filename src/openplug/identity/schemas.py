"""Request and response bodies of ``auth-tokens.*``, in DevRev's names."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from openplug.crm.fields import ShortText, Strict
from openplug.crm.rev_info import RevInfo

AAT_TYPE = "urn:devrev:params:oauth:token-type:aat"
PAT_TYPE = "urn:devrev:params:oauth:token-type:pat"
SESSION_TYPE = "urn:devrev:params:oauth:token-type:session"
GRANT_TOKEN_ISSUE = "urn:devrev:params:oauth:grant-type:token-issue"
GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"

RequestedTokenType = Literal[
    "urn:devrev:params:oauth:token-type:aat",
    "urn:devrev:params:oauth:token-type:session",
]
SubjectTokenType = Literal[
    "urn:devrev:params:oauth:token-type:rev_info",
    "urn:devrev:params:oauth:token-type:revinfo",
    "urn:devrev:params:oauth:token-type:userinfo",
]
GrantType = Literal[
    "urn:devrev:params:oauth:grant-type:token-issue",
    "urn:ietf:params:oauth:grant-type:token-exchange",
]


class AuthTokensCreateRequest(Strict):
    rev_info: RevInfo | None = None
    expires_in_mins: Annotated[int, Field(ge=1, le=1440)] | None = None
    expires_in: Annotated[int, Field(ge=1, le=1825, description="AAT lifetime in days")] | None = (
        None
    )
    grant_type: GrantType | None = None
    requested_token_type: RequestedTokenType | None = None
    subject_token: Annotated[str, Field(max_length=60000)] | None = None
    subject_token_type: SubjectTokenType | None = None
    aud: Annotated[list[ShortText], Field(max_length=1)] | None = None
    client_id: ShortText | None = None
    token_hint: ShortText | None = None
    scope: ShortText | None = None


class AuthTokensCreateResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    client_id: str | None = None
    token_id: str | None = None


class TokenIdRequest(Strict):
    token_id: ShortText


class AuthTokensDeleteRequest(Strict):
    token_id: ShortText | None = None


class AuthTokensUpdateRequest(Strict):
    token_id: ShortText
    token_hint: Annotated[str, Field(min_length=1, max_length=255)]


class AuthTokensListRequest(Strict):
    requested_token_type: (
        Literal["urn:devrev:params:oauth:token-type:aat", "urn:devrev:params:oauth:token-type:pat"]
        | None
    ) = None
    client_id: ShortText | None = None
    subject: ShortText | None = None


class AuthToken(BaseModel):
    id: str
    display_id: str
    token_id: str
    requested_token_type: str
    client_id: str | None
    subject: str
    token_hint: str
    status: str
    issued_at: str
    created_date: str
    expires_at: str
    last_used_at: str | None
    revoked_at: str | None


class AuthTokenResponse(BaseModel):
    token: AuthToken


class AuthTokensListResponse(BaseModel):
    tokens: list[AuthToken]
