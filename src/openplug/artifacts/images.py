"""Inline copies of images, re-encoded by Pillow.

What a browser shows inline is never the uploaded file: the pixels are
decoded and written out anew, which drops everything but them (EXIF, GPS
positions from phone photos, comments, ICC tricks, appended payloads such
as a ZIP or script glued after the image data). The original stays
available as a download (``Content-Disposition: attachment``).

Decoding is guarded: the pixel count is read from the header and compared
with the limit before any pixel is decoded (a 1 KB PNG can claim
50,000 x 50,000), so a decompression bomb gets no inline copy and is
never decoded. All of it runs in a thread: Pillow is CPU work.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
INLINE_MAX_SIDE = 2048
THUMB_MAX_SIDE = 320
# Format written per detected type: a GIF becomes a PNG of its first frame
# (a still, which no script can animate either).
_OUTPUT = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "PNG", "image/webp": "WEBP"}
OUTPUT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


@dataclass(frozen=True)
class ImageCopies:
    width: int
    height: int
    # Both None when the image is too large or not decodable: then it is
    # shown as a file, not inline.
    inline: Path | None
    thumbnail: Path | None
    output_type: str | None


def inline_type(content_type: str) -> str | None:
    """The content type the inline copy of a ``content_type`` file is served as."""
    fmt = _OUTPUT.get(content_type)
    return None if fmt is None else OUTPUT_TYPES[fmt]


def make_copies(
    source: Path, content_type: str, workdir: Path, max_pixels: int
) -> ImageCopies | None:
    """Inline and thumbnail copies of ``source`` in ``workdir``; None when
    it is not an image Pillow can read at all."""
    fmt = _OUTPUT.get(content_type)
    if fmt is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(source) as img:
                width, height = img.size
                if width * height > max_pixels or width <= 0 or height <= 0:
                    return ImageCopies(width, height, None, None, None)
                img.seek(0)
                frame = ImageOps.exif_transpose(img)
                frame.load()
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
                Image.DecompressionBombWarning):  # fmt: skip
            return None
    if fmt == "JPEG" and frame.mode not in ("RGB", "L"):
        frame = frame.convert("RGB")
    elif fmt in ("PNG", "WEBP") and frame.mode not in ("RGB", "RGBA", "L", "LA"):
        frame = frame.convert("RGBA")
    inline = workdir / "inline"
    thumb = workdir / "thumb"
    try:
        _write(frame, INLINE_MAX_SIDE, inline, fmt)
        _write(frame, THUMB_MAX_SIDE, thumb, fmt)
    except (OSError, ValueError):
        for path in (inline, thumb):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return ImageCopies(width, height, None, None, None)
    return ImageCopies(frame.width, frame.height, inline, thumb, OUTPUT_TYPES[fmt])


def _write(frame: Image.Image, max_side: int, target: Path, fmt: str) -> None:
    copy = frame.copy()
    copy.thumbnail((max_side, max_side))
    # No ``exif=``, ``icc_profile=`` or ``pnginfo=``: only pixels are written.
    copy.save(target, format=fmt, **({"quality": 85} if fmt in ("JPEG", "WEBP") else {}))
