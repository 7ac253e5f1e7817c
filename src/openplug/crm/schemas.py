"""Request bodies of the agents' CRM calls, in DevRev's field names."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from openplug.crm.fields import (
    FROM_QUERY,
    CustomFields,
    DateTimeText,
    Domain,
    Domains,
    Email,
    LongText,
    Name,
    PhoneNumbers,
    Ref,
    ShortText,
    Strict,
    Websites,
    ignored,
    reject_null,
)
from openplug.web.openapi import Answer, omitted_when_none

Limit = Annotated[int, Field(ge=1, le=100)]
Filter = Annotated[list[Annotated[str, Field(max_length=255)]], Field(max_length=100)]


class GetRequest(Strict):
    id: ShortText


class GetQuery(GetRequest):
    model_config = FROM_QUERY


class RevOrgGetRequest(Strict):
    id: ShortText | None = None
    account: ShortText | None = Field(
        default=None, description="The account whose (only) workspace to get"
    )


class RevOrgGetQuery(RevOrgGetRequest):
    model_config = FROM_QUERY


class DateRange(Strict):
    """DevRev's ``date-filter`` (the ``range`` form): both ends inclusive."""

    type: Literal["range"] | None = None
    # A JSON string, hence not strict (a strict datetime wants an object).
    after: DateTimeText | None = None
    before: DateTimeText | None = None


class Paging(Strict):
    cursor: ShortText | None = None
    limit: Limit = 50
    mode: Literal["after", "before"] | None = Field(
        default=None, description="Iterate `after` the cursor (the default) or `before` it"
    )


class Listing(Paging):
    """What DevRev's record lists share: sorting and a creator filter; the
    date ranges are spelled differently in the body (``Ranges``) and the
    query (``RangesQuery``), see ``date_ranges``."""

    sort_by: Filter | None = Field(
        default=None,
        description="`created_date`, `modified_date` or `display_name`, each `:asc` or `:desc`",
    )
    created_by: Filter | None = Field(
        default=None,
        description="Accepted; openplug's records are made by identification, never by a "
        "dev user, so a `created_by` filter matches none",
    )


class Ranges(Strict):
    created_date: DateRange | None = None
    modified_date: DateRange | None = None


class RangesQuery(Strict):
    model_config = FROM_QUERY

    created_after: DateTimeText | None = Field(default=None, alias="created_date.after")
    created_before: DateTimeText | None = Field(default=None, alias="created_date.before")
    modified_after: DateTimeText | None = Field(default=None, alias="modified_date.after")
    modified_before: DateTimeText | None = Field(default=None, alias="modified_date.before")


def date_ranges(req: Any) -> tuple[DateRange | None, DateRange | None]:
    """``(created, modified)`` from either spelling."""
    if isinstance(req, RangesQuery):
        return (
            # Already validated: built without validating again.
            DateRange.model_construct(after=req.created_after, before=req.created_before),
            DateRange.model_construct(after=req.modified_after, before=req.modified_before),
        )
    return getattr(req, "created_date", None), getattr(req, "modified_date", None)


class RevUsersFilters(Listing):
    external_ref: Filter | None = None
    email: Filter | None = None
    rev_org: Filter | None = None
    is_verified: bool | None = None
    phone_numbers: Filter | None = None
    associations: Filter | None = Field(
        default=None, description="Accepted and ignored: openplug has no associations"
    )


class RevUsersListRequest(RevUsersFilters, Ranges):
    pass


class RevUsersListQuery(RevUsersFilters, RangesQuery):
    model_config = FROM_QUERY


class AccountsFilters(Listing):
    external_refs: Filter | None = None
    display_name: Filter | None = None
    tier: Filter | None = None
    websites: Filter | None = None
    stage: Filter | None = Field(
        default=None,
        description="Accepted; openplug's accounts have no stage, so a `stage` filter matches none",
    )


class AccountsListRequest(AccountsFilters, Ranges):
    pass


class AccountsListQuery(AccountsFilters, RangesQuery):
    model_config = FROM_QUERY


class RevOrgsFilters(Listing):
    external_ref: Filter | None = None
    display_name: Filter | None = None
    account: Filter | None = Field(default=None, description="openplug's own filter")


class RevOrgsListRequest(RevOrgsFilters, Ranges):
    pass


class RevOrgsListQuery(RevOrgsFilters, RangesQuery):
    model_config = FROM_QUERY


# DevRev's ``accounts-update-request-websites``, as /openapi.json shows it.
_WEBSITES_SET: dict[str, Any] = {
    "type": "object",
    "properties": {"set": {"type": "array", "items": {"type": "string"}, "maxItems": 50}},
    "required": ["set"],
    "additionalProperties": False,
}


