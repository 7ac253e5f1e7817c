"""DevRev's own TypeScript SDK, unchanged, against a real openplug: the
proof that code written for DevRev works by changing only the endpoint."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.backends import missing_backend
from tests.live_server import LiveServer

SDK_DIR = Path(__file__).parent / "devrev_sdk"


@pytest.fixture(scope="module")
def sdk() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        missing_backend("Node.js and npm are needed to run DevRev's TypeScript SDK")
    if not (SDK_DIR / "node_modules" / "@devrev" / "typescript-sdk").exists():
        r = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=SDK_DIR, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if r.returncode != 0:
            missing_backend(f"npm could not install DevRev's SDK: {r.stderr[-500:]}")
    return SDK_DIR


def test_devrev_typescript_sdk_works_unchanged(sdk: Path, server: LiveServer) -> None:
    r = subprocess.run(
        ["node", "check.js", server.base_url, server.aat, server.pat],
        cwd=sdk, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)

    assert out["session"]["status"] == 201
    assert out["session"]["data"]["token_type"] == "bearer"
    assert out["session"]["data"]["expires_in"] == 1800
    assert out["oauth"]["status"] == 201
    assert out["bad_phone"]["status"] == 400
    assert out["bad_phone"]["data"]["field_name"] == "rev_info.user_traits.phone_numbers[0]"

    # The SDK joins array filters as "a","b" in one query parameter.
    users = out["users"]["data"]["rev_users"]
    assert [u["external_ref"] for u in users] == ["sdk-user@devrev.ai"]
    assert users[0]["is_verified"] is True
    assert users[0]["rev_org"]["display_name"] == "devrev-dev"
    assert out["user"]["data"]["rev_user"]["id"] == users[0]["id"]
    assert out["user_update"]["data"]["rev_user"]["description"] == "from the SDK"
    assert out["accounts"]["data"]["accounts"][0]["external_refs"] == ["devrev.ai"]
    assert out["rev_orgs"]["data"]["rev_orgs"][0]["account"]["display_name"] == "Devrev"
    assert out["tokens"]["status"] == 200 and out["tokens"]["data"]["tokens"]
    assert out["info"]["data"]["user"]["type"] == "dev_user"
    assert out["aat_on_pat_call"]["status"] == 403
    assert out["schema"]["status"] == 201 and out["schema"]["data"]["id"]

    assert out["accounts_sorted"]["status"] == 200, out["accounts_sorted"]
    assert [a["display_name"] for a in out["accounts_sorted"]["data"]["accounts"]] == ["Devrev"]
    assert out["account_update"]["data"]["account"]["websites"] == ["www.devrev.ai"]
    assert out["account_owners"] == []  # an array, as DevRev's SDK types it
    conversation = out["conversation"]["data"]["conversation"]
    assert out["conversation"]["status"] == 201, out["conversation"]
    assert conversation["description"] == "asked on the phone"
    updated = out["conversation_update"]["data"]["conversation"]
    assert [t["tag"]["id"] for t in updated["tags"]] == ["billing", "vip"]

    # rev-users/accounts/rev-orgs.create, timeline-entries.get/update/delete,
    # dev-users.*, conversations.delete.
    assert out["account_created"]["status"] == 201, out["account_created"]
    assert out["account_created"]["data"]["account"]["owned_by"] == []
    assert out["rev_org_created"]["status"] == 201, out["rev_org_created"]
    made = out["rev_user_created"]
    assert made["status"] == 201, made
    assert made["data"]["rev_user"]["rev_org"]["display_name"] == "SDK Co EU"
    assert out["entry_get"]["data"]["timeline_entry"]["body"] == "Lookng into it"
    assert out["entry_update"]["data"]["timeline_entry"]["body"] == "Looking into it"
    assert out["entry_delete"] == {"status": 200, "data": {}}
    assert out["entry_gone"]["status"] == 404
    me = out["dev_self"]["data"]["dev_user"]
    assert out["dev_get"]["data"]["dev_user"]["id"] == me["id"]
    assert me["id"] in [u["id"] for u in out["dev_list"]["data"]["dev_users"]]
    assert out["conversation_delete"] == {"status": 200, "data": {}}
    assert out["conversation_gone"]["status"] == 404
