"""``rev_info`` validation with arbitrary Unicode in every string field,
through the plain modules the server runs for ``auth-tokens.create`` (the
text guard, the request model from bytes, the cross-field rules, custom
field values), without HTTP: never an unexpected exception; either a 400
naming a field under ``rev_info``, or accepted, and then every value is
what was sent (up to the documented normalisations) and storable."""

from __future__ import annotations

import json
from typing import Any

from email_validator import validate_email
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from openplug.crm.custom_fields import FieldDef, validate_custom_fields
from openplug.crm.rev_info import Identification, resolve_rev_info
from openplug.errors import ApiError
from openplug.identity.schemas import AuthTokensCreateRequest
from openplug.web.text_guard import text_refusal
from openplug.web.validation import error_from_validation

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEFS = {
    leaf: {
        "note": FieldDef(leaf, "note", "text", None, None, False, None, False),
        "tags": FieldDef(leaf, "tags", "array", "text", None, False, None, False),
    }
    for leaf in ("rev_user", "account", "rev_org")
}

# Every code point: NUL, controls, unpaired surrogates, astral planes.
any_text = st.text(st.characters(exclude_categories=()), max_size=30)
# Mostly-valid values next to arbitrary ones, so that both outcomes are common.
plain = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30)
ref = st.one_of(plain.map(str.strip).filter(bool), any_text)
phone = st.one_of(st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True), any_text)
email = st.one_of(st.emails(), any_text)
domain = st.one_of(st.sampled_from(["devrev.ai", "shop.example", "a-b.co.uk"]), any_text)
custom = st.fixed_dictionaries(
    {},
    optional={
        "tnt__note": st.one_of(st.none(), plain, any_text),
        "tnt__tags": st.lists(st.one_of(plain, any_text), max_size=3),
    },
)
user_traits = st.fixed_dictionaries(
    {},
    optional={
        "display_name": st.one_of(plain, any_text),
        "full_name": any_text,
        "email": email,
        "phone_numbers": st.lists(phone, max_size=2),
        "description": st.one_of(plain, any_text),
        "custom_fields": custom,
    },
)
account_traits = st.fixed_dictionaries(
    {},
    optional={
        "display_name": st.one_of(plain, any_text),
        "domains": st.lists(domain, max_size=2),
        "description": any_text,
        "tier": st.one_of(plain, any_text),
        "websites": st.lists(st.one_of(domain, any_text), max_size=2),
        "phone_numbers": st.lists(phone, max_size=2),
        "custom_fields": custom,
    },
)
workspace_traits = st.fixed_dictionaries(
    {},
    optional={
        "display_name": st.one_of(plain, any_text),
        "description": any_text,
        "tier": any_text,
        "domain": any_text,
        "custom_fields": custom,
    },
)
anything = st.fixed_dictionaries(
    {},
    optional={
        "user_ref": ref,
        "account_ref": ref,
        "workspace_ref": ref,
        "user_traits": user_traits,
        "account_traits": account_traits,
        "workspace_traits": workspace_traits,
    },
)


@st.composite
def coherent(draw: st.DrawFn) -> dict[str, Any]:
    """A user_ref, and a ref for every parent whose traits are sent: what a
    site's backend sends, with arbitrary values in it."""
    info: dict[str, Any] = {"user_ref": draw(ref)}
    if draw(st.booleans()):
        info["user_traits"] = draw(user_traits)
    for parent, traits in (("account", account_traits), ("workspace", workspace_traits)):
        if draw(st.booleans()):
            info[f"{parent}_ref"] = draw(ref)
            if draw(st.booleans()):
                info[f"{parent}_traits"] = draw(traits)
    return info


rev_infos = st.one_of(anything, coherent())

# What pydantic's strip_whitespace takes off a name: Unicode White_Space
# (Rust's ``str::trim``), which is not Python's ``isspace`` (that one also
# counts the separators U+001C-U+001F).
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
LEAVES = {"user_traits": "rev_user", "account_traits": "account", "workspace_traits": "rev_org"}


def judge(rev_info: dict[str, Any]) -> ApiError | Identification:
    """What the server decides about this ``rev_info``, up to the database."""
    raw = json.dumps({"rev_info": rev_info}).encode()  # \\u escapes: any str survives
    refused = text_refusal(json.loads(raw))
    if refused is not None:
        return refused
    try:
        request = AuthTokensCreateRequest.model_validate_json(raw)
    except ValidationError as e:
        return error_from_validation(e)
    assert request.rev_info is not None
    try:
        ident = resolve_rev_info(request.rev_info, "rev_info")
        for key, leaf in LEAVES.items():
            traits = getattr(ident, key)
            if "custom_fields" in traits:
                traits["custom_fields"] = validate_custom_fields(
                    traits["custom_fields"], DEFS[leaf], leaf, f"rev_info.{key}.custom_fields"
                )
    except ApiError as e:
        return e
    return ident


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@PROPERTY
@given(rev_info=rev_infos)
@example(rev_info={"user_ref": "a\x00b"})
@example(rev_info={"user_ref": "a\ud800"})
@example(rev_info={"user_ref": "u", "user_traits": {"custom_fields": {"tnt__note": "\udfff"}}})
@example(rev_info={"user_ref": "u", "user_traits": {"display_name": "  Ann  "}})
@example(rev_info={"user_ref": "u", "account_ref": "a", "account_traits": {"tier": "\x00"}})
def test_rev_info_is_accepted_as_sent_or_refused_naming_a_field(rev_info: dict[str, Any]) -> None:
    outcome = judge(rev_info)
    event("refused" if isinstance(outcome, ApiError) else "accepted")
    if isinstance(outcome, ApiError):
        assert outcome.status_code == 400
        field = outcome.extra.get("field_name")
        assert isinstance(field, str) and field.startswith("rev_info"), outcome.body()
        assert outcome.message
        return

    # Accepted: what would be stored is what was sent.
    ident = outcome
    assert ident.user_ref == rev_info["user_ref"]
    assert ident.account_ref == rev_info.get("account_ref")
    assert ident.workspace_ref == rev_info.get("workspace_ref")
    for key in LEAVES:
        sent, kept = rev_info.get(key, {}), getattr(ident, key)
        assert set(kept) == set(sent)
        for name, value in sent.items():
            if name in ("display_name", "full_name"):
                assert kept[name] == value.strip(WHITE_SPACE)
            elif name == "email":
                assert kept[name] == validate_email(value, check_deliverability=False).normalized
            elif name == "domains":
                assert kept[name] == [d.lower() for d in value]
            elif name == "custom_fields":
                assert kept[name] == value
            else:
                assert kept[name] == value, name
    # And it can be stored: text only (no NUL, no lone surrogate) and JSON.
    stored = {k: getattr(ident, k) for k in LEAVES}
    for text in _strings(stored):
        assert "\x00" not in text
        text.encode("utf-8")
    assert json.loads(json.dumps(stored)) == stored
