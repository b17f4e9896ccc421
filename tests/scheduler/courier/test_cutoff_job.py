"""The scheduler's courier job: every passed cut-off of a working day batches once."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from courier_support import finish, real_catalog, settings
from sqlalchemy import func, select

from scheduler import jobs, workdays
from scheduler.courier.models import Batch, Certificate, CertStatus
from scheduler.settings import TZ


def runtime(write: Any) -> jobs.Runtime:
    service: Any = SimpleNamespace(catalog=real_catalog())
    return jobs.Runtime(
        read_session=write,
        write_session=write,
        service=service,
        calendar=workdays.load(),
        courier=settings(),
    )


def statuses(write: Any) -> list[str]:
    with write() as s:
        return sorted(str(c.status) for c in s.scalars(select(Certificate)))


def batches(write: Any) -> int:
    with write() as s:
        return int(s.scalar(select(func.count()).select_from(Batch)) or 0)


def test_job_batches_each_passed_cutoff_once(courier_db: Any) -> None:
    """After 10:30 on a working day the job batches every ready certificate, and only once."""
    with courier_db() as s:
        finish(s, 1)
        finish(s, 2, out=True)
        s.commit()
    rt = runtime(courier_db)
    before = datetime(2026, 6, 1, 10, 0, tzinfo=TZ)
    assert jobs.courier_cutoffs(rt, now=before) == 0
    assert statuses(courier_db) == ["ready", "ready"]

    after = datetime(2026, 6, 1, 10, 31, tzinfo=TZ)
    assert jobs.courier_cutoffs(rt, now=after) == 1
    assert statuses(courier_db) == [CertStatus.BATCHED, CertStatus.BATCHED]
    made = batches(courier_db)
    assert made == 2  # one delivery run, one EMS hand-over

    assert jobs.courier_cutoffs(rt, now=after) == 0
    assert batches(courier_db) == made


def test_job_does_nothing_on_a_holiday(courier_db: Any) -> None:
    """National Day is no working day: no cut-off runs and certificates stay ready."""
    with courier_db() as s:
        finish(s, 1)
        s.commit()
    holiday = datetime(2026, 10, 1, 16, 0, tzinfo=TZ)
    assert jobs.courier_cutoffs(runtime(courier_db), now=holiday) == 0
    assert statuses(courier_db) == ["ready"]


def test_scheduler_registers_the_courier_job() -> None:
    """The scheduler process carries the cut-off job, runnable with --once."""
    assert "courier-cutoffs" in jobs.JOBS
