"""A small client for website backends: exchange your AAT and a visitor's
details for a session token to hand to the widget.

```python
from openplug.client import OpenPlug

plug = OpenPlug("https://support.example.com", aat=os.environ["OPENPLUG_AAT"])
token = plug.session_token(
    user_ref=user.id,
    user_traits={"email": user.email, "display_name": user.name},
    account_ref=user.company.domain,
)
# render window.plugSDK.init({app_id, session_token: token.access_token})
```

``AsyncOpenPlug`` is the same for async frameworks. Errors raise
``OpenPlugError`` carrying the server's ``type``, ``message`` and
``field_name``, so a bad phone number says which one.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

__all__ = ["AsyncOpenPlug", "OpenPlug", "OpenPlugError", "SessionToken"]

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class SessionToken:
    access_token: str
    expires_in: int
    token_type: str = "bearer"


class OpenPlugError(Exception):
    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        self.status_code = status_code
        self.body = body
        self.type: str = str(body.get("type", "unknown"))
        self.message: str = str(body.get("message", ""))
        self.field_name: str | None = body.get("field_name")
        super().__init__(f"{status_code} {self.type}: {self.message}")


def _session_request(
    user_ref: str | None,
    user_id: str | None,
    account_ref: str | None,
    workspace_ref: str | None,
    user_traits: dict[str, Any] | None,
    account_traits: dict[str, Any] | None,
    workspace_traits: dict[str, Any] | None,
    expires_in_mins: int | None,
) -> dict[str, Any]:
    fields = {
        "user_ref": user_ref,
        "user_id": user_id,
        "account_ref": account_ref,
        "workspace_ref": workspace_ref,
        "user_traits": user_traits,
        "account_traits": account_traits,
        "workspace_traits": workspace_traits,
    }
    body: dict[str, Any] = {"rev_info": {k: v for k, v in fields.items() if v is not None}}
    if expires_in_mins is not None:
        body["expires_in_mins"] = expires_in_mins
    return body


def _parse(response: httpx.Response) -> SessionToken:
    try:
        data = response.json()
    except ValueError:
        data = {"type": "bad_response", "message": response.text[:200]}
    if response.status_code not in (200, 201) or not isinstance(data, dict):
        raise OpenPlugError(response.status_code, data if isinstance(data, dict) else {})
    return SessionToken(data["access_token"], int(data["expires_in"]), data["token_type"])


class OpenPlug:
    """Synchronous client; reuse one instance (it keeps connections open)."""

    def __init__(self, base_url: str, aat: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers={"Authorization": aat}, timeout=timeout
        )

    def session_token(
        self,
        user_ref: str | None = None,
        *,
        user_id: str | None = None,
        account_ref: str | None = None,
        workspace_ref: str | None = None,
        user_traits: dict[str, Any] | None = None,
        account_traits: dict[str, Any] | None = None,
        workspace_traits: dict[str, Any] | None = None,
        expires_in_mins: int | None = None,
    ) -> SessionToken:
        body = _session_request(
            user_ref, user_id, account_ref, workspace_ref,
            user_traits, account_traits, workspace_traits, expires_in_mins,
        )  # fmt: skip
        return _parse(self._http.post("/auth-tokens.create", json=body))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OpenPlug:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncOpenPlug:
    """The same for asyncio frameworks (FastAPI, Starlette, aiohttp...)."""

    def __init__(self, base_url: str, aat: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers={"Authorization": aat}, timeout=timeout
        )

    async def session_token(
        self,
        user_ref: str | None = None,
        *,
        user_id: str | None = None,
        account_ref: str | None = None,
        workspace_ref: str | None = None,
        user_traits: dict[str, Any] | None = None,
        account_traits: dict[str, Any] | None = None,
        workspace_traits: dict[str, Any] | None = None,
        expires_in_mins: int | None = None,
    ) -> SessionToken:
        body = _session_request(
            user_ref, user_id, account_ref, workspace_ref,
            user_traits, account_traits, workspace_traits, expires_in_mins,
        )  # fmt: skip
        return _parse(await self._http.post("/auth-tokens.create", json=body))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncOpenPlug:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
