"""Every refusal has the spec's error shape; internals never leak."""

import logging

import pytest

from tests.live_server import LiveServer


def test_body_over_the_limit_is_413_and_writes_nothing(server: LiveServer) -> None:
    big = {"rev_info": {"user_ref": "big", "user_traits": {"description": "x" * 70_000}}}
    with server.client(server.aat) as c:
        r = c.post("/auth-tokens.create", json=big)
    assert r.status_code == 413
    assert r.json()["type"] == "bad_request"
    assert "larger than" in r.json()["message"]
    with server.client(server.pat) as c:
        assert c.get("/rev-users.list").json()["rev_users"] == []


def test_chunked_body_over_the_limit_is_413(server: LiveServer) -> None:
    def chunks():  # no Content-Length: the server must count as it reads
        for _ in range(100):
            yield b"x" * 1024

    with server.client(server.aat) as c:
        r = c.post("/auth-tokens.create", content=chunks())
    assert r.status_code == 413


def test_a_get_is_counted_only_when_it_sends_a_body(server: LiveServer) -> None:
    """A GET without a body passes the body layers untouched; one that
    sends a body anyway (chunked) is counted as any other request."""

    def chunks():
        for _ in range(100):
            yield b"x" * 1024

    with server.client(server.pat) as c:
        assert c.get("/rev-users.list").status_code == 200
        r = c.request("GET", "/rev-users.list", content=chunks())
    assert r.status_code == 413
    assert r.json()["type"] == "bad_request"


def test_invalid_json_is_bad_request(server: LiveServer) -> None:
    with server.client(server.aat) as c:
        r = c.post(
            "/auth-tokens.create",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
    assert r.status_code == 400
    assert r.json()["type"] == "bad_request"


def test_unknown_path_is_not_found_in_spec_shape(server: LiveServer) -> None:
    with server.client(server.pat) as c:
        r = c.get("/no-such.thing")
    assert r.status_code == 404
    assert r.json()["type"] == "not_found"


async def test_internal_error_has_a_reference_id_and_no_internals(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    await server.sql("DROP TABLE rev_orgs")
    caplog.set_level(logging.ERROR, logger="openplug.errors")
    with server.client(server.pat) as c:
        r = c.get("/rev-orgs.list")
    assert r.status_code == 500
    body = r.json()
    assert body["type"] == "internal_error"
    assert set(body) == {"type", "message", "reference_id"}
    assert "rev_orgs" not in r.text and "SELECT" not in r.text.upper()
    assert any(body["reference_id"] in rec.getMessage() for rec in caplog.records)


def test_openapi_describes_the_api(server: LiveServer) -> None:
    with server.client() as c:
        spec = c.get("/openapi.json").json()
        docs = c.get("/docs")
    assert docs.status_code == 200
    paths = spec["paths"]
    for path in (
        "/auth-tokens.create", "/auth-tokens.list", "/auth-tokens.delete", "/auth-tokens.info",
        "/rev-users.list", "/rev-users.get", "/rev-users.update", "/accounts.list",
        "/rev-orgs.list", "/schemas.custom.set", "/schemas.custom.list",
    ):  # fmt: skip
        assert path in paths, path
    create = paths["/auth-tokens.create"]["post"]
    schema_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = schema_ref.rsplit("/", 1)[1]
    assert "rev_info" in spec["components"]["schemas"][name]["properties"]
    assert "201" in create["responses"]
    # Errors are documented in their real shape and status, not FastAPI's 422.
    for operation in (create, paths["/rev-users.list"]["get"]):
        assert "422" not in operation["responses"]
        error = operation["responses"]["400"]["content"]["application/json"]["schema"]
        assert error["$ref"].endswith("/ErrorBody")
    assert {"type", "message", "field_name"} <= set(
        spec["components"]["schemas"]["ErrorBody"]["properties"]
    )


@pytest.mark.parametrize("object_id", ["CONV-\u00b2", "CONV-\u0661", "CONV-1\u00b2"])
def test_an_id_with_non_ascii_digits_is_bad_request(server: LiveServer, object_id: str) -> None:
    """str.isdigit() takes a superscript two (which int() refuses) and an
    Arabic-Indic one (which int() reads as 1): ids are ASCII digits only."""
    with server.client(server.pat) as c:
        r = c.post("/conversations.get", json={"id": object_id})
    assert r.status_code == 400, r.text
    assert r.json()["field_name"] == "id"


async def test_a_hand_served_route_shapes_its_errors_as_every_route(
    any_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    """``auth-tokens.create`` and ``/health`` are served straight from the
    middleware (``web.fast_routes``): a refusal is the app's own error
    shape, an unexpected failure the same 500 (logged once, request id as
    its reference), and each answer carries the request id."""
    with any_server.client("opl_aat_nosuchtoken") as c:
        refused = c.post("/auth-tokens.create", json={"rev_info": {"user_ref": "x"}})
    assert refused.status_code == 401
    assert set(refused.json()) == {"type", "message"}
    assert refused.json()["type"] == "unauthenticated"
    assert refused.headers["x-request-id"]
    sqlite = any_server.database_url.startswith("sqlite")
    await any_server.sql("DROP TABLE rev_orgs" + ("" if sqlite else " CASCADE"))
    caplog.set_level(logging.ERROR)
    with any_server.client(any_server.aat) as c:
        body = {"rev_info": {"user_ref": "u", "workspace_ref": "w"}}
        failed = c.post("/auth-tokens.create", json=body, headers={"X-Request-Id": "fast-500"})
        after = c.get("/health")
    assert failed.status_code == 500 and after.status_code == 200
    assert failed.json() == {
        "type": "internal_error",
        "message": "internal error; quote the reference_id to the operator",
        "reference_id": "fast-500",
    }
    assert "rev_orgs" not in failed.text and failed.headers["x-request-id"] == "fast-500"
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1 and "fast-500" in errors[0].getMessage()
    assert "/auth-tokens.create" in errors[0].getMessage()


async def test_internal_error_keeps_the_connection_and_logs_once(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    await server.sql("DROP TABLE rev_orgs")
    caplog.set_level(logging.ERROR)
    addresses = []
    with server.client(server.pat) as c:
        failed = c.get("/rev-orgs.list")
        addresses.append(failed.extensions["network_stream"].get_extra_info("client_addr"))
        after = c.get("/rev-users.list")
        addresses.append(after.extensions["network_stream"].get_extra_info("client_addr"))
    assert failed.status_code == 500 and after.status_code == 200
    assert "close" not in failed.headers.get("connection", "")
    # The same TCP connection answered both requests.
    assert addresses[0] == addresses[1]
    reference_id = failed.json()["reference_id"]
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1, [rec.getMessage() for rec in errors]
    assert reference_id in errors[0].getMessage() and errors[0].exc_info is not None
