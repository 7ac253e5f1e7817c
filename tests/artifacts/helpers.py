"""Uploading through the DevRev flow, and files to upload."""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import Image

from tests.conversations.helpers import widget
from tests.live_server import LiveServer


def png_with_gps(size: tuple[int, int] = (64, 48)) -> bytes:
    """A PNG whose EXIF holds a GPS position, as phone photos do."""
    img = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    exif[0x010E] = "secret-location-marker"
    out = io.BytesIO()
    img.save(out, format="PNG", exif=exif)
    return out.getvalue()


def pdf_bytes() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def executable_bytes() -> bytes:
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200 + b"PE\x00\x00"


def upload(prepared: dict[str, Any], name: str, data: bytes, mime: str) -> httpx.Response:
    """POST the file as DevRev's clients do: every form_data field, then file."""
    fields = [(f["key"], (None, f["value"])) for f in prepared["form_data"]]
    return httpx.post(prepared["url"], files=[*fields, ("file", (name, data, mime))], timeout=60)


def visitor_prepare(server: LiveServer, token: str, name: str, **extra: Any) -> dict[str, Any]:
    r = widget(server, token, "artifacts.prepare", file_name=name, **extra)
    assert r.status_code == 200, r.text
    return dict(r.json())


def visitor_upload(
    server: LiveServer, token: str, name: str, data: bytes, mime: str
) -> dict[str, Any]:
    prepared = visitor_prepare(server, token, name, file_type=mime)
    r = upload(prepared, name, data, mime)
    assert r.status_code == 200, r.text
    return prepared


def agent_upload(server: LiveServer, name: str, data: bytes, mime: str) -> dict[str, Any]:
    with server.client(server.pat) as c:
        r = c.post("/artifacts.prepare", json={"file_name": name, "file_type": mime})
    assert r.status_code == 200, r.text
    prepared = dict(r.json())
    up = upload(prepared, name, data, mime)
    assert up.status_code == 200, up.text
    return prepared
