"""Validated field types shared by ``rev_info`` and the CRM update calls.

Each failure message says what a correct value looks like; the request
layer adds the JSON path of the value.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NO_EDGE_SPACE = r"^\S(?:[\s\S]*\S)?$"


@lru_cache(maxsize=8192)
def _phone(value: str) -> str:
    """E.164 as DevRev documents it, and a number that exists: the shape
    alone let ``+11111111111`` through (no such area code). phonenumbers
    carries libphonenumber's metadata of every country's numbering plan."""
    if not _E164.match(value):
        raise ValueError("must be an E.164 phone number: + then 8 to 15 digits, e.g. +911122334455")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValueError(f"{value} is not a phone number in use in any country's numbering plan")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=8192)
def _email(value: str) -> str:
    # Cached: a returning visitor sends the same address on every page load,
    # and full validation (IDNA, Unicode normalisation) is not cheap.
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise ValueError(f"not a valid email address: {e}") from None


def is_host_name(value: str) -> bool:
    labels = value.split(".")
    return (
        len(value) <= 253
        and len(labels) >= 2
        and all(_HOST_LABEL.match(label) for label in labels)
        and not labels[-1].isdigit()
    )


def _domain(value: str) -> str:
    lowered = value.lower()
    if not is_host_name(lowered):
        raise ValueError("must be a bare host name such as devrev.ai (no scheme, no path, no port)")
    return lowered


def _website(value: str) -> str:
    candidate = value if "://" in value else f"https://{value}"
    parts = urlsplit(candidate)
    if parts.scheme not in ("http", "https") or not is_host_name((parts.hostname or "").lower()):
        raise ValueError("must be a web address such as www.devrev.ai or https://devrev.ai/")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain spaces")
    return value


Ref = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=_NO_EDGE_SPACE)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
ShortText = Annotated[str, StringConstraints(max_length=255)]
LongText = Annotated[str, StringConstraints(max_length=4096)]
PhoneNumber = Annotated[str, AfterValidator(_phone)]
Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]
Domain = Annotated[str, StringConstraints(max_length=253), AfterValidator(_domain)]
Website = Annotated[str, StringConstraints(min_length=1, max_length=2048), AfterValidator(_website)]
PhoneNumbers = Annotated[list[PhoneNumber], Field(max_length=20)]
Domains = Annotated[list[Domain], Field(max_length=50)]
Websites = Annotated[list[Website], Field(max_length=50)]
CustomFields = Annotated[dict[str, Any], Field(max_length=200)]


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("must not be null; leave the field out to keep the stored value")
    return value


def reject_null(*fields: str) -> Any:
    """A validator for fields that may be left out but have no "empty" value:
    a name, or a list (send ``[]`` to empty it)."""
    return field_validator(*fields, mode="before")(_not_null)


class Strict(BaseModel):
    """Unknown keys are an error, never silently dropped, and a JSON value
    must have the type the OpenAPI document declares: ``0`` is not
    ``false`` nor ``"5"`` 5 (DevRev's API reads JSON as strictly)."""

    model_config = ConfigDict(extra="forbid", strict=True)


# The config of a request model read from query parameters, whose values all
# arrive as strings (``?limit=5&is_verified=true``): a subclass that sets it
# (``class GetQuery(GetRequest): model_config = FROM_QUERY``) converts them.
FROM_QUERY = ConfigDict(extra="forbid", strict=False)


def is_query_form(model: Any) -> bool:
    """Whether a request model was read from query parameters (``FROM_QUERY``)."""
    return isinstance(model, BaseModel) and model.model_config.get("strict") is False


_RFC3339_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]")


def _rfc3339_text(value: Any) -> Any:
    # Lax datetimes would take ``0.5`` or ``1700000000`` as Unix times; DevRev's
    # document types these as ``date-time`` strings.
    if not isinstance(value, str) or not _RFC3339_DATE.match(value):
        raise ValueError("must be an RFC 3339 date-time such as 2024-05-31T12:00:00Z")
    return value


# A ``date-time`` given as text (a JSON string or a query parameter), with
# its time zone.
DateTimeText = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_rfc3339_text)]


def ignored() -> Any:
    """A DevRev request field that means nothing in openplug: accepted (so
    code written for DevRev keeps working), ignored, and listed in the
    README's "Coming from DevRev"."""
    return Field(default=None, description="Accepted and ignored (see README, Coming from DevRev)")
