"""The outbox: queued once per event, drained through a sender, retried, never lost."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from booking_support import NOW
from ops_support import book, clear_ledger
from sqlalchemy import select, update

from scheduler.models import Slot
from scheduler.notify import outbox
from scheduler.notify.models import DEAD, SENT, Notice


class Recorder:
    """A sender that records what it was given, failing the first ``fail`` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.sent: list[outbox.Outgoing] = []

    def send(self, notice: outbox.Outgoing) -> None:
        if self.fail:
            self.fail -= 1
            raise outbox.SendError("gateway down")
        self.sent.append(notice)


@pytest.fixture
def booked(engine: Any, seeded: Any, service: Any) -> Any:
    clear_ledger(engine)
    with seeded() as s:
        s.execute(update(Slot).values(capacity=8))
        book(service, s, n=2)
        s.commit()
    return seeded


def test_same_event_is_queued_once(booked: Any, service: Any) -> None:
    """Queueing one event twice leaves one notice; another event is a second notice."""
    from scheduler.models import Booking

    with booked() as s:
        b = s.scalars(select(Booking)).first()
        assert outbox.queue(s, b, "scheduled", "0900", now=NOW)
        assert not outbox.queue(s, b, "scheduled", "0900", now=NOW)
        assert outbox.queue(s, b, "window_changed", "v2:1000", now=NOW)
        s.commit()
        assert len(s.scalars(select(Notice)).all()) == 2


def test_scan_queues_received_once_and_drain_sends_each_once(booked: Any, service: Any) -> None:
    """Every booking gets one 'received' notice, sent once even if drained again."""
    sender = Recorder()
    with booked() as s:
        assert outbox.scan(s, service, now=NOW) == 2
        assert outbox.scan(s, service, now=NOW) == 0
        s.commit()
        counts = outbox.drain(s, sender, service, now=NOW)
        assert counts["sent"] == 2
        assert outbox.drain(s, sender, service, now=NOW + timedelta(hours=1))["sent"] == 0
    assert len(sender.sent) == 2
    assert sender.sent[0].phone.startswith("139")
    assert "已受理" in sender.sent[0].text


def test_failed_send_is_retried_with_back_off_and_not_lost(booked: Any, service: Any) -> None:
    """A failing gateway leaves the notice pending for later; it is sent once it recovers."""
    sender = Recorder(fail=2)
    with booked() as s:
        outbox.scan(s, service, now=NOW)
        s.commit()
        first = outbox.drain(s, sender, service, now=NOW)
        assert first["failed"] == 2
        assert outbox.drain(s, sender, service, now=NOW)["sent"] == 0  # backed off
        later = outbox.drain(s, sender, service, now=NOW + timedelta(minutes=2))
        assert later["sent"] == 2
        rows = s.scalars(select(Notice)).all()
        assert {n.status for n in rows} == {SENT}
        assert all(n.attempts == 2 for n in rows)


def test_back_off_doubles_and_is_capped() -> None:
    """1, 2, 4 … minutes, never more than six hours."""
    assert [outbox.backoff(n).seconds // 60 for n in (1, 2, 3)] == [1, 2, 4]
    assert outbox.backoff(30) == timedelta(hours=6)


def test_a_notice_failing_every_time_ends_dead_but_kept(booked: Any, service: Any) -> None:
    """After MAX_ATTEMPTS failures the notice is 'dead': still in the table, not retried."""
    sender = Recorder(fail=10_000)
    with booked() as s:
        outbox.scan(s, service, now=NOW)
        s.commit()
        at = NOW
        for _ in range(outbox.MAX_ATTEMPTS):
            outbox.drain(s, sender, service, now=at)
            at += timedelta(hours=7)
        assert {n.status for n in s.scalars(select(Notice))} == {DEAD}


def test_claimed_notice_is_not_sent_by_a_second_notifier(booked: Any, service: Any) -> None:
    """A notice another notifier holds (lease not expired) is skipped."""
    with booked() as s:
        outbox.scan(s, service, now=NOW)
        s.commit()
        s.execute(
            update(Notice).values(
                status="sending", lease_until=(NOW + timedelta(minutes=5)).replace(tzinfo=None)
            )
        )
        s.commit()
        assert outbox.drain(s, Recorder(), service, now=NOW)["sent"] == 0
        assert outbox.drain(s, Recorder(), service, now=NOW + timedelta(minutes=6))["sent"] == 2


def test_log_sender_writes_no_personal_data(
    booked: Any, service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The default sender's line names the notice and booking reference, not phone or text."""
    with booked() as s:
        outbox.scan(s, service, now=NOW)
        s.commit()
        with caplog.at_level(logging.INFO):
            outbox.drain(s, outbox.LogSender(), service, now=NOW)
    assert "sent" in caplog.text
    assert "139" not in caplog.text and "居民" not in caplog.text and "已受理" not in caplog.text
    with booked() as s:
        assert {n.status for n in s.scalars(select(Notice))} == {SENT}


def test_a_phone_no_data_key_opens_is_dead_at_once(booked: Any, service: Any) -> None:
    """A notice whose phone no key of the ring decrypts (「无法解密」) is not retried: dead
    after one attempt, nothing sent."""
    from scheduler.booking import BookingService
    from scheduler.protect import Keyring, Protector

    other = BookingService(
        service.catalog, service.settings, Protector(Keyring.generate()), service.geocoder
    )
    sender = Recorder()
    with booked() as s:
        assert outbox.scan(s, service, now=NOW) == 2
        s.commit()
        counts = outbox.drain(s, sender, other, now=NOW)
        assert counts["dead"] == 2 and sender.sent == []
        assert {n.status for n in s.scalars(select(Notice))} == {DEAD}
        assert {n.attempts for n in s.scalars(select(Notice))} == {1}


class Killed(BaseException):
    """The notifier process dying right after the gateway took the notice."""


def test_a_resend_after_a_crash_or_a_failure_carries_the_same_idempotency_key(
    booked: Any, service: Any
) -> None:
    """The gateway can drop the duplicate: the key a notice is sent with never changes,
    whether the first try failed or the process died between the send and the mark."""
    offered: list[str] = []  # every key a gateway was given, in order

    class Gateway:
        def __init__(self, error: BaseException) -> None:
            self.error = error

        def send(self, notice: outbox.Outgoing) -> None:
            offered.append(notice.key)
            raise self.error

    with booked() as s:
        outbox.scan(s, service, now=NOW)
        s.commit()
        outbox.drain(s, Gateway(outbox.SendError("gateway down")), service, now=NOW)
        with pytest.raises(Killed):
            outbox.drain(s, Gateway(Killed()), service, now=NOW + timedelta(minutes=2))
        s.rollback()
        # The killed notice stays claimed until its lease runs out (the other one goes).
        other = Recorder()
        assert outbox.drain(s, other, service, now=NOW + timedelta(minutes=3))["sent"] == 1
        again = Recorder()
        assert outbox.drain(s, again, service, now=NOW + timedelta(minutes=8))["sent"] == 1
        ids = sorted(n.id for n in s.scalars(select(Notice)))
        assert {n.status for n in s.scalars(select(Notice))} == {SENT}
    first, second = (f"onetrip-notice-{i}" for i in ids)
    assert offered == [first, second, first]  # failed twice, then sent and killed
    assert [n.key for n in other.sent] == [second]
    assert [n.key for n in again.sent] == [first]
