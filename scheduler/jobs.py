"""The scheduler process: APScheduler 3 jobs, each made exactly-once by the run ledger.

Run with ``onetrip scheduler`` or ``python -m scheduler``; never inside web workers (a
scheduler started in gunicorn runs once per worker). ``onetrip scheduler --once JOB``
runs one job now. Job functions take the runtime and ``now``; only ``_tick`` wrappers
read the clock.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from routing.solver import SolveParams, Solver
from scheduler import ledger
from scheduler.booking import purge_finished, purge_idempotency
from scheduler.courier import notices as courier_notices
from scheduler.courier.cutoff import CutoffConflict, due_cutoffs, run_cutoff
from scheduler.courier.retention import purge_delivered
from scheduler.courier.settings import CourierSettings
from scheduler.notify import outbox
from scheduler.planning import bookings as bk
from scheduler.planning import service as planning
from scheduler.planning.models import ReplanRequest
from scheduler.settings import TZ
from scheduler.workdays import WorkCalendar

log = logging.getLogger(__name__)
NIGHTLY_AT = time(17, 30)  # after the 17:00 booking cut-off
REMIND_AT = time(18, 0)
JOB_DEFAULTS = {
    "coalesce": True,  # a backlog of missed runs runs once
    "max_instances": 1,
    # The default 1 s silently skips a nightly run that starts a second late.
    "misfire_grace_time": 6 * 3600,
}


@dataclass
class Runtime:
    """What jobs need: sessions, the booking service, the calendar, a sender, the solver."""

    read_session: sessionmaker[Session]
    write_session: sessionmaker[Session]
    service: bk.BookingService
    calendar: WorkCalendar
    sender: outbox.Sender = field(default_factory=outbox.LogSender)
    params: SolveParams = field(default_factory=planning.default_params)
    solver: Solver | None = None
    owner: str = field(default_factory=ledger.new_owner)
    courier: CourierSettings = field(default_factory=CourierSettings)
    # Test seam: called between computing and storing a plan (a crash lands there).
    between_steps: Callable[[], None] = lambda: None

    @property
    def catalog(self) -> Any:
        return self.service.catalog


class WorkingDayTrigger(BaseTrigger):  # type: ignore[misc]
    """Fires at ``at`` (Shanghai) on working days only (holidays skipped, 调休 included)."""

    def __init__(self, at: time, calendar: WorkCalendar) -> None:
        self.at = at
        self.calendar = calendar
        self._cron = CronTrigger(hour=at.hour, minute=at.minute, timezone=TZ)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire: datetime | None = self._cron.get_next_fire_time(previous_fire_time, now)
        for _ in range(60):
            if fire is None or self.calendar.is_working_day(fire.astimezone(TZ).date()):
                return fire
            fire = self._cron.get_next_fire_time(fire, fire + timedelta(seconds=1))
        return None

    def __str__(self) -> str:
        return f"working days at {self.at:%H:%M}"


def local(now: datetime) -> datetime:
    return now.astimezone(TZ)


def plan_date_for(calendar: WorkCalendar, now: datetime) -> date:
    """The date the evening's plan is for: the next working day."""
    return calendar.next_working_day(local(now).date())


# -- jobs ---------------------------------------------------------------------------------


def run_plan(rt: Runtime, day: date, *, now: datetime, kind: str, key: str) -> int | None:
    """Plan ``day`` once for ledger ``key``: the version id, or None if already done or
    held by another live run."""
    with rt.write_session() as s:
        if not ledger.claim(s, "plan", key, now=now, owner=rt.owner):
            log.info("plan %s: claimed or done already; nothing to do", key)
            return None
    try:
        with rt.read_session() as s:
            computed = planning.compute(
                s, day, catalog=rt.catalog, params=rt.params, solver=rt.solver
            )
        rt.between_steps()
        with rt.write_session() as s:
            version = planning.store(s, computed, now=now, kind=kind)
            ledger.complete(s, "plan", key, now=now, owner=rt.owner, detail=f"v{version.version}")
            s.commit()
            figs = computed.figures
            log.info(
                "plan %s v%s: %s/%s served, %s km, solved in %s ms",
                day,
                version.version,
                figs["served"],
                figs["booked"],
                figs["travel_km"],
                computed.solve_ms,
            )
            return version.id
    except ledger.LostClaim:
        log.warning("plan %s: claim taken over; this run's plan was not stored", key)
        return None
    except Exception as err:
        with rt.write_session() as s:
            ledger.fail(s, "plan", key, now=now, owner=rt.owner, detail=type(err).__name__)
        raise


