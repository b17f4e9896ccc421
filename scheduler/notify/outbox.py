"""Queue notices in the transaction that causes them; drain them through a sender.

Exactly once per event: ``event_key`` is unique, so queueing the same event twice
queues one notice. A notice is claimed (``sending`` with a lease) and committed before
the sender is called, so two notifiers never send it both; it is marked ``sent`` right
after. A sender that fails leaves it ``pending`` with the next attempt backed off
(1, 2, 4 … minutes, at most 6 hours); after ``MAX_ATTEMPTS`` it is ``dead`` — kept and
shown, never deleted. If the process dies between a successful send and the mark, the
notice is sent again after its lease: senders get the notice id as an idempotency key
for the gateway (``Outgoing.key``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.notify.models import DEAD, PENDING, SENDING, SENT, Notice
from scheduler.planning import bookings as bk
from scheduler.protect import Undecryptable

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 10
LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=6)
HEAD = "【庆元县最多跑一次】"  # every text message starts with the sender's name
KINDS = ("received", "scheduled", "reminder", "window_changed", "done")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What a sender gets: the idempotency key, the kind, the phone and the text."""

    key: str
    kind: str
    reference: str
    phone: str
    text: str


class SendError(Exception):
    """The gateway did not take the notice; it will be tried again later."""


class Sender(Protocol):
    def send(self, notice: Outgoing) -> None: ...


class LogSender:
    """The default sender: a log line naming the notice, never the phone or the text."""

    def send(self, notice: Outgoing) -> None:
        # The reference is a booking's or, for courier notices, a certificate's.
        log.info("notice %s (%s) for %s sent", notice.key, notice.kind, notice.reference)


def _naive(now: datetime) -> datetime:
    return bk.utc_naive(now)


def queue(
    session: Session,
    booking: bk.Booking,
    kind: str,
    event: str,
    *,
    now: datetime,
    params: dict[str, Any] | None = None,
) -> bool:
    """Queue a notice for an event (``scheduled:v3``); False if that event was queued before.

    Runs in a savepoint, so a duplicate leaves the caller's transaction intact.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    key = f"{kind}:{booking.id}:{event}"
    if session.scalar(select(Notice.id).where(Notice.event_key == key)) is not None:
        return False
    at = _naive(now)
    try:
        with session.begin_nested():
            session.add(
                Notice(
                    event_key=key,
                    booking_id=booking.id,
                    kind=kind,
                    params_json=json.dumps(params or {}, ensure_ascii=False),
                    status=PENDING,
                    attempts=0,
                    created_at=at,
                    next_attempt_at=at,
                )
            )
    except IntegrityError:
        return False
    return True


def text_of(kind: str, reference: str, params: dict[str, Any]) -> str:
    """The notice as the resident reads it (no name: the phone's owner knows who they are)."""
    head = HEAD
    what = f"您的上门办理预约（预约号 {reference}，{params.get('item', '')}）"
    when = f"{params.get('date', '')} {params.get('start', '')}—{params.get('end', '')}"
    if kind == "received":
        return f"{head}{what}已受理，工作人员将致电核对信息，上门前一天会通知具体时间。"
    if kind == "scheduled":
        return f"{head}{what}已排定：{when} 上门，请在家等候并备好材料。"
    if kind == "reminder":
        return f"{head}提醒：工作人员将于{when} 上门办理（预约号 {reference}），请在家等候。"
    if kind == "window_changed":
        return f"{head}{what}的上门时间调整为 {when}，给您带来不便敬请谅解。"
    if kind == "done":
        return f"{head}{what}已上门办结，办理结果将按办事指南所列方式送达。"
    raise ValueError(kind)


def backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(minutes=2 ** max(0, attempts - 1)))


class Gone(SendError):
    """Nobody to tell (the booking or its phone was purged): dead at once, not retried."""


class Queued(Protocol):
    """The columns a drained notice row has (``outbox`` and ``courier_notices``)."""

    id: int
    kind: str
    status: str
    attempts: int
    next_attempt_at: datetime
    lease_until: datetime | None
    sent_at: datetime | None
    last_error: str


def drain(
    session: Session,
    sender: Sender,
    service: bk.BookingService,
    *,
    now: datetime,
    limit: int = 100,
    clock: Callable[[], datetime] | None = None,
) -> dict[str, int]:
    """Send due booking notices (commits after each claim and each result)."""

    def outgoing(notice: Any) -> Outgoing:
        booking = session.get(bk.Booking, notice.booking_id)
        if booking is None or not booking.phone_enc:
            raise Gone("no phone")
        return Outgoing(
            key=f"onetrip-notice-{notice.id}",
            kind=notice.kind,
            reference=booking.reference,
            phone=bk.decrypt(service, booking, "phone_enc"),
            text=text_of(notice.kind, booking.reference, json.loads(notice.params_json)),
        )

    return drain_table(
        session, Notice, sender, outgoing, now=now, limit=limit, clock=clock, what="notice"
    )


