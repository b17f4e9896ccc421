"""Jobs and the run ledger: exactly once, also across processes and after a crash."""

from __future__ import annotations

import multiprocessing
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from booking_support import NOW, small_catalog, test_keyring, test_settings
from ops_support import EVENING, VISIT_DAY, book, clear_ledger, runtime
from sqlalchemy import func, select, update

from scheduler import db, jobs, ledger
from scheduler.booking import SYSTEM
from scheduler.models import Booking, Slot
from scheduler.planning.models import PlanVersion, ReplanRequest
from scheduler.settings import TZ


@pytest.fixture
def rt(engine: Any, seeded: Any, service: Any) -> jobs.Runtime:
    clear_ledger(engine)
    with seeded() as s:
        s.execute(update(Slot).values(capacity=8))
        book(service, s, n=3, towns=["331126001", "331126002"])
        s.commit()
    return runtime(engine, service)


def versions(rt: jobs.Runtime) -> int:
    with rt.read_session() as s:
        return int(s.scalar(select(func.count()).select_from(PlanVersion)) or 0)


def test_claim_is_unique_per_job_and_key(rt: jobs.Runtime) -> None:
    """The first claim wins; a second owner gets nothing while the lease holds."""
    with rt.write_session() as s:
        assert ledger.claim(s, "plan", "k", now=NOW, owner="a")
        assert not ledger.claim(s, "plan", "k", now=NOW, owner="b")
        assert ledger.claim(s, "plan", "other", now=NOW, owner="b")


def test_expired_claim_is_taken_over_and_the_old_owner_cannot_complete(rt: jobs.Runtime) -> None:
    """After the lease a new owner takes the claim; the first owner's completion fails."""
    with rt.write_session() as s:
        assert ledger.claim(s, "plan", "k", now=NOW, owner="a")
        assert ledger.claim(s, "plan", "k", now=NOW + timedelta(hours=1), owner="b")
        with pytest.raises(ledger.LostClaim):
            ledger.complete(s, "plan", "k", now=NOW, owner="a")
        s.rollback()
        ledger.complete(s, "plan", "k", now=NOW, owner="b")
        s.commit()
        assert not ledger.claim(s, "plan", "k", now=NOW + timedelta(days=1), owner="c")


def test_nightly_plan_runs_once_with_a_fixed_clock(rt: jobs.Runtime) -> None:
    """Monday 17:31: plans Tuesday; a second call (same or another owner) plans nothing."""
    first = jobs.nightly_plan(rt, now=EVENING)
    assert first is not None
    assert jobs.nightly_plan(rt, now=EVENING + timedelta(minutes=5)) is None
    other = runtime(rt.read_session.kw["bind"], rt.service)
    assert jobs.nightly_plan(other, now=EVENING) is None
    with rt.read_session() as s:
        v = s.get(PlanVersion, first)
        assert v is not None and v.date == VISIT_DAY and v.kind == "nightly"
    assert versions(rt) == 1


def test_no_nightly_plan_on_a_day_off(rt: jobs.Runtime) -> None:
    """Saturday 17:31 (not a working day): nothing is planned."""
    saturday = datetime(2026, 6, 6, 9, 31, tzinfo=NOW.tzinfo)
    assert jobs.nightly_plan(rt, now=saturday) is None
    assert versions(rt) == 0


class Killed(BaseException):
    """Stands for the process being killed (not an Exception: nothing catches it)."""


def test_killed_between_steps_leaves_no_plan_and_the_restart_plans_once(rt: jobs.Runtime) -> None:
    """A run killed after solving stores nothing; a restart after the lease plans once."""

    def die() -> None:
        raise Killed

    crashing = runtime(rt.read_session.kw["bind"], rt.service, between_steps=die)
    with pytest.raises(Killed):
        jobs.nightly_plan(crashing, now=EVENING)
    assert versions(rt) == 0
    with rt.read_session() as s:
        assert ledger.status(s, "plan", f"nightly:{VISIT_DAY}") == ledger.RUNNING
    # Restarted at once: the dead run's claim still holds, nothing runs twice.
    assert jobs.replan_requests(rt, now=EVENING + timedelta(minutes=1)) == 0
    assert versions(rt) == 0
    # After the lease the poll's catch-up makes the evening's plan, once.
    jobs.replan_requests(rt, now=EVENING + timedelta(minutes=20))
    jobs.replan_requests(rt, now=EVENING + timedelta(minutes=21))
    assert versions(rt) == 1
    with rt.read_session() as s:
        assert ledger.status(s, "plan", f"nightly:{VISIT_DAY}") == ledger.DONE