class RevUsersUpdateRequest(Strict):
    id: ShortText
    display_name: Name | None = None
    email: Email | None = None
    phone_numbers: PhoneNumbers | None = None
    description: LongText | None = None
    custom_fields: CustomFields | None = None
    external_ref: Ref | None = Field(
        default=None, description="The user's `user_ref`: the website's id for them"
    )
    rev_org: ShortText | None = Field(default=None, description="openplug's own")
    display_picture: ShortText | None = ignored()
    custom_schema_fragments: dict[str, Any] | None = ignored()
    custom_schema_spec: dict[str, Any] | None = ignored()

    _not_null = reject_null("display_name", "phone_numbers", "rev_org", "external_ref")


class AccountsUpdateRequest(Strict):
    id: ShortText
    display_name: Name | None = None
    domains: Domains | None = None
    websites: Websites | None = Field(
        default=None,
        description='DevRev\'s `{"set": [...]}`, or the list itself',
        json_schema_extra={
            "anyOf": [{"type": "array", "items": {"type": "string"}}, _WEBSITES_SET]
        },
    )
    external_refs: Annotated[list[Ref], Field(max_length=1)] | None = Field(
        default=None, description="openplug keeps one: the `account_ref`"
    )
    tier: ShortText | None = None
    description: LongText | None = None
    owned_by: Annotated[list[ShortText], Field(max_length=100)] | None = ignored()
    phone_numbers: PhoneNumbers | None = Field(default=None, description="openplug's own")
    custom_fields: CustomFields | None = None

    _not_null = reject_null("display_name", "domains", "websites", "phone_numbers")

    @field_validator("websites", mode="before")
    @classmethod
    def _websites_set(cls, value: Any) -> Any:
        """DevRev's ``{"set": [...]}``: the list it sets."""
        if isinstance(value, dict) and set(value) == {"set"}:
            return value["set"]
        return value


class RevOrgsUpdateRequest(Strict):
    id: ShortText
    display_name: Name | None = None
    tier: ShortText | None = None
    description: LongText | None = None
    domain: Domain | None = None
    external_ref: Ref | None = Field(default=None, description="The workspace's `workspace_ref`")
    environment: Literal["production", "staging", "test"] | None = ignored()
    phone_numbers: PhoneNumbers | None = Field(default=None, description="openplug's own")
    custom_fields: CustomFields | None = None
    account: ShortText | None = Field(default=None, description="openplug's own")

    _not_null = reject_null("display_name", "phone_numbers", "account", "external_ref")


class RevUsersCreateRequest(Strict):
    display_name: Name | None = Field(
        default=None, description="Absent: the email, the external_ref, or a made-up name"
    )
    email: Email | None = None
    phone_numbers: PhoneNumbers | None = None
    description: LongText | None = None
    external_ref: Ref | None = Field(
        default=None, description="The user's `user_ref`: the website's id for them"
    )
    rev_org: ShortText | None = None
    custom_fields: CustomFields | None = Field(default=None, description="openplug's own")
    display_picture: ShortText | None = ignored()
    custom_schema_fragments: list[ShortText] | None = ignored()
    custom_schema_spec: dict[str, Any] | None = ignored()

    _not_null = reject_null("display_name", "phone_numbers", "rev_org", "external_ref")


class RevUsersMergeRequest(Strict):
    primary_user: ShortText = Field(description="Kept: it gets the other's conversations")
    secondary_user: ShortText = Field(description="Merged into the primary user, then gone")


class AccountsCreateRequest(Strict):
    display_name: Name
    domains: Domains | None = None
    websites: Websites | None = None
    external_refs: Annotated[list[Ref], Field(max_length=1)] | None = Field(
        default=None, description="openplug keeps one: the `account_ref`"
    )
    tier: ShortText | None = None
    description: LongText | None = None
    owned_by: Annotated[list[ShortText], Field(max_length=100)] | None = ignored()
    phone_numbers: PhoneNumbers | None = Field(default=None, description="openplug's own")
    custom_fields: CustomFields | None = Field(default=None, description="openplug's own")

    _not_null = reject_null("domains", "websites", "phone_numbers")


class RevOrgsCreateRequest(Strict):
    account: ShortText
    display_name: Name
    tier: ShortText | None = None
    description: LongText | None = None
    domain: Domain | None = None
    external_ref: Ref | None = Field(default=None, description="The workspace's `workspace_ref`")
    environment: Literal["production", "staging", "test"] | None = ignored()
    phone_numbers: PhoneNumbers | None = Field(default=None, description="openplug's own")
    custom_fields: CustomFields | None = Field(default=None, description="openplug's own")

    _not_null = reject_null("phone_numbers", "external_ref")


