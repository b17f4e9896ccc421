"""Tables of planning: versioned plans, the dispatcher's adjustments and re-plan requests,
and what a clerk recorded on the visit (actual times)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base

DRAFT, PUBLISHED = "draft", "published"


class PlanVersion(Base):
    """One plan of a date. Versions are never changed after they are written, except
    ``status``/``published_at``; an edit or a re-plan writes the next version.

    ``problem_json`` is the routing problem's inputs (visits, clerks), so that an edit
    can be checked against exactly what was planned; ``plan_json`` the routes and the
    unassigned visits with their explanations; ``figures_json`` the summary figures.
    Ids in them are booking ids and clerk ids; no personal data.
    """

    __tablename__ = "plan_versions"
    __table_args__ = (UniqueConstraint("date", "version", name="uq_plan_versions_date_version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    date: Mapped[date] = mapped_column(Date, index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))  # nightly | replan | edit | manual
    status: Mapped[str] = mapped_column(String(12), default=DRAFT)
    based_on: Mapped[int | None] = mapped_column(Integer)  # the version it started from
    engine: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)  # UTC, naive
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    solve_ms: Mapped[int] = mapped_column(Integer, default=0)
    problem_json: Mapped[str] = mapped_column(Text)
    plan_json: Mapped[str] = mapped_column(Text)
    figures_json: Mapped[str] = mapped_column(Text)


class Adjustment(Base):
    """A dispatcher's standing instruction for a date's plans: a visit pinned to a clerk,
    or a clerk absent. Re-plans honour the active ones."""

    __tablename__ = "plan_adjustments"
    __table_args__ = (Index("ix_plan_adjustments_date", "date"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(8))  # pin | absent
    clerk_id: Mapped[int] = mapped_column(ForeignKey("clerks.id"))
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))


class ReplanRequest(Base):
    """A re-plan asked for on the dispatcher's page, carried out by the scheduler process."""

    __tablename__ = "replan_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    date: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(10), default="queued")  # queued|running|done|failed
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    requested_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("plan_versions.id"))
    error: Mapped[str] = mapped_column(String(200), default="")


class VisitRecord(Base):
    """What the clerk recorded at the door: when they arrived and when they finished."""

    __tablename__ = "visit_records"
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), primary_key=True)
    clerk_id: Mapped[int | None] = mapped_column(ForeignKey("clerks.id"))
    arrived_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    outcome: Mapped[str] = mapped_column(String(12), default="")  # done | missed | moved