def drain_table(
    session: Session,
    model: type[Any],
    sender: Sender,
    outgoing: Callable[[Any], Outgoing],
    *,
    now: datetime,
    limit: int = 100,
    clock: Callable[[], datetime] | None = None,
    what: str = "notice",
) -> dict[str, int]:
    """Claim, send and mark the due rows of a notice table whose rows are ``Queued``.

    ``outgoing`` builds what the sender gets, decrypting the phone only now; it raises
    ``Gone`` or ``Undecryptable`` for a notice that can never be sent (dead at once).
    Commits after each claim and each result; logs ids and kinds, never phone or text.
    """
    at = _naive(now)

    def due() -> Any:
        return or_(
            (model.status == PENDING) & (model.next_attempt_at <= at),
            (model.status == SENDING) & (model.lease_until < at),
        )

    ids = list(session.scalars(select(model.id).where(due()).order_by(model.id).limit(limit)))
    session.commit()
    counts = {"sent": 0, "failed": 0, "dead": 0, "skipped": 0}
    for notice_id in ids:
        claimed = session.execute(
            update(model)
            .where(model.id == notice_id, due())
            .values(status=SENDING, lease_until=at + LEASE, attempts=model.attempts + 1)
        )
        session.commit()
        if not claimed.rowcount:  # type: ignore[attr-defined]
            counts["skipped"] += 1  # another notifier has it
            continue
        notice: Queued | None = session.get(model, notice_id)
        assert notice is not None
        try:
            sender.send(outgoing(notice))
        except Exception as err:  # any sender failure is retried, never lost
            # Nobody to tell, or a phone no data key opens (「无法解密」): a retry will not help.
            dead = notice.attempts >= MAX_ATTEMPTS or isinstance(err, Gone | Undecryptable)
            notice.status = DEAD if dead else PENDING
            notice.next_attempt_at = at + backoff(notice.attempts)
            notice.lease_until = None
            notice.last_error = type(err).__name__[:200]
            session.commit()
            counts["dead" if dead else "failed"] += 1
            log.warning("%s %s (%s) failed: %s", what, notice.id, notice.kind, type(err).__name__)
            continue
        notice.status = SENT
        notice.sent_at = _naive(clock() if clock else now)
        notice.lease_until = None
        session.commit()
        counts["sent"] += 1
    return counts


def scan(session: Session, service: bk.BookingService, *, now: datetime, days: int = 30) -> int:
    """Queue the notices that follow from a booking's state alone: received (any booking
    made in the last ``days``), done (finished). Booking writes them to no outbox itself;
    the event keys make this safe to run as often as wanted. Does not commit."""
    since = _naive(now) - timedelta(days=days)
    queued = 0
    rows = session.scalars(
        select(bk.Booking).where(
            bk.Booking.created_at >= since,
            bk.Booking.status != bk.Status.CANCELLED,
            ~select(Notice.id)
            .where(Notice.booking_id == bk.Booking.id, Notice.kind == "received")
            .exists(),
        )
    ).all()
    for b in rows:
        queued += queue(session, b, "received", "1", now=now, params=params_of(service, b))
    done = session.scalars(
        select(bk.Booking).where(
            bk.Booking.updated_at >= since,
            bk.Booking.status == bk.Status.DONE,
            ~select(Notice.id)
            .where(Notice.booking_id == bk.Booking.id, Notice.kind == "done")
            .exists(),
        )
    ).all()
    for b in done:
        queued += queue(session, b, "done", "1", now=now, params=params_of(service, b))
    return queued


def params_of(service: bk.BookingService, b: bk.Booking) -> dict[str, Any]:
    item = service.catalog.items.get(b.item_code)
    params: dict[str, Any] = {
        "item": item.name if item else b.item_code,
        "date": f"{b.date.month}月{b.date.day}日",
    }
    if b.window_start and b.window_end:
        params["start"] = bk.to_local(b.window_start).strftime("%H:%M")
        params["end"] = bk.to_local(b.window_end).strftime("%H:%M")
    return params


def remind(session: Session, service: bk.BookingService, day: date, *, now: datetime) -> int:
    """Queue the evening-before reminders for a date's scheduled visits (does not commit)."""
    rows = session.scalars(
        select(bk.Booking).where(bk.Booking.date == day, bk.Booking.status == bk.Status.SCHEDULED)
    ).all()
    return sum(
        queue(session, b, "reminder", day.isoformat(), now=now, params=params_of(service, b))
        for b in rows
    )
