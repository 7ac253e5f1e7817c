"""DevRev's component schemas from the reference OpenAPI document, as
jsonschema validators with their ``$ref``s resolved."""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.devrev_reference import require_reference_document


@functools.cache
def _document() -> dict[str, Any]:
    value: dict[str, Any] = yaml.safe_load(require_reference_document().read_text())
    return value


@functools.cache
def _registry() -> Registry[Any]:
    return Registry().with_resource(  # type: ignore[no-any-return]
        "devrev.yaml", Resource.from_contents(_document(), default_specification=DRAFT202012)
    )


def check(schema_name: str, value: Any) -> None:
    """Raise when ``value`` is not valid against DevRev's ``schema_name``."""
    schema = {"$ref": f"devrev.yaml#/components/schemas/{schema_name}"}
    jsonschema.Draft202012Validator(schema, registry=_registry()).validate(value)
