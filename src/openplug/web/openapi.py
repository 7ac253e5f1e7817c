"""The OpenAPI document, including request bodies of routes that parse
their body by hand (see ``identity.routes.auth_tokens_create``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

REF_TEMPLATE = "#/components/schemas/{model}"


class ErrorBody(BaseModel):
    """Every error response, as DevRev's API shapes them."""

    model_config = ConfigDict(extra="allow")

    type: str
    message: str
    detail: str | None = None
    field_name: str | None = None
    subtype: str | None = None
    reason: str | None = None
    allowed_values: list[str] | None = None
    reference_id: str | None = None


class Answer(BaseModel):
    """A response body as the document declares it: exactly these keys
    (``additionalProperties: false``), the ones without a default always
    present. Endpoints build their JSON themselves (no per-response
    validation on the request path); ``tests/security/test_fuzz_api.py``
    holds every answer to its declaration."""

    model_config = ConfigDict(extra="forbid")


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omitted_when_none(description: str | None = None) -> Any:
    """A field the answer leaves out when it has no value, where DevRev's
    document types it as a string or object without ``null``: typed
    clients (DevRev's SDK) read a missing key as "none" but fail on a
    ``null``. Declared with its type alone and not required."""
    return Field(default=None, description=description, json_schema_extra=_no_default)


def without_none(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``body`` without those of ``keys`` whose value is ``None`` (see
    ``omitted_when_none``)."""
    for key in keys:
        if key in body and body[key] is None:
            del body[key]
    return body


class Empty(Answer):
    """``{}``: done, nothing to say."""


def answers(
    model: type[BaseModel], status: int = 200, *, rate_limited: bool = False
) -> dict[str, Any]:
    """Route keywords: the call answers ``status`` with a ``model`` body
    (and, ``rate_limited``, may answer 429 with ``Retry-After``)."""
    responses: dict[int | str, dict[str, Any]] = {
        status: {"model": model, "description": "Success"}
    }
    if rate_limited:
        responses[429] = {
            "model": ErrorBody,
            "description": "Over a per-address limit; try again after `Retry-After` seconds",
            "headers": {
                "Retry-After": {
                    "description": "Seconds until the limit admits a new request",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        }
    return {"status_code": status, "response_model": None, "responses": responses}


_ERRORS = {
    "400": "Invalid request: `type` says which rule, `field_name` which value",
    "401": "Missing, malformed, unknown, expired or revoked credential",
    "403": "The credential may not make this call",
    "404": "No such object (or not visible to this caller)",
    "409": "Conflicts with stored data",
    "413": "Request body too large",
    "500": "Internal error; `reference_id` is in the server log",
}


def body_of(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body is ``model``."""
    schema = {"$ref": REF_TEMPLATE.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def install_openapi(app: FastAPI, hand_parsed: list[type[BaseModel]]) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            components = document.setdefault("components", {}).setdefault("schemas", {})
            models: list[type[BaseModel]] = [*hand_parsed, ErrorBody]
            for model in models:
                schema = model.model_json_schema(ref_template=REF_TEMPLATE)
                components.update(schema.pop("$defs", {}))
                components[model.__name__] = schema
            _document_errors(document)
            _query_parameters_as_sent(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_errors(document: dict[str, Any]) -> None:
    """Our error responses replace FastAPI's default 422 on every operation."""
    error = {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model="ErrorBody")}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status, description in _ERRORS.items():
                responses.setdefault(status, {"description": description, "content": error})
    schemas = document.get("components", {}).get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)


def _query_parameters_as_sent(document: dict[str, Any]) -> None:
    """A query string cannot say ``null``: an optional query parameter is
    one that is left out, so its schema is the value's own (as DevRev's
    document has it), not pydantic's ``anyOf [..., null]``. With the null
    branch in, clients and fuzzers read ``?cursor=5`` as a wrong type,
    where every value in a URL is text."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") != "query" or "anyOf" not in schema:
                    continue
                branches = [b for b in schema["anyOf"] if b != {"type": "null"}]
                if len(branches) == 1:
                    del schema["anyOf"]
                    schema.update(branches[0])
