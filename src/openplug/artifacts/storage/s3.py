"""Artifacts in S3-compatible object storage (AWS S3, SeaweedFS, MinIO,
Ceph, Garage...), for several server processes sharing one store.

Through boto3, run in threads, rather than aiobotocore: boto3 is AWS's
own, best-kept client; its transfer manager does multipart uploads of a
file with a bounded number of part buffers; and aiobotocore pins exact
botocore versions and brings aiohttp, a second HTTP stack, for what a
thread per call does as well at the rates files arrive. Each download
chunk is one ``read`` in a thread, so a download holds one chunk at a time.

``OPENPLUG_STORAGE_URL=s3://bucket[/prefix]?endpoint=http://host:port&region=us-east-1``;
credentials from the URL's ``access_key:secret@`` part, or boto3's usual
chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, profiles, roles).
``addressing=virtual`` asks for bucket-in-host URLs (path style otherwise,
which every S3-compatible server understands).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from openplug.artifacts.storage import CHUNK_BYTES, ObjectMissing

# S3's smallest multipart part is 5 MiB; two parts in flight at most.
_TRANSFER = TransferConfig(
    multipart_threshold=8 * 1024 * 1024,
    multipart_chunksize=8 * 1024 * 1024,
    max_concurrency=2,
    io_chunksize=CHUNK_BYTES,
)


class S3Storage:
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str) -> S3Storage:
        parts = urlsplit(url)
        if not parts.hostname:
            raise ValueError("OPENPLUG_STORAGE_URL: s3:// needs a bucket name")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        options: dict[str, Any] = {}
        if parts.username:
            options["aws_access_key_id"] = unquote(parts.username)
            options["aws_secret_access_key"] = unquote(parts.password or "")
        if "endpoint" in query:
            options["endpoint_url"] = query["endpoint"]
        if "region" in query:
            options["region_name"] = query["region"]
        addressing = "virtual" if query.get("addressing") == "virtual" else "path"
        config = Config(
            s3={"addressing_style": addressing},
            retries={"max_attempts": 3, "mode": "standard"},
            # Checksums only when the operation requires them: several
            # S3-compatible servers refuse the newer trailing checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        client = boto3.session.Session().client("s3", config=config, **options)
        prefix = parts.path.strip("/")
        return cls(client, parts.hostname, f"{prefix}/" if prefix else "")

    def _key(self, key: str) -> str:
        return self.prefix + key

    async def put(self, key: str, source: Path) -> None:
        await asyncio.to_thread(
            self.client.upload_file, str(source), self.bucket, self._key(key), Config=_TRANSFER
        )

    async def chunks(self, key: str) -> AsyncIterator[bytes]:
        try:
            found = await asyncio.to_thread(
                self.client.get_object, Bucket=self.bucket, Key=self._key(key)
            )
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectMissing(key) from None
            raise
        body = found["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK_BYTES):
                yield chunk
        finally:
            await asyncio.to_thread(body.close)

    async def delete(self, key: str) -> None:
        # S3 answers a delete of a missing key with success.
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=self._key(key))

    async def create_bucket(self) -> None:
        """For tests and first setups: make the bucket if it is missing."""
        try:
            await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)
        except ClientError:
            await asyncio.to_thread(self.client.create_bucket, Bucket=self.bucket)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.client.close)
