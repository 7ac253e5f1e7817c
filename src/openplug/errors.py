"""Domain errors and their one mapping to the spec's HTTP error shape.

Services raise these; ``openplug.web.error_handlers`` turns them into
``{"type", "message", "detail", ...}`` bodies. Nothing else builds error
responses, so every rejection has the same shape.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status_code = 400
    error_type = "bad_request"

    def __init__(self, message: str, *, detail: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.extra = {k: v for k, v in extra.items() if v is not None}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.detail is not None:
            body["detail"] = self.detail
        body.update(self.extra)
        return body


class BadRequest(ApiError):
    pass


class InvalidField(ApiError):
    error_type = "invalid_field"

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message, field_name=field_name)


class InvalidId(ApiError):
    """An id that is malformed or names no object of its kind (DevRev's
    ``invalid_id``); a call's own object that does not exist is a 404."""

    error_type = "invalid_id"

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message, field_name=field_name)


class MissingRequiredField(ApiError):
    error_type = "missing_required_field"

    def __init__(self, field_name: str, message: str | None = None) -> None:
        super().__init__(message or f"{field_name} is required", field_name=field_name)


class ValueNotPermitted(ApiError):
    error_type = "value_not_permitted"

    def __init__(
        self, field_name: str, reason: str, allowed_values: list[str] | None = None
    ) -> None:
        super().__init__(
            f"{field_name}: {reason}",
            field_name=field_name,
            reason=reason,
            allowed_values=allowed_values,
        )


class CustomizationValidationError(ApiError):
    error_type = "customization_validation_error"

    def __init__(self, subtype: str, field_name: str, message: str) -> None:
        super().__init__(message, subtype=subtype, field_name=field_name)


class PayloadTooLarge(ApiError):
    status_code = 413


class Unauthenticated(ApiError):
    status_code = 401
    error_type = "unauthenticated"


class Forbidden(ApiError):
    status_code = 403
    error_type = "forbidden"


class NotFound(ApiError):
    status_code = 404
    error_type = "not_found"


class Conflict(ApiError):
    status_code = 409
    error_type = "conflict"


class TooManyRequests(ApiError):
    """429 with ``retry_after`` in the body; the HTTP layer adds the
    ``Retry-After`` header from it."""

    status_code = 429
    error_type = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class FileTooLarge(PayloadTooLarge):
    """A file over a size limit: 413 naming the field, the limit in bytes
    and the setting that sets it."""

    def __init__(self, field_name: str, limit: int, setting: str) -> None:
        reason = f"larger than the limit of {limit} bytes ({setting})"
        super().__init__(
            f"{field_name}: {reason}",
            field_name=field_name,
            reason=reason,
            limit_bytes=limit,
            limit_name=setting,
        )


class UploadQuotaExceeded(TooManyRequests):
    """A visitor's uploads of the last 24 hours would pass the daily limit."""

    def __init__(self, field_name: str, limit: int, setting: str, retry_after: int) -> None:
        reason = f"over the limit of {limit} bytes uploaded per visitor per day ({setting})"
        super().__init__(f"{field_name}: {reason}", retry_after)
        self.extra.update(
            field_name=field_name, reason=reason, limit_bytes=limit, limit_name=setting
        )
