"""``apps.*``: agents list, create and change the websites that embed the
widget; what they set is what the widget frame enforces."""

from __future__ import annotations

from tests.live_server import LiveServer


def test_create_list_and_update_an_app(server: LiveServer) -> None:
    with server.client(server.pat) as c:
        r = c.post(
            "/apps.create",
            json={
                "name": "Shop",
                "allowed_origins": ["https://Shop.example/", "http://x.test:8080"],
            },
        )
        assert r.status_code == 201, r.text
        app = r.json()["app"]
        assert app["allowed_origins"] == ["https://shop.example", "http://x.test:8080"]
        assert app["app_id"].startswith("app_")
        listed = c.get("/apps.list").json()["apps"]
        assert [a["name"] for a in listed] == ["Demo", "Shop"]

        r = c.post("/apps.update", json={"app_id": app["app_id"], "allowed_origins": []})
        assert r.status_code == 200, r.text
        assert r.json()["app"] == {**app, "allowed_origins": []}
    frame = server.client().get("/widget/frame", params={"app_id": app["app_id"]})
    assert "frame-ancestors 'none'" in frame.headers["content-security-policy"]


def test_a_bad_origin_is_named_by_its_place_and_nothing_changes(server: LiveServer) -> None:
    with server.client(server.pat) as c:
        before = c.get("/apps.list").json()
        r = c.post(
            "/apps.update",
            json={"app_id": server.app_id, "allowed_origins": ["https://ok.example", "ok.example"]},
        )
        assert r.status_code == 400
        assert r.json()["field_name"] == "allowed_origins[1]"
        r = c.post("/apps.create", json={"name": "", "allowed_origins": []})
        assert r.status_code == 400
        assert r.json()["field_name"] == "name"
        r = c.post("/apps.update", json={"app_id": "app_nope", "name": "X"})
        assert r.status_code == 404
        assert c.get("/apps.list").json() == before


def test_apps_calls_need_an_agent(server: LiveServer) -> None:
    for credential, status in [(None, 401), (server.aat, 403)]:
        with server.client(credential) as c:
            assert c.post("/apps.list", json={}).status_code == status
            r = c.post("/apps.create", json={"name": "Sneaky"})
            assert r.status_code == status
