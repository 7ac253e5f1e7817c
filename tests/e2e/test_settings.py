"""The inbox's settings pages in headless Chromium, driven as an agent would:
sign in with the real form, create and revoke PLuG tokens (AATs), edit an
app's allowed origins, define custom attributes; every effect is checked
through the public API (httpx), as a website's backend would see it.

No sleeps: every wait is a Playwright auto-waiting expectation.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_widget import SNIPPET
from tests.live_server import LiveServer, make_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[LiveServer]:
    """A server of its own: these tests change the demo app's origins."""
    live = LiveServer(make_settings(tmp_path_factory.mktemp("openplug"), None)).start()
    try:
        yield live
    finally:
        live.stop()


class Problems:
    """Script errors and CSP refusals seen by a page: there must be none."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def watch(self, page: Any) -> None:
        page.on("pageerror", lambda e: self.seen.append(f"pageerror: {e}"))
        page.on(
            "console",
            lambda m: self.seen.append(m.text) if "Content Security Policy" in m.text else None,
        )


def open_settings(browser: Any, server: LiveServer, problems: Problems, **options: Any) -> Any:
    context = browser.new_context(base_url=server.base_url, **options)
    page = context.new_page()
    problems.watch(page)
    sign_in(page, server)
    return page


def sign_in(page: Any, server: LiveServer) -> None:
    from playwright.sync_api import expect

    assert server.first is not None
    page.goto("/inbox")
    page.get_by_label("Email").fill(server.first.admin_email)
    page.get_by_label("Password").fill(server.admin_password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("PLuG tokens")


def go_to(page: Any, section: str) -> None:
    from playwright.sync_api import expect

    page.get_by_role("navigation", name="Settings").get_by_role("link", name=section).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(section)
    expect(page.locator(".loading")).to_have_count(0)


@pytest.fixture
def problems() -> Iterator[Problems]:
    found = Problems()
    yield found
    assert found.seen == []


@pytest.fixture
def page(browser: Any, server: LiveServer, problems: Problems) -> Iterator[Any]:
    page = open_settings(
        browser, server, problems, permissions=["clipboard-read", "clipboard-write"]
    )
    yield page
    page.context.close()


def create_token(page: Any, name: str) -> str:
    """Fill in "New token" and return the secret the page shows once."""
    from playwright.sync_api import expect

    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label(f'Token "{name}"')
    expect(secret).to_have_value(re.compile(r"^opl_aat_"))
    value: str = secret.input_value()
    return value


def token_row(page: Any, name: str) -> Any:
    return page.locator("table.tokens tbody tr").filter(
        has=page.get_by_role("rowheader", name=name, exact=True)
    )


def session_token_with(server: LiveServer, aat: str, rev_info: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/auth-tokens.create",
        headers={"Authorization": aat},
        json={"rev_info": rev_info},
    )


def test_aat_made_in_the_page_mints_session_tokens_until_revoked_there(
    server: LiveServer, page: Any
) -> None:
    from playwright.sync_api import expect

    name = f"shop backend {secrets.token_hex(3)}"
    expect(page.get_by_label("App")).to_have_value(server.app_id)  # the only app
    expect(page.get_by_label("Expires in (days)")).to_have_value("365")
    aat = create_token(page, name)
    page.get_by_role("button", name="Copy token").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == aat
    page.get_by_role("button", name="Done").click()

    r = session_token_with(server, aat, {"user_ref": f"ada-{secrets.token_hex(3)}"})
    assert r.status_code == 201, r.text
    assert r.json()["access_token"].count(".") == 2

    row = token_row(page, name)
    expect(row.locator("td[data-label=Status]")).to_have_text("Active")
    expect(row.locator("td[data-label=App]")).to_have_text("Demo")
    # Cancel first: nothing happens and focus returns to the button.
    row.get_by_role("button", name=f"Revoke {name}").click()
    confirm = row.get_by_role("group", name=f'Revoke "{name}"?')
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Cancel").click()
    expect(row.get_by_role("button", name=f"Revoke {name}")).to_be_focused()
    page.keyboard.press("Enter")
    expect(confirm).to_be_visible()
    page.keyboard.press("Escape")
    expect(row.get_by_role("button", name=f"Revoke {name}")).to_be_focused()
    assert session_token_with(server, aat, {"user_ref": "still-works"}).status_code == 201

    row.get_by_role("button", name=f"Revoke {name}").click()
    row.get_by_role("button", name="Yes, revoke").click()
    expect(row.locator("td[data-label=Status]")).to_contain_text("Revoked")
    expect(row.get_by_role("button")).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="revoked")).to_contain_text(name)

    r = session_token_with(server, aat, {"user_ref": "after-revoke"})
    assert r.status_code == 401, r.text
    assert "revoked" in r.json()["message"]


def test_the_secret_is_shown_once(server: LiveServer, browser: Any, problems: Problems) -> None:
    from playwright.sync_api import expect

    # A browser without a clipboard (as on a plain-http origin): the token
    # is selected for Ctrl+C instead.
    page = open_settings(browser, server, problems)
    page.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'clipboard', {get: () => undefined})"
    )
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("PLuG tokens")
    try:
        name = f"shown once {secrets.token_hex(3)}"
        aat = create_token(page, name)
        box = page.get_by_role("region", name="Copy your new token now")
        expect(box).to_contain_text("This is the only time it is shown.")
        expect(box).to_contain_text("Never put it in front-end code")
        expect(page.get_by_role("button", name="Create token")).to_be_hidden()
        box.get_by_role("button", name="Copy token").click()
        expect(box.get_by_role("status")).to_contain_text("press Ctrl+C")
        expect(page.get_by_label(f'Token "{name}"')).to_be_focused()
        selected = page.evaluate(
            "() => { const t = document.activeElement;"
            " return t.value.slice(t.selectionStart, t.selectionEnd); }"
        )
        assert selected == aat

        page.get_by_role("button", name="Done").click()
        expect(box).to_have_count(0)
        expect(page.get_by_role("heading", name="Tokens", exact=True)).to_be_focused()
        expect(page.get_by_role("status").filter(has_text="created")).to_contain_text(name)
        expect(token_row(page, name)).to_have_count(1)
        assert_nowhere(page, aat)

        page.reload()
        expect(token_row(page, name)).to_have_count(1)
        expect(token_row(page, name).locator("th")).to_have_text(name)
        assert_nowhere(page, aat)
    finally:
        page.context.close()


def assert_nowhere(page: Any, secret: str) -> None:
    """Not in the DOM, not in a form control's value, not in storage."""
    assert secret not in page.content()
    everything = page.evaluate(
        """() => [document.body.innerText,
          ...[...document.querySelectorAll('input, textarea')].map((e) => e.value),
          JSON.stringify(localStorage), JSON.stringify(sessionStorage)].join('\\n')"""
    )
    assert secret not in everything
    assert secret[8:] not in everything  # not even without its prefix


