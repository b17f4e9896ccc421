"""After the cut-off: dispatch, tracking numbers, delivered, returned, resident look-up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from courier_support import DISPATCHER, MORNING, NOW, finish, real_catalog, settings
from sqlalchemy import func, select

from scheduler.courier import delivery, lookup
from scheduler.courier.cutoff import run_cutoff
from scheduler.courier.errors import Conflict, InvalidField, LookupLocked, NotFound
from scheduler.courier.models import (
    Batch,
    BatchKind,
    BatchStatus,
    Certificate,
    CertStatus,
    CourierEvent,
    CourierNotice,
    Parcel,
)

LATER = NOW + timedelta(hours=3)


def _batched(s: Any, county: int = 2, out: int = 0) -> tuple[Batch, list[Certificate]]:
    certs = [finish(s, i) for i in range(county)] + [
        finish(s, 100 + i, out=True) for i in range(out)
    ]
    s.commit()
    run_cutoff(s, "county-hall", MORNING, LATER, catalog=real_catalog(), settings=settings())
    s.commit()
    kind = BatchKind.EMS if out and not county else BatchKind.RUN
    batch = s.scalars(select(Batch).where(Batch.kind == kind)).first()
    return batch, certs


def _parcels(s: Any, batch: Batch) -> list[Parcel]:
    return delivery.parcels_of(s, batch)


def test_dispatch_sends_notices_and_fixes_the_batch(courier_db: Any) -> None:
    """Dispatch marks certificates sent, queues a notice each, and cannot be repeated."""
    with courier_db() as s:
        batch, certs = _batched(s)
        delivery.dispatch(s, batch, now=LATER, actor=DISPATCHER)
        s.commit()
        assert batch.status == BatchStatus.DISPATCHED
        assert {s.get_one(Certificate, c.id).status for c in certs} == {CertStatus.DISPATCHED}
        notices = list(s.scalars(select(CourierNotice)))
        assert len(notices) == 2 and all("已寄出" in n.body for n in notices)
        assert all("吴" not in n.body and "1234" not in n.body for n in notices)
        with pytest.raises(Conflict):
            delivery.dispatch(s, batch, now=LATER, actor=DISPATCHER)


def test_tracking_numbers_one_by_one_and_as_a_pasted_column(courier_db: Any) -> None:
    """Numbers are checked first (format, duplicates); blank lines leave a label alone."""
    with courier_db() as s:
        batch, _ = _batched(s, county=0, out=3)
        first, second, third = _parcels(s, batch)
        delivery.set_tracking(s, first, "ea123456789cn", now=LATER, actor=DISPATCHER)
        assert first.tracking_no == "EA123456789CN"
        with pytest.raises(InvalidField):
            delivery.set_tracking_column(s, batch, "EA1\nEA2", now=LATER, actor=DISPATCHER)
        with pytest.raises(InvalidField):
            delivery.set_tracking_column(
                s, batch, "\nEA000000002CN\nEA000000002CN", now=LATER, actor=DISPATCHER
            )
        with pytest.raises(InvalidField):
            delivery.set_tracking_column(s, batch, "A\nB\nC\nD", now=LATER, actor=DISPATCHER)
        n = delivery.set_tracking_column(
            s, batch, "\nEA000000002CN\nEA000000003CN\n", now=LATER, actor=DISPATCHER
        )
        assert n == 2 and [p.tracking_no for p in (first, second, third)] == [
            "EA123456789CN",
            "EA000000002CN",
            "EA000000003CN",
        ]
        with pytest.raises(Conflict):
            delivery.set_tracking(s, second, "EA123456789CN", now=LATER, actor=DISPATCHER)


def test_recorded_tracking_number_cannot_change_after_dispatch(courier_db: Any) -> None:
    """A dispatched batch cannot be edited: a recorded number stays; a missing one may be added."""
    with courier_db() as s:
        batch, _ = _batched(s, county=0, out=2)
        first, second = _parcels(s, batch)
        delivery.set_tracking(s, first, "EA111111111CN", now=LATER, actor=DISPATCHER)
        delivery.dispatch(s, batch, now=LATER, actor=DISPATCHER)
        with pytest.raises(Conflict):
            delivery.set_tracking(s, first, "EA999999999CN", now=LATER, actor=DISPATCHER)
        delivery.set_tracking(s, second, "EA222222222CN", now=LATER, actor=DISPATCHER)
        assert second.tracking_no == "EA222222222CN"


def test_delivered_and_returned_close_parcels_and_the_batch(courier_db: Any) -> None:
    """Delivered and returned close a parcel; the batch closes with its last parcel; a
    returned certificate is ready again with its reason, and the next cut-off takes it."""
    with courier_db() as s:
        batch, (a, b) = _batched(s)
        pa, pb = sorted(_parcels(s, batch), key=lambda p: p.certificate_id)
        with pytest.raises(Conflict):
            delivery.delivered(s, pa, now=LATER, actor=DISPATCHER)  # not dispatched yet
        delivery.dispatch(s, batch, now=LATER, actor=DISPATCHER)
        delivery.delivered(s, pa, now=LATER, actor=DISPATCHER)
        assert batch.status == BatchStatus.DISPATCHED
        with pytest.raises(InvalidField):
            delivery.returned(s, pb, "lost", now=LATER, actor=DISPATCHER)
        delivery.returned(s, pb, "wrong_address", now=LATER, actor=DISPATCHER)
        s.commit()
        assert batch.status == BatchStatus.CLOSED
        closed = s.scalars(select(CourierEvent).where(CourierEvent.action == "closed")).one()
        assert (closed.batch_id, closed.from_status, closed.to_status) == (
            batch.id,
            "dispatched",
            "closed",
        )
        assert s.get_one(Certificate, a.id).status == CertStatus.DELIVERED
        back = s.get_one(Certificate, b.id)
        assert (back.status, back.return_reason) == (CertStatus.READY, "wrong_address")
        notice = s.scalars(select(CourierNotice).where(CourierNotice.kind == "returned")).one()
        assert "地址有误" in notice.body and "核对" in notice.body
        with pytest.raises(Conflict):
            delivery.returned(s, pb, "refused", now=LATER, actor=DISPATCHER)
        nxt = MORNING + timedelta(hours=5)
        result = run_cutoff(s, "county-hall", nxt, nxt, catalog=real_catalog(), settings=settings())
        s.commit()
        assert result.certificates == 1
        assert (
            s.scalar(select(func.count()).select_from(Parcel).where(Parcel.certificate_id == b.id))
            == 2
        )
        actions = [
            e.action
            for e in s.scalars(
                select(CourierEvent)
                .where(CourierEvent.certificate_id == b.id)
                .order_by(CourierEvent.id)
            )
        ]
        assert actions == ["finished", "batched", "dispatched", "returned", "batched"]


def test_resident_lookup_shows_each_state_and_locks_after_wrong_suffixes(
    courier_db: Any,
) -> None:
    """待寄出 → 已寄出（运单号）→ 已签收, 退回（原因）; wrong suffixes count and lock."""
    with courier_db() as s:
        batch, _ = _batched(s, county=0, out=2)
        p1, p2 = _parcels(s, batch)
        c1 = s.get_one(Certificate, p1.certificate_id)
        ref = c1.reference
        assert lookup.lookup_delivery(s, ref, "1234", now=LATER).state == "待寄出"
        delivery.set_tracking(s, p1, "EA123456789CN", now=LATER, actor=DISPATCHER)
        delivery.dispatch(s, batch, now=LATER, actor=DISPATCHER)
        assert lookup.lookup_delivery(s, ref, "1234", now=LATER).text == (
            "已寄出（运单号 EA123456789CN）"
        )
        delivery.delivered(s, p1, now=LATER, actor=DISPATCHER)
        assert lookup.lookup_delivery(s, ref, "1234", now=LATER).state == "已签收"
        delivery.returned(s, p2, "nobody_home", now=LATER, actor=DISPATCHER)
        ref2 = s.get_one(Certificate, p2.certificate_id).reference
        status = lookup.lookup_delivery(s, ref2, "1234", now=LATER)
        assert status.text == "退回（三次无人签收）" and status.return_fix
        with pytest.raises(NotFound):
            lookup.lookup_delivery(s, "ZZZZZZZZ", "1234", now=LATER)
        for _ in range(5):
            with pytest.raises(lookup.WrongDeliverySuffix) as err:
                lookup.lookup_delivery(s, ref, "0000", now=LATER)
            lookup.count_failed_lookup(s, err.value.certificate_id, now=LATER)
            s.commit()
        with pytest.raises(LookupLocked):
            lookup.lookup_delivery(s, ref, "1234", now=LATER)
        assert lookup.lookup_delivery(s, ref, "1234", now=LATER + timedelta(minutes=16))
