"""The demo's sample certificates: valid finished cases, ready for a cut-off."""

from __future__ import annotations

from datetime import date
from typing import Any

from courier_support import NOW, protector, real_catalog
from sqlalchemy import select

from scheduler.courier.demo import courier_items, load_certificates
from scheduler.courier.models import Certificate, CertStatus


def test_demo_certificates_are_ready_and_pass_intake(courier_db: Any) -> None:
    """Every demo certificate passes the window's checks and waits, ready, at the hall."""
    with courier_db() as s:
        made = load_certificates(s, real_catalog(), protector(), now=NOW, due=date(2026, 6, 2))
        s.commit()
    with courier_db() as s:
        rows = list(s.scalars(select(Certificate)))
    assert made == len(rows) == 7
    assert {r.status for r in rows} == {CertStatus.READY}
    assert {r.item_code for r in rows} <= set(courier_items(real_catalog()))
