"""Request bodies of the agents' CRM calls, in DevRev's field names."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from openplug.crm.fields import (
    FROM_QUERY,
    CustomFields,
    Domains,
    Email,
    LongText,
    Name,
    PhoneNumbers,
    ShortText,
    Strict,
    Websites,
    reject_null,
)
from openplug.web.openapi import Answer

Limit = Annotated[int, Field(ge=1, le=100)]
Filter = Annotated[list[Annotated[str, Field(max_length=255)]], Field(max_length=100)]


class GetRequest(Strict):
    id: ShortText


class GetQuery(GetRequest):
    model_config = FROM_QUERY


class Paging(Strict):
    cursor: ShortText | None = None
    limit: Limit = 50


class RevUsersListRequest(Paging):
    external_ref: Filter | None = None
    email: Filter | None = None
    rev_org: Filter | None = None
    is_verified: bool | None = None


class RevUsersListQuery(RevUsersListRequest):
    model_config = FROM_QUERY


class AccountsListRequest(Paging):
    external_refs: Filter | None = None


class AccountsListQuery(AccountsListRequest):
    model_config = FROM_QUERY


class RevOrgsListRequest(Paging):
    external_ref: Filter | None = None
    account: Filter | None = None


class RevOrgsListQuery(RevOrgsListRequest):
    model_config = FROM_QUERY


class RevUsersUpdateRequest(Strict):
    id: ShortText
    display_name: Name | None = None
    email: Email | None = None
    phone_numbers: PhoneNumbers | None = None
    description: LongText | None = None
    custom_fields: CustomFields | None = None
    rev_org: ShortText | None = None

    _not_null = reject_null("display_name", "phone_numbers", "rev_org")


class AccountsUpdateRequest(Strict):
    id: ShortText
    display_name: Name | None = None
    domains: Domains | None = None
    websites: Websites | None = None
    tier: ShortText | None = None
    description: LongText | None = None
    phone_numbers: PhoneNumbers | None = None
    custom_fields: CustomFields | None = None

    _not_null = reject_null("display_name", "domains", "websites", "phone_numbers")


class RevOrgsUpdateRequest(Strict):
    id: ShortText
    display_name: Name | None = None
    tier: ShortText | None = None
    description: LongText | None = None
    phone_numbers: PhoneNumbers | None = None
    custom_fields: CustomFields | None = None
    account: ShortText | None = None

    _not_null = reject_null("display_name", "phone_numbers", "account")


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


class _Record(Answer):
    id: str
    display_id: str
    display_name: str
    description: str | None
    phone_numbers: list[str]
    custom_fields: dict[str, Any] = Field(description="`tnt__` fields by name")
    created_date: Date
    modified_date: Date


class RevUser(_Record):
    type: Literal["rev_user"]
    email: str | None
    external_ref: str | None = Field(description="`user_ref`; null for anonymous visitors")
    rev_org: RevOrgSummary | None
    account: AccountSummary | None
    is_verified: bool = Field(description="Identified by the website backend (not anonymous)")
    state: Literal["active", "merged"]


class Account(_Record):
    type: Literal["account"]
    domains: list[str]
    websites: list[str]
    external_refs: list[str]
    tier: str | None


class RevOrg(_Record):
    type: Literal["rev_org"]
    external_ref: str | None
    account: AccountSummary | None
    tier: str | None
    domain: str | None


class RevUserResponse(Answer):
    rev_user: RevUser


class RevUsersListResponse(Answer):
    rev_users: list[RevUser]
    next_cursor: str | None = Field(description="Pass back as `cursor` for the next page")


class AccountResponse(Answer):
    account: Account


class AccountsListResponse(Answer):
    accounts: list[Account]
    next_cursor: str | None


class RevOrgResponse(Answer):
    rev_org: RevOrg


class RevOrgsListResponse(Answer):
    rev_orgs: list[RevOrg]
    next_cursor: str | None


class FieldView(Answer):
    name: str
    field_type: str
    base_type: str | None = Field(default=None, description="Arrays only")
    allowed_values: list[str] | None = Field(default=None, description="Enums only")
    is_required: bool
    description: str | None


class Fragment(Answer):
    id: str
    type: Literal["tenant_fragment"]
    leaf_type: Literal["rev_user", "account", "rev_org"]
    description: str | None
    fields: list[FieldView]
    deleted_fields: list[str]


class FragmentIdResponse(Answer):
    id: str


class FragmentResponse(Answer):
    fragment: Fragment


class FragmentsListResponse(Answer):
    result: list[Fragment]
