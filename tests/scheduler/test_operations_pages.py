"""The clerk's day and the dispatcher's board: what each role sees and may do."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from booking_support import _password_hash, make_app, staff_password
from flask import Flask
from flask.testing import FlaskClient
from icalendar import Calendar
from ops_support import PARAMS, SOLVER, book, clear_ledger
from sqlalchemy import select

from scheduler.booking import SYSTEM, to_local
from scheduler.demo import add_staff
from scheduler.models import Booking, Status
from scheduler.notify.models import Notice
from scheduler.planning import service as planning
from scheduler.planning.models import PlanVersion, ReplanRequest, VisitRecord
from scheduler.planning.publish import publish
from scheduler.settings import TZ

EXTRA = (("dispatch1", "dispatcher", "调度 李明", None), ("clerk2", "clerk", "上门人员1", 2))


def login(client: FlaskClient, username: str) -> None:
    html = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token
    r = client.post(
        "/staff/login",
        data={
            "username": username,
            "password": staff_password(username),
            "csrf_token": token.group(1),
        },
    )
    assert r.status_code == 302


def token(client: FlaskClient, url: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(as_text=True))
    assert m, url
    return m.group(1)


@pytest.fixture
def day(app: Flask) -> Any:
    """Two bookings in 隆宫 (clerk 1, west) and two in 百山祖 (clerk 2, north; seed()
    puts clerk 1 in the west zone, clerk 2 in the north), planned and published for the
    day after tomorrow."""
    state = app.extensions["onetrip"]
    clear_ledger(state.engine)
    visit_day = datetime.now(TZ).date() + timedelta(days=2)
    now = datetime.now(UTC)
    with state.write_session() as s:
        for username, role, name, clerk_id in EXTRA:
            add_staff(s, username, "", role, name, clerk_id, password_hash=_password_hash(username))
        book(state.service, s, visit_day, n=2, towns=["331126205"], now=now)
        book(state.service, s, visit_day, n=2, towns=["331126107"], start=2, now=now)
        v = planning.plan_day(
            s, visit_day, catalog=state.service.catalog, now=now, params=PARAMS, solver=SOLVER
        )
        publish(s, v, state.service, now=now, actor=SYSTEM)
        s.commit()
    return visit_day


def own(app: Flask, clerk_id: int) -> list[Booking]:
    with app.extensions["onetrip"].read_session() as s:
        return list(s.scalars(select(Booking).where(Booking.assigned_clerk_id == clerk_id)))


@pytest.mark.parametrize("username,clerk_id", [("clerk1", 1), ("clerk2", 2)])
@pytest.mark.parametrize(
    "page", ["/staff/my-day?date={d}", "/staff/my-day/print?date={d}", "/staff/my-day.ics?date={d}"]
)
def test_a_clerk_sees_only_their_own_stops(
    app: Flask, client: FlaskClient, day: Any, username: str, clerk_id: int, page: str
) -> None:
    """Every clerk page lists exactly the logged-in clerk's bookings."""
    login(client, username)
    body = client.get(page.format(d=day.isoformat())).get_data(as_text=True)
    mine = {b.reference for b in own(app, clerk_id)}
    others = {b.reference for b in own(app, 3 - clerk_id)}
    assert mine and others
    assert all(r in body for r in mine)
    assert not any(r in body for r in others)


@pytest.mark.parametrize("username", ["window1", "dispatch1"])
def test_clerk_pages_are_for_clerks(client: FlaskClient, day: Any, username: str) -> None:
    """Window staff and dispatchers get 403 on the clerk's day."""
    login(client, username)
    assert client.get("/staff/my-day").status_code == 403


@pytest.mark.parametrize(
    "username,status", [("dispatch1", 200), ("admin1", 200), ("window1", 403), ("clerk1", 403)]
)
def test_board_is_for_dispatchers_and_admins(
    client: FlaskClient, day: Any, username: str, status: int
) -> None:
    """The board answers dispatchers and admins; window staff and clerks get 403."""
    login(client, username)
    assert client.get(f"/staff/plans/{day.isoformat()}").status_code == status


