"""The whole chain in Debian's chromium: a resident books on the site, the nightly job
plans, the dispatcher tries a move, sees the violation, undoes it and publishes, the clerk
marks the visit done, and the resident's look-up shows it; every page under the app's CSP
without a violation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from booking_support import _password_hash, make_app, make_id, small_catalog, staff_password
from icalendar import Calendar
from ops_support import PARAMS, SOLVER, book, clear_ledger, runtime
from sqlalchemy import select
from werkzeug.serving import make_server

from scheduler import jobs
from scheduler.booking import to_local
from scheduler.demo import add_staff
from scheduler.models import Booking
from scheduler.settings import TZ
from tests.browser import chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    from scheduler import db

    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>办事指南</h1>", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'chain.sqlite3'}"
    db.upgrade(url)
    app = make_app(url, small_catalog(), site, capacity="plan")
    with app.extensions["onetrip"].write_session() as s:
        # Places as production sets them: what the seeded clerks can make, per skill.
        today = datetime.now(TZ).date()
        for n in range(15):
            app.extensions["onetrip"].service.sync_day(s, today + timedelta(days=n))
        add_staff(
            s,
            "dispatch1",
            "",
            "dispatcher",
            "调度 李明",
            None,
            password_hash=_password_hash("dispatch1"),
        )
        s.commit()
    clear_ledger(app.extensions["onetrip"].engine)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", app
    srv.shutdown()
    thread.join()
    app.extensions["onetrip"].dispose()


def login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/staff/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", staff_password(username))
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_booking_to_published_stop_to_done(served: tuple[str, Any]) -> None:
    """Book → nightly plan → move shows a violation → undo → publish → clerk 办结 → 已上门办结;
    the board, the clerk's day and the run sheet load without a CSP violation."""
    base, app = served
    state = app.extensions["onetrip"]
    with chromium() as browser:
        ctx = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
        page = ctx.new_page()
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
        refused: list[str] = []
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )

        # The resident books in 隆宫乡 (west: clerk 1 in seed()) on the first morning offered.
        page.goto(f"{base}/book/resident-pension-claim?town_code=331126205")
        page.locator("input[name=slot][value$='|am']").first.check()
        page.fill("input[name=applicant_name]", "吴秀英")
        page.fill("input[name=applicant_id_number]", make_id(date(1938, 4, 5)))
        page.fill("input[name=applicant_phone]", "13905781234")
        page.fill("input[name=address_detail]", "庆元大道88号")
        page.locator("input[name=reason][value=age]").check()
        page.locator("form[method=post] button[type=submit]").click()
        reference = page.locator("[data-reference]").inner_text().strip()
        with state.read_session() as s:
            b = s.scalars(select(Booking).where(Booking.reference == reference)).one()
            day = b.date
        # A second booking in 百山祖镇 (the north zone's clerk 2) for the same morning.
        with state.write_session() as s:
            (other,) = book(state.service, s, day, n=1, towns=["331126107"], now=datetime.now(UTC))
            other_id = other.id
            s.commit()

        # The nightly job of the evening before plans the day.
        rt = runtime(state.engine, state.service, params=PARAMS, solver=SOLVER)
        evening = datetime.combine(day - timedelta(days=1), datetime.min.time(), tzinfo=TZ)
        version = jobs.run_plan(
            rt,
            day,
            now=evening + timedelta(hours=17, minutes=31),
            kind="nightly",
            key=f"nightly:{day}",
        )
        assert version is not None

        # The dispatcher moves the 百山祖 visit to the west clerk: the violation shows.
        login(page, base, "dispatch1")
        page.goto(f"{base}/staff/plans/{day.isoformat()}")
        assert "上门 <b>2</b>/2" in page.content()
        assert page.locator("#map").is_visible()
        move = page.locator("form#move")
        move.locator("select[name=visit]").select_option(str(other_id))
        move.locator("select[name=clerk]").select_option("1")
        move.locator("button[type=submit]").click()
        assert "调整后的路线不成立" in page.locator("#preview").inner_text()
        assert page.locator("#preview button[type=submit]").is_disabled()
        page.get_by_role("link", name="撤销").click()
        page.locator("#publish").click()
        assert "已发布" in page.locator("#message").inner_text()
        ctx.clear_cookies()

        # The clerk's page shows the stop; the .ics carries the same window.
        login(page, base, "clerk1")
        page.goto(f"{base}/staff/my-day?date={day.isoformat()}")
        stop = page.locator(f"#stop-{reference}")
        assert stop.is_visible()
        with state.read_session() as s:
            b = s.scalars(select(Booking).where(Booking.reference == reference)).one()
            window = f"{to_local(b.window_start):%H:%M}—{to_local(b.window_end):%H:%M}"  # type: ignore[arg-type]
            start, end = to_local(b.window_start), to_local(b.window_end)  # type: ignore[arg-type]
        assert window in stop.inner_text()
        page.goto(f"{base}/staff/my-day/print?date={day.isoformat()}")
        assert page.locator("#print").is_visible()
        page.goto(f"{base}/staff/my-day?date={day.isoformat()}")
        stop = page.locator(f"#stop-{reference}")
        ics = Calendar.from_ical(
            page.request.get(f"{base}/staff/my-day.ics?date={day.isoformat()}").body()
        )
        (event,) = [e for e in ics.walk("VEVENT") if reference in str(e.get("uid"))]
        assert (event.decoded("dtstart"), event.decoded("dtend")) == (start, end)
        stop.get_by_role("button", name="办结").click()
        page.wait_for_load_state()
        assert "已上门办结" in page.locator(f"#stop-{reference}").inner_text()
        ctx.clear_cookies()

        # The resident's look-up says the visit is done.
        page.goto(f"{base}/booking")
        page.fill("input[name=reference]", reference)
        page.fill("input[name=phone_last4]", "1234")
        page.locator("form button[type=submit]").first.click()
        page.wait_for_url(f"{base}/booking")
        page.locator("main", has_text="已上门办结").wait_for()  # not the half-loaded page
        assert outside == []
        assert refused == []
        ctx.close()
