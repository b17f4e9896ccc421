"""Cut-off batching: delivery runs and the EMS hand-over, once per cut-off, crash-safe."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from courier_support import (
    AFTERNOON,
    CALENDAR,
    MORNING,
    NOW,
    WINDOW,
    finish,
    real_catalog,
    settings,
)
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from scheduler.courier import intake, risk
from scheduler.courier.cutoff import cutoff_key, run_cutoff
from scheduler.courier.models import (
    Batch,
    BatchKind,
    Certificate,
    CertStatus,
    CutoffClaim,
    Parcel,
    Validity,
)
from scheduler.settings import TZ

TOWNS = ("331126205", "331126101", "331126001", "331126211", "331126104", "331126002")


def _fill(s: Any, county: int, out: int, **over: Any) -> list[Certificate]:
    certs = []
    for i in range(county):
        certs.append(finish(s, i, town_code=TOWNS[i % len(TOWNS)], **over))
    for i in range(out):
        certs.append(finish(s, 1000 + i, out=True, **over))
    return certs


def _cut(s: Any, at: datetime = MORNING, **kw: Any) -> Any:
    kw.setdefault("settings", settings())
    return run_cutoff(s, "county-hall", at, NOW + timedelta(hours=2), catalog=real_catalog(), **kw)


def _assert_one_open_batch_each(s: Any, expected: int) -> None:
    parcels = list(s.scalars(select(Parcel).where(Parcel.is_open)))
    per_cert = Counter(p.certificate_id for p in parcels)
    assert len(per_cert) == expected and set(per_cert.values()) == {1}
    batched = s.scalar(
        select(func.count()).select_from(Certificate).where(Certificate.status == "batched")
    )
    assert batched == expected


def test_county_runs_respect_capacity_and_out_of_county_goes_to_one_ems_batch(
    courier_db: Any,
) -> None:
    """Every ready certificate lands in one batch: runs within capacity, one EMS list."""
    with courier_db() as s:
        _fill(s, county=30, out=4)
        s.commit()
        result = _cut(s, settings=settings(run_capacity=8))
        s.commit()
        assert not result.already_run and result.certificates == 34 and result.ems == 1
        runs = list(s.scalars(select(Batch).where(Batch.kind == BatchKind.RUN)))
        sizes = [len(list(s.scalars(select(Parcel).where(Parcel.batch_id == b.id)))) for b in runs]
        assert max(sizes) <= 8 and sum(sizes) == 30
        assert len(runs) >= math.ceil(30 / 8)
        assert all(b.distance_m > 0 and not b.over_duration for b in runs)
        ems = s.scalars(select(Batch).where(Batch.kind == BatchKind.EMS)).one()
        assert len(list(s.scalars(select(Parcel).where(Parcel.batch_id == ems.id)))) == 4
        _assert_one_open_batch_each(s, 34)


def test_rerun_of_a_cutoff_creates_nothing_twice(courier_db: Any) -> None:
    """A second run of the same cut-off finds its claim and returns the saved batches."""
    with courier_db() as s:
        _fill(s, county=5, out=2)
        s.commit()
        first = _cut(s)
        s.commit()
        finish(s, 50, now=NOW)  # ready before the cut-off but registered after the first run
        s.commit()
        again = _cut(s)
        s.commit()
        assert again.already_run and again.batch_ids == first.batch_ids
        assert s.scalar(select(func.count()).select_from(Batch)) == len(first.batch_ids)
        assert s.get(CutoffClaim, cutoff_key("county-hall", MORNING)) is not None
        _assert_one_open_batch_each(s, 7)


def test_certificate_ready_after_the_cutoff_waits_for_the_next(courier_db: Any) -> None:
    """A certificate finished after the cut-off goes into the next cut-off's batch."""
    with courier_db() as s:
        finish(s, 1)
        late = finish(s, 2, now=MORNING + timedelta(minutes=1))
        s.commit()
        first = _cut(s)
        s.commit()
        assert first.certificates == 1 and late.status == CertStatus.READY
        second = run_cutoff(
            s, "county-hall", AFTERNOON, AFTERNOON, catalog=real_catalog(), settings=settings()
        )
        s.commit()
        assert second.certificates == 1
        assert s.get(Certificate, late.id).status == CertStatus.BATCHED


def test_revoked_certificate_is_not_sent(courier_db: Any) -> None:
    """A revoked certificate stays out of every batch."""
    with courier_db() as s:
        cert = finish(s, 1)
        intake.set_validity(s, cert, Validity.REVOKED, now=NOW, actor=WINDOW)
        s.commit()
        assert _cut(s).certificates == 0


def test_database_refuses_a_second_open_parcel_for_a_certificate(courier_db: Any) -> None:
    """The one-open-batch rule holds in the database itself (unique partial index)."""
    with courier_db() as s:
        _fill(s, county=1, out=0)
        s.commit()
        result = _cut(s)
        s.commit()
        parcel = s.scalars(select(Parcel)).one()
        s.add(Parcel(batch_id=result.batch_ids[0], certificate_id=parcel.certificate_id, seq=2))
        with pytest.raises(IntegrityError):
            s.flush()


