"""What the schema-driven fuzzing (``test_fuzz_api.py``) found, pinned down
one by one so each stays fixed whatever the fuzzer happens to generate."""

from __future__ import annotations

from typing import Any

import pytest

from tests.live_server import LiveServer


def test_405_names_every_method_served_at_the_path(server: LiveServer) -> None:
    """``.get`` and ``.list`` answer GET and POST from two routes; Starlette's
    405 named only the first route's methods (``Allow: GET``)."""
    with server.client(server.pat) as c:
        for path, allowed in [
            ("/rev-users.get", "GET, POST"),
            ("/conversations.list", "GET, POST"),
            ("/auth-tokens.info", "GET, POST"),
            ("/auth-tokens.create", "POST"),
            ("/widget/session", "POST"),
        ]:
            r = c.request("OPTIONS", path)
            assert r.status_code == 405, path
            assert r.headers["allow"] == allowed, path
            assert r.json()["type"] == "bad_request"
            r = c.delete(path)
            assert r.headers["allow"] == allowed, path


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/apps.create", {"name": "x", "require_identification": 0}, "require_identification"),
        ("/apps.create", {"name": "x", "require_identification": "true"}, "require_identification"),
        ("/rev-users.list", {"limit": "5"}, "limit"),
        ("/rev-users.list", {"limit": 5.0}, "limit"),
        ("/rev-users.list", {"is_verified": 1}, "is_verified"),
        ("/auth-tokens.create", {"expires_in": "30"}, "expires_in"),
        ("/schemas.custom.set",
         {"type": "tenant_fragment", "leaf_type": "account",
          "fields": [{"name": "vip", "field_type": "bool", "is_required": 0}]},
         "fields[0].is_required"),
    ],
)  # fmt: skip
def test_json_values_of_another_type_are_refused(
    server: LiveServer, path: str, body: dict[str, Any], field: str
) -> None:
    """A JSON value must have the type the document declares: ``0`` was
    taken for ``false`` and ``"5"`` for 5 (pydantic's lax mode), so a
    request the schema calls invalid succeeded."""
    with server.client(server.pat) as c:
        r = c.post(path, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "invalid_field"
    assert r.json()["field_name"] == field


def test_query_parameters_are_still_read_from_strings(server: LiveServer) -> None:
    with server.client(server.pat) as c:
        r = c.get("/rev-users.list", params={"limit": "5", "is_verified": "true"})
        assert r.status_code == 200, r.text
        r = c.get("/rev-users.list", params={"limit": "five"})
        assert r.status_code == 400
        assert r.json()["field_name"] == "limit"


def test_every_success_answer_is_declared_exactly(server: LiveServer) -> None:
    """Most calls were documented as "any object"; now each names its
    shape, closed (``additionalProperties: false``), and the fuzz suite
    checks every answer against it."""
    with server.client() as c:
        spec = c.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            (status,) = [s for s in operation["responses"] if s.startswith("2")]
            content = operation["responses"][status]["content"]
            if "application/json" not in content:  # a file's bytes: nothing to close
                assert path == "/artifacts/download/{token}", (method, path, list(content))
                continue
            schema = content["application/json"]["schema"]
            assert "$ref" in schema, (method, path, schema)
            declared = schemas[schema["$ref"].rsplit("/", 1)[1]]
            assert declared.get("additionalProperties") is False, (method, path)


def test_the_visitor_limit_is_documented_with_retry_after(server: LiveServer) -> None:
    with server.client() as c:
        spec = c.get("/openapi.json").json()
    limited = spec["paths"]["/widget/session"]["post"]["responses"]["429"]
    assert limited["headers"]["Retry-After"]["required"] is True
    with server.client() as c:
        for _ in range(server.settings.new_visitors_per_address_per_hour):
            assert c.post("/widget/session", json={"app_id": server.app_id}).status_code == 200
        r = c.post("/widget/session", json={"app_id": server.app_id})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["type"] == "too_many_requests"
