"""The ``rev_info`` object a website backend sends to identify a visitor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openplug.crm.fields import (
    CustomFields,
    Domains,
    Email,
    LongText,
    Name,
    PhoneNumbers,
    Ref,
    ShortText,
    Strict,
    Websites,
    reject_null,
)
from openplug.errors import InvalidField, MissingRequiredField


class UserTraits(Strict):
    display_name: Name | None = None
    full_name: Name | None = None  # deprecated by DevRev; a display name fallback
    email: Email | None = None
    phone_numbers: PhoneNumbers | None = None
    description: LongText | None = None
    custom_fields: CustomFields | None = None

    _not_null = reject_null("display_name", "full_name", "phone_numbers")


class WorkspaceTraits(Strict):
    display_name: Name | None = None
    description: LongText | None = None
    tier: ShortText | None = None
    domain: ShortText | None = None  # deprecated by DevRev, kept as given
    phone_numbers: PhoneNumbers | None = None
    custom_fields: CustomFields | None = None

    _not_null = reject_null("display_name", "phone_numbers")


class AccountTraits(Strict):
    display_name: Name | None = None
    domains: Domains | None = None
    description: LongText | None = None
    tier: ShortText | None = None
    websites: Websites | None = None
    phone_numbers: PhoneNumbers | None = None
    custom_fields: CustomFields | None = None

    _not_null = reject_null("display_name", "domains", "websites", "phone_numbers")


class RevInfo(Strict):
    user_ref: Ref | None = None
    user_id: Ref | None = None
    account_ref: Ref | None = None
    workspace_ref: Ref | None = None
    org_ref: Ref | None = None
    user_traits: UserTraits | None = None
    workspace_traits: WorkspaceTraits | None = None
    org_traits: WorkspaceTraits | None = None
    account_traits: AccountTraits | None = None


@dataclass(frozen=True)
class Identification:
    """``rev_info`` with aliases resolved and cross-field rules checked."""

    path: str
    user_ref: str | None
    user_id: str | None
    account_ref: str | None
    workspace_ref: str | None
    user_traits: dict[str, Any]
    workspace_traits: dict[str, Any]
    account_traits: dict[str, Any]
    # Which key the workspace traits came under, for error paths.
    workspace_key: str = "workspace_traits"


def _traits(model: Strict | None) -> dict[str, Any]:
    return {} if model is None else model.model_dump(exclude_unset=True)


def resolve_rev_info(info: RevInfo, path: str) -> Identification:
    """Apply the rules a schema cannot express; ``path`` prefixes field names."""
    if info.user_ref is None and info.user_id is None:
        raise MissingRequiredField(f"{path}.user_ref", f"{path}.user_ref (or user_id) is required")
    if info.org_ref is not None and info.workspace_ref not in (None, info.org_ref):
        raise InvalidField(f"{path}.org_ref", "org_ref is an alias of workspace_ref; they differ")
    if info.org_traits is not None and info.workspace_traits is not None:
        raise InvalidField(
            f"{path}.org_traits", "org_traits is an alias of workspace_traits; send one"
        )
    workspace_ref = info.workspace_ref or info.org_ref
    workspace_traits = info.workspace_traits or info.org_traits
    traits_key = "org_traits" if info.org_traits is not None else "workspace_traits"
    if workspace_traits is not None and workspace_ref is None:
        raise MissingRequiredField(
            f"{path}.workspace_ref", f"{traits_key} needs workspace_ref to say which workspace"
        )
    if info.account_traits is not None and info.account_ref is None:
        raise MissingRequiredField(
            f"{path}.account_ref", "account_traits needs account_ref to say which account"
        )
    return Identification(
        path=path,
        user_ref=info.user_ref,
        user_id=info.user_id,
        account_ref=info.account_ref,
        workspace_ref=workspace_ref,
        user_traits=_traits(info.user_traits),
        workspace_traits=_traits(workspace_traits),
        account_traits=_traits(info.account_traits),
        workspace_key=traits_key,
    )
