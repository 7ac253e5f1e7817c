"""The search that fails the session: every form a leak takes is found, and
innocent look-alikes are not."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import jwt
from argon2 import PasswordHasher

from openplug.identity.access_tokens import TOKEN_PREFIXES
from openplug.widget.service import ANONYMOUS_CREDENTIAL_PREFIX
from tests.leaks.registry import (
    KINDS,
    Secret,
    SecretRegistry,
    after_cli,
    before_cli,
)
from tests.leaks.scan import Detector


def token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def session_token() -> str:
    return jwt.encode({"sub": "REVU-1", "jti": secrets.token_hex(12)}, secrets.token_bytes(32))


def test_every_openplug_token_prefix_is_recognised_on_sight() -> None:
    """A new kind of token (a new entry in TOKEN_PREFIXES) must come with
    its line in KINDS, or this fails."""
    registry = SecretRegistry()
    for prefix in (*TOKEN_PREFIXES.values(), ANONYMOUS_CREDENTIAL_PREFIX):
        registry.observe_text(f"Authorization: {token(prefix)}")
    registry.observe_text(session_token())
    assert sorted(registry.counts()) == sorted(
        ["AAT", "PAT", "inbox sign-in", "anonymous credential", "session token"]
    )


def test_planted_secrets_are_found_whole_in_part_and_unregistered(tmp_path: Path) -> None:
    aat, pat, anon = token("opl_aat_"), token("opl_pat_"), token(ANONYMOUS_CREDENTIAL_PREFIX)
    jwt_token, generated, typed = session_token(), secrets.token_urlsafe(15), "a long passphrase"
    unregistered_web = token("opl_web_")
    password_hash = PasswordHasher().hash(typed)
    signature = jwt_token.rsplit(".", 1)[1]
    registered = [
        Secret("AAT", aat, 0), Secret("PAT", pat, 1), Secret("anonymous credential", anon, 2),
        Secret("session token", jwt_token, 3), Secret("password", generated, 4),
        Secret("password", typed, 5),
    ]  # fmt: skip
    lines = {
        1: f"INFO openplug.errors [x] internal error Authorization: {aat}",
        2: f"DEBUG uvicorn.error [x] body {pat[len('opl_pat_') :]}",  # without its prefix
        3: f'DEBUG uvicorn.error [x] < TEXT \'{{"token": "eyJhbGciOiJI...{signature[-17:]}"}}\'',
        4: f"WARNING openplug.realtime [x] failed  extra_field={anon!r}",
        5: f"ERROR x [x] boom\nValueError: bad password {generated}",
        6: f"INFO x [x] user typed {typed}!",
        7: f"INFO x [x] cookie openplug_inbox={unregistered_web}",  # never registered
        8: f"DEBUG aiosqlite [x] UPDATE dev_users SET password_hash=? ('{password_hash}',)",
        9: f"INFO x [x] prefix {pat[:20]}",  # prefix + 12 of its 43 characters
        # Innocent: a token hint, a reference id, an app id, a JWT header,
        # a password's first word, the digest column.
        10: "INFO x [x] created opl_pat_…x4Qz, reference_id=9f8e7d6c5b4a3f2e app_WzEPwEbPqIorm",
        11: 'DEBUG x [x] < TEXT \'{"token": "eyJhbGciOiJIUzI1NiIsImtpZCI6IjEyMyJ9..."}\'',
        12: "INFO x [x] a long walk; digest=" + secrets.token_hex(32),
    }
    log = tmp_path / "session.log"
    log.write_text("\n".join(lines[n] for n in sorted(lines)) + "\n")
    found = list(Detector(registered).scan_file(log))

    line_of = {n: sum(lines[m].count("\n") + 1 for m in lines if m < n) + 1 for n in lines}
    assert sorted((leak.line_no, leak.kind) for leak in found) == sorted(
        [
            (line_of[1], "AAT"),
            (line_of[2], "PAT"),
            (line_of[3], "session token"),
            (line_of[4], "anonymous credential"),
            (line_of[5] + 1, "password"),
            (line_of[6], "password"),
            (line_of[7], "inbox sign-in"),
            (line_of[8], "password hash"),
            (line_of[9], "PAT"),
        ]
    )
    shown = "\n".join(str(leak) for leak in found)
    for value in (aat, pat, anon, jwt_token, generated, typed, unregistered_web, password_hash):
        assert value[-12:] not in shown and value[9:21] not in shown
    assert "<AAT>" in shown and "<password hash>" in shown


def test_a_password_shorter_than_the_server_accepts_is_not_searched() -> None:
    registry = SecretRegistry()
    registry.add("password", "short")
    registry.add("password", "long enough!")
    assert [s.value for s in registry.secrets()] == ["long enough!"]


def test_every_kind_has_a_name_the_summary_prints() -> None:
    assert len({kind.name for kind in KINDS}) == len(KINDS)


def test_the_cli_may_print_what_it_creates_never_what_it_was_given() -> None:
    registry = SecretRegistry()
    known_pat, typed = token("opl_pat_"), "typed passphrase"
    registry.observe_text(known_pat)
    new_aat, new_password = token("opl_aat_"), secrets.token_urlsafe(15)
    args = ["agents", "set-password", "sam@example.com"]
    mark = before_cli(args, f"{typed}\n{typed}\n", registry)
    banner = f"  Admin password   {new_password}\n  Demo AAT         {new_aat}\n"
    fine = subprocess.CompletedProcess(args, 0, stdout="", stderr=banner)
    after_cli(mark, args, fine, registry)
    assert registry.cli_findings == []
    assert {new_aat, new_password} <= {s.value for s in registry.secrets()}

    mark = before_cli(args, None, registry)
    echoed = subprocess.CompletedProcess(
        args, 2, stdout="", stderr=f"error: {typed} for {known_pat}\nand {new_aat}"
    )
    after_cli(mark, args, echoed, registry)
    assert sorted((f.kind, f.line_no) for f in registry.cli_findings) == [
        ("AAT", 2), ("PAT", 1), ("password", 1),
    ]  # fmt: skip
    assert all(
        f.source == "stderr of `openplug agents set-password`" for f in registry.cli_findings
    )
    assert known_pat[8:20] not in str(registry.cli_findings[0])
