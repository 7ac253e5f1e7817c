"""Reading inbound mail without a server: who a robot is, and what of a
mail is the visitor's new words."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from openplug.mail.inbound_parse import read_inbound_mail, robot_reason

DOMAIN = "reply.example.test"
ADDRESS = f"reply+c1u2-{'a' * 26}@{DOMAIN}"


def mail(text: str = "hello", *, subtype: str = "plain", **headers: str) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "visitor@example.com"
    m["To"] = ADDRESS
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    m.set_content(text, subtype=subtype)
    return m


@pytest.mark.parametrize(
    ("headers", "robot"),
    [
        ({}, None),
        ({"Auto-Submitted": "no"}, None),
        ({"Auto-Submitted": "auto-replied; owner-email=x@example.com"}, "Auto-Submitted"),
        ({"Auto-Submitted": "auto-generated"}, "Auto-Submitted"),
        ({"X-Autoreply": "yes"}, "X-Autoreply"),
        ({"X-Autorespond": "Out of office"}, "X-Autorespond"),
        ({"Precedence": "bulk"}, "Precedence"),
        ({"Precedence": "auto_reply"}, "Precedence"),
        ({"Precedence": "first-class"}, None),
        # Exchange asks others not to auto-reply to ordinary mail with it:
        # a person's reply carrying it is still a person's.
        ({"X-Auto-Response-Suppress": "All"}, None),
        ({"From": "MAILER-DAEMON@mx.example.com"}, "mailer daemon"),
        ({"Return-Path": "<>"}, "null envelope sender"),
    ],
)
def test_robots_are_told_by_their_headers(headers: dict[str, str], robot: str | None) -> None:
    m = mail()
    for name, value in headers.items():
        del m[name]
        m[name] = value
    assert robot_reason(m, None) == robot


def test_a_bounce_is_a_robot_by_its_envelope_and_its_type() -> None:
    assert robot_reason(mail(), "<>") == "null envelope sender"
    assert robot_reason(mail(), "visitor@example.com") is None
    report = mail()
    report.replace_header("Content-Type", "multipart/report; report-type=delivery-status")
    assert robot_reason(report, "visitor@example.com") == "delivery report"


def text_of(m: EmailMessage) -> str:
    return read_inbound_mail(bytes(m), DOMAIN, [], None).text


def test_the_reply_without_quote_or_signature() -> None:
    body = (
        "Yes, please:\n- the blue one\n- two of them\n\nThanks,\nAnna\n\n"
        "On Tue, 2 Dec 2025 at 10:00, Support <s@example.com> wrote:\n> Which colour?\n"
    )
    # A list stays; a sign-off goes with the signature, as the parser judges.
    assert text_of(mail(body)) == "Yes, please:\n- the blue one\n- two of them"
    assert text_of(mail("Short answer.\n\n-- \nAnna Example\n+1 555 0100")) == "Short answer."
    assert text_of(mail("Sure!\n\nSent from my iPhone")) == "Sure!"
    # Only the quote, with or without the line that introduces it.
    assert text_of(mail("On Tue, Support wrote:\n> Which colour?\n")) == ""
    assert text_of(mail("> Which colour?\n> Any?\n")) == ""


def test_html_becomes_text_and_its_blockquote_a_quote() -> None:
    html = (
        "<html><head><style>p {color: red}</style></head><body>"
        "<p>The <b>blue</b> one &amp; a bag.</p><div>Anna<br>Example</div>"
        '<div class="gmail_quote">On Tue, 2 Dec 2025, Support wrote:'
        "<blockquote><p>Which colour?</p></blockquote></div><script>x()</script></body></html>"
    )
    assert text_of(mail(html, subtype="html")) == "The blue one & a bag.\n\nAnna\nExample"
    both = mail("The plain part wins.")
    both.add_alternative("<p>Not this one.</p>", subtype="html")
    assert text_of(both) == "The plain part wins."


def test_the_address_is_found_in_the_envelope_first_then_the_headers() -> None:
    other = f"reply+c9u9-{'b' * 26}@{DOMAIN}"
    m = mail(Cc=other)
    assert read_inbound_mail(bytes(m), DOMAIN, [other], None).token.conversation_key == 9  # type: ignore[union-attr]
    found = read_inbound_mail(bytes(m), DOMAIN, [], None).token
    assert found is not None and found.conversation_key == 1
    del m["To"], m["Cc"]
    m["Delivered-To"] = other
    found = read_inbound_mail(bytes(m), DOMAIN, [], None).token
    assert found is not None and found.conversation_key == 9
    assert read_inbound_mail(bytes(m), "elsewhere.example", [], None).token is None


def test_text_a_database_cannot_hold_is_left_out() -> None:
    raw = bytes(mail("placeholder")).replace(b"placeholder", b"a\x00b\x01c\xff")
    assert read_inbound_mail(raw, DOMAIN, [], None).text == "abc\ufffd"


def test_the_retry_key_is_the_message_id_whatever_the_delivery_headers() -> None:
    m = mail(Message_ID="<one@example.com>")
    first = read_inbound_mail(bytes(m), DOMAIN, [], None).dedupe_key
    m["Received"] = "from relay by mx; Tue, 2 Dec 2025 10:00:00 +0000"
    assert read_inbound_mail(bytes(m), DOMAIN, [], None).dedupe_key == first
    del m["Message-ID"]
    m["Message-ID"] = "<two@example.com>"
    assert read_inbound_mail(bytes(m), DOMAIN, [], None).dedupe_key != first
