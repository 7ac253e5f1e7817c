"""Where artifacts' bytes live: a directory (the default) or S3-compatible
object storage, behind one small interface.

Both move bytes in ``CHUNK_BYTES`` pieces: an upload is first spooled to a
file under the data directory (while it is counted and its type checked),
then handed to ``put`` as that file; a download is an async iterator of
chunks. No 25 MB file is ever one ``bytes`` object in the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

CHUNK_BYTES = 1024 * 1024


class ObjectMissing(Exception):
    """The object is not (or no longer) in the storage."""


class Storage(Protocol):
    async def put(self, key: str, source: Path) -> None:
        """Store ``source``'s bytes as ``key`` (replacing any). ``source``
        is the caller's to delete afterwards."""

    def chunks(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in pieces of at most ``CHUNK_BYTES``; raises
        ``ObjectMissing`` before the first piece when there is none."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; no error when it is not there (deletes are retried)."""

    async def aclose(self) -> None: ...


def open_storage(url: str | None, data_dir: Path) -> Storage:
    """The backend ``OPENPLUG_STORAGE_URL`` names (see ``Settings.storage_url``)."""
    from openplug.artifacts.storage.local import LocalStorage

    if not url:
        return LocalStorage(data_dir / "artifacts")
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return LocalStorage(Path(urlsplit(url).path))
    if scheme == "s3":
        from openplug.artifacts.storage.s3 import S3Storage

        return S3Storage.from_url(url)
    raise ValueError(f"OPENPLUG_STORAGE_URL: unknown scheme {scheme!r} (file:// or s3://)")


__all__ = ["CHUNK_BYTES", "ObjectMissing", "Storage", "open_storage"]
