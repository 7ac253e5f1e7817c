"""``artifacts.*`` answers, and the artifacts in messages, validated against
DevRev's own component schemas (their public OpenAPI, beside the repo in
``../shared/reference``) with jsonschema: the same shapes a DevRev client
expects, openplug's additions allowed where DevRev's schemas allow more."""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.artifacts.helpers import agent_upload, png_with_gps
from tests.conversations.helpers import agent_ok, anonymous_session, start_conversation, widget_ok
from tests.devrev_reference import require_reference_document
from tests.live_server import LiveServer

URI = "urn:devrev-openapi"


def _with_discriminators(node: Any) -> Any:
    """OpenAPI's ``discriminator`` as JSON Schema: the ``oneOf`` branch is the
    one its mapping names for the value's ``type``, not "exactly one that
    matches" (DevRev's user summaries all match a dev user's summary)."""
    if isinstance(node, list):
        return [_with_discriminators(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _with_discriminators(v) for k, v in node.items()}
    discriminator = out.get("discriminator")
    if isinstance(discriminator, dict) and "mapping" in discriminator and "oneOf" in out:
        name = discriminator["propertyName"]
        out.pop("oneOf")
        out["allOf"] = [*out.get("allOf", []), *(
            {"if": {"properties": {name: {"const": value}}, "required": [name]},
             "then": {"$ref": ref}}
            for value, ref in discriminator["mapping"].items()
        )]  # fmt: skip
    return out


@cache
def _registry() -> Registry:
    document = _with_discriminators(yaml.safe_load(require_reference_document().read_text()))
    return Registry().with_resource(URI, Resource(document, DRAFT202012))


def assert_matches(component: str, value: Any) -> None:
    require_reference_document()
    schema = {"$ref": f"{URI}#/components/schemas/{component}"}
    jsonschema.Draft202012Validator(schema, registry=_registry()).validate(value)


def test_artifacts_answers_match_devrevs_schemas(any_server: LiveServer) -> None:
    server = any_server
    token = anonymous_session(server)["session_token"]
    conversation = start_conversation(server, token)

    with server.client(server.pat) as c:
        r = c.post("/artifacts.prepare", json={
            "file_name": "shot.png", "file_type": "image/png", "configuration_set": "default",
        })  # fmt: skip
        assert r.status_code == 200, r.text
        assert_matches("artifacts-prepare-response", r.json())
    prepared = agent_upload(server, "shot.png", png_with_gps(), "image/png")
    entry = agent_ok(server, "/timeline-entries.create",
                     {"object": conversation["id"], "artifacts": [prepared["id"]]})  # fmt: skip
    for summary in entry["timeline_entry"]["artifacts"]:
        assert_matches("artifact-summary", summary)

    with server.client(server.pat) as c:
        for method in ("GET", "POST"):
            for call, component in (
                ("artifacts.get", "artifacts-get-response"),
                ("artifacts.locate", "artifacts-locate-response"),
            ):
                if method == "GET":
                    r = c.get(f"/{call}", params={"id": prepared["id"]})
                else:
                    r = c.post(f"/{call}", json={"id": prepared["id"]})
                assert r.status_code == 200, r.text
                assert_matches(component, r.json())

    # The widget's equivalents answer the same shapes.
    assert_matches(
        "artifacts-prepare-response",
        widget_ok(server, token, "artifacts.prepare", file_name="notes.txt"),
    )
    assert_matches("artifacts-get-response", widget_ok(server, token, "artifacts.get",
                                                       id=prepared["id"]))  # fmt: skip
    assert_matches("artifacts-locate-response", widget_ok(server, token, "artifacts.locate",
                                                          id=prepared["id"]))  # fmt: skip
