"""Artifacts as files in a directory: the embedded default.

An object is written beside its final name and renamed into place, so a
reader never sees half a file, and a crash leaves only a temporary file.
File work runs in threads (``asyncio.to_thread``): the event loop never
waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from openplug.artifacts.storage import CHUNK_BYTES, ObjectMissing

# Keys are made by the server (random hex, a slash, a variant name); the
# check keeps any other string from naming a path outside the directory.
_KEY = re.compile(r"[a-z0-9]{8,64}/[a-z]{1,16}")


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise ValueError("not an artifact storage key")
        head, variant = key.split("/")
        return self.root / head[:2] / head / variant

    async def put(self, key: str, source: Path) -> None:
        await asyncio.to_thread(self._put, self._path(key), source)

    @staticmethod
    def _put(target: Path, source: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
        try:
            # A copy, not a rename: the source may be on another file system.
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()

    async def chunks(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            f: BinaryIO = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        try:
            while chunk := await asyncio.to_thread(f.read, CHUNK_BYTES):
                yield chunk
        finally:
            await asyncio.to_thread(f.close)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, self._path(key))

    @staticmethod
    def _delete(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(OSError):  # not empty: other variants remain
            path.parent.rmdir()

    async def aclose(self) -> None:
        return None
