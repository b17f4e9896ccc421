"""JSON API under /api: items, townships, slots, bookings (create, look up, cancel, move)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ValidationError

from scheduler import idempotency, identity
from scheduler.booking import RESIDENT_WEB
from scheduler.booking.capacity import zones_by_town
from scheduler.errors import BookingError, InvalidField
from scheduler.schemas import BookingRequest, CancelRequest, LookupRequest, MoveRequest
from scheduler.web import db_session, ot, resident_lookup
from scheduler.web.clock import utcnow
from scheduler.web.errors import json_error, validation_error
from scheduler.web.present import to_dict
from scheduler.web.ratelimit import client_key

bp = Blueprint("api", __name__, url_prefix="/api")
M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])
__all__ = ["bp", "utcnow"]  # utcnow: re-exported for views written against this module


@bp.errorhandler(BookingError)
def _booking_error(err: BookingError) -> tuple[Response, int]:
    return jsonify(err.body()), err.status


@bp.errorhandler(ValidationError)
def _validation_error(err: ValidationError) -> tuple[Response, int]:
    return validation_error(err)


def rate_limited(bucket: str) -> Callable[[F], F]:
    setting = f"{bucket}_rate"

    def deco(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            state = ot()
            limit, per = getattr(state.settings, setting)
            if not state.limiter.hit(client_key(bucket), limit, per):
                return json_error(429, "rate_limited", "操作太频繁，请稍后再试。")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco


def body_as(model: type[M]) -> M:
    """The JSON body as `model`: 415 unless JSON, 413 when too large, 422 when malformed
    or when an object repeats a key."""
    return model.model_validate_json(json_body())


def json_body() -> bytes:
    """The raw body of a JSON request, read through Werkzeug (which enforces
    MAX_CONTENT_LENGTH): 415 unless JSON, 413 when too large, 422 for repeated keys."""
    if request.mimetype != "application/json":
        raise _Unsupported()
    limit = ot().settings.max_body_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise _TooLarge()
    data = request.get_data(cache=False)
    if len(data) > limit:
        raise _TooLarge()
    _refuse_repeated_keys(data)
    return data


def _refuse_repeated_keys(data: bytes) -> None:
    """A JSON object naming a key twice is refused: parsers disagree on which one wins,
    so a proxy or log and this app could read different requests."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                raise InvalidField(
                    f"提交的内容中字段「{key[:40]}」出现了不止一次。",
                    field=key[:40],
                    code="duplicate_key",
                )
            seen[key] = value
        return seen

    try:
        json.loads(data, object_pairs_hook=pairs)
    except ValueError:  # malformed: pydantic says so with its own error
        return
    except RecursionError:  # ~1,000 nested brackets fit in a small body
        raise InvalidField("提交的内容嵌套层数过多，无法读取。", code="too_deeply_nested") from None


class _Unsupported(BookingError):
    status = 415
    code = "unsupported_media_type"

    def __init__(self) -> None:
        super().__init__("请以 application/json 格式提交。", field="Content-Type")


class _TooLarge(BookingError):
    status = 413
    code = "body_too_large"

    def __init__(self) -> None:
        super().__init__("提交的内容过大。")


@bp.get("/health")
def health() -> Response:
    """Trivial endpoint: the server's ceiling in benchmarks."""
    return jsonify({"ok": True})


@bp.get("/items")
def items() -> Response:
    _only_args(set())
    svc = ot().service
    out = []
    for item in svc.catalog.items.values():
        hv = item.home_visit
        skill = svc.catalog.skills.get(hv.skill) if hv.skill else None
        out.append(
            {
                "code": item.code,
                "name": item.name,
                "department": item.department,
                "home_visit": hv.allowed,
                "duration_min": hv.duration_min,
                "skill": hv.skill,
                "skill_name": skill.name if skill else None,
            }
        )
    return jsonify(out)


@bp.get("/townships")
def townships() -> Response:
    _only_args(set())
    zones = zones_by_town(db_session())
    return jsonify(
        [
            {"code": t.code, "name": t.name, "zone": zones.get(t.code)}
            for t in ot().service.catalog.townships.values()
        ]
    )