def test_my_day_shows_phone_address_navigation_and_what_to_bring(
    app: Flask, client: FlaskClient, day: Any
) -> None:
    """A stop shows the window, full phone as a tel: link, address, Amap/Baidu (GCJ-02) and
    geo: links, the materials and the device for the skill."""
    login(client, "clerk1")
    body = client.get(f"/staff/my-day?date={day.isoformat()}").get_data(as_text=True)
    b = own(app, 1)[0]
    phone = app.extensions["onetrip"].service.protector.decrypt(b.phone_enc, field="phone_enc")
    assert f'href="tel:{phone}"' in body
    assert f"{to_local(b.window_start):%H:%M}—{to_local(b.window_end):%H:%M}" in body  # type: ignore[arg-type]
    assert "https://uri.amap.com/navigation?to=" in body and "coordinate=gaode" in body
    assert "coord_type=gcj02" in body and 'href="geo:' in body
    assert "社保移动经办终端" in body and "空白申请表" in body


def test_run_sheet_masks_phones(app: Flask, client: FlaskClient, day: Any) -> None:
    """The printable run sheet carries masked phones and names only."""
    login(client, "clerk1")
    body = client.get(f"/staff/my-day/print?date={day.isoformat()}").get_data(as_text=True)
    b = own(app, 1)[0]
    phone = app.extensions["onetrip"].service.protector.decrypt(b.phone_enc, field="phone_enc")
    assert b.phone_masked in body and phone not in body


def test_ics_parses_with_the_published_times_and_stable_uids(
    app: Flask, client: FlaskClient, day: Any
) -> None:
    """The .ics has a VTIMEZONE for Asia/Shanghai, one event per stop at the booking's
    window, and the same UIDs when fetched again."""
    login(client, "clerk1")
    raw = client.get(f"/staff/my-day.ics?date={day.isoformat()}").data
    cal = Calendar.from_ical(raw)
    assert any(tz.get("tzid") == "Asia/Shanghai" for tz in cal.walk("VTIMEZONE"))
    events = cal.walk("VEVENT")
    mine = {b.reference: b for b in own(app, 1)}
    assert len(events) == len(mine)
    for ev in events:
        ref = str(ev.get("uid")).removeprefix("booking-").split("@")[0]
        assert ev.decoded("dtstart") == to_local(mine[ref].window_start)  # type: ignore[arg-type]
        assert ev.decoded("dtend") == to_local(mine[ref].window_end)  # type: ignore[arg-type]
    again = Calendar.from_ical(client.get(f"/staff/my-day.ics?date={day.isoformat()}").data)
    assert [str(e.get("uid")) for e in again.walk("VEVENT")] == [str(e.get("uid")) for e in events]


def test_status_buttons_record_times_and_finish(app: Flask, client: FlaskClient, day: Any) -> None:
    """到达 records the arrival; 办结 marks the booking done and queues the 'done' notice."""
    login(client, "clerk1")
    b = own(app, 1)[0]
    url = f"/staff/my-day?date={day.isoformat()}"
    assert (
        client.post(
            f"/staff/my-day/{b.reference}/arrive", data={"csrf_token": token(client, url)}
        ).status_code
        == 302
    )
    assert (
        client.post(
            f"/staff/my-day/{b.reference}/done", data={"csrf_token": token(client, url)}
        ).status_code
        == 302
    )
    with app.extensions["onetrip"].read_session() as s:
        row = s.get(Booking, b.id)
        rec = s.get(VisitRecord, b.id)
        assert row is not None and row.status == Status.DONE
        assert rec is not None and rec.arrived_at and rec.finished_at and rec.outcome == "done"
        assert s.scalar(select(Notice).where(Notice.booking_id == b.id, Notice.kind == "done"))


def test_a_clerk_cannot_act_on_another_clerks_stop(
    app: Flask, client: FlaskClient, day: Any
) -> None:
    """Posting 办结 for a stop of another clerk is 403 and changes nothing."""
    login(client, "clerk1")
    other = own(app, 2)[0]
    url = f"/staff/my-day?date={day.isoformat()}"
    r = client.post(
        f"/staff/my-day/{other.reference}/done", data={"csrf_token": token(client, url)}
    )
    assert r.status_code == 403
    with app.extensions["onetrip"].read_session() as s:
        assert s.get(Booking, other.id).status == Status.SCHEDULED  # type: ignore[union-attr]


