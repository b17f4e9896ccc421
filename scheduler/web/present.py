"""What a page or an API answer shows of a booking: masked fields, Chinese names of
statuses and half-days, whether the resident can still change it, the next steps."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from guide.dates import date_text
from scheduler.booking import BookingService, to_local
from scheduler.models import HALF_DAY_ZH, STATUS_ZH, Booking, Status
from scheduler.protect import Protector
from scheduler.schemas import BookingOut
from scheduler.settings import TZ

CHANNEL_ZH = {
    "web": "网上",
    "phone": "电话",
    "window": "窗口",
    "visit": "上门",
    "system": "系统",
}
ACTION_ZH = {
    "created": "预约",
    "confirmed": "确认",
    "scheduled": "排班",
    "moved": "改期",
    "cancelled": "取消",
    "done": "办结",
    "missed": "未遇",
    "purged": "删除个人信息",
    "phone_revealed": "查看完整电话",
}
_MOVED = re.compile(r"^(\d{4}-\d{2}-\d{2}) (am|pm) -> (\d{4}-\d{2}-\d{2}) (am|pm)$")
_SLOT = re.compile(r"^(\d{4}-\d{2}-\d{2}) (am|pm)$")
_ERASED = re.compile(r"^personal data erased after (\d+) days$")


def detail_text(action: str, detail: str) -> str:
    """An audit event's detail in Chinese: `2026-06-03 pm -> 2026-06-05 am` becomes
    「6月3日 星期三 下午 → 6月5日 星期五 上午」; no code is shown as it is stored."""
    if m := _MOVED.match(detail):
        return f"{day_text(m[1], m[2])} → {day_text(m[3], m[4])}"
    if m := _SLOT.match(detail):
        return day_text(m[1], m[2])
    if m := _ERASED.match(detail):
        return f"保存期满（{m[1]}天），个人信息已删除"
    if action == "phone_revealed":
        return {"applicant": "申请人电话", "booker": "代约人电话"}.get(detail, detail)
    return detail


def _until(moment: datetime) -> str:
    local = moment.astimezone(TZ)
    return f"{day_text(local.date())} {local:%H:%M}"


def next_steps(svc: BookingService, booking: Booking, cutoff: datetime | None = None) -> str:
    status = Status(booking.status)
    if status == Status.PENDING:
        extra = "并核实身体状况" if booking.needs_phone_check else ""
        return (
            f"工作人员将在1个工作日内致电核对信息{extra}，确认后状态变为「已确认」。"
            "上门前一天下午会排好具体时间。"
            f"{_until(cutoff or svc.cutoff_for(booking.date))}前"
            "可凭预约号和手机尾号自行取消或改期。"
            "请准备好身份证、户口簿和办事指南所列材料。"
        )
    if status == Status.CONFIRMED:
        return "预约已确认。上门前一天下午会排好具体时间，请保持电话畅通并准备好材料。"
    if status == Status.SCHEDULED:
        return "已排好上门时间，工作人员会在时间窗内上门，请在家等候并准备好材料。"
    if status == Status.DONE:
        return "已上门办结，办理结果将按办事指南所列方式送达。"
    if status == Status.MISSED:
        return "工作人员上门时未遇到申请人，请拨打12345重新预约。"
    return "预约已取消。如仍需办理，可重新预约。"


def booking_out(svc: BookingService, booking: Booking, now: datetime) -> BookingOut:
    """The booking as the API answers it (and the resident pages show it)."""
    item = svc.catalog.items.get(booking.item_code)
    town = svc.catalog.townships.get(booking.town_code)
    cutoff = svc.cutoff_for(booking.date)
    window = None
    if booking.status == Status.SCHEDULED and booking.window_start and booking.window_end:
        window = {
            "start": to_local(booking.window_start).isoformat(),
            "end": to_local(booking.window_end).isoformat(),
        }
    return BookingOut.model_validate(
        {
            "reference": booking.reference,
            "status": booking.status,
            "status_name": STATUS_ZH[Status(booking.status)],
            "item": booking.item_code,
            "item_name": item.name if item else booking.item_code,
            "date": booking.date,
            "half_day": booking.half_day,
            "half_day_name": HALF_DAY_ZH[booking.half_day],
            "applicant_name": booking.applicant_name_masked,
            "phone": booking.phone_masked,
            "town_code": booking.town_code,
            "town_name": town.name if town else booking.town_code,
            "window": window,
            "needs_phone_check": booking.needs_phone_check,
            "can_change": svc.can_change(booking, now, cutoff),
            "change_until": cutoff.isoformat(),
            "next_steps": next_steps(svc, booking, cutoff),
        }
    )


def to_dict(svc: BookingService, booking: Booking, now: datetime) -> dict[str, Any]:
    """`booking_out` as JSON-ready data."""
    return booking_out(svc, booking, now).model_dump(mode="json")


def reveal(protector: Protector, booking: Booking, column: str) -> str:
    """The decrypted value of an encrypted column; 「无法解密」 (and a log line naming the
    booking and key id, never the value) when no key opens it."""
    return protector.reveal(
        getattr(booking, column), field=column, owner=f"booking id={booking.id}"
    )


def day_text(value: date | str, half_day: str | None = None) -> str:
    """A date (or its ISO text) in the one format of every page: 12月4日 星期五 上午."""
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return date_text(day, half_day)