@bp.get("/slots")
def slots() -> Response:
    svc = ot().service
    item_code = request.args.get("item", "")
    town = request.args.get("town_code", "")
    _only_args({"item", "town_code"})
    if not item_code:
        raise InvalidField("请指定办事事项。", field="item", code="missing_field")
    item = svc.item(item_code)
    if not item.home_visit.allowed:
        raise InvalidField("该事项不提供上门办理。", field="item", code="item_not_home_visit")
    if not town:
        raise InvalidField("请选择乡镇（街道）。", field="town_code", code="missing_field")
    if not (len(town) == 9 and town.isdigit()):
        raise InvalidField("乡镇（街道）代码应为9位数字。", field="town_code", code="invalid_field")
    try:
        views = svc.slots(db_session(), town, utcnow(), item=item.code)
    except InvalidField as e:
        e.field = "town_code"
        raise
    return jsonify([v.as_dict() for v in views])


@bp.post("/bookings")
@rate_limited("write")
def create_booking() -> tuple[Response, int]:
    _only_args(set())
    state = ot()
    raw_key = request.headers.get("Idempotency-Key")
    key = idempotency.check_key(raw_key) if raw_key is not None else None
    raw = json_body()
    req = BookingRequest.model_validate_json(raw)
    now = utcnow()
    # A Core connection: the booking needs no ORM unit of work. Without a key there is
    # nothing to record beside the booking, and on PostgreSQL it is one statement (unless
    # its skill's places are bounded too), which needs no transaction (the autocommit
    # engine). Leaving uncommitted rolls back.
    one = key is None and state.service.one_statement(req.item)
    engine = state.single_statement_engine if one else state.write_engine
    with engine.connect() as conn:
        if key is not None:
            fingerprint = state.protector.keyed_hash(
                request.path + "\x00" + raw.decode(errors="replace"), purpose="idempotency"
            )
            replay = idempotency.claim(conn, key, fingerprint, now)
            if replay is not None:
                resp = jsonify(replay.body)
                resp.headers["Idempotent-Replayed"] = "true"
                return resp, replay.status_code
        booking = state.service.create(conn, req, now=now, actor=RESIDENT_WEB)
        body = to_dict(state.service, booking, now)
        if key is not None:
            idempotency.store(conn, key, 201, body)
        conn.commit()
    resp = jsonify(body)
    resp.headers["Location"] = f"/api/bookings/{booking.reference}"
    return resp, 201


@bp.get("/bookings/<reference>")
def get_booking(reference: str) -> tuple[Response, int]:
    """Moved: the phone suffix goes in a POST body, so that no URL (and no log) holds it."""
    resp = json_error(
        400,
        "lookup_by_post",
        "查询预约请改用 POST /api/bookings/<预约号>/lookup，在 JSON 请求体中提交"
        "手机号后四位（phone_last4），不要放在网址里。",
        "phone_last4",
    )
    ref = identity.normalize_reference(reference)
    if ref is not None:
        resp.headers["Link"] = f'</api/bookings/{ref}/lookup>; rel="alternate"'
    return resp, 400


@bp.post("/bookings/<reference>/lookup")
@rate_limited("lookup")
def lookup_booking(reference: str) -> Response:
    _only_args(set())
    req = body_as(LookupRequest)
    booking = resident_lookup(db_session(), reference, req.phone_last4)
    return jsonify(to_dict(ot().service, booking, utcnow()))


@bp.post("/bookings/<reference>/cancel")
@rate_limited("lookup")
def cancel_booking(reference: str) -> Response:
    _only_args(set())
    req = body_as(CancelRequest)
    svc, session, now = ot().service, db_session(), utcnow()
    booking = resident_lookup(session, reference, req.phone_last4)
    svc.cancel(session, booking, now=now, actor=RESIDENT_WEB)
    session.commit()
    return jsonify(to_dict(svc, booking, now))


@bp.post("/bookings/<reference>/move")
@rate_limited("lookup")
def move_booking(reference: str) -> Response:
    _only_args(set())
    req = body_as(MoveRequest)
    svc, session, now = ot().service, db_session(), utcnow()
    booking = resident_lookup(session, reference, req.phone_last4)
    svc.move(session, booking, req.date, req.half_day, now=now, actor=RESIDENT_WEB)
    session.commit()
    return jsonify(to_dict(svc, booking, now))


@bp.get("/")
def index() -> Response:
    """The API's entry: where its description is."""
    return jsonify(
        {
            "name": "OneTrip 上门约办 API",
            "openapi": "/api/openapi.json",
            "message": "接口说明见 /api/openapi.json（OpenAPI 3.1）。",
        }
    )


@bp.get("/openapi.json")
def openapi() -> Response:
    from scheduler.web.openapi import document

    return jsonify(document())


def _only_args(allowed: set[str]) -> None:
    if not request.query_string:  # the usual case; parsing request.args costs more
        return
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise InvalidField(f"不认识的参数：{unknown[0]}", field=unknown[0], code="unknown_field")
