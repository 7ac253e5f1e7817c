"""Servers for the artifacts tests: each database backend, and each
storage backend (a directory, a real S3-compatible server on loopback)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import boto3
import pytest

from tests.artifacts.s3_server import ACCESS_KEY, SECRET_KEY, s3_server
from tests.conftest import ServerFactory
from tests.live_server import LiveServer


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with s3_server(tmp_path_factory.mktemp("s3")) as endpoint:
        yield endpoint


def s3_storage_url(endpoint: str) -> str:
    bucket = f"openplug-{secrets.token_hex(4)}"
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
    )  # fmt: skip
    client.create_bucket(Bucket=bucket)
    return f"s3://{ACCESS_KEY}:{SECRET_KEY}@{bucket}?endpoint={endpoint}&region=us-east-1"


@pytest.fixture(params=["local", "s3"])
def storage_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "local":
        return None
    endpoint = request.getfixturevalue("s3_endpoint")
    return s3_storage_url(endpoint)


@pytest.fixture(params=["sqlite", "postgresql"])
def files_server(
    request: pytest.FixtureRequest, make_server: ServerFactory, storage_url: str | None
) -> LiveServer:
    """Every database backend with every storage backend."""
    return make_server(backend=request.param, storage_url=storage_url)
