"""Typed courier errors: an HTTP status, a code, a Chinese message and the field (the
base they share with booking's is `scheduler.errors.ServiceError`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scheduler.errors import ServiceError


class CourierError(ServiceError):
    """A courier rule refused the request."""


class InvalidField(CourierError):
    """A field is malformed or names something that does not exist (422)."""


class NotCourierable(CourierError):
    """The item's result cannot be couriered (the guide's courier fields say so) (422)."""

    code = "not_courierable"


class Conflict(CourierError):
    """The state does not allow this: a duplicate, a dispatched batch, a closed parcel (409)."""

    status = 409
    code = "conflict"


class NotFound(CourierError):
    status = 404
    code = "not_found"


class LookupLocked(CourierError):
    status = 429
    code = "lookup_locked"


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One bad value in an imported CSV: 1-based line (the header is line 1), column."""

    line: int
    column: str
    reason: str


class CsvImportError(CourierError):
    """The file has bad rows; nothing was imported (422). `problems` lists every one."""

    code = "bad_csv"

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(f"文件有 {len(problems)} 处错误，未导入任何记录。", field="file")
        self.problems = problems

    def body(self) -> dict[str, Any]:
        return super().body() | {
            "problems": [
                {"line": p.line, "column": p.column, "reason": p.reason} for p in self.problems
            ]
        }