def test_token_form_errors_name_the_field(server: LiveServer, page: Any) -> None:
    from playwright.sync_api import expect

    create = page.get_by_role("button", name="Create token")
    create.click()
    alert = page.get_by_role("alert").filter(has_text="Name")
    expect(alert).to_contain_text("give the token a name")
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).to_be_focused()

    page.get_by_label("Name").fill("too long")
    page.get_by_label("Expires in (days)").fill("5000")
    create.click()
    # The server's reason on the matching input, named by its label (not
    # by the API's field name).
    expect(page.get_by_role("alert")).to_have_text(re.compile(r"^Expires in \(days\): "))
    expect(page.get_by_role("alert")).not_to_contain_text("expires_in")
    expect(page.get_by_label("Expires in (days)")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#aat-secret")).to_have_count(0)
    listed = httpx.post(
        f"{server.base_url}/auth-tokens.list",
        headers={"Authorization": server.pat},
        json={"requested_token_type": "urn:devrev:params:oauth:token-type:aat"},
    ).json()["tokens"]
    assert "too long" not in [t["token_hint"] for t in listed]


def frame_ancestors(server: LiveServer) -> list[str]:
    r = httpx.get(f"{server.base_url}/widget/frame", params={"app_id": server.app_id})
    assert r.status_code == 200, r.text
    policy = r.headers["content-security-policy"]
    (directive,) = [d.strip() for d in policy.split(";") if d.strip().startswith("frame-ancestors")]
    return directive.split()[1:]


def app_via_api(server: LiveServer, app_id: str) -> dict[str, Any]:
    r = httpx.post(f"{server.base_url}/apps.list", headers={"Authorization": server.pat}, json={})
    (app,) = [a for a in r.json()["apps"] if a["app_id"] == app_id]
    return app  # type: ignore[no-any-return]


def test_allowed_origins_edited_in_the_page_set_the_frames_ancestors(
    server: LiveServer, page: Any
) -> None:
    from playwright.sync_api import expect

    go_to(page, "Apps")
    card = page.locator(f'section[data-app-id="{server.app_id}"]')
    expect(card.get_by_role("heading", level=2)).to_have_text("Demo")
    expect(card.locator("code.app-id")).to_have_text(server.app_id)

    # The snippet: the spec's, with this server and this app filled in.
    expected = SNIPPET.replace("https://<openplug host>", server.base_url).replace(
        "<your_unique_app_id>", server.app_id
    )
    snippet = card.locator("pre code")
    expect(snippet).to_have_text(expected)
    assert "window.plugSDK.init({" in snippet.inner_text()
    card.get_by_role("button", name="Copy snippet of Demo").click()
    expect(card.get_by_text("Copied.")).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == expected

    before = frame_ancestors(server)
    assert before == [server.base_url]
    card.get_by_role("button", name="Add origin").click()
    new = card.get_by_role("textbox", name="Origin 2")
    expect(new).to_be_focused()
    new.fill("https://Shop.Example.com:8443/")
    card.get_by_role("button", name="Save changes").click()
    expect(card.get_by_role("status").filter(has_text="Saved")).to_contain_text(
        "https://shop.example.com:8443"
    )
    expect(card.get_by_role("textbox", name="Origin 2")).to_have_value(
        "https://shop.example.com:8443"
    )
    assert frame_ancestors(server) == [server.base_url, "https://shop.example.com:8443"]

    # A bad origin: named by its label, the reason once, without the API's
    # field path (allowed_origins[2]); nothing changes.
    card.get_by_role("button", name="Add origin").click()
    card.get_by_role("textbox", name="Origin 3").fill("shop.example.org/path")
    card.get_by_role("button", name="Save changes").click()
    # The app's settings form, not the availability form below it.
    alert = card.get_by_role("form", name="Settings of Demo").get_by_role("alert")
    expect(alert).to_have_text(re.compile(r"^Origin 3: 'shop\.example\.org/path' "))
    expect(alert).not_to_contain_text("allowed_origins")
    expect(card.get_by_role("textbox", name="Origin 3")).to_have_attribute("aria-invalid", "true")
    expect(card.get_by_role("textbox", name="Origin 3")).to_be_focused()
    assert frame_ancestors(server) == [server.base_url, "https://shop.example.com:8443"]
    assert app_via_api(server, server.app_id)["allowed_origins"] == [
        server.base_url,
        "https://shop.example.com:8443",
    ]

    # Remove both extra rows by keyboard-reachable buttons, then save.
    card.get_by_role("button", name="Remove origin 3").click()
    card.get_by_role("button", name="Remove origin 2 (https://shop.example.com:8443)").click()
    expect(card.get_by_role("textbox", name="Origin 2")).to_have_count(0)
    card.get_by_role("button", name="Save changes").click()
    expect(card.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    expect(card.get_by_role("form", name="Settings of Demo").locator("[role=alert]")).to_have_text(
        ""
    )
    assert frame_ancestors(server) == before


def test_new_app_and_require_identification(server: LiveServer, page: Any) -> None:
    from playwright.sync_api import expect

    go_to(page, "Apps")
    form = page.get_by_role("form", name="New app")
    name = f"<b>Second</b> shop {secrets.token_hex(2)}"
    form.get_by_label("Name").fill(name)
    form.get_by_label("Allowed origins").fill("https://second.example\nnot an origin")
    form.get_by_role("button", name="Create app").click()
    expect(form.get_by_role("alert")).to_contain_text("Allowed origins, line 2: 'not an origin'")
    expect(form.get_by_role("alert")).not_to_contain_text("allowed_origins")
    form.get_by_label("Allowed origins").fill("https://second.example\n")
    form.get_by_role("button", name="Create app").click()
    card = page.get_by_role("region", name=name)
    expect(card.get_by_role("heading", level=2)).to_have_text(name)  # as text, not markup
    expect(card.get_by_role("heading", level=2)).to_be_focused()
    expect(page.locator("main b")).to_have_count(0)
    app_id = card.get_attribute("data-app-id")
    assert app_id and app_id != server.app_id
    expect(card.locator("pre code")).to_contain_text(f"app_id: '{app_id}'")
    assert app_via_api(server, app_id)["allowed_origins"] == ["https://second.example"]

    card.get_by_label("Require identification").check()
    card.get_by_role("button", name="Save changes").click()
    expect(card.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    assert app_via_api(server, app_id)["require_identification"] is True
    page.reload()
    expect(
        page.get_by_role("region", name=name).get_by_label("Require identification")
    ).to_be_checked()

    # With two apps, the token form makes the agent choose one.
    go_to(page, "PLuG tokens")
    expect(page.get_by_label("App").locator("option")).to_have_count(3)
    expect(page.get_by_label("App")).to_have_value("")
    page.get_by_label("Name").fill("which app?")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("alert")).to_have_text(re.compile(r"^App: "))
    expect(page.get_by_label("App")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("App")).to_be_focused()


def test_availability_set_in_the_page(server: LiveServer, page: Any) -> None:
    from playwright.sync_api import expect

    go_to(page, "Apps")
    card = page.locator(f'section[data-app-id="{server.app_id}"]')
    form = card.get_by_role("form", name="Availability")
    form.get_by_label("Time zone").fill("Europe/Berlin")
    form.get_by_label("Monday").fill("9am-5pm")
    form.get_by_role("button", name="Save availability").click()
    alert = form.get_by_role("alert")
    expect(alert).to_have_text(re.compile(r"^Monday: "))
    expect(alert).not_to_contain_text("office_hours")
    expect(form.get_by_label("Monday")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Monday")).to_be_focused()

    form.get_by_label("Monday").fill("09:00-12:00, 13:00-17:30")
    form.get_by_label("Friday").fill("22:00-02:00")
    form.get_by_label("Expected reply time").select_option("hour")
    form.get_by_label("Away message").fill("Back at nine.")
    form.get_by_role("button", name="Save availability").click()
    expect(form.get_by_role("status").filter(has_text="Saved")).to_contain_text("Europe/Berlin")
    expect(form.get_by_label("Monday")).to_have_value("09:00-12:00, 13:00-17:30")
    app = app_via_api(server, server.app_id)
    assert app["office_hours"] == {
        "monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:30"}],
        "friday": [{"start": "22:00", "end": "02:00"}],
    }
    assert (app["time_zone"], app["reply_time"], app["away_message"]) == (
        "Europe/Berlin", "hour", "Back at nine."
    )  # fmt: skip


def test_email_to_visitors_set_in_the_page(server: LiveServer, page: Any) -> None:
    from playwright.sync_api import expect

    go_to(page, "Apps")
    card = page.locator(f'section[data-app-id="{server.app_id}"]')
    form = card.get_by_role("form", name="Email to visitors")
    expect(form.get_by_label("Email a reply left unseen")).to_have_value("120")
    form.get_by_label("Link in emails").fill("ftp://shop.example.com")
    form.get_by_role("button", name="Save email settings").click()
    expect(form.get_by_role("alert")).to_contain_text("Link in emails")
    expect(form.get_by_label("Link in emails")).to_have_attribute("aria-invalid", "true")
    assert "site_url" not in app_via_api(server, server.app_id)  # nothing half-written

    form.get_by_label("Email a reply left unseen").select_option("300")
    form.get_by_label("Link in emails").fill("https://shop.example.com/help")
    form.get_by_role("button", name="Save email settings").click()
    expect(form.get_by_role("status").filter(has_text="Saved")).to_contain_text(
        "after 5 minutes, with a link to https://shop.example.com/help"
    )
    app = app_via_api(server, server.app_id)
    assert (app["mail_delay_seconds"], app["site_url"]) == (300, "https://shop.example.com/help")

    # A delay set through the API shows as it is, and clearing the link is saved.
    from tests.conversations.helpers import agent_ok

    agent_ok(server, "/apps.update", {"app_id": server.app_id, "mail_delay_seconds": 45})
    page.reload()
    expect(page.locator(".loading")).to_have_count(0)
    form = page.locator(f'section[data-app-id="{server.app_id}"]').get_by_role(
        "form", name="Email to visitors"
    )
    expect(form.get_by_label("Email a reply left unseen")).to_have_value("45")
    form.get_by_label("Link in emails").fill("")
    form.get_by_role("button", name="Save email settings").click()
    expect(form.get_by_role("status").filter(has_text="Saved")).to_contain_text("after 45 seconds.")
    app = app_via_api(server, server.app_id)
    assert app["mail_delay_seconds"] == 45 and "site_url" not in app


def test_custom_attribute_defined_in_the_page_is_accepted_in_rev_info(
    server: LiveServer, page: Any
) -> None:
    from playwright.sync_api import expect

    go_to(page, "Custom attributes")
    form = page.get_by_role("form", name="Define an attribute")
    form.get_by_label("Object type").select_option("rev_user")
    form.get_by_label("Name", exact=True).fill("tnt__seats")
    form.get_by_label("Type", exact=True).select_option("int")
    expect(form.get_by_label("Allowed values")).to_be_hidden()
    form.get_by_role("button", name="Save attribute").click()
    expect(form.get_by_role("status").filter(has_text="defined")).to_have_text(
        "tnt__seats defined on users."
    )
    users = page.get_by_role("region", name="Users (rev_user)")
    row = users.locator("tbody tr").filter(has_text="tnt__seats")
    expect(row.locator("td[data-label=Type]")).to_have_text("int")
    expect(row.locator("td[data-label=Required]")).to_have_text("No")

    ref = f"seat-holder-{secrets.token_hex(3)}"
    ok = session_token_with(
        server, server.aat, {"user_ref": ref, "user_traits": {"custom_fields": {"tnt__seats": 5}}}
    )
    assert ok.status_code == 201, ok.text
    wrong = session_token_with(
        server, server.aat, {"user_ref": ref, "user_traits": {"custom_fields": {"tnt__seats": "5"}}}
    )
    assert wrong.status_code == 400, wrong.text
    assert wrong.json()["field_name"] == "rev_info.user_traits.custom_fields.tnt__seats"

    # An enum on accounts, with its values; errors name the field.
    form.get_by_label("Object type").select_option("account")
    form.get_by_label("Name", exact=True).fill("Plan!")
    form.get_by_label("Type", exact=True).select_option("enum")
    form.get_by_role("button", name="Save attribute").click()
    expect(form.get_by_role("alert")).to_have_text(re.compile(r"^Name: field names are "))
    expect(form.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    form.get_by_label("Name", exact=True).fill("plan")
    form.get_by_role("button", name="Save attribute").click()
    expect(form.get_by_role("alert")).to_have_text(re.compile(r"^Allowed values: "))
    expect(form.get_by_label("Allowed values")).to_be_focused()
    form.get_by_label("Allowed values").fill("free\npro\n")
    form.get_by_role("button", name="Save attribute").click()
    expect(form.get_by_role("status").filter(has_text="defined")).to_have_text(
        "tnt__plan defined on accounts."
    )
    accounts = page.get_by_role("region", name="Accounts (account)")
    plan = accounts.locator("tbody tr").filter(has_text="tnt__plan")
    expect(plan.locator("td[data-label='Allowed values'] li")).to_have_text(["free", "pro"])

    account = {"account_ref": f"acme-{secrets.token_hex(3)}.example"}
    r = session_token_with(
        server, server.aat,
        {"user_ref": ref, **account, "account_traits": {"custom_fields": {"tnt__plan": "pro"}}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = session_token_with(
        server, server.aat,
        {"user_ref": ref, **account, "account_traits": {"custom_fields": {"tnt__plan": "gold"}}},
    )  # fmt: skip
    assert r.status_code == 400, r.text
    assert r.json()["field_name"] == "rev_info.account_traits.custom_fields.tnt__plan"

    # Deleting (with a confirm step) stops new values.
    plan.get_by_role("button", name="Delete tnt__plan").click()
    plan.get_by_role("button", name="Yes, delete").click()
    expect(accounts.locator("tbody tr").filter(has_text="tnt__plan")).to_have_count(0)
    expect(accounts.locator(".deleted")).to_contain_text("tnt__plan")
    r = session_token_with(
        server, server.aat,
        {"user_ref": ref, **account, "account_traits": {"custom_fields": {"tnt__plan": "pro"}}},
    )  # fmt: skip
    assert r.status_code == 400, r.text


def test_settings_fit_a_phone(server: LiveServer, browser: Any, problems: Problems) -> None:
    from playwright.sync_api import expect

    page = open_settings(browser, server, problems, viewport={"width": 390, "height": 844})
    try:
        for section in ("PLuG tokens", "Apps", "Custom attributes"):
            go_to(page, section)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390, section
            main_width = page.evaluate("() => document.querySelector('main').scrollWidth")
            assert main_width <= 390, section
        go_to(page, "PLuG tokens")
        # Table rows become cards whose cells name their column.
        label = page.evaluate(
            "() => getComputedStyle(document.querySelector("
            "'table.tokens td[data-label=App]'), '::before').content"
        )
        assert label == '"App"'
        expect(page.get_by_role("button", name="Create token")).to_be_in_viewport()
    finally:
        page.context.close()


def test_the_audit_log_shows_who_did_what_from_where(server: LiveServer, page: Any) -> None:
    from playwright.sync_api import expect

    name = f"audited-{secrets.token_hex(3)}"
    page.get_by_label("App").select_option(server.app_id)  # (other tests add apps)
    secret = create_token(page, name)
    go_to(page, "Audit log")
    table = page.get_by_role("table", name="Audit log")
    first_row = table.locator("tbody tr").first
    expect(first_row).to_contain_text("PLuG token created")
    expect(first_row).to_contain_text("admin@example.com")
    expect(first_row).to_contain_text("127.0.0.1")
    expect(first_row).to_contain_text(name)
    # The sign-in that opened this page is there too, and the first start.
    expect(table).to_contain_text("Signed in to the inbox")
    expect(table).to_contain_text("openplug (first start)")
    assert_nowhere(page, secret)


def test_email_shows_the_mail_a_visitor_would_have_got_without_smtp(
    server: LiveServer, page: Any
) -> None:
    """The embedded default: no SMTP server, and the whole flow visible."""
    from playwright.sync_api import expect

    from tests.conversations.helpers import agent_ok, agent_reply, start_conversation

    agent_ok(server, "/apps.update", {"app_id": server.app_id, "mail_delay_seconds": 0})
    r = session_token_with(server, server.aat, {
        "user_ref": "left-early", "user_traits": {"email": "left.early@example.com"},
    })  # fmt: skip
    conversation = start_conversation(server, r.json()["access_token"], "Can I change plans?")
    agent_reply(server, conversation["id"], "Yes: Settings, then <Plans>.")
    # The worker composes it at its next look at the outbox.
    deadline = time.monotonic() + 20
    while not agent_ok(server, "/outgoing-mail.list", {"conversation": conversation["id"]})[
        "mails"
    ]:
        assert time.monotonic() < deadline, "no mail composed"
        time.sleep(0.1)
    go_to(page, "Email")
    row = (
        page.get_by_role("table", name="Emails")
        .locator("tbody tr")
        .filter(has_text="left.early@example.com")
    )
    expect(row).to_contain_text("Not sent: no SMTP server configured")
    expect(row).to_contain_text("Re: Can I change plans?")
    row.get_by_role("button", name="Read").click()
    viewer = page.get_by_role("region", name="Selected email")
    expect(viewer).to_contain_text("Yes: Settings, then <Plans>.")
    expect(viewer).to_contain_text("reply+")
