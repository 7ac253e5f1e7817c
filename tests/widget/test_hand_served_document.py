"""The widget's hand-served calls (``web.fast_routes``) are documented as
when FastAPI served them: the session token's security scheme, the
``Idempotency-Key`` header and the body, exactly as on the calls FastAPI
still serves, whose declarations they kept (``documented_as``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from openplug.app import create_app
from openplug.settings import Settings
from openplug.web.fast_routes import HandServedRoute


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = create_app(Settings(data_dir=Path(tempfile.mkdtemp())))
    served = {r.path for r in app.router.routes if isinstance(r, HandServedRoute)}
    assert {"/widget/session", "/widget/conversations.list", "/widget/messages.create"} <= served
    return app.openapi()


def _op(document: dict[str, Any], name: str) -> dict[str, Any]:
    op: dict[str, Any] = document["paths"][f"/widget/{name}"]["post"]
    return op


def _body_ref(op: dict[str, Any]) -> str:
    ref: str = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert op["requestBody"]["required"] is True
    return ref.rsplit("/", 1)[1]


def test_the_visitor_calls_keep_the_token_scheme_and_the_idempotency_header(
    document: dict[str, Any],
) -> None:
    by_fastapi = _op(document, "conversations.create")  # same declaration shape
    for name, body in (
        ("conversations.list", "VisitorConversationsListRequest"),
        ("messages.create", "MessagesCreateRequest"),
    ):
        op = _op(document, name)
        assert op["security"] == by_fastapi["security"] == [{"APIKeyHeader": []}]
        assert _body_ref(op) == body
        slug = name.replace(".", "_")
        assert op["operationId"] == f"widget_{slug}_widget_{slug}_post"
    assert _op(document, "messages.create")["parameters"] == by_fastapi["parameters"]
    assert "parameters" not in _op(document, "conversations.list")
    assert set(_op(document, "messages.create")["responses"]) == set(by_fastapi["responses"])


def test_the_session_call_documents_its_body_and_no_token(document: dict[str, Any]) -> None:
    op = _op(document, "session")
    by_fastapi = _op(document, "identify")  # a session call FastAPI serves
    assert _body_ref(op) == "SessionRequest"
    assert "security" not in op and "parameters" not in op
    assert set(op["responses"]) == set(by_fastapi["responses"])
    assert op["description"].startswith("An anonymous visitor's session token.")
    assert document["components"]["schemas"]["SessionRequest"]["required"] == ["app_id"]