def test_most_urgent_go_first_and_a_left_out_one_is_flagged_at_risk(courier_db: Any) -> None:
    """With one run allowed, the most urgent parcels go; one left out that is due today is
    at risk once the day's last cut-off has passed, the ones due next week are not."""
    with courier_db() as s:
        later = [finish(s, i, promised_date=date(2026, 6, 9)) for i in range(3)]
        today = [finish(s, 10 + i, promised_date=date(2026, 6, 1)) for i in range(5)]
        s.commit()
        result = _cut(s, settings=settings(run_capacity=4, max_runs_per_cutoff=1), at=AFTERNOON)
        s.commit()
        assert result.runs == 1 and len(result.left_ready) == 4
        sent = set(s.scalars(select(Parcel.certificate_id)))
        assert sent == {c.id for c in today[:4]}
        st, evening = settings(), AFTERNOON + timedelta(hours=1)
        left_today = s.get_one(Certificate, today[4].id)
        assert risk.at_risk(left_today, None, now=evening, settings=st, calendar=CALENDAR)
        kept = s.get_one(Certificate, later[0].id)
        assert not risk.at_risk(kept, None, now=evening, settings=st, calendar=CALENDAR)


def test_at_risk_flag_appears_when_the_last_useful_cutoff_passes(courier_db: Any) -> None:
    """An out-of-county certificate due in two working days is at risk from the moment
    the day's last cut-off has passed, not before."""
    with courier_db() as s:
        cert = finish(s, 1, out=True, promised_date=date(2026, 6, 3))
        s.commit()
        st = settings()
        before = AFTERNOON - timedelta(minutes=1)
        after = AFTERNOON + timedelta(minutes=1)
        assert not risk.at_risk(cert, None, now=before, settings=st, calendar=CALENDAR)
        assert risk.at_risk(cert, None, now=after, settings=st, calendar=CALENDAR)


_CHILD = """
import os, signal, sys
from datetime import datetime
from guide.catalog import load
from scheduler import db
from scheduler.courier.cutoff import run_cutoff
from scheduler.courier.settings import CourierSettings

url, cut, now, die = sys.argv[1:]
engine = db.make_engine(url)
_, write = db.session_factories(engine)

def step(name):
    if name == die:
        os.kill(os.getpid(), signal.SIGKILL)

with write() as s:
    run_cutoff(s, "county-hall", datetime.fromisoformat(cut), datetime.fromisoformat(now),
               catalog=load(), settings=CourierSettings(solver_time_limit_s=None,
               solver_branch_limit=2000), on_step=step)
    s.commit()
print("committed")
"""


@pytest.mark.parametrize("die_at", ["grouped", "saved"])
def test_job_killed_between_steps_then_rerun_loses_and_doubles_nothing(
    courier_db: Any, db_url: str, die_at: str
) -> None:
    """A cut-off process killed after grouping (or after writing, before its commit) saves
    nothing; the rerun batches every certificate exactly once; a third run does nothing."""
    with courier_db() as s:
        _fill(s, county=12, out=3)
        s.commit()
    url = db_url.replace("postgresql://", "postgresql+psycopg://", 1)
    args = [MORNING.isoformat(), (NOW + timedelta(hours=2)).isoformat()]
    killed = subprocess.run(
        [sys.executable, "-c", _CHILD, url, *args, die_at], capture_output=True, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    with courier_db() as s:
        assert s.scalar(select(func.count()).select_from(Batch)) == 0
        assert s.scalar(select(func.count()).select_from(CutoffClaim)) == 0
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, url, *args, "never"], capture_output=True, timeout=120
    )
    assert done.returncode == 0 and b"committed" in done.stdout, done.stderr.decode()[-2000:]
    with courier_db() as s:
        _assert_one_open_batch_each(s, 15)
        batches = s.scalar(select(func.count()).select_from(Batch))
        again = _cut(s)
        s.commit()
        assert again.already_run
        assert s.scalar(select(func.count()).select_from(Batch)) == batches
        _assert_one_open_batch_each(s, 15)


def test_cutoff_key_names_office_and_local_time() -> None:
    """The claim key is `cutoff:<office>:<local date>T<local time>`."""
    assert cutoff_key("county-hall", MORNING.astimezone(TZ)) == (
        "cutoff:county-hall:2026-06-01T10:30"
    )


def test_second_run_saving_the_same_cutoff_first_makes_this_one_fail_whole(
    courier_db: Any,
) -> None:
    """PostgreSQL: another run claims the cut-off while this one groups; this run's
    transaction fails on the claim and leaves nothing. (On SQLite a writer holds the write
    lock from its first statement, so a second run waits and then finds the claim.)"""
    with courier_db() as s:
        if s.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite serialises writers: covered by the rerun tests")
        _fill(s, county=3, out=1)
        s.commit()

    def other_run_claims(step: str) -> None:
        if step == "grouped":
            with courier_db() as other:
                other.add(
                    CutoffClaim(
                        key=cutoff_key("county-hall", MORNING),
                        office_code="county-hall",
                        cutoff_at=MORNING.replace(tzinfo=None),
                        claimed_at=NOW.replace(tzinfo=None),
                        batches=0,
                        certificates=0,
                    )
                )
                other.commit()

    with courier_db() as s:
        with pytest.raises(IntegrityError):
            _cut(s, on_step=other_run_claims)
        s.rollback()
        assert s.scalar(select(func.count()).select_from(Batch)) == 0
        ready = s.scalar(
            select(func.count()).select_from(Certificate).where(Certificate.status == "ready")
        )
        assert ready == 4