# --- responses ------------------------------------------------------------------

Date = Annotated[str, Field(description="RFC 3339, UTC, milliseconds: 2024-05-31T12:00:00.000Z")]


class AccountSummary(Answer):
    type: Literal["account"]
    id: str
    display_id: str
    display_name: str


class RevOrgSummary(Answer):
    type: Literal["rev_org"]
    id: str
    display_id: str
    display_name: str


class DevUserSummary(Answer):
    type: Literal["dev_user"]
    id: str
    display_id: str
    display_name: str


class _Record(Answer):
    id: str
    display_id: str
    display_name: str
    description: str = omitted_when_none()
    phone_numbers: list[str]
    custom_fields: dict[str, Any] = Field(description="`tnt__` fields by name")
    created_date: Date
    modified_date: Date


class RevUser(_Record):
    type: Literal["rev_user"]
    email: str = omitted_when_none()
    external_ref: str = omitted_when_none("`user_ref`; absent for anonymous visitors")
    rev_org: RevOrgSummary = omitted_when_none()
    account: AccountSummary = omitted_when_none()
    is_verified: bool = Field(description="Identified by the website backend (not anonymous)")
    state: Literal["active", "merged"]


class Account(_Record):
    type: Literal["account"]
    domains: list[str]
    websites: list[str]
    external_refs: list[str]
    tier: str = omitted_when_none()
    owned_by: list[DevUserSummary] = Field(
        description="Always []: openplug's accounts have no owners (accepted, ignored)"
    )


class RevOrg(_Record):
    type: Literal["rev_org"]
    external_ref: str = omitted_when_none()
    account: AccountSummary = omitted_when_none()
    tier: str = omitted_when_none()
    domain: str = omitted_when_none()


class RevUserResponse(Answer):
    rev_user: RevUser


class RevUsersListResponse(Answer):
    rev_users: list[RevUser]
    next_cursor: str = omitted_when_none("Pass back as `cursor` for the next page")
    prev_cursor: str = omitted_when_none("Pass back as `cursor` with `mode: before`")


class AccountResponse(Answer):
    account: Account


class AccountsListResponse(Answer):
    accounts: list[Account]
    next_cursor: str = omitted_when_none("Pass back as `cursor` for the next page")
    prev_cursor: str = omitted_when_none("Pass back as `cursor` with `mode: before`")


class RevOrgResponse(Answer):
    rev_org: RevOrg


class RevOrgsListResponse(Answer):
    rev_orgs: list[RevOrg]
    next_cursor: str = omitted_when_none("Pass back as `cursor` for the next page")
    prev_cursor: str = omitted_when_none("Pass back as `cursor` with `mode: before`")


class FieldView(Answer):
    name: str
    field_type: str
    base_type: str | None = Field(default=None, description="Arrays only")
    allowed_values: list[str] | None = Field(default=None, description="Enums only")
    is_required: bool
    is_filterable: bool
    is_pii: bool
    is_immutable: bool
    ui: dict[str, Any] = omitted_when_none("As it was set")
    description: str = omitted_when_none()
    default_value: Any = omitted_when_none("When set")
    gt: int = omitted_when_none("int fields, when set")
    gte: int = omitted_when_none("int fields, when set")
    lt: int = omitted_when_none("int fields, when set")
    lte: int = omitted_when_none("int fields, when set")
    min_len: int = omitted_when_none("text, rich_text and tokens fields, when set")
    max_len: int = omitted_when_none("text, rich_text and tokens fields, when set")
    eq_len: int = omitted_when_none("text, rich_text and tokens fields, when set")
    prefix: str = omitted_when_none("text, rich_text and tokens fields, when set")
    suffix: str = omitted_when_none("text, rich_text and tokens fields, when set")
    contains: str = omitted_when_none("text, rich_text and tokens fields, when set")
    pattern: str = omitted_when_none("text, rich_text and tokens fields, when set")
    min_items: int = omitted_when_none("arrays, when set")
    max_items: int = omitted_when_none("arrays, when set")
    eq_items: int = omitted_when_none("arrays, when set")


class Fragment(Answer):
    id: str
    type: Literal["tenant_fragment"]
    leaf_type: Literal["rev_user", "account", "rev_org"]
    description: str = omitted_when_none()
    fields: list[FieldView]
    deleted_fields: list[str]


class FragmentIdResponse(Answer):
    id: str


class FragmentResponse(Answer):
    fragment: Fragment


class FragmentsListResponse(Answer):
    result: list[Fragment]
