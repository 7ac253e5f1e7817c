"""Request bodies of the agents' CRM calls, in DevRev's field names."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from openplug.crm.fields import (
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

Limit = Annotated[int, Field(ge=1, le=100)]
Filter = Annotated[list[Annotated[str, Field(max_length=255)]], Field(max_length=100)]


class GetRequest(Strict):
    id: ShortText


class Paging(Strict):
    cursor: ShortText | None = None
    limit: Limit = 50


class RevUsersListRequest(Paging):
    external_ref: Filter | None = None
    email: Filter | None = None
    rev_org: Filter | None = None
    is_verified: bool | None = None


class AccountsListRequest(Paging):
    external_refs: Filter | None = None


class RevOrgsListRequest(Paging):
    external_ref: Filter | None = None
    account: Filter | None = None


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
