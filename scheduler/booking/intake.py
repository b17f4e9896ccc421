"""Intake: the pure checks of a booking request (no database, no clock: `today` is given).

What passes comes out as an `Intake`: normalised text, the parsed ID number, the age.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

from scheduler import identity
from scheduler.errors import InvalidField
from scheduler.schemas import BookingRequest

# Characters that change how text looks without being seen: C0 and C1 controls (Cc),
# format characters (Cf: bidi overrides and isolates, zero-width spaces and joiners, the
# BOM), surrogates and private use. A name or address holding one can display as
# something else than it is (a reversed phone number, two "identical" names).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})


@dataclass(frozen=True, slots=True)
class Intake:
    """A booking request whose fields passed every check that needs no database."""

    request: BookingRequest
    id_number: identity.IdNumber
    age: int
    name: str
    phone: str
    village: str
    detail: str
    booker_name: str | None
    booker_phone: str | None
    booker_relationship: str | None


def hidden_character(raw: str) -> str | None:
    """The first control, format or private character of `raw`, or None."""
    for c in raw:
        if unicodedata.category(c) in _REFUSED_CATEGORIES:
            return c
    return None


def clean_text(raw: str, field: str, *, required: bool = True) -> str:
    """Whitespace collapsed; refused when blank (if required) or holding hidden characters."""
    if hidden_character(raw) is not None:
        raise InvalidField(
            "此项含有不可见的控制字符或格式字符（如换行、零宽字符、文字方向控制符），请删除后重新填写。",
            field=field,
            code="hidden_character",
        )
    text = " ".join(raw.split())
    if required and not text:
        raise InvalidField("此项不能为空。", field=field, code="blank")
    return text


def phone(raw: str, field: str) -> str:
    try:
        return identity.normalize_mobile(raw)
    except identity.IdentityError as e:
        raise InvalidField(e.message_zh, field=field, code=e.code) from None


def check_request(req: BookingRequest, *, today: date) -> Intake:
    """Every field check of a booking request, in the order a form shows the fields."""
    try:
        idn = identity.parse_id_number(req.applicant.id_number, today=today)
    except identity.IdentityError as e:
        raise InvalidField(e.message_zh, field="applicant.id_number", code=e.code) from None
    applicant_phone = phone(req.applicant.phone, "applicant.phone")
    booker = req.booker
    booker_phone = phone(booker.phone, "booker.phone") if booker else None
    name = clean_text(req.applicant.name, "applicant.name")
    village = clean_text(req.address.village, "address.village", required=False)
    detail = clean_text(req.address.detail, "address.detail")
    booker_name = clean_text(booker.name, "booker.name") if booker else None
    relationship = clean_text(booker.relationship, "booker.relationship") if booker else None
    if req.reason == "disability" and req.disability_grade is None:
        raise InvalidField(
            "请选择残疾等级。", field="disability_grade", code="disability_grade_missing"
        )
    if req.reason != "disability" and req.disability_grade is not None:
        raise InvalidField(
            "只有以残疾为由预约时才填写残疾等级。",
            field="disability_grade",
            code="disability_grade_unexpected",
        )
    return Intake(
        request=req,
        id_number=idn,
        age=identity.age_on(idn.birth_date, today),
        name=name,
        phone=applicant_phone,
        village=village,
        detail=detail,
        booker_name=booker_name,
        booker_phone=booker_phone,
        booker_relationship=relationship,
    )