def nightly_plan(rt: Runtime, *, now: datetime) -> int | None:
    """The plan for the next working day, once (no plan made on a day off)."""
    if not rt.calendar.is_working_day(local(now).date()):
        log.info("nightly plan: %s is a day off", local(now).date())
        return None
    day = plan_date_for(rt.calendar, now)
    return run_plan(rt, day, now=now, kind="nightly", key=f"nightly:{day.isoformat()}")


def replan_requests(rt: Runtime, *, now: datetime) -> int:
    """Carry out queued re-plan requests (each once); catch up a missed nightly plan."""
    done = 0
    with rt.read_session() as s:
        queued = list(
            s.scalars(
                select(ReplanRequest.id)
                .where(ReplanRequest.status.in_(("queued", "running")))
                .order_by(ReplanRequest.id)
            )
        )
    for request_id in queued:
        with rt.write_session() as s:
            req = s.get(ReplanRequest, request_id)
            assert req is not None
            req.status = "running"
            day = req.date
            s.commit()
        try:
            version_id = run_plan(rt, day, now=now, kind="replan", key=f"replan:{request_id}")
        except Exception as err:
            with rt.write_session() as s:
                req = s.get(ReplanRequest, request_id)
                assert req is not None
                req.status, req.error = "failed", type(err).__name__
                req.finished_at = bk.utc_naive(now)
                s.commit()
            log.exception("re-plan request %s failed", request_id)
            continue
        if version_id is None:
            with rt.read_session() as s:
                state = ledger.status(s, "plan", f"replan:{request_id}")
            if state != ledger.DONE:
                continue  # another live run holds it; looked at again on the next poll
        with rt.write_session() as s:
            req = s.get(ReplanRequest, request_id)
            assert req is not None
            req.status = "done"
            req.version_id = version_id or req.version_id
            req.finished_at = bk.utc_naive(now)
            s.commit()
        done += 1
    # A scheduler that was down (or killed) at 17:30 makes the evening's plan when back.
    at = local(now)
    if rt.calendar.is_working_day(at.date()) and at.time() >= NIGHTLY_AT:
        with rt.read_session() as s:
            day = plan_date_for(rt.calendar, now)
            state = ledger.status(s, "plan", f"nightly:{day.isoformat()}")
        if state != ledger.DONE:
            nightly_plan(rt, now=now)
    return done


def reminders(rt: Runtime, *, now: datetime) -> int:
    """The evening-before reminders for the next working day's visits, once."""
    if not rt.calendar.is_working_day(local(now).date()):
        return 0
    day = plan_date_for(rt.calendar, now)
    key = day.isoformat()
    with rt.write_session() as s:
        if not ledger.claim(s, "remind", key, now=now, owner=rt.owner):
            return 0
        n = outbox.remind(s, rt.service, day, now=now)
        ledger.complete(s, "remind", key, now=now, owner=rt.owner, detail=f"{n} queued")
        s.commit()
    return n


def drain_outbox(rt: Runtime, *, now: datetime) -> dict[str, int]:
    """Send due booking notices, then due courier notices, through ``rt.sender``."""
    with rt.write_session() as s:
        outbox.scan(s, rt.service, now=now)
        s.commit()
        counts = outbox.drain(s, rt.sender, rt.service, now=now)
        sent = courier_notices.drain(s, rt.sender, rt.service.protector, now=now)
        return {k: counts[k] + sent[k] for k in counts}


RETAIN_DAYS = 180  # as `onetrip purge --days` by default


