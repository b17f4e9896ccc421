"""The dispatcher's board (planned, compared and empty) and the clerk's day and print view
in Debian's chromium (issue 13): at 320 px no sideways scroll, 44 px targets and no serious
axe finding."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from booking_support import _password_hash, make_app, small_catalog, staff_password
from ops_support import PARAMS, SOLVER, book, clear_ledger
from werkzeug.serving import make_server

from scheduler.booking import SYSTEM
from scheduler.demo import add_staff
from scheduler.planning import service as planning
from scheduler.planning.publish import publish
from scheduler.settings import TZ
from tests.browser import axe_findings, chromium, sideways_overflow, small_targets

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, built_site: Path) -> Iterator[tuple[str, str]]:
    """The app on loopback with a dispatcher and the day after tomorrow planned and published
    in two versions (two visits for clerk 1, two for clerk 2); the base URL and the day."""
    from scheduler import db

    tmp = tmp_path_factory.mktemp("ops-a11y")
    url = f"sqlite:///{tmp / 'ops.sqlite3'}"
    db.upgrade(url)
    app = make_app(url, small_catalog(), built_site)
    state = app.extensions["onetrip"]
    clear_ledger(state.engine)
    day = datetime.now(TZ).date() + timedelta(days=2)
    now = datetime.now(UTC)
    with state.write_session() as s:
        for username, role, name, clerk_id in (
            ("dispatch1", "dispatcher", "调度 李明", None),
            ("clerk2", "clerk", "上门人员1", 2),
        ):
            add_staff(s, username, "", role, name, clerk_id, password_hash=_password_hash(username))
        book(state.service, s, day, n=2, towns=["331126205"], now=now)
        book(state.service, s, day, n=2, towns=["331126107"], start=2, now=now)
        # Two versions, so the board's compare view (?compare=1) has something to compare.
        for _ in range(2):
            v = planning.plan_day(
                s, day, catalog=state.service.catalog, now=now, params=PARAMS, solver=SOLVER
            )
        publish(s, v, state.service, now=now, actor=SYSTEM)
        s.commit()
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", day.isoformat()
    srv.shutdown()
    thread.join()
    state.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/staff/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", staff_password(username))
    page.click("button[type=submit]")
    page.wait_for_load_state()


def _empty_day(day: str) -> str:
    # A later day nobody booked: the board's empty state.
    return (datetime.fromisoformat(day) + timedelta(days=20)).date().isoformat()


PAGES: dict[str, tuple[str, Callable[[str], str]]] = {
    "board": ("dispatch1", lambda d: f"/staff/plans/{d}"),
    "board-compare": ("dispatch1", lambda d: f"/staff/plans/{d}?compare=1"),
    "board-empty": ("dispatch1", lambda d: f"/staff/plans/{_empty_day(d)}"),
    "board-index": ("dispatch1", lambda d: "/staff/plans/"),
    "my-day": ("clerk1", lambda d: f"/staff/my-day?date={d}"),
    "my-day-open": ("clerk1", lambda d: f"/staff/my-day?date={d}"),
    "my-day-empty": ("clerk1", lambda d: f"/staff/my-day?date={_empty_day(d)}"),
    "my-day-print": ("clerk1", lambda d: f"/staff/my-day/print?date={d}"),
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_ops_page_fits_320px_has_44px_targets_and_no_serious_axe_finding(
    served: tuple[str, str], browser: Any, name: str
) -> None:
    """At 320 px the operations page does not scroll sideways, every link, button and
    control is at least 44 × 44 px, and axe-core finds nothing serious or critical."""
    base, day = served
    username, path = PAGES[name]
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 320, "height": 800}, bypass_csp=True
    )
    page = context.new_page()
    login(page, base, username)
    response = page.goto(base + path(day))
    assert response is not None and response.status == 200, page.url
    page.wait_for_load_state("networkidle")
    if name == "my-day-open":  # 需携带 and 改约 unfolded: the move form's controls too
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        assert page.locator("main select[name=slot]").first.is_visible()
    if name == "board-compare":
        assert page.locator("h2#compare").is_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"ops-{name}-320.png"), full_page=True)
    assert sideways_overflow(page) == []
    assert small_targets(page) == []
    assert axe_findings(page) == []
    context.close()
