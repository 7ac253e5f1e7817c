"""What a file is, from its bytes: never from its name or what the
uploader said.

Binary formats by their signatures (``filetype``: pure Python, no libmagic
to install). What has no signature is text only if it decodes as UTF-8
with no control characters besides tab and line ends; markup (HTML, SVG,
XML) is recognised and named as such, so that the allow-list, not luck,
decides about it. Plain text is ``text/csv`` when the name ends in
``.csv``: both are served as downloads, so the name picks only between two
harmless types.
"""

from __future__ import annotations

import re

import filetype

SNIFF_BYTES = 64 * 1024
_MARKUP = re.compile(
    rb"^\s*(?:<\?xml|<!doctype\s+html|<html|<svg|<script|<head|<body|<iframe|<!--)", re.I
)
_SVG = re.compile(rb"<svg[\s>]", re.I)
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# filetype names the formats it sees inside a ZIP (office documents) or
# OLE container only for some; these are the ones it names as ZIP or OLE.
_OLE = "application/x-ole-storage"


def detect_type(head: bytes, file_name: str) -> str:
    """The content type of a file that starts with ``head`` (its first
    ``SNIFF_BYTES``, or all of it). ``application/octet-stream`` when it
    is neither a known format nor text."""
    kind = filetype.guess(head)
    if kind is not None:
        mime = str(kind.mime)
        if mime == _OLE:
            return _ole_type(file_name)
        return mime
    if _MARKUP.search(head[:1024]):
        return "image/svg+xml" if _SVG.search(head) else "text/html"
    if head.startswith(b"MZ") or head.startswith(b"\x7fELF"):
        return "application/x-executable"
    if _is_text(head):
        return "text/csv" if file_name.lower().endswith(".csv") else "text/plain"
    return "application/octet-stream"


def _is_text(head: bytes) -> bool:
    if _CONTROL.search(head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        # The sample may end inside a character; anything else is not text.
        return e.start >= len(head) - 3 and len(head) == SNIFF_BYTES
    return True


def _ole_type(file_name: str) -> str:
    """An OLE container (the old Office formats): which one by the name, as
    the container itself does not say without parsing it."""
    lowered = file_name.lower()
    if lowered.endswith(".xls"):
        return "application/vnd.ms-excel"
    if lowered.endswith(".ppt"):
        return "application/vnd.ms-powerpoint"
    return "application/msword"
