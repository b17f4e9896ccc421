"""The cut-off job: every ready certificate of an office into delivery runs (in county) and
one EMS hand-over batch (out of county), once per cut-off.

Idempotent and crash-safe: the claim row (`cutoff:<office>:<date>T<time>`), the batches,
the parcels and the certificates' new status are written in ONE transaction (the caller
commits). A run that dies before the commit leaves nothing, so the rerun does it all; a
rerun after the commit finds the claim and returns what was saved. Two runs at once: the
second's claim (primary key) or a parcel (one open parcel per certificate, a unique
partial index) fails, and its transaction is rolled back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from routing.geo import LatLon, gcj02_to_wgs84
from routing.travel import TravelModel
from scheduler.courier.audit import SYSTEM_JOB, utc_naive
from scheduler.courier.models import (
    Batch,
    BatchKind,
    BatchStatus,
    Certificate,
    CertStatus,
    CourierEvent,
    CutoffClaim,
    Parcel,
    ParcelStatus,
    Validity,
)
from scheduler.courier.runs import ParcelIn, PlannedRun, Solve, default_solve, plan_runs
from scheduler.courier.settings import CourierSettings
from scheduler.settings import TZ

Step = Callable[[str], None]
_CHUNK = 500


class CutoffConflict(RuntimeError):
    """Certificates changed while the cut-off was grouping them: roll back and rerun."""


@dataclass(frozen=True, slots=True)
class CutoffResult:
    key: str
    already_run: bool
    batch_ids: tuple[int, ...]
    runs: int
    ems: int
    certificates: int
    left_ready: tuple[int, ...]  # ready certificates no run could take this time


def cutoff_key(office_code: str, cutoff_at: datetime) -> str:
    return f"cutoff:{office_code}:{cutoff_at.astimezone(TZ):%Y-%m-%dT%H:%M}"


def office_point(catalog: Any, code: str) -> LatLon:
    """An office's place in WGS-84 (the catalog's coordinates are GCJ-02)."""
    office = catalog.offices[code]
    loc = office.location
    if loc is None:
        town = catalog.townships[office.town_code]
        return gcj02_to_wgs84(LatLon(town.lat, town.lon))
    point = LatLon(loc.lat, loc.lon)
    return gcj02_to_wgs84(point) if getattr(loc, "datum", "GCJ-02") == "GCJ-02" else point


def town_point(catalog: Any, town_code: str) -> LatLon:
    town = catalog.townships[town_code]
    return gcj02_to_wgs84(LatLon(town.lat, town.lon))


def zones_of_towns(session: Session) -> dict[str, str]:
    from scheduler.models import ZoneTown

    rows = session.execute(select(ZoneTown.town_code, ZoneTown.zone_code)).all()
    return {town: zone for town, zone in rows}


def run_cutoff(
    session: Session,
    office_code: str,
    cutoff_at: datetime,
    now: datetime,
    *,
    catalog: Any = None,
    settings: CourierSettings | None = None,
    travel: TravelModel | None = None,
    solve: Solve = default_solve,
    on_step: Step | None = None,
) -> CutoffResult:
    """Batch every certificate ready at `cutoff_at` that goes out through `office_code`.

    Never commits. `on_step` is called with "collected", "grouped" and "saved" (tests kill
    the process there).
    """
    if catalog is None:
        from guide.catalog import load

        catalog = load()
    settings = settings or CourierSettings()
    if cutoff_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("cutoff_at and now must be aware datetimes")
    step = on_step or (lambda _name: None)
    key = cutoff_key(office_code, cutoff_at)
    if session.get(CutoffClaim, key) is not None:
        return _saved_result(session, key)
    offices = [o for o in catalog.offices if settings.dispatch_office(o) == office_code]
    certs = list(
        session.scalars(
            select(Certificate)
            .where(
                Certificate.status == CertStatus.READY,
                Certificate.validity == Validity.VALID,
                Certificate.office_code.in_(offices),
                Certificate.ready_at <= utc_naive(cutoff_at),
            )
            .order_by(Certificate.promised_date, Certificate.id)
        )
    )
    step("collected")
    local = cutoff_at.astimezone(TZ)
    start_s = local.hour * 3600 + local.minute * 60 + settings.load_s
    zones = zones_of_towns(session)
    county = [c for c in certs if c.scope == "county"]
    out = [c for c in certs if c.scope == "out"]
    parcels = [
        ParcelIn(
            certificate_id=c.id,
            demand=c.parcels,
            zone=zones.get(c.town_code or "", c.town_code or ""),
            place=c.town_code or "",
            location=town_point(catalog, c.town_code or ""),
            office=c.office_code,
            urgency=c.promised_date.toordinal(),
        )
        for c in county
    ]
    plan = plan_runs(
        parcels,
        depot=office_point(catalog, settings.depot_office),
        depot_office=settings.depot_office,
        offices={o: office_point(catalog, o) for o in offices},
        settings=settings,
        start_s=start_s,
        travel=travel,
        solve=solve,
    )
    runs = list(plan.runs)
    left = list(plan.unplanned)
    if settings.max_runs_per_cutoff is not None and len(runs) > settings.max_runs_per_cutoff:
        for run in runs[settings.max_runs_per_cutoff :]:
            left.extend(run.certificate_ids)
        runs = runs[: settings.max_runs_per_cutoff]
    step("grouped")
    batch_ids = _save(session, key, office_code, cutoff_at, now, runs, out)
    step("saved")
    return CutoffResult(
        key=key,
        already_run=False,
        batch_ids=tuple(batch_ids),
        runs=len(runs),
        ems=1 if out else 0,
        certificates=sum(len(r.certificate_ids) for r in runs) + len(out),
        left_ready=tuple(sorted(left)),
    )


def _route_json(run: PlannedRun) -> str:
    return json.dumps(
        [
            {
                "kind": s.kind,
                "place": s.place,
                "lat": round(s.location.lat, 6),
                "lon": round(s.location.lon, 6),
                "parcels": s.parcels,
                "arrival_s": s.arrival_s,
            }
            for s in run.stops
        ],
        ensure_ascii=True,
        separators=(",", ":"),
    )


def _save(
    session: Session,
    key: str,
    office_code: str,
    cutoff_at: datetime,
    now: datetime,
    runs: Sequence[PlannedRun],
    out: Sequence[Certificate],
) -> list[int]:
    stamp = utc_naive(now)
    cut = utc_naive(cutoff_at)
    members: list[tuple[Batch, list[int]]] = []
    session.add(
        CutoffClaim(
            key=key,
            office_code=office_code,
            cutoff_at=cut,
            claimed_at=stamp,
            batches=len(runs) + (1 if out else 0),
            certificates=sum(len(r.certificate_ids) for r in runs) + len(out),
        )
    )
    session.flush()  # a concurrent run of the same cut-off fails here
    for n, run in enumerate(runs, start=1):
        batch = Batch(
            cutoff_key=key,
            office_code=office_code,
            cutoff_at=cut,
            kind=BatchKind.RUN,
            seq=n,
            zone_code=run.zone,
            status=BatchStatus.OPEN,
            distance_m=run.distance_m,
            duration_s=run.duration_s,
            over_duration=run.over_duration,
            route_json=_route_json(run),
            created_at=stamp,
        )
        members.append((batch, list(run.certificate_ids)))
    if out:
        ems = Batch(
            cutoff_key=key,
            office_code=office_code,
            cutoff_at=cut,
            kind=BatchKind.EMS,
            seq=1,
            status=BatchStatus.OPEN,
            route_json="[]",
            created_at=stamp,
        )
        members.append((ems, [c.id for c in out]))
    session.add_all(b for b, _ in members)
    session.flush()
    all_ids = [cid for _, ids in members for cid in ids]
    towns = _towns(session, all_ids)
    parcel_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    for batch, ids in members:
        order = _stop_numbers(batch)
        for seq, cid in enumerate(ids, start=1):
            parcel_rows.append(
                {
                    "batch_id": batch.id,
                    "certificate_id": cid,
                    "seq": seq,
                    "stop_no": order.get(towns.get(cid) or ""),
                    "tracking_no": None,
                    "status": ParcelStatus.IN_BATCH,
                    "return_reason": None,
                    "is_open": True,
                    "closed_at": None,
                }
            )
            event_rows.append(
                {
                    "certificate_id": cid,
                    "batch_id": batch.id,
                    "at": stamp,
                    "action": "batched",
                    "actor_kind": SYSTEM_JOB.kind,
                    "actor_staff_id": None,
                    "channel": SYSTEM_JOB.channel,
                    "from_status": CertStatus.READY,
                    "to_status": CertStatus.BATCHED,
                    "detail": f"{key} {batch.kind} {batch.seq}",
                }
            )
    for i in range(0, len(all_ids), _CHUNK):
        chunk = all_ids[i : i + _CHUNK]
        moved = session.execute(
            update(Certificate)
            .where(Certificate.id.in_(chunk), Certificate.status == CertStatus.READY)
            .values(status=CertStatus.BATCHED, updated_at=stamp)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != len(chunk):  # type: ignore[attr-defined]
            raise CutoffConflict("a certificate changed during the cut-off; rerun it")
    if parcel_rows:
        session.execute(insert(Parcel), parcel_rows)
        session.execute(insert(CourierEvent), event_rows)
    session.flush()
    session.expire_all()  # the bulk UPDATE bypassed the identity map
    return [b.id for b, _ in members]


def _towns(session: Session, ids: list[int]) -> dict[int, str | None]:
    out: dict[int, str | None] = {}
    for i in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(Certificate.id, Certificate.town_code).where(
                Certificate.id.in_(ids[i : i + _CHUNK])
            )
        )
        out.update((cid, town) for cid, town in rows)
    return out


def _stop_numbers(batch: Batch) -> dict[str, int]:
    """Township code -> delivery stop number on the run (from 1)."""
    stops = [s for s in json.loads(batch.route_json) if s["kind"] == "deliver"]
    order: dict[str, int] = {}
    for i, s in enumerate(stops, start=1):
        order.setdefault(s["place"], i)
    return order


def _saved_result(session: Session, key: str) -> CutoffResult:
    batches = list(session.scalars(select(Batch).where(Batch.cutoff_key == key).order_by(Batch.id)))
    claim = session.get(CutoffClaim, key)
    return CutoffResult(
        key=key,
        already_run=True,
        batch_ids=tuple(b.id for b in batches),
        runs=sum(1 for b in batches if b.kind == BatchKind.RUN),
        ems=sum(1 for b in batches if b.kind == BatchKind.EMS),
        certificates=claim.certificates if claim else 0,
        left_ready=(),
    )


def due_cutoffs(
    settings: CourierSettings, calendar: Any, office: str, now: datetime
) -> list[datetime]:
    """Today's cut-offs of `office` that have passed (a job runs every one not yet claimed)."""
    local = now.astimezone(TZ)
    if not calendar.is_working_day(local.date()):
        return []
    return [
        datetime.combine(local.date(), t, tzinfo=TZ)
        for t in settings.cutoffs_for(office)
        if datetime.combine(local.date(), t, tzinfo=TZ) <= local
    ]
