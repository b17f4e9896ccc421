"""App-wide error pages: JSON under /api (also 404/405/413/415/500), HTML elsewhere."""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

_HTTP_ZH = {
    400: ("bad_request", "请求格式不正确。"),
    403: ("forbidden", "没有权限。"),
    404: ("not_found", "没有这个地址。"),
    405: ("method_not_allowed", "不支持这种请求方式。"),
    413: ("body_too_large", "提交的内容过大。"),
    415: ("unsupported_media_type", "请以 application/json 格式提交。"),
    429: ("rate_limited", "操作太频繁，请稍后再试。"),
}

_PYDANTIC_ZH = {
    "missing": ("missing_field", "缺少必填项。"),
    "extra_forbidden": ("unknown_field", "不认识的字段，请删除。"),
    "json_invalid": ("malformed_json", "提交的内容不是有效的 JSON。"),
    "model_type": ("malformed_json", "提交的内容应为 JSON 对象。"),
    "model_attributes_type": ("malformed_json", "提交的内容应为 JSON 对象。"),
    "string_too_short": ("invalid_field", "此项不能为空。"),
    "string_too_long": ("invalid_field", "此项内容过长。"),
    "string_pattern_mismatch": ("invalid_field", "格式不正确。"),
    "literal_error": ("invalid_field", "不是可选的值之一。"),
    "date_from_datetime_parsing": ("invalid_field", "日期格式应为 YYYY-MM-DD。"),
    "date_parsing": ("invalid_field", "日期格式应为 YYYY-MM-DD。"),
    "date_type": ("invalid_field", "日期格式应为 YYYY-MM-DD。"),
    "greater_than_equal": ("invalid_field", "数值太小。"),
    "less_than_equal": ("invalid_field", "数值太大。"),
}


def json_error(status: int, code: str, message: str, field: str | None = None) -> Response:
    resp = jsonify({"error": code, "message": message, "field": field})
    resp.status_code = status
    return resp


def validation_error(err: ValidationError) -> tuple[Response, int]:
    first = err.errors(include_url=False, include_input=False)[0]
    loc = ".".join(str(p) for p in first["loc"] if p not in ("function-after",))
    code, message = _PYDANTIC_ZH.get(first["type"], ("invalid_field", "此项格式不正确。"))
    if first["type"] in ("json_invalid", "model_type", "model_attributes_type"):
        loc = ""
    return json_error(422, code, message, loc or None), 422


def _wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Any:
        status = err.code or 500
        code, message = _HTTP_ZH.get(status, ("http_error", "请求无法处理。"))
        resp = _answer(status, code, message)
        if status == 405 and err.get_response().headers.get("Allow"):  # a 405 must say
            resp.headers["Allow"] = err.get_response().headers["Allow"]
        return resp

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Any:
        if isinstance(err, HTTPException):
            return _http(err)
        kind, method, path = type(err).__name__, request.method, request.path
        if _unavailable(err):
            log.error("database unavailable (%s) on %s %s", kind, method, path)
            return _answer(503, "service_unavailable", UNAVAILABLE_ZH, retry_after=RETRY_AFTER_S)
        if _schema_missing(err):
            log.error(
                "database schema missing or out of date (%s) on %s %s: run `onetrip migrate`\n%s",
                kind,
                method,
                path,
                scrubbed_traceback(err),
            )
        else:
            log.error("unhandled %s on %s %s\n%s", kind, method, path, scrubbed_traceback(err))
        return _answer(500, "internal_error", "系统繁忙，请稍后再试或拨打12345。")


UNAVAILABLE_ZH = "系统暂时无法办理，请稍后再试或拨打12345。"
RETRY_AFTER_S = 30


# SQLite reports a missing table or column as an OperationalError, as it does a locked
# database; only the latter goes away by itself.
_SQLITE_SCHEMA = ("no such table", "no such column", "has no column named")


def _unavailable(err: Exception) -> bool:
    """The database cannot be reached or is too busy right now (a server down or
    restarting, a lost connection, a full pool, a statement timeout, SQLite's writer lock
    not granted in time): the same request may work a little later. (A connection lost
    after a statement committed leaves a booking made; a client that retries sends the
    same Idempotency-Key.)"""
    if isinstance(err, (DisconnectionError, PoolTimeout, TimeoutError)):
        return True
    if isinstance(err, OperationalError):
        return not _schema_missing(err)
    return isinstance(err, DBAPIError) and err.connection_invalidated


def _schema_missing(err: Exception) -> bool:
    """A table or column the code needs is not in the database (migrations not run)."""
    if not isinstance(err, DBAPIError):
        return False
    sqlstate = getattr(err.orig, "sqlstate", None)
    if sqlstate in ("42P01", "42703"):  # PostgreSQL: undefined table, undefined column
        return True
    text = str(err.orig).lower()
    return isinstance(err, OperationalError) and any(m in text for m in _SQLITE_SCHEMA)


# Personal data that exception texts may carry: ID numbers, phone numbers, any run of
# digits (a phone suffix), Chinese text (names, addresses), quoted values.
_SCRUB = (
    (re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"),
    (re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]+"), "…"),
    (re.compile(r"\d{4,}[\dXx]?"), "#"),
)


def scrub(text: str) -> str:
    """`text` with quoted values, Chinese text and runs of digits replaced; only the
    first line (PostgreSQL's DETAIL line quotes whole rows)."""
    text = text.split("\n", 1)[0][:300]
    for pattern, replacement in _SCRUB:
        text = pattern.sub(replacement, text)
    return text


def scrubbed_traceback(err: BaseException) -> str:
    """The traceback of `err` (and of its causes): every frame as Python prints it, the
    exception messages scrubbed of personal data."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = traceback.extract_tb(current.__traceback__)
        parts.insert(
            0,
            "".join(traceback.format_list(frames))
            + f"{type(current).__module__}.{type(current).__qualname__}: {scrub(str(current))}\n",
        )
        current = current.__cause__ or current.__context__
    return "Traceback (most recent call last):\n" + "-- which caused --\n".join(parts)


def _answer(status: int, code: str, message: str, retry_after: int | None = None) -> Any:
    if _wants_json():
        resp = json_error(status, code, message)
    else:
        resp = make_response(render_template("error.html", status=status, message=message))
        resp.status_code = status
    if retry_after is not None:
        resp.headers["Retry-After"] = str(retry_after)
    return resp
