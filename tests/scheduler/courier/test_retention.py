"""Retention: delivery data goes some days after delivery; what verification needs stays."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from courier_support import DISPATCHER, MORNING, NOW, WINDOW, finish, real_catalog, settings
from sqlalchemy import select

from scheduler.courier import delivery, intake, lookup, tokens
from scheduler.courier.cutoff import run_cutoff
from scheduler.courier.errors import NotFound
from scheduler.courier.models import Batch, CertStatus, CourierEvent, Validity
from scheduler.courier.retention import PURGED, purge_delivered

LATER = NOW + timedelta(hours=3)


def test_delivery_data_is_erased_after_the_period_and_verification_still_works(
    courier_db: Any,
) -> None:
    """Delivered, and revoked while waiting: erased after 180 days, once, with an audit
    event; dispatched and waiting certificates keep theirs; the QR claims do not change."""
    with courier_db() as s:
        sent, on_way = finish(s, 1), finish(s, 2)
        s.commit()
        run_cutoff(s, "county-hall", MORNING, LATER, catalog=real_catalog(), settings=settings())
        batch = s.scalars(select(Batch)).one()
        delivery.dispatch(s, batch, now=LATER, actor=DISPATCHER)
        first = next(p for p in delivery.parcels_of(s, batch) if p.certificate_id == sent.id)
        delivery.delivered(s, first, now=LATER, actor=DISPATCHER)
        revoked, waiting = finish(s, 3, now=LATER), finish(s, 4, now=LATER)
        intake.set_validity(s, revoked, Validity.REVOKED, now=LATER, actor=WINDOW)
        s.commit()
        claims = tokens.claims_of(sent)

        assert purge_delivered(s, now=LATER + timedelta(days=179), older_than_days=180) == 0
        later = LATER + timedelta(days=181)
        assert purge_delivered(s, now=later, older_than_days=180) == 2
        assert purge_delivered(s, now=later, older_than_days=180) == 0
        s.commit()

        for cert in (sent, revoked):
            assert (
                cert.holder_name_enc,
                cert.recipient_name_enc,
                cert.phone_enc,
                cert.address_detail_enc,
            ) == ("", "", "", "")
            assert (cert.recipient_name_masked, cert.phone_masked) == (PURGED, PURGED)
        assert sent.status == CertStatus.DELIVERED and tokens.claims_of(sent) == claims
        assert sent.holder_name_masked == "吴**" and sent.town_code == "331126205"
        for cert in (on_way, waiting):
            assert cert.phone_enc and cert.phone_masked == "139****1234"
        events = s.scalars(select(CourierEvent).where(CourierEvent.action == "purged")).all()
        assert sorted(e.certificate_id for e in events) == sorted((sent.id, revoked.id))
        assert all("1234" not in e.detail and "吴" not in e.detail for e in events)
        with pytest.raises(NotFound):
            lookup.lookup_delivery(s, sent.reference, "1234", now=later)
        assert lookup.lookup_delivery(s, on_way.reference, "1234", now=later).state == "已寄出"


def test_a_retention_period_under_a_day_is_refused(courier_db: Any) -> None:
    with courier_db() as s, pytest.raises(ValueError):
        purge_delivered(s, now=NOW, older_than_days=0)
