"""Pydantic's validation errors, translated into the spec's 400 shapes with
the full JSON path of the offending value as ``field_name``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from pydantic import ValidationError

from openplug.errors import (
    ApiError,
    BadRequest,
    InvalidField,
    MissingRequiredField,
    ValueNotPermitted,
)

_QUOTED = re.compile(r"'([^']*)'")


def json_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def error_from_pydantic(
    error: dict[str, Any], prefix: Sequence[Any] = (), *, from_fastapi: bool = False
) -> ApiError:
    """``from_fastapi``: the error is FastAPI's, whose location starts with
    where the value came from ("body", "query"); only that is dropped, so
    that a field that is itself named "body" (a message's) keeps its name.
    A model validated by hand (``model_validate_json``) has no such part."""
    raw = list(error["loc"])
    if from_fastapi and raw and raw[0] in ("body", "query"):
        raw = raw[1:]
    loc = [*prefix, *raw]
    # Tagged unions and Optional[...] add type names to the location.
    loc = [p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("function-after",)))]
    field = json_path(loc)
    kind = error["type"]
    if kind == "json_invalid":
        return BadRequest("the request body is not valid JSON", detail=error.get("msg"))
    if not field:
        return BadRequest(f"the request body is invalid: {error.get('msg', '')}")
    if kind == "missing":
        return MissingRequiredField(field)
    if kind == "extra_forbidden":
        return InvalidField(field, f"{field} is not a known field")
    if kind in ("literal_error", "enum"):
        allowed = _QUOTED.findall(str(error.get("ctx", {}).get("expected", "")))
        return ValueNotPermitted(field, "not one of the allowed values", allowed or None)
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return InvalidField(field, f"{field}: {message}")


def error_from_validation(e: ValidationError, prefix: Sequence[Any] = ()) -> ApiError:
    """The first problem of a model validated by hand, as the API answers it."""
    errors = e.errors()
    error = error_from_pydantic(dict(errors[0]), prefix)
    if len(errors) > 1 and error.detail is None:
        error.detail = f"{len(errors) - 1} more problem(s) in this request"
    return error


def raise_validation_error(e: ValidationError, prefix: Sequence[Any] = ()) -> NoReturn:
    raise error_from_validation(e, prefix) from None
