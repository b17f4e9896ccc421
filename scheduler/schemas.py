"""Request and response models of the booking API (they also generate the OpenAPI document)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Reason = Literal["age", "disability", "illness", "alone", "other"]
HalfDay = Literal["am", "pm"]


class _In(BaseModel):
    # Unknown fields are refused, and JSON types are not coerced ("1" is not 1).
    model_config = ConfigDict(extra="forbid", strict=True)


class Applicant(_In):
    name: str = Field(min_length=1, max_length=30, description="申请人姓名")
    id_number: str = Field(min_length=1, max_length=30, description="居民身份证号码（18位）")
    phone: str = Field(min_length=1, max_length=20, description="中国大陆手机号码")


class Booker(_In):
    """Someone booking for the applicant: a relative or a village/community worker."""

    kind: Literal["relative", "worker"] = "relative"
    name: str = Field(min_length=1, max_length=30)
    phone: str = Field(min_length=1, max_length=20)
    relationship: str = Field(
        min_length=1, max_length=20, description="与申请人关系，如 儿子、村干部"
    )


class Address(_In):
    town_code: str = Field(pattern=r"^\d{9}$", description="乡镇（街道）9位代码")
    village: str = Field(default="", max_length=50, description="村（社区）")
    detail: str = Field(min_length=1, max_length=100, description="门牌、路名或标志物")


class BookingRequest(_In):
    item: str = Field(min_length=1, max_length=80)
    applicant: Applicant
    booker: Booker | None = None
    address: Address
    reason: Reason
    disability_grade: int | None = Field(default=None, ge=1, le=4, description="残疾等级，1–4")
    date: date
    half_day: HalfDay


class LookupRequest(_In):
    phone_last4: str = Field(pattern=r"^\d{4}$")


class CancelRequest(_In):
    phone_last4: str = Field(pattern=r"^\d{4}$")


class MoveRequest(_In):
    phone_last4: str = Field(pattern=r"^\d{4}$")
    date: date
    half_day: HalfDay


class ErrorOut(BaseModel):
    error: str
    message: str
    field: str | None = None


class SlotOut(BaseModel):
    date: date
    half_day: HalfDay
    half_day_name: str
    capacity: int
    remaining: int


class OfficeOut(BaseModel):
    id: str
    name: str
    address: str
    phone: str
    hours: str


class ItemOut(BaseModel):
    code: str
    name: str
    department: str
    home_visit: bool
    duration_min: int | None = None
    skill: str | None = None
    skill_name: str | None = None


class TownshipOut(BaseModel):
    code: str
    name: str
    zone: str | None = None


class VisitWindowOut(BaseModel):
    start: str = Field(description="Asia/Shanghai, ISO 8601")
    end: str


class BookingOut(BaseModel):
    reference: str
    status: str
    status_name: str
    item: str
    item_name: str
    date: date
    half_day: HalfDay
    half_day_name: str
    applicant_name: str = Field(description="masked")
    phone: str = Field(description="masked")
    town_code: str
    town_name: str
    window: VisitWindowOut | None = None
    needs_phone_check: bool
    can_change: bool
    change_until: str = Field(description="cancel/move cut-off, Asia/Shanghai ISO 8601")
    next_steps: str


class FullOut(ErrorOut):
    alternatives: list[SlotOut]


class IneligibleOut(ErrorOut):
    nearest_office: OfficeOut | None = None
