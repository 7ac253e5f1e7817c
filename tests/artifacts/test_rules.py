"""The artifacts room's rules as plain functions: signed links, types from
the bytes, re-encoded images."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from openplug.artifacts.images import make_copies
from openplug.artifacts.links import ArtifactLink, sign_link, verify_link
from openplug.artifacts.service import clean_file_name
from openplug.artifacts.sniff import detect_type
from openplug.errors import InvalidField
from tests.artifacts.helpers import executable_bytes, pdf_bytes, png_with_gps

PEPPER = b"p" * 32
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_link_verifies_only_as_signed_and_until_it_expires() -> None:
    link = ArtifactLink("download", 7, "thumb", int((NOW + timedelta(minutes=5)).timestamp()))
    token = sign_link(PEPPER, link)
    assert verify_link(PEPPER, token, NOW) == link
    assert verify_link(PEPPER, token, NOW + timedelta(minutes=5)) is None  # expired
    assert verify_link(b"q" * 32, token, NOW) is None  # another server's
    for i in range(len("opl_file_"), len(token)):
        flipped = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        assert verify_link(PEPPER, flipped, NOW) in (None, link)  # padding bits aside
    assert verify_link(PEPPER, "opl_file_" + "A" * 40, NOW) is None
    assert verify_link(PEPPER, "nothing", NOW) is None


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (png_with_gps(), "x.jpg", "image/png"),
        (pdf_bytes(), "x.txt", "application/pdf"),
        (executable_bytes(), "cat.png", "application/x-msdownload"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 100, "cat.png", "application/x-executable"),
        (b"hello, world\n", "notes", "text/plain"),
        (b"a,b\n1,2\n", "table.csv", "text/csv"),
        ("caf\u00e9\n".encode(), "x.txt", "text/plain"),
        (b"<!DOCTYPE html><script>alert(1)</script>", "x.txt", "text/html"),
        (b'  <svg xmlns="http://www.w3.org/2000/svg"/>', "x.png", "image/svg+xml"),
        (b"\x00\x01\x02binary", "x.txt", "application/octet-stream"),
        (_zip({"a.txt": b"x"}), "a.zip", "application/zip"),
        (_zip({"[Content_Types].xml": b"x", "word/document.xml": b"x"}), "a.zip",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ],
)  # fmt: skip
def test_the_type_is_read_from_the_bytes(data: bytes, name: str, expected: str) -> None:
    assert detect_type(data, name) == expected


def test_inline_copies_carry_pixels_only(tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(png_with_gps((3000, 1000)))
    copies = make_copies(source, "image/png", tmp_path, max_pixels=10_000_000)
    assert copies is not None and copies.inline is not None and copies.thumbnail is not None
    assert (copies.width, copies.height) == (3000, 1000)
    for path, side in ((copies.inline, 2048), (copies.thumbnail, 320)):
        with Image.open(path) as img:
            assert max(img.size) == side and not img.getexif()
        assert b"secret-location-marker" not in path.read_bytes()


def test_a_decompression_bomb_is_never_decoded(tmp_path: Path) -> None:
    # Over our limit: measured from the header, never decoded.
    large = tmp_path / "large.png"
    Image.new("1", (8_000, 8_000)).save(large, format="PNG")  # a small file, 64 Mpx
    copies = make_copies(large, "image/png", tmp_path, max_pixels=40_000_000)
    assert copies is not None and (copies.width, copies.height) == (8_000, 8_000)
    assert copies.inline is None and copies.thumbnail is None
    # Far over even Pillow's own limit: not read at all, shown as a file.
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb, format="PNG")  # 400 Mpx
    assert bomb.stat().st_size < 1_000_000
    assert make_copies(bomb, "image/png", tmp_path, max_pixels=40_000_000) is None


def test_a_file_name_is_shown_never_a_path() -> None:
    assert clean_file_name("C:\\fakepath\\shot.png") == "shot.png"
    assert clean_file_name("../../etc/passwd") == "passwd"
    assert clean_file_name("a\u0000b\nc.txt") == "abc.txt"
    with pytest.raises(InvalidField):
        clean_file_name("../")
