"""Publishing a plan version: bookings get their clerk and one-hour window, residents a
notice. Republishing a later version changes only what changed and tells only those
whose window changed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from scheduler.notify import outbox
from scheduler.planning import bookings as bk
from scheduler.planning.models import DRAFT, PUBLISHED, PlanVersion
from scheduler.planning.service import one_hour_window

SUPERSEDED = "superseded"


class PublishError(ValueError):
    def __init__(self, code: str, message_zh: str) -> None:
        super().__init__(code)
        self.code = code
        self.message_zh = message_zh


@dataclass(frozen=True, slots=True)
class Published:
    scheduled: int
    changed: int
    unchanged: int
    unscheduled: int
    notices: int


def publish(
    session: Session,
    version: PlanVersion,
    service: bk.BookingService,
    *,
    now: datetime,
    actor: bk.Actor,
) -> Published:
    """Publish ``version`` (the caller commits)."""
    if version.status == PUBLISHED:
        raise PublishError("already_published", "该版本已发布。")
    newest = session.scalar(
        select(PlanVersion.version)
        .where(PlanVersion.date == version.date)
        .order_by(PlanVersion.version.desc())
        .limit(1)
    )
    if newest != version.version:
        raise PublishError("not_latest", "只能发布最新版本，请先查看最新草案。")
    data = json.loads(version.plan_json)
    scheduled = changed = unchanged = notices = 0
    served: set[int] = set()
    for route in data["routes"]:
        clerk_id = int(route["clerk_id"])
        for stop in route["stops"]:
            b = session.get(bk.Booking, int(stop[0]))
            if b is None or b.status not in bk.PLANNED:
                continue  # cancelled or finished since the plan was made
            served.add(b.id)
            start, end = one_hour_window(version.date, stop[2], b.half_day)
            if b.status == bk.Status.PENDING:
                bk.confirm(service, session, b, now=now, actor=actor)
            if b.status == bk.Status.CONFIRMED:
                bk.schedule(
                    service,
                    session,
                    b,
                    clerk_id=clerk_id,
                    start=start,
                    end=end,
                    now=now,
                    actor=actor,
                )
                scheduled += 1
                notices += outbox.queue(
                    session,
                    b,
                    "scheduled",
                    f"{start:%H%M}",
                    now=now,
                    params=outbox.params_of(service, b),
                )
                continue
            same_window = (b.window_start, b.window_end) == (bk.utc_naive(start), bk.utc_naive(end))
            if same_window and b.assigned_clerk_id == clerk_id:
                unchanged += 1
                continue
            bk.reschedule(session, b, clerk_id=clerk_id, start=start, end=end, now=now, actor=actor)
            changed += 1
            if not same_window:
                notices += outbox.queue(
                    session,
                    b,
                    "window_changed",
                    f"v{version.version}:{start:%H%M}",
                    now=now,
                    params=outbox.params_of(service, b),
                )
    unscheduled = 0
    for b in session.scalars(
        select(bk.Booking).where(
            bk.Booking.date == version.date, bk.Booking.status == bk.Status.SCHEDULED
        )
    ).all():
        if b.id not in served:
            bk.unschedule(session, b, now=now, actor=actor)
            unscheduled += 1
    session.execute(
        update(PlanVersion)
        .where(PlanVersion.date == version.date, PlanVersion.status == PUBLISHED)
        .values(status=SUPERSEDED)
    )
    version.status = PUBLISHED
    version.published_at = bk.utc_naive(now)
    session.flush()
    return Published(scheduled, changed, unchanged, unscheduled, notices)


__all__ = ["DRAFT", "PUBLISHED", "SUPERSEDED", "PublishError", "Published", "publish"]