def test_reschedule_on_the_spot_moves_the_booking(
    app: Flask, client: FlaskClient, day: Any
) -> None:
    """改约 with a new half-day moves the booking back to confirmed on the new date."""
    login(client, "clerk1")
    b = own(app, 1)[0]
    url = f"/staff/my-day?date={day.isoformat()}"
    new_day = day + timedelta(days=1)
    r = client.post(
        f"/staff/my-day/{b.reference}/reschedule",
        data={"csrf_token": token(client, url), "slot": f"{new_day.isoformat()}|pm"},
    )
    assert r.status_code == 302
    with app.extensions["onetrip"].read_session() as s:
        row = s.get(Booking, b.id)
        assert row is not None and (row.date, row.half_day, row.status) == (
            new_day,
            "pm",
            Status.CONFIRMED,
        )


def test_board_shows_map_timeline_visits_and_figures(client: FlaskClient, day: Any) -> None:
    """The board draws an SVG map with numbered stops, a timeline and the figures."""
    login(client, "dispatch1")
    body = client.get(f"/staff/plans/{day.isoformat()}").get_data(as_text=True)
    assert '<svg id="map"' in body and '<svg id="timeline"' in body
    assert "上门 <b>4</b>/4" in body and "迟到 <b>0</b>" in body
    assert "隆宫乡" in body  # a township name drawn from the gazetteer
    assert "http" not in body.split('<svg id="map"')[1].split("</svg>")[0]  # no outside tiles


def test_move_preview_lists_violations_and_saves_nothing(
    app: Flask, client: FlaskClient, day: Any
) -> None:
    """Moving a 百山祖 visit to the west zone's clerk shows the violation; no new version."""
    login(client, "dispatch1")
    north = own(app, 2)[0]
    url = f"/staff/plans/{day.isoformat()}"
    r = client.post(
        f"{url}/move",
        data={
            "csrf_token": token(client, url),
            "visit": str(north.id),
            "clerk": "1",
            "position": "1",
        },
    )
    body = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "调整后的路线不成立" in body and "不具备所需技能或不在该片区当班" in body
    with app.extensions["onetrip"].read_session() as s:
        assert len(s.scalars(select(PlanVersion)).all()) == 1