def retention(rt: Runtime, *, now: datetime) -> dict[str, int]:
    """Once a day, what `onetrip purge` does and more: erase the personal data of bookings
    finished and certificates delivered more than RETAIN_DAYS ago, delete stored
    Idempotency-Key answers past a day and plan versions of dates more than RETAIN_DAYS
    past (they hold the visits' coordinates). All in one transaction with the claim."""
    key = local(now).date().isoformat()
    with rt.write_session() as s:
        if not ledger.claim(s, "retention", key, now=now, owner=rt.owner):
            return {}
        done = {
            "bookings": purge_finished(s, now=now, older_than_days=RETAIN_DAYS),
            "certificates": purge_delivered(s, now=now, older_than_days=RETAIN_DAYS),
            "stored answers": purge_idempotency(s, now=now),
            "plan versions": planning.purge_versions(
                s, today=local(now).date(), older_than_days=RETAIN_DAYS
            ),
        }
        detail = ", ".join(f"{n} {what}" for what, n in done.items())
        ledger.complete(s, "retention", key, now=now, owner=rt.owner, detail=detail)
        s.commit()
    return done


def courier_offices(settings: CourierSettings) -> list[str]:
    """Offices whose cut-offs batch certificates: the depot and every dispatch office."""
    named = {o for o in settings.cutoffs if o != "*"} | set(settings.dispatch_offices.values())
    return sorted({settings.depot_office} | named)


def courier_cutoffs(rt: Runtime, *, now: datetime) -> int:
    """Every cut-off of today that has passed: batch its ready certificates, once.

    ``run_cutoff`` claims the cut-off in the same transaction as its batches, so a rerun,
    a second scheduler or a restart after a crash saves nothing twice.
    """
    saved = 0
    for office in courier_offices(rt.courier):
        for moment in due_cutoffs(rt.courier, rt.calendar, office, now):
            with rt.write_session() as s:
                try:
                    result = run_cutoff(
                        s, office, moment, now, catalog=rt.catalog, settings=rt.courier
                    )
                    s.commit()
                except (CutoffConflict, IntegrityError):
                    # Another run saved this cut-off first, or certificates changed while
                    # grouping: nothing of this run is kept; the next tick sees what was saved.
                    s.rollback()
                    log.warning("courier cut-off %s %s not saved; retried", office, moment)
                    continue
            if not result.already_run:
                saved += 1
                log.info(
                    "courier cut-off %s: %d run(s), %d EMS batch(es), %d certificate(s)",
                    result.key,
                    result.runs,
                    result.ems,
                    result.certificates,
                )
    return saved


JOBS: dict[str, Callable[..., Any]] = {
    "courier-cutoffs": courier_cutoffs,
    "retention": retention,
    "nightly-plan": nightly_plan,
    "replan-requests": replan_requests,
    "reminders": reminders,
    "outbox": drain_outbox,
}


def _tick(job: Callable[..., Any], rt: Runtime) -> Callable[[], None]:
    def run() -> None:
        try:
            job(rt, now=datetime.now(UTC))
        except Exception:
            log.exception("job %s failed", job.__name__)

    run.__name__ = run.__qualname__ = job.__name__
    return run


def build(rt: Runtime, scheduler: BaseScheduler | None = None) -> BaseScheduler:
    """The scheduler with every job added (not started)."""
    sched = scheduler or BlockingScheduler(timezone=TZ, job_defaults=JOB_DEFAULTS)
    sched.add_job(
        _tick(nightly_plan, rt), WorkingDayTrigger(NIGHTLY_AT, rt.calendar), id="nightly-plan"
    )
    sched.add_job(_tick(reminders, rt), WorkingDayTrigger(REMIND_AT, rt.calendar), id="reminders")
    sched.add_job(
        _tick(replan_requests, rt), IntervalTrigger(seconds=5, timezone=TZ), id="replan-requests"
    )
    sched.add_job(_tick(drain_outbox, rt), IntervalTrigger(seconds=30, timezone=TZ), id="outbox")
    # Cut-offs fall on the minute (10:30, 15:30 by default); working days only.
    sched.add_job(
        _tick(courier_cutoffs, rt), IntervalTrigger(seconds=60, timezone=TZ), id="courier-cutoffs"
    )
    sched.add_job(_tick(retention, rt), CronTrigger(hour=3, minute=0, timezone=TZ), id="retention")
    return sched


def run_forever(rt: Runtime) -> None:
    sched = build(rt)

    def stop(_sig: int, _frame: Any) -> None:
        sched.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    log.info("scheduler: %s", ", ".join(f"{j.id} ({j.trigger})" for j in sched.get_jobs()))
    sched.start()
