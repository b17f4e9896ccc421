"""The run ledger: a job run for a key (``plan:2026-12-03``) is claimed before it acts.

``claim`` inserts the row ``(job, key)`` — unique in the database — and is committed on
its own, so a second scheduler process started by mistake finds the claim and runs
nothing. The run's effects and ``complete`` are then written in ONE transaction that
also checks the claim is still ours: a run killed between the two leaves a claim that
is ``running`` and never completed; once its lease has expired another run may take it
over (``claim`` again) and do the work once.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Integer, String, UniqueConstraint, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from scheduler.db import Base

RUNNING, DONE, FAILED = "running", "done", "failed"
DEFAULT_LEASE = timedelta(minutes=15)


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "key", name="uq_job_runs_job_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(10))
    owner: Mapped[str] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    claimed_at: Mapped[datetime] = mapped_column(DateTime)  # UTC, naive
    lease_until: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    detail: Mapped[str] = mapped_column(String(200), default="")  # never personal data


class LostClaim(RuntimeError):
    """The claim was taken over (our lease expired): the run's effects must not commit."""


def new_owner() -> str:
    return secrets.token_hex(8)


def _naive(moment: datetime) -> datetime:
    from scheduler.booking import utc_naive  # the booking side's one definition

    return utc_naive(moment)


def claim(
    session: Session,
    job: str,
    key: str,
    *,
    now: datetime,
    owner: str,
    lease: timedelta = DEFAULT_LEASE,
) -> bool:
    """Claim ``(job, key)`` for ``owner``; False if done or held by a live claim.

    Commits (the claim must be visible to other processes before the run acts).
    """
    at = _naive(now)
    run = JobRun(
        job=job, key=key, status=RUNNING, owner=owner, claimed_at=at, lease_until=at + lease
    )
    session.add(run)
    try:
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
    # Taken before: over only if it failed or its holder's lease ran out.
    taken = session.execute(
        update(JobRun)
        .where(
            JobRun.job == job,
            JobRun.key == key,
            (JobRun.status == FAILED) | ((JobRun.status == RUNNING) & (JobRun.lease_until < at)),
        )
        .values(
            status=RUNNING,
            owner=owner,
            claimed_at=at,
            lease_until=at + lease,
            attempts=JobRun.attempts + 1,
        )
    )
    session.commit()
    return bool(taken.rowcount)  # type: ignore[attr-defined]


def complete(
    session: Session, job: str, key: str, *, now: datetime, owner: str, detail: str = ""
) -> None:
    """Mark the run done inside the caller's transaction (which commits the effects too);
    raise LostClaim if the claim is no longer ours."""
    done = session.execute(
        update(JobRun)
        .where(
            JobRun.job == job, JobRun.key == key, JobRun.owner == owner, JobRun.status == RUNNING
        )
        .values(status=DONE, finished_at=_naive(now), detail=detail[:200])
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        raise LostClaim(f"{job}:{key} is no longer claimed by {owner}")


def fail(session: Session, job: str, key: str, *, now: datetime, owner: str, detail: str) -> None:
    """Give the claim up after an error (commits): a later run may try again."""
    session.rollback()
    session.execute(
        update(JobRun)
        .where(JobRun.job == job, JobRun.key == key, JobRun.owner == owner)
        .values(status=FAILED, finished_at=_naive(now), detail=detail[:200])
    )
    session.commit()


def status(session: Session, job: str, key: str) -> str | None:
    return session.scalar(select(JobRun.status).where(JobRun.job == job, JobRun.key == key))
