"""`BookingService`: the catalog, settings and keys the booking rules need, with the
operations as methods (each a thin call of the module function that holds the rule)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from scheduler.booking import audit, capacity, dates, eligibility, lookup, operations
from scheduler.booking.audit import RESIDENT_WEB, Actor
from scheduler.booking.capacity import CapacityRule, Db, PerClerk, SkillNeed, SlotView
from scheduler.booking.eligibility import Eligibility
from scheduler.booking.places import Place, PlaceFinder
from scheduler.models import Booking, Status
from scheduler.protect import Protector
from scheduler.schemas import BookingRequest
from scheduler.settings import BookingSettings


class BookingService:
    """Booking rules over a catalog (items, offices, townships), settings and data keys.

    One object per app (the web extension makes it); every channel calls the same
    methods. They take a Session (or, for `create`, a Connection) and `now`, and never
    commit.
    """

    def __init__(
        self,
        catalog: Any,
        settings: BookingSettings,
        protector: Protector,
        geocoder: Any = None,
        *,
        capacity_rule: CapacityRule | None = None,
    ) -> None:
        self.catalog = catalog
        self.settings = settings
        self.protector = protector
        self.geocoder = geocoder
        self.places = PlaceFinder(catalog, geocoder)
        # Where the places of a slot come from; the web app, the CLI and the demo inject
        # the plan-aware rule (scheduler.planning.capacity.PlanCapacity).
        self.capacity_rule: CapacityRule = capacity_rule or PerClerk(
            settings.visits_per_clerk_half_day
        )
        # What each item's booking takes of its skill's time (the catalog does not change).
        self._needs: dict[str, SkillNeed | None] = (
            {code: capacity.skill_need(catalog, code) for code in catalog.items}
            if self.capacity_rule.skill_aware
            else {}
        )

    # -- capacity -------------------------------------------------------------------------

    def need(self, item_code: str) -> SkillNeed | None:
        """The skill whose places a booking of the item takes, when the rule bounds it."""
        return self._needs.get(item_code)

    def one_statement(self, item_code: str) -> bool:
        """Whether creating a booking of the item is one statement on PostgreSQL (so may
        run in autocommit); a skill bound needs a transaction."""
        return self.need(item_code) is None

    def sync_day(self, session: Session, day: date) -> None:
        """Recompute every slot's places of the date (after shifts or absences change)."""
        capacity.sync_day(session, day, self.capacity_rule)

    def add_shift(
        self, session: Session, clerk_id: int, zone: str, day: date, half_day: str
    ) -> Any:
        return capacity.add_shift(session, clerk_id, zone, day, half_day, self.capacity_rule)

    # -- dates and reference data ---------------------------------------------------------

    def cutoff_for(self, day: date) -> datetime:
        return dates.cutoff_for(self.settings, day)

    def first_bookable(self, now: datetime) -> date:
        return dates.first_bookable(self.settings, now)

    def last_bookable(self, now: datetime) -> date:
        return dates.last_bookable(self.settings, now)

    def check_date(self, day: date, now: datetime, *, staff: bool = False) -> None:
        dates.check_date(self.settings, day, now, staff=staff)

    def item(self, code: str) -> Any:
        return eligibility.item(self.catalog, code)

    def township(self, code: str) -> Any:
        return eligibility.township(self.catalog, code)

    def zone_of(self, db: Db, town_code: str) -> str:
        return capacity.zone_of(db, town_code)

    def nearest_station(self, item: Any, town_code: str) -> dict[str, str] | None:
        return eligibility.nearest_station(self.catalog, item, town_code)

    def eligibility(
        self, *, age: int, reason: str, disability_grade: int | None
    ) -> Eligibility | None:
        return eligibility.eligibility(
            self.settings, age=age, reason=reason, disability_grade=disability_grade
        )

    def slots(
        self,
        session: Session,
        town_code: str,
        now: datetime,
        *,
        staff: bool = False,
        item: str | None = None,
    ) -> list[SlotView]:
        """The zone's half-days; with ``item``, the places left for that item's skill."""
        eligibility.township(self.catalog, town_code)
        need = self.need(item) if item else None
        return capacity.slots(session, self.settings, town_code, now, staff=staff, need=need)

    def _locate(self, town_code: str, village: str) -> Place:
        return self.places.locate(town_code, village)

    # -- operations -------------------------------------------------------------------------

    def create(
        self, db: Db, req: BookingRequest, *, now: datetime, actor: Actor = RESIDENT_WEB
    ) -> Booking:
        return operations.create(self, db, req, now=now, actor=actor)

    def can_change(self, booking: Booking, now: datetime, cutoff: datetime | None = None) -> bool:
        return operations.can_change(self, booking, now, cutoff)

    def cancel(self, session: Session, booking: Booking, *, now: datetime, actor: Actor) -> Booking:
        return operations.cancel(self, session, booking, now=now, actor=actor)

    def move(
        self,
        session: Session,
        booking: Booking,
        day: date,
        half_day: str,
        *,
        now: datetime,
        actor: Actor,
    ) -> Booking:
        return operations.move(self, session, booking, day, half_day, now=now, actor=actor)

    def confirm(
        self, session: Session, booking: Booking, *, now: datetime, actor: Actor
    ) -> Booking:
        return operations.confirm(self, session, booking, now=now, actor=actor)

    def schedule(
        self,
        session: Session,
        booking: Booking,
        *,
        clerk_id: int,
        start: datetime,
        end: datetime,
        now: datetime,
        actor: Actor,
    ) -> Booking:
        return operations.schedule(
            self, session, booking, clerk_id=clerk_id, start=start, end=end, now=now, actor=actor
        )

    def finish(
        self, session: Session, booking: Booking, outcome: Status, *, now: datetime, actor: Actor
    ) -> Booking:
        return operations.finish(self, session, booking, outcome, now=now, actor=actor)

    # -- finding ----------------------------------------------------------------------------

    def by_reference(self, session: Session, reference: str) -> Booking:
        return lookup.by_reference(session, reference)

    def lookup(
        self, session: Session, reference: str, phone_last4: str, *, now: datetime
    ) -> Booking:
        return lookup.lookup(session, self.settings, reference, phone_last4, now=now)

    def count_failed_lookup(self, db: Db, booking_id: int, *, now: datetime) -> None:
        lookup.count_failed_lookup(db, self.settings, booking_id, now=now)

    def search(self, session: Session, text: str, *, limit: int = 50) -> list[Booking]:
        return lookup.search(session, text, limit=limit)

    def work_list(
        self,
        session: Session,
        now: datetime,
        *,
        status: Status | None = None,
        day: date | None = None,
        limit: int = 200,
    ) -> list[Booking]:
        return lookup.work_list(session, now, status=status, day=day, limit=limit)

    def reveal_phone(
        self, session: Session, booking: Booking, *, whose: str, actor: Actor, now: datetime
    ) -> str:
        return audit.reveal_phone(
            session, self.protector, booking, whose=whose, actor=actor, now=now
        )
