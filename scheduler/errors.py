"""Typed errors of the services. Each carries an HTTP status, a code, a Chinese message
and a field; booking's are here, the courier's (`scheduler.courier.errors`) share the base."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A rule refused the request: `body()` is the JSON an API answers with `status`."""

    status = 422
    code = "invalid"

    def __init__(
        self,
        message_zh: str,
        *,
        field: str | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(code or self.code)
        if code is not None:
            self.code = code
        self.message_zh = message_zh
        self.field = field
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message_zh, "field": self.field, **self.extra}


class BookingError(ServiceError):
    """A booking rule refused the request."""


class InvalidField(BookingError):
    """A field is malformed or names something that does not exist (422)."""


class NotEligible(BookingError):
    """The request is well-formed but does not qualify for a home visit (422)."""

    code = "not_eligible"


class SlotFull(BookingError):
    """No place left in the chosen half-day (409); `extra` lists dates with room."""

    status = 409
    code = "slot_full"


class Conflict(BookingError):
    """The booking's state does not allow this (409): duplicate, past cut-off, wrong status."""

    status = 409
    code = "conflict"


class NotFound(BookingError):
    status = 404
    code = "not_found"


class LookupLocked(BookingError):
    """Too many look-ups of one reference with a wrong phone suffix (429)."""

    status = 429
    code = "lookup_locked"


class Forbidden(BookingError):
    status = 403
    code = "forbidden"
