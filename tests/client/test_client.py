"""The Python client against a real server, as a website backend uses it."""

import pytest

from openplug.client import AsyncOpenPlug, OpenPlug, OpenPlugError
from tests.helpers import jwt_claims
from tests.live_server import LiveServer


def test_sync_client_mints_a_token_for_the_user(server: LiveServer) -> None:
    with OpenPlug(server.base_url + "/", server.aat) as plug:
        token = plug.session_token(
            "client-user",
            account_ref="acme.example",
            user_traits={"email": "jo@acme.example", "display_name": "Jo"},
            expires_in_mins=5,
        )
    assert token.expires_in == 300
    assert jwt_claims(token.access_token)["aud"] == server.app_id
    with server.client(server.pat) as c:
        user = c.get("/rev-users.list", params={"external_ref": "client-user"}).json()
    assert user["rev_users"][0]["account"]["display_name"] == "acme.example"


async def test_async_client_mints_a_token(server: LiveServer) -> None:
    async with AsyncOpenPlug(server.base_url, server.aat) as plug:
        token = await plug.session_token("async-user", user_traits={"display_name": "A"})
    assert jwt_claims(token.access_token)["sub"].endswith(":revu/1")  # type: ignore[union-attr]


def test_client_errors_name_the_field(server: LiveServer) -> None:
    with OpenPlug(server.base_url, server.aat) as plug, pytest.raises(OpenPlugError) as info:
        plug.session_token("u", user_traits={"phone_numbers": ["12345"]})
    assert info.value.status_code == 400
    assert info.value.field_name == "rev_info.user_traits.phone_numbers[0]"


def test_client_with_a_revoked_aat_gets_unauthenticated(server: LiveServer) -> None:
    with server.client(server.pat) as c:
        token_id = c.get("/auth-tokens.list").json()["tokens"][0]["token_id"]
        assert c.post("/auth-tokens.delete", json={"token_id": token_id}).status_code == 200
    with OpenPlug(server.base_url, server.aat) as plug, pytest.raises(OpenPlugError) as info:
        plug.session_token("u")
    assert (info.value.status_code, info.value.type) == (401, "unauthenticated")
    assert "revoked" in info.value.message
