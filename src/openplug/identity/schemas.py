"""Request and response bodies of ``auth-tokens.*``, in DevRev's names."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from openplug.availability.schemas import WeeklyHoursView
from openplug.crm.fields import FROM_QUERY, ShortText, Strict
from openplug.crm.rev_info import RevInfo
from openplug.web.openapi import Answer, omitted_when_none, without_none

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
    act_as: ShortText | None = Field(
        default=None, description="Accepted and ignored: openplug has no act-as tokens"
    )
    client_id: ShortText | None = None
    token_hint: ShortText | None = None
    scope: ShortText | None = None


class AuthTokensCreateResponse(Answer):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    client_id: str | None = None
    token_id: str | None = None


class TokenIdRequest(Strict):
    token_id: ShortText


class TokenIdQuery(TokenIdRequest):
    model_config = FROM_QUERY


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


class AuthTokensListQuery(AuthTokensListRequest):
    model_config = FROM_QUERY


class AuthToken(Answer):
    id: str
    display_id: str
    token_id: str
    requested_token_type: str
    client_id: str = omitted_when_none("The app of an AAT; absent for a PAT")
    subject: str
    token_hint: str
    status: str
    issued_at: str
    created_date: str
    expires_at: str
    last_used_at: str | None
    revoked_at: str | None

    @model_serializer(mode="wrap")
    def _without_null_client(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # DevRev types ``client_id`` as a string: absent, never null.
        return without_none(handler(self), "client_id")


class AuthTokenResponse(Answer):
    token: AuthToken


class AuthTokensListResponse(Answer):
    tokens: list[AuthToken]


class OrganizationRef(Answer):
    id: str
    display_id: str


class TokenOwner(Answer):
    type: Literal["rev_user", "dev_user"]
    id: str
    display_id: str


class TokenFacts(Answer):
    type: Literal["session", "pat", "aat"]
    token_id: str | None = Field(default=None, description="PATs and AATs; not session tokens")
    subject: str
    issuer: str
    issued_at: int = Field(description="Unix time")
    expiry: int = Field(description="Unix time")
    client_id: str | None = Field(description="The app an AAT or session token is for")


class AuthTokensInfoResponse(Answer):
    organization: OrganizationRef
    user: TokenOwner
    token: TokenFacts


class App(Answer):
    app_id: str
    name: str
    allowed_origins: list[str]
    require_identification: bool
    created_date: str
    mail_delay_seconds: int
    site_url: str | None = None
    time_zone: str = Field(description="IANA name the office hours are in")
    office_hours: WeeklyHoursView | None = Field(description="null: always open")
    reply_time: Literal["minutes", "hour", "hours", "day"] | None
    away_message: str | None


class AppResponse(Answer):
    app: App


class AppsListResponse(Answer):
    apps: list[App]
