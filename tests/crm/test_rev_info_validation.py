"""Validation of the ``rev_info`` a website backend sends to
``auth-tokens.create``: every rule of the wire contract, the exact JSON path
named in ``field_name``, and that a refused request writes nothing at all."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.live_server import LiveServer

# A complete, valid three-level rev_info. Each case below breaks exactly one
# part of it, so a refused request always also carries valid account and
# workspace parts that must not be half-written.
BASE: dict[str, Any] = {
    "user_ref": "user-1",
    "account_ref": "acme.example",
    "workspace_ref": "acme-dev",
    "user_traits": {
        "email": "ann@acme.example",
        "display_name": "Ann Example",
        "phone_numbers": ["+911122334455"],
        "description": "a customer",
    },
    "workspace_traits": {
        "display_name": "Acme Dev",
        "description": "the dev team",
        "tier": "gold",
        "phone_numbers": ["+911122334456"],
    },
    "account_traits": {
        "display_name": "Acme",
        "domains": ["acme.example"],
        "websites": ["www.acme.example"],
        "description": "a company",
        "tier": "enterprise",
        "phone_numbers": ["+919988998833"],
    },
}


@dataclass(frozen=True)
class Case:
    id: str
    field_name: str
    error_type: str = "invalid_field"
    set: dict[tuple[str, ...], Any] = field(default_factory=dict)
    drop: tuple[tuple[str, ...], ...] = ()
    subtype: str | None = None
    # Some rules may be reported under either of two error types.
    alt_types: tuple[str, ...] = ()

    def rev_info(self) -> dict[str, Any]:
        info = copy.deepcopy(BASE)
        for path, value in self.set.items():
            target = info
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        for path in self.drop:
            target = info
            for key in path[:-1]:
                target = target[key]
            del target[path[-1]]
        return info


U = ("user_traits",)
W = ("workspace_traits",)
A = ("account_traits",)


def phone(where: tuple[str, ...], value: str, name: str) -> Case:
    return Case(
        f"{where[0]}-phone-{name}",
        f"rev_info.{where[0]}.phone_numbers[0]",
        set={(*where, "phone_numbers"): [value]},
    )


CASES = [
    # --- phone numbers: E.164, + then 8 to 15 digits ---------------------------------
    phone(U, "12345", "12345"),
    phone(U, "911122334455", "no-plus"),
    phone(U, "+1234567", "7-digits"),
    phone(U, "+1234567890123456", "16-digits"),
    phone(U, "+91112233445a", "letter"),
    phone(U, "+1-800-FLOWERS", "vanity"),
    phone(U, "+11111111111", "no-such-area-code"),
    phone(U, "+12345678", "no-such-number"),
    phone(U, "+91 11223 34455", "spaces"),
    phone(U, "", "empty"),
    phone(W, "12345", "12345"),
    phone(W, "+1234567890123456", "16-digits"),
    phone(A, "12345", "12345"),
    phone(A, "+1234567", "7-digits"),
    Case(
        "user-second-phone-bad",
        "rev_info.user_traits.phone_numbers[1]",
        set={(*U, "phone_numbers"): ["+911122334455", "12345"]},
    ),
    Case(
        "user-phone-numbers-not-a-list",
        "rev_info.user_traits.phone_numbers",
        set={(*U, "phone_numbers"): "+911122334455"},
    ),
    # --- emails ------------------------------------------------------------------------
    *(
        Case(f"email-{name}", "rev_info.user_traits.email", set={(*U, "email"): value})
        for name, value in [
            ("no-at", "not-an-email"),
            ("no-domain", "ann@"),
            ("no-local", "@acme.example"),
            ("two-ats", "ann@@acme.example"),
            ("space", "ann smith@acme.example"),
            ("no-dot-domain", "ann@acme"),
            ("empty", ""),
            ("too-long", "a" * 250 + "@acme.example"),
        ]
    ),
    # --- domains: bare host names --------------------------------------------------------
    *(
        Case(
            f"domain-{name}",
            "rev_info.account_traits.domains[0]",
            set={(*A, "domains"): [value]},
        )
        for name, value in [
            ("scheme", "https://acme.example"),
            ("path", "acme.example/about"),
            ("port", "acme.example:8080"),
            ("space", "acme example.com"),
            ("single-label", "localhost"),
            ("empty", ""),
            ("trailing-slash", "acme.example/"),
        ]
    ),
    Case(
        "domain-second-bad",
        "rev_info.account_traits.domains[1]",
        set={(*A, "domains"): ["acme.example", "http://acme.example"]},
    ),
    # --- websites --------------------------------------------------------------------------
    *(
        Case(
            f"website-{name}",
            "rev_info.account_traits.websites[0]",
            set={(*A, "websites"): [value]},
        )
        for name, value in [
            ("words", "not a website"),
            ("ftp", "ftp://acme.example"),
            ("scheme-only", "http://"),
            ("javascript", "javascript:alert(1)"),
            ("space-in-host", "https://ac me.example/"),
            ("empty", ""),
        ]
    ),
    # --- over-long strings ----------------------------------------------------------------
    Case(
        "user-display-name-256",
        "rev_info.user_traits.display_name",
        set={(*U, "display_name"): "x" * 256},
    ),
    Case(
        "user-description-4097",
        "rev_info.user_traits.description",
        set={(*U, "description"): "x" * 4097},
    ),
    Case("user-ref-256", "rev_info.user_ref", set={("user_ref",): "u" * 256}),
    Case("account-ref-256", "rev_info.account_ref", set={("account_ref",): "a" * 256}),
    Case("workspace-ref-256", "rev_info.workspace_ref", set={("workspace_ref",): "w" * 256}),
    Case(
        "workspace-display-name-256",
        "rev_info.workspace_traits.display_name",
        set={(*W, "display_name"): "x" * 256},
    ),
    Case(
        "workspace-description-4097",
        "rev_info.workspace_traits.description",
        set={(*W, "description"): "x" * 4097},
    ),
    Case(
        "account-display-name-256",
        "rev_info.account_traits.display_name",
        set={(*A, "display_name"): "x" * 256},
    ),
    Case(
        "account-description-4097",
        "rev_info.account_traits.description",
        set={(*A, "description"): "x" * 4097},
    ),
    Case("account-tier-256", "rev_info.account_traits.tier", set={(*A, "tier"): "t" * 256}),
    Case("user-ref-empty", "rev_info.user_ref", set={("user_ref",): ""}),
    # --- unknown keys are rejected, not dropped ---------------------------------------------
    Case("rev-info-unknown-key", "rev_info.usr_ref", set={("usr_ref",): "user-1"}),
    Case("user-traits-unknown-key", "rev_info.user_traits.name", set={(*U, "name"): "Ann"}),
    Case(
        "workspace-traits-unknown-key",
        "rev_info.workspace_traits.domains",
        set={(*W, "domains"): ["acme.example"]},
    ),
    Case(
        "account-traits-unknown-key",
        "rev_info.account_traits.email",
        set={(*A, "email"): "ann@acme.example"},
    ),
    # --- wrong shapes -----------------------------------------------------------------------
    Case("user-traits-not-object", "rev_info.user_traits", set={U: ["email"]}),
    Case("user-ref-not-string", "rev_info.user_ref", set={("user_ref",): 12}),
    # --- required refs --------------------------------------------------------------------------
    Case(
        "missing-user-ref",
        "rev_info.user_ref",
        error_type="missing_required_field",
        drop=(("user_ref",),),
    ),
    Case(
        "workspace-traits-without-workspace-ref",
        "rev_info.workspace_ref",
        error_type="missing_required_field",
        drop=(("workspace_ref",),),
    ),
    Case(
        "account-traits-without-account-ref",
        "rev_info.account_ref",
        error_type="missing_required_field",
        drop=(("account_ref",),),
    ),
    # --- custom fields ---------------------------------------------------------------------
    Case(
        "custom-field-without-prefix",
        "rev_info.user_traits.custom_fields.plan",
        error_type="customization_validation_error",
        alt_types=("invalid_field",),
        set={(*U, "custom_fields"): {"plan": "pro"}},
    ),
    Case(
        "user-custom-field-undefined",
        "rev_info.user_traits.custom_fields.tnt__plan",
        error_type="customization_validation_error",
        subtype="field_not_in_schema",
        set={(*U, "custom_fields"): {"tnt__plan": "pro"}},
    ),
    Case(
        "workspace-custom-field-undefined",
        "rev_info.workspace_traits.custom_fields.tnt__plan",
        error_type="customization_validation_error",
        subtype="field_not_in_schema",
        set={(*W, "custom_fields"): {"tnt__plan": "pro"}},
    ),
    Case(
        "account-custom-field-undefined",
        "rev_info.account_traits.custom_fields.tnt__plan",
        error_type="customization_validation_error",
        subtype="field_not_in_schema",
        set={(*A, "custom_fields"): {"tnt__plan": "pro"}},
    ),
]


def create_session(server: LiveServer, body: Any) -> httpx.Response:
    with server.client(server.aat) as c:
        return c.post("/auth-tokens.create", json=body)


def assert_nothing_written(server: LiveServer) -> None:
    with server.client(server.pat) as c:
        for path, key in [
            ("/rev-users.list", "rev_users"),
            ("/accounts.list", "accounts"),
            ("/rev-orgs.list", "rev_orgs"),
        ]:
            r = c.get(path)
            assert r.status_code == 200, r.text
            assert r.json()[key] == [], f"{path} is not empty after a refused request"


def assert_error(
    r: httpx.Response,
    status: int,
    error_type: str | tuple[str, ...],
    field_name: str | None = None,
) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    types = (error_type,) if isinstance(error_type, str) else error_type
    assert body["type"] in types, body
    assert isinstance(body.get("message"), str) and body["message"], body
    if field_name is not None:
        assert body.get("field_name") == field_name, body
    return body


def test_the_base_rev_info_is_valid(server: LiveServer) -> None:
    """The table below breaks one thing at a time in this rev_info."""
    r = create_session(server, {"rev_info": BASE})
    assert r.status_code == 201, r.text
    with server.client(server.pat) as c:
        assert len(c.get("/rev-users.list").json()["rev_users"]) == 1
        assert len(c.get("/accounts.list").json()["accounts"]) == 1
        assert len(c.get("/rev-orgs.list").json()["rev_orgs"]) == 1


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_invalid_rev_info_is_refused_naming_the_field(server: LiveServer, case: Case) -> None:
    r = create_session(server, {"rev_info": case.rev_info()})
    body = assert_error(r, 400, (case.error_type, *case.alt_types), case.field_name)
    if case.subtype is not None:
        assert body.get("subtype") == case.subtype, body
    assert_nothing_written(server)


def test_valid_boundary_values_are_accepted(server: LiveServer) -> None:
    """The rules refuse only what they should: limits are inclusive."""
    info = copy.deepcopy(BASE)
    info["user_ref"] = "u" * 255
    info["user_traits"] = {
        "display_name": "d" * 255,
        "description": "x" * 4096,
        "phone_numbers": ["+68221234", "+493012345678901"],  # 8 and 15 digits, both real
        "email": "first.last+tag@sub.acme.example",
    }
    info["account_traits"]["domains"] = ["acme.example", "sub.acme-corp.co.uk"]
    info["account_traits"]["websites"] = [
        "www.acme.example",
        "https://acme.example/",
        "http://acme.example/about?x=1",
    ]
    r = create_session(server, {"rev_info": info})
    assert r.status_code == 201, r.text
    with server.client(server.pat) as c:
        (user,) = c.get("/rev-users.list").json()["rev_users"]
        (account,) = c.get("/accounts.list").json()["accounts"]
    assert user["external_ref"] == "u" * 255
    assert user["display_name"] == "d" * 255
    assert user["description"] == "x" * 4096
    assert user["phone_numbers"] == ["+68221234", "+493012345678901"]
    assert account["domains"] == ["acme.example", "sub.acme-corp.co.uk"]
    assert account["websites"] == info["account_traits"]["websites"]


def test_subject_token_form_names_fields_under_subject_token(server: LiveServer) -> None:
    info = copy.deepcopy(BASE)
    info["user_traits"]["phone_numbers"] = ["12345"]
    r = create_session(
        server,
        {
            "grant_type": "urn:devrev:params:oauth:grant-type:token-issue",
            "requested_token_type": "urn:devrev:params:oauth:token-type:session",
            "subject_token_type": "urn:devrev:params:oauth:token-type:rev_info",
            "subject_token": json.dumps(info),
        },
    )
    assert_error(r, 400, "invalid_field", "subject_token.user_traits.phone_numbers[0]")
    assert_nothing_written(server)


def test_missing_rev_info_is_refused(server: LiveServer) -> None:
    r = create_session(server, {"expires_in_mins": 60})
    assert_error(r, 400, "missing_required_field", "rev_info")
    assert_nothing_written(server)


def test_unknown_top_level_key_is_refused(server: LiveServer) -> None:
    r = create_session(server, {"rev_info": BASE, "revinfo": BASE})
    assert_error(r, 400, "invalid_field", "revinfo")
    assert_nothing_written(server)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"rev_info": {"user_ref": "u"}', b"", b"\xff\xfe"],
    ids=["garbage", "truncated", "empty", "not-utf8"],
)
def test_body_that_is_not_json_is_bad_request(server: LiveServer, content: bytes) -> None:
    with server.client(server.aat) as c:
        r = c.post(
            "/auth-tokens.create",
            content=content,
            headers={"content-type": "application/json"},
        )
    assert_error(r, 400, "bad_request")
    assert_nothing_written(server)


@pytest.mark.parametrize(
    "content", [b"[]", b'"rev_info"', b"42", b"null"], ids=["list", "string", "int", "null"]
)
def test_json_body_that_is_not_an_object_is_refused(server: LiveServer, content: bytes) -> None:
    with server.client(server.aat) as c:
        r = c.post(
            "/auth-tokens.create", content=content, headers={"content-type": "application/json"}
        )
    assert r.status_code == 400, r.text
    assert r.json()["type"] in ("bad_request", "invalid_field", "missing_required_field")
    assert_nothing_written(server)


def test_body_over_64_kib_is_refused_with_413(server: LiveServer) -> None:
    info = copy.deepcopy(BASE)
    # Valid in every other respect: only its size is wrong.
    info["user_traits"]["description"] = "x" * 4000
    info["account_traits"]["websites"] = [f"www.site{i:04}.example" for i in range(50)]
    body = {"rev_info": info, "padding": "p" * (64 * 1024)}
    content = json.dumps(body).encode()
    assert len(content) > 64 * 1024
    with server.client(server.aat) as c:
        r = c.post(
            "/auth-tokens.create", content=content, headers={"content-type": "application/json"}
        )
    body = assert_error(r, 413, "bad_request")
    assert "size" in body["message"].lower() or "large" in body["message"].lower()
    assert_nothing_written(server)


def test_body_over_64_kib_without_content_length_is_refused(server: LiveServer) -> None:
    payload = json.dumps({"rev_info": BASE, "pad": "p" * (70 * 1024)}).encode()

    def chunks() -> Any:
        for i in range(0, len(payload), 8192):
            yield payload[i : i + 8192]

    with server.client(server.aat) as c:
        r = c.post(
            "/auth-tokens.create", content=chunks(), headers={"content-type": "application/json"}
        )
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert_error(r, 413, "bad_request")
    assert_nothing_written(server)


def test_body_just_under_the_limit_is_read(server: LiveServer) -> None:
    """The 413 is about size alone: a large but permitted body gets a
    normal answer (here a 400 for the padding key, proving it was parsed)."""
    base = json.dumps({"rev_info": BASE, "padding": ""}).encode()
    body = {"rev_info": BASE, "padding": "p" * (64 * 1024 - len(base))}
    content = json.dumps(body).encode()
    assert len(content) == 64 * 1024
    with server.client(server.aat) as c:
        r = c.post(
            "/auth-tokens.create", content=content, headers={"content-type": "application/json"}
        )
    assert_error(r, 400, "invalid_field", "padding")