def test_valid_move_saves_a_new_version_and_republish_notifies(
    app: Flask, client: FlaskClient, day: Any
) -> None:
    """Swapping clerk 1's two stops is clean: saved as version 2, publishable."""
    login(client, "dispatch1")
    url = f"/staff/plans/{day.isoformat()}"
    with app.extensions["onetrip"].read_session() as s:
        _, plan, _ = planning.loaded(s.scalars(select(PlanVersion)).one())
    route = next(r for r in plan.routes if r.clerk_id == "1")
    last = route.stops[-1].visit_id
    r = client.post(
        f"{url}/move",
        data={"csrf_token": token(client, url), "visit": last, "clerk": "1", "position": "1"},
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    orders = re.search(r'name="orders" value="([^"]+)"', r.get_data(as_text=True))
    assert orders
    r = client.post(
        f"{url}/save",
        data={
            "csrf_token": token(client, url),
            "v": "1",
            "orders": orders.group(1).replace("&#34;", '"'),
        },
    )
    assert r.status_code == 302
    r = client.post(f"{url}/publish", data={"csrf_token": token(client, url), "v": "2"})
    assert r.status_code == 302
    with app.extensions["onetrip"].read_session() as s:
        versions = s.scalars(select(PlanVersion).order_by(PlanVersion.version)).all()
        assert [v.status for v in versions] == ["superseded", "published"]


def test_replan_button_queues_a_request_for_the_scheduler(
    app: Flask, client: FlaskClient, day: Any
) -> None:
    """Re-plan writes a request row (no solving in the request); the page says it is running."""
    login(client, "dispatch1")
    url = f"/staff/plans/{day.isoformat()}"
    assert client.post(f"{url}/replan", data={"csrf_token": token(client, url)}).status_code == 302
    assert client.post(f"{url}/replan", data={"csrf_token": token(client, url)}).status_code == 302
    with app.extensions["onetrip"].read_session() as s:
        assert len(s.scalars(select(ReplanRequest)).all()) == 1
        assert len(s.scalars(select(PlanVersion)).all()) == 1
    assert 'id="replanning"' in client.get(url).get_data(as_text=True)


def test_absent_and_pin_are_recorded(app: Flask, client: FlaskClient, day: Any) -> None:
    """Absent and pin write adjustments that the next plan honours."""
    login(client, "dispatch1")
    url = f"/staff/plans/{day.isoformat()}"
    b = own(app, 1)[0]
    assert (
        client.post(
            f"{url}/pin", data={"csrf_token": token(client, url), "visit": str(b.id), "clerk": "1"}
        ).status_code
        == 302
    )
    assert (
        client.post(
            f"{url}/absent", data={"csrf_token": token(client, url), "clerk": "2"}
        ).status_code
        == 302
    )
    state = app.extensions["onetrip"]
    with state.write_session() as s:
        c = planning.compute(s, day, catalog=state.service.catalog, params=PARAMS, solver=SOLVER)
    assert "2" not in {r.clerk_id for r in c.plan.routes}
    assert next(v for v in c.problem.visits if v.id == str(b.id)).clerk_id == "1"
    assert {u.visit_id for u in c.plan.unassigned} == {str(x.id) for x in own(app, 2)}


def test_a_dispatcher_lands_on_the_board_and_keeps_the_booking_list(
    app: Flask, client: FlaskClient, day: Any
) -> None:
    """After login a dispatcher goes to the board; the booking list (a manage role in
    booking) still opens, and the nav links both."""
    html = client.get("/staff/login").get_data(as_text=True)
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    r = client.post(
        "/staff/login",
        data={
            "username": "dispatch1",
            "password": staff_password("dispatch1"),
            "csrf_token": m.group(1),
        },
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/staff/plans/")
    listing = client.get("/staff/")
    assert listing.status_code == 200
    nav = listing.get_data(as_text=True)
    assert 'href="/staff/plans/"' in nav and "调度员" in nav


@pytest.mark.parametrize(
    "username,page",
    [
        ("clerk1", "/staff/my-day?date={d}"),
        ("clerk1", "/staff/my-day/print?date={d}"),
        ("clerk1", "/staff/my-day.ics?date={d}"),
        ("dispatch1", "/staff/plans/{d}"),
    ],
)
def test_pages_with_personal_data_are_never_stored_and_carry_the_csp(
    client: FlaskClient, day: Any, username: str, page: str
) -> None:
    """The clerk's day, its run sheet and .ics, and the board answer Cache-Control:
    no-store and the app's CSP (no inline script or style allowed)."""
    login(client, username)
    r = client.get(page.format(d=day.isoformat()))
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    body = r.get_data(as_text=True)
    assert "<style" not in body and "style=" not in body and "onclick" not in body


@pytest.fixture(params=["plan", "per_clerk"])
def rule_app(request: Any, db_url: str, catalog: Any, tmp_path: Any) -> Any:
    """The app with the plan-aware capacity rule (production's default) and the flat one."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>办事指南</h1>", encoding="utf-8")
    application = make_app(db_url, catalog, site, capacity=request.param)
    assert application.extensions["onetrip"].service.capacity_rule.skill_aware == (
        request.param == "plan"
    )
    yield application
    application.extensions["onetrip"].dispose()


def test_marking_a_clerk_absent_takes_their_places_away(rule_app: Flask) -> None:
    """The date's slots hold what the clerks on shift can make (plan-aware) or a number
    per clerk on shift (flat); under either rule the board's 请假 (absent) closes the
    absent clerk's zone for new bookings, and the resident's slot list (per item) shows
    it at once."""
    from scheduler.models import Slot

    state = rule_app.extensions["onetrip"]
    d = datetime.now(TZ).date() + timedelta(days=2)
    with state.write_session() as s:
        for username, role, name, clerk_id in EXTRA:
            add_staff(s, username, "", role, name, clerk_id, password_hash=_password_hash(username))
        state.service.sync_day(s, d)
        s.commit()

    def north(s: Any) -> Slot:
        return s.scalars(
            select(Slot).where(Slot.zone_code == "north", Slot.date == d, Slot.half_day == "am")
        ).one()

    with state.read_session() as s:
        assert north(s).capacity >= 1  # seed() puts clerk 2 in the north zone

    def remaining() -> int:
        """Places the resident's slot list offers that morning (a closed slot is not listed)."""
        query = {"item": "resident-pension-claim", "town_code": "331126107"}
        found = client.get("/api/slots", query_string=query).get_json()
        am = [x for x in found if (x["date"], x["half_day"]) == (d.isoformat(), "am")]
        return int(am[0]["remaining"]) if am else 0

    client = rule_app.test_client()
    assert remaining() >= 1
    login(client, "dispatch1")
    url = f"/staff/plans/{d.isoformat()}"
    r = client.post(f"{url}/absent", data={"csrf_token": token(client, url), "clerk": "2"})
    assert r.status_code == 302
    with state.read_session() as s:
        assert north(s).capacity == 0
    assert remaining() == 0


@pytest.mark.parametrize("odd", ["²", "9" * 25, "-1"])
def test_odd_numbers_and_days_in_staff_input_are_refused_not_a_500(
    client: FlaskClient, day: Any, odd: str
) -> None:
    """Ids, versions and positions that `str.isdigit()` accepts but `int()` or the
    database cannot take ("²", 25 digits), and days at the calendar's ends, answer 4xx."""
    login(client, "admin1")
    url = f"/staff/plans/{day.isoformat()}"
    for page in (f"/staff/my-day?clerk={odd}", f"{url}?v={odd}", f"{url}?compare={odd}"):
        assert client.get(page).status_code < 500, page
    for last in ("9999-12-31", "0001-01-01"):
        for page in (f"/staff/my-day?date={last}", f"/staff/my-day.ics?date={last}"):
            assert client.get(page).status_code == 404, page
    csrf = token(client, url)
    for action, data in (
        ("absent", {"clerk": odd}),
        ("pin", {"clerk": "1", "visit": odd}),
        ("move", {"visit": "1", "clerk": "1", "position": odd}),
        ("save", {"orders": '{"1": 5}'}),
        ("save", {"orders": "[" * 3000 + "]" * 3000}),
    ):
        r = client.post(f"{url}/{action}", data={"csrf_token": csrf, **data})
        assert r.status_code < 500, (action, data, r.status_code)


def test_a_clerk_marked_absent_is_neither_offered_nor_scheduled(
    app: Flask, client: FlaskClient, day: Any
) -> None:
    """After 请假 on the board, the booking page no longer offers the clerk and scheduling
    them by hand is refused (their shift rows stay; planning already leaves them out)."""
    state = app.extensions["onetrip"]
    with state.write_session() as s:
        (extra,) = book(
            state.service,
            s,
            day,
            n=1,
            towns=["331126107"],
            start=7,
            half_day="pm",
            now=datetime.now(UTC),
        )
        s.commit()
        reference = extra.reference
    login(client, "dispatch1")
    url = f"/staff/plans/{day.isoformat()}"
    r = client.post(f"{url}/absent", data={"csrf_token": token(client, url), "clerk": "2"})
    assert r.status_code == 302
    page = f"/staff/bookings/{reference}"
    html = client.get(page).get_data(as_text=True)
    offered = re.search(r'<select name="clerk_id">(.*?)</select>', html, re.DOTALL)
    assert offered and 'value="2"' not in offered.group(1)
    r = client.post(
        f"{page}/schedule",
        data={"csrf_token": token(client, page), "clerk_id": "2", "start": "14:00", "end": "14:30"},
    )
    assert r.status_code == 422 and "请假" in r.get_data(as_text=True)
