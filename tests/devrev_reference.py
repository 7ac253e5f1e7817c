"""Where the tests find DevRev's published OpenAPI document, the authority
for every call openplug shares with DevRev (see ../shared/reference/README.md).

It lives beside the checkout, not in it: ``OPENPLUG_DEVREV_OPENAPI`` if set,
else ``../shared/reference/`` next to the repository, else the workplace's
``/work/shared/reference/`` (a clone made elsewhere on the same machine, as
CI's is). Suites that need it skip with the reason when it is absent, and
fail under ``OPENPLUG_TEST_REQUIRE_ALL=1``."""

from __future__ import annotations

import os
from pathlib import Path

from tests.backends import missing_backend

_NAME = "devrev-openapi-public.yaml"
_CANDIDATES = (
    Path(__file__).resolve().parents[2] / "shared" / "reference" / _NAME,
    Path("/work/shared/reference") / _NAME,
)


def reference_document() -> Path | None:
    chosen = os.environ.get("OPENPLUG_DEVREV_OPENAPI")
    for path in (Path(chosen),) if chosen else _CANDIDATES:
        if path.is_file():
            return path
    return None


def require_reference_document() -> Path:
    found = reference_document()
    if found is None:
        where = os.environ.get("OPENPLUG_DEVREV_OPENAPI") or " or ".join(map(str, _CANDIDATES))
        missing_backend(f"DevRev's OpenAPI document is not at {where} (OPENPLUG_DEVREV_OPENAPI)")
        raise AssertionError("unreachable")  # missing_backend skips or fails
    return found