def test_killed_while_storing_leaves_no_half_written_plan(
    rt: jobs.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after the version row is flushed but before the commit writes nothing."""
    from scheduler.planning import service as planning

    real = planning.store

    def store_then_die(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise Killed

    monkeypatch.setattr(planning, "store", store_then_die)
    with pytest.raises(Killed):
        jobs.nightly_plan(rt, now=EVENING)
    assert versions(rt) == 0


def test_failed_run_may_be_retried(rt: jobs.Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that fails with an error marks its claim failed; the next run plans."""
    from scheduler.planning import service as planning

    real = planning.compute
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("solver crashed")
        return real(*args, **kwargs)

    monkeypatch.setattr(planning, "compute", flaky)
    with pytest.raises(RuntimeError):
        jobs.nightly_plan(rt, now=EVENING)
    assert jobs.nightly_plan(rt, now=EVENING) is not None
    assert versions(rt) == 1


def test_replan_request_is_carried_out_once(rt: jobs.Runtime) -> None:
    """A queued request gets a new version and is marked done; polling again does nothing."""
    with rt.write_session() as s:
        s.add(ReplanRequest(date=VISIT_DAY, requested_at=db_naive(NOW)))
        s.commit()
    assert jobs.replan_requests(rt, now=NOW) == 1
    assert jobs.replan_requests(rt, now=NOW) == 0
    with rt.read_session() as s:
        req = s.scalars(select(ReplanRequest)).one()
        assert req.status == "done" and req.version_id is not None
    assert versions(rt) == 1


def db_naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def _run_nightly(url: str, barrier: Any, out: Any) -> None:
    from scheduler.booking import BookingService
    from scheduler.protect import Protector

    engine = db.make_engine(url)
    service = BookingService(small_catalog(), test_settings(), Protector(test_keyring()))
    rt = runtime(engine, service)
    barrier.wait()
    out.put(jobs.nightly_plan(rt, now=EVENING))
    engine.dispose()


@pytest.mark.slow
def test_two_scheduler_processes_plan_once(rt: jobs.Runtime, db_url: str) -> None:
    """Two processes running the nightly job at the same moment store one plan."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    out = ctx.Queue()
    procs = [ctx.Process(target=_run_nightly, args=(db_url, barrier, out)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    results = sorted([out.get(timeout=5), out.get(timeout=5)], key=lambda r: r is None)
    assert results[0] is not None and results[1] is None
    assert versions(rt) == 1


def test_reminders_queue_once_for_the_next_working_day(rt: jobs.Runtime) -> None:
    """Reminders for Tuesday's scheduled visits are queued once on Monday evening."""
    from scheduler.booking import SYSTEM as SYSTEM_ACTOR_FOR_TESTS
    from scheduler.booking.capacity import clerks_on_shift
    from scheduler.models import Booking, Status
    from scheduler.notify.models import Notice

    with rt.write_session() as s:
        for b in s.scalars(select(Booking)):
            (clerk,) = clerks_on_shift(s, b.zone_code, b.date, b.half_day)
            rt.service.schedule(
                s,
                b,
                clerk_id=clerk.id,
                start=datetime(2026, 6, 2, 9, 0, tzinfo=TZ),
                end=datetime(2026, 6, 2, 10, 0, tzinfo=TZ),
                now=NOW,
                actor=SYSTEM_ACTOR_FOR_TESTS,
            )
        s.commit()
        assert (
            s.scalar(
                select(func.count()).select_from(Booking).where(Booking.status == Status.SCHEDULED)
            )
            == 3
        )
    assert jobs.reminders(rt, now=EVENING) == 3
    assert jobs.reminders(rt, now=EVENING) == 0
    with rt.read_session() as s:
        assert (
            s.scalar(select(func.count()).select_from(Notice).where(Notice.kind == "reminder")) == 3
        )
    assert date(2026, 6, 2) == VISIT_DAY


def test_retention_erases_old_personal_data_and_plan_versions_once_a_day(
    rt: jobs.Runtime,
) -> None:
    """Over 180 days on, a cancelled booking loses its personal data and plan versions of
    the date go (they hold residents' coordinates); open bookings and newer data stay."""
    jobs.nightly_plan(rt, now=EVENING)
    with rt.write_session() as s:
        cancelled = s.scalars(select(Booking).order_by(Booking.id)).first()
        assert cancelled is not None
        rt.service.cancel(s, cancelled, now=NOW, actor=SYSTEM)
        s.commit()
    assert jobs.retention(rt, now=EVENING)["plan versions"] == 0
    assert versions(rt) == 1
    later = EVENING + timedelta(days=182)
    assert jobs.retention(rt, now=later) == {
        "bookings": 1,
        "certificates": 0,
        "stored answers": 0,
        "plan versions": 1,
    }
    assert jobs.retention(rt, now=later) == {}
    assert versions(rt) == 0
    with rt.read_session() as s:
        phones = {i: p for i, p in s.execute(select(Booking.id, Booking.phone_masked))}
    assert phones.pop(cancelled.id) == "已删除"
    assert phones and "已删除" not in phones.values()
