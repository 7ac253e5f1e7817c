from tests.live_server import LiveServer


def test_first_start_prints_working_credentials(any_server: LiveServer) -> None:
    with any_server.client(any_server.aat) as c:
        r = c.post("/auth-tokens.create", json={"rev_info": {"user_ref": "smoke"}})
    assert r.status_code == 201, r.text
    assert r.json()["token_type"] == "bearer"
    with any_server.client(any_server.pat) as c:
        users = c.get("/rev-users.list").json()["rev_users"]
    assert [u["external_ref"] for u in users] == ["smoke"]
