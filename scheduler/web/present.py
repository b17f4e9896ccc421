"""What a page or an API answer shows of a booking: masked fields, Chinese names of
statuses and half-days, whether the resident can still change it, the next steps."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from scheduler.booking import BookingService, to_local
from scheduler.models import HALF_DAY_ZH, STATUS_ZH, Booking, Status
from scheduler.protect import CANNOT_DECRYPT_ZH, Protector, Undecryptable
from scheduler.schemas import BookingOut

log = logging.getLogger(__name__)


def next_steps(svc: BookingService, booking: Booking, cutoff: datetime | None = None) -> str:
    status = Status(booking.status)
    if status == Status.PENDING:
        extra = "并核实身体状况" if booking.needs_phone_check else ""
        return (
            f"工作人员将在1个工作日内致电核对信息{extra}，确认后状态变为「已确认」。"
            "上门前一天下午会排好具体时间。"
            f"{cutoff or svc.cutoff_for(booking.date):%m月%d日 %H:%M}前"
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
    token = getattr(booking, column)
    if not token:
        return ""
    try:
        return protector.decrypt(token, field=column)
    except Undecryptable as err:
        log.warning(
            "booking id=%s column %s cannot be decrypted (key id %s)",
            booking.id,
            column,
            err.key_id or "unknown",
        )
        return CANNOT_DECRYPT_ZH
