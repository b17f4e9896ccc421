"""HTML form fields → the same BookingRequest the JSON API takes."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import NotFound

from scheduler.errors import InvalidField
from scheduler.schemas import BookingRequest
from scheduler.settings import TZ
from scheduler.web.clock import utcnow

REASONS = [
    ("age", "高龄（80周岁以上）"),
    ("disability", "残疾（持残疾人证）"),
    ("illness", "重病或卧床"),
    ("alone", "独居老人（70周岁以上）"),
    ("other", "其他原因"),
]
BOOKER_KINDS = [
    ("self", "本人预约"),
    ("relative", "亲属代约"),
    ("worker", "村（社区）工作人员代约"),
]


def whole_number(raw: str) -> int | None:
    """A small non-negative integer typed in ASCII digits, else None.

    `str.isdigit()` alone is not enough: "²" passes it and int() then raises.
    """
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


# Days a staff page may name: far enough either way for any real record, near enough that
# a day before or after (and a week of calendar) is still a date.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)


def staff_day(raw: str) -> date | None:
    """A `YYYY-MM-DD` day between FIRST_DAY and LAST_DAY, else None."""
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        return None
    return day if FIRST_DAY <= day <= LAST_DAY else None


def page_day(text: str | None) -> date:
    """The day a staff page names (`?date=`, `/plans/<day>`): today in 庆元 when none,
    404 when it is not a day :func:`staff_day` accepts."""
    if not text:
        return utcnow().astimezone(TZ).date()
    day = staff_day(text)
    if day is None:
        raise NotFound()
    return day


def parse_date(raw: str, field: str = "date") -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidField("请选择日期（年-月-日）。", field=field, code="invalid_field") from None


def parse_slot(raw: str) -> tuple[date, str]:
    """A `YYYY-MM-DD|am` choice from a slot list."""
    day, _, half = raw.partition("|")
    if half not in ("am", "pm"):
        raise InvalidField("请选择新的时段。", field="date", code="invalid_field")
    return parse_date(day), half


def booking_request(form: MultiDict[str, str], item_code: str) -> BookingRequest:
    """Build the request; raises InvalidField with the API's field names."""
    f = {k: form.get(k, "").strip() for k in form}
    grade = f.get("disability_grade", "")
    data: dict[str, Any] = {
        "item": item_code,
        "applicant": {
            "name": f.get("applicant_name", ""),
            "id_number": f.get("applicant_id_number", ""),
            "phone": f.get("applicant_phone", ""),
        },
        "address": {
            "town_code": f.get("town_code", ""),
            "village": f.get("village", ""),
            "detail": f.get("address_detail", ""),
        },
        "reason": f.get("reason", ""),
        "disability_grade": whole_number(grade) if f.get("reason") == "disability" else None,
        "date": None,
        "half_day": f.get("half_day", ""),
    }
    if f.get("slot"):
        data["date"], data["half_day"] = parse_slot(f["slot"])
    else:
        data["date"] = parse_date(f.get("date", ""))
    if f.get("booker_kind", "self") in ("relative", "worker"):
        data["booker"] = {
            "kind": f["booker_kind"],
            "name": f.get("booker_name", ""),
            "phone": f.get("booker_phone", ""),
            "relationship": f.get("booker_relationship", ""),
        }
    try:
        return BookingRequest.model_validate(data, strict=False)
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        messages = {
            "missing": "此项必填。",
            "string_too_short": "此项必填。",
            "string_too_long": "内容过长。",
            "literal_error": "请选择一项。",
            "string_pattern_mismatch": "请选择。",
        }
        raise InvalidField(
            messages.get(first["type"], "此项格式不正确。"), field=field, code="invalid_field"
        ) from None


FIELD_LABELS = {
    "item": "办事事项",
    "applicant.name": "申请人姓名",
    "applicant.id_number": "申请人身份证号码",
    "applicant.phone": "申请人手机号码",
    "booker.name": "代约人姓名",
    "booker.phone": "代约人手机号码",
    "booker.relationship": "与申请人关系",
    "address.town_code": "乡镇（街道）",
    "address.village": "村（社区）",
    "address.detail": "详细地址",
    "reason": "上门原因",
    "disability_grade": "残疾等级",
    "date": "日期",
    "half_day": "上午/下午",
}
