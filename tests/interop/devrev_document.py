"""DevRev's public OpenAPI document as a validator: what each call accepts
(its query parameters, its body's fields) and whether a response is one the
document allows (status code and body, ``$ref``s resolved).

The document is OpenAPI 3.0, whose schemas are not quite JSON Schema; they
are converted once, keyword by keyword:

- ``nullable: true`` adds ``null`` to what the schema admits;
- a ``discriminator`` with a ``mapping`` picks the one schema its property
  names (``if type == "invalid_id" then error-bad-request-invalid-id``)
  instead of JSON Schema's "exactly one of", which a variant without fields
  (``{"type": "object"}``) would make ambiguous;
- such a variant's ``additionalProperties: false`` means "no fields of its
  own" beside those the enclosing ``allOf`` declares (DevRev's error-base
  ``message`` and ``detail``, the ``type``): taken literally it would refuse
  every error body, its ``type`` included.

Everything else (``format``, ``x-*``, ``example``) is left for jsonschema
to ignore, as annotations.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema
import yaml

from tests.devrev_reference import reference_document, require_reference_document

DOCUMENT = reference_document()  # None: the suite skips (tests.devrev_reference)
_SCHEMAS = "#/components/schemas/"


@cache
def document() -> dict[str, Any]:
    with require_reference_document().open("rb") as f:
        loaded: dict[str, Any] = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return loaded


def _component(ref: str) -> dict[str, Any]:
    assert ref.startswith(_SCHEMAS), ref
    schema: dict[str, Any] = document()["components"]["schemas"][ref.removeprefix(_SCHEMAS)]
    return schema


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = _component(schema["$ref"])
    return schema


def properties(schema: dict[str, Any]) -> dict[str, Any]:
    """Every property a schema declares, through ``allOf`` and ``$ref``."""
    schema = resolve(schema)
    out: dict[str, Any] = {}
    for part in schema.get("allOf", []):
        out.update(properties(part))
    out.update(schema.get("properties", {}))
    return out


def _convert(node: Any, siblings: frozenset[str] = frozenset()) -> Any:
    if isinstance(node, list):
        return [_convert(item, siblings) for item in node]
    if not isinstance(node, dict):
        return node
    if "allOf" in node:
        names = frozenset(name for part in node["allOf"] for name in properties(part))
        siblings = siblings | names
    out = {
        key: _convert(value, siblings if key in ("allOf", "oneOf") else frozenset())
        for key, value in node.items()
        if key not in ("nullable", "discriminator")
    }
    discriminator = node.get("discriminator")
    if discriminator and discriminator.get("mapping") and "oneOf" in node:
        prop = discriminator["propertyName"]
        own = siblings | frozenset(node.get("properties", {}))
        del out["oneOf"]
        out["allOf"] = [
            *out.get("allOf", []),
            {"required": [prop], "properties": {prop: {"enum": sorted(discriminator["mapping"])}}},
            *(
                {
                    "if": {"properties": {prop: {"const": value}}, "required": [prop]},
                    "then": _variant(target, own),
                }
                for value, target in discriminator["mapping"].items()
            ),
        ]
    if node.get("nullable"):
        return {"anyOf": [{"type": "null"}, out]}
    return out


def _variant(ref: str, siblings: frozenset[str]) -> dict[str, Any]:
    target = _component(ref)
    if target.get("additionalProperties") is not False:
        return {"$ref": ref}
    converted = {k: v for k, v in _convert(target).items() if k != "additionalProperties"}
    allowed = siblings | frozenset(target.get("properties", {}))
    converted["propertyNames"] = {"enum": sorted(allowed)}
    return dict(converted)


@cache
def _root() -> dict[str, Any]:
    schemas = {
        name: _convert(schema) for name, schema in document()["components"]["schemas"].items()
    }
    return {"components": {"schemas": schemas}}


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    root = {**_root(), **_convert(schema)}
    cls = jsonschema.validators.validator_for({}, default=jsonschema.Draft202012Validator)
    return cls(root)


def operation(path: str, method: str) -> dict[str, Any]:
    op: dict[str, Any] = document()["paths"][path][method.lower()]
    return op


def query_parameters(path: str) -> dict[str, dict[str, Any]]:
    """The GET form's parameters by name (``created_date.after`` ...)."""
    return {p["name"]: p for p in operation(path, "get").get("parameters", [])}


def body_schema(path: str) -> dict[str, Any]:
    content = operation(path, "post")["requestBody"]["content"]["application/json"]
    schema: dict[str, Any] = content["schema"]
    return schema


def body_fields(path: str) -> dict[str, Any]:
    """The POST form's top-level body fields by name."""
    return properties(body_schema(path))


def response_problems(path: str, method: str, status: int, body: Any) -> list[str]:
    """Why the document does not allow this answer; [] when it does."""
    responses = operation(path, method)["responses"]
    answer = responses.get(str(status))
    if answer is None:
        return [f"{method} {path}: status {status} is not one of {sorted(responses)}"]
    if "$ref" in answer:
        answer = document()["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
    content = answer.get("content", {}).get("application/json")
    if content is None:
        # No body documented: an empty one, or ``{}`` (which says nothing).
        return [] if body in (None, b"", "", {}) else [f"{status} has no body in the document"]
    validator = _validator(content["schema"])
    return [
        f"{method} {path} {status} at {'/'.join(map(str, e.absolute_path)) or '(root)'}: "
        f"{e.message[:300]}"
        for e in sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.path)))
    ]
