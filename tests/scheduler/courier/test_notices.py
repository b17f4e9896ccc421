"""Courier notices go out through the outbox's sender: once, retried, never lost."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from courier_support import DISPATCHER, MORNING, NOW, finish, protector, real_catalog, settings
from sqlalchemy import select

from scheduler import jobs, workdays
from scheduler.courier import delivery, notices
from scheduler.courier.cutoff import run_cutoff
from scheduler.courier.models import Batch, CourierNotice
from scheduler.notify import outbox
from scheduler.protect import Keyring, Protector

LATER = NOW + timedelta(hours=3)


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


def _dispatched(s: Any, county: int = 1) -> Batch:
    for i in range(county):
        finish(s, i)
    s.commit()
    run_cutoff(s, "county-hall", MORNING, LATER, catalog=real_catalog(), settings=settings())
    batch = s.scalars(select(Batch)).one()
    delivery.dispatch(s, batch, now=LATER, actor=DISPATCHER)
    s.commit()
    return batch


def test_dispatched_notice_is_sent_once_with_the_decrypted_phone(courier_db: Any) -> None:
    """A dispatched certificate's notice reaches the sender once; a second drain sends nothing."""
    sender = Recorder()
    with courier_db() as s:
        _dispatched(s)
        assert notices.drain(s, sender, protector(), now=LATER)["sent"] == 1
        assert notices.drain(s, sender, protector(), now=LATER + timedelta(hours=1))["sent"] == 0
        notice = s.scalars(select(CourierNotice)).one()
        assert notice.status == outbox.SENT and notice.attempts == 1
    [out] = sender.sent
    assert out.phone == "13905781234" and out.kind == "dispatched"
    assert out.text.startswith(outbox.HEAD) and "已寄出" in out.text
    assert out.key == f"onetrip-courier-notice-{notice.id}"


def test_failing_sender_is_retried_with_back_off_and_not_lost(courier_db: Any) -> None:
    """A failed send stays pending, is not retried before its back-off, then goes out once."""
    sender = Recorder(fail=1)
    with courier_db() as s:
        _dispatched(s)
        assert notices.drain(s, sender, protector(), now=LATER)["failed"] == 1
        assert notices.drain(s, sender, protector(), now=LATER)["sent"] == 0  # backed off
        notice = s.scalars(select(CourierNotice)).one()
        assert notice.status == outbox.PENDING and notice.last_error == "SendError"
        assert notices.drain(s, sender, protector(), now=LATER + timedelta(minutes=2))["sent"] == 1
        s.refresh(notice)
        assert notice.status == outbox.SENT and notice.attempts == 2
    assert len(sender.sent) == 1


def test_notice_failing_every_time_ends_dead_but_kept(courier_db: Any) -> None:
    """After MAX_ATTEMPTS failures a courier notice is 'dead', still in the table."""
    sender = Recorder(fail=10_000)
    with courier_db() as s:
        _dispatched(s)
        at = LATER
        for _ in range(outbox.MAX_ATTEMPTS):
            notices.drain(s, sender, protector(), now=at)
            at += timedelta(hours=7)
        notice = s.scalars(select(CourierNotice)).one()
        assert (notice.status, notice.attempts) == (outbox.DEAD, outbox.MAX_ATTEMPTS)
        assert notices.drain(s, sender, protector(), now=at)["failed"] == 0


def test_returned_notice_is_sent_once_with_how_to_fix_it(courier_db: Any) -> None:
    """A returned parcel's notice (reason and fix) is sent once, after the dispatched one."""
    sender = Recorder()
    with courier_db() as s:
        batch = _dispatched(s)
        [parcel] = delivery.parcels_of(s, batch)
        delivery.returned(s, parcel, "nobody_home", now=LATER, actor=DISPATCHER)
        s.commit()
        assert notices.drain(s, sender, protector(), now=LATER)["sent"] == 2
        assert notices.drain(s, sender, protector(), now=LATER + timedelta(hours=1))["sent"] == 0
    assert [o.kind for o in sender.sent] == ["dispatched", "returned"]
    assert "三次无人签收" in sender.sent[1].text


def test_a_phone_no_data_key_opens_is_dead_at_once(courier_db: Any) -> None:
    """A certificate phone no key of the ring decrypts is dead after one attempt, not sent."""
    sender = Recorder()
    with courier_db() as s:
        _dispatched(s)
        other = Protector(Keyring.generate())
        assert notices.drain(s, sender, other, now=LATER)["dead"] == 1
        notice = s.scalars(select(CourierNotice)).one()
        assert (notice.status, notice.attempts, notice.last_error) == (
            outbox.DEAD,
            1,
            "Undecryptable",
        )
    assert sender.sent == []


def test_log_sender_writes_no_personal_data(
    courier_db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Sending and failing log the notice id and kind, never the phone, holder or text."""
    with courier_db() as s:
        _dispatched(s)
        with caplog.at_level(logging.INFO):
            notices.drain(s, Recorder(fail=1), protector(), now=LATER)
            notices.drain(s, outbox.LogSender(), protector(), now=LATER + timedelta(minutes=2))
    assert "failed" in caplog.text and "sent" in caplog.text
    assert "1390578" not in caplog.text and "吴" not in caplog.text
    assert "已寄出" not in caplog.text


def test_scheduler_outbox_job_sends_courier_notices_through_its_sender(courier_db: Any) -> None:
    """The scheduler's 'outbox' job drains courier notices through the runtime's sender."""
    sender = Recorder()
    rt = jobs.Runtime(
        read_session=courier_db,
        write_session=courier_db,
        service=SimpleNamespace(catalog=real_catalog(), protector=protector()),  # type: ignore[arg-type]
        calendar=workdays.load(),
        courier=settings(),
        sender=sender,
    )
    with courier_db() as s:
        _dispatched(s, county=2)
    jobs.drain_outbox(rt, now=LATER)
    jobs.drain_outbox(rt, now=LATER + timedelta(hours=1))
    courier = [o for o in sender.sent if o.key.startswith("onetrip-courier-notice-")]
    assert sorted(o.kind for o in courier) == ["dispatched", "dispatched"]
    assert len({o.key for o in courier}) == 2


def test_one_event_is_one_notice(courier_db: Any) -> None:
    """A second notice with a certificate event's key is refused by the database."""
    from sqlalchemy.exc import IntegrityError

    with courier_db() as s:
        _dispatched(s)
        first = s.scalars(select(CourierNotice)).one()
        s.add(
            CourierNotice(
                event_key=first.event_key,
                certificate_id=first.certificate_id,
                kind=first.kind,
                body=first.body,
                created_at=first.created_at,
                status=outbox.PENDING,
                attempts=0,
                next_attempt_at=first.next_attempt_at,
                last_error="",
            )
        )
        with pytest.raises(IntegrityError):
            s.commit()
