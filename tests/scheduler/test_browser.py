"""The booking form on a built item page, in Debian's chromium, served by the app itself."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from booking_support import make_app, small_catalog
from sqlalchemy import select
from werkzeug.serving import make_server

from scheduler.models import Booking
from tests.browser import chromium

pytestmark = pytest.mark.browser
ITEM = "resident-pension-claim"


@pytest.fixture
def served(tmp_path: Path, built_site: Path) -> Iterator[tuple[str, Any]]:
    """Site + API on one origin on loopback (SQLite)."""
    form_page = built_site / "items" / ITEM / "index.html"
    assert 'class="ot-booking"' in form_page.read_text(encoding="utf-8")
    db_path = tmp_path / "browser.sqlite3"
    from scheduler import db

    db.upgrade(f"sqlite:///{db_path}")
    app = make_app(f"sqlite:///{db_path}", small_catalog(), built_site)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", app
    srv.shutdown()
    thread.join()
    app.extensions["onetrip"].dispose()


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
        yield context.new_page()
        context.close()


def test_resident_books_on_the_item_page(served: tuple[str, Any], page: Any) -> None:
    """Filling the enhanced form on /items/<code>/ shows an 8-character reference code."""
    base, app = served
    requests_seen: list[str] = []
    page.on("request", lambda r: requests_seen.append(r.url))
    page.goto(f"{base}/items/{ITEM}/")
    box = page.locator(".ot-booking")
    box.locator("form.ot-form").wait_for(timeout=15_000)
    box.locator("[name=applicant_name]").fill("吴秀英")
    box.locator("[name=applicant_id_number]").fill(
        "33112619400305123" + _check("33112619400305123")
    )
    box.locator("[name=applicant_phone]").fill("13905781234")
    box.locator("[name=booker_kind][value=relative]").check()
    box.locator("[name=booker_name]").fill("吴小明")
    box.locator("[name=booker_relationship]").fill("儿子")
    box.locator("[name=booker_phone]").fill("13812345678")
    box.locator("[name=town_code]").select_option("331126205")
    box.locator("[name=slot] option[value*='|am']").first.wait_for(state="attached", timeout=10_000)
    first_slot = box.locator("[name=slot] option[value*='|am']").first.get_attribute("value")
    box.locator("[name=slot]").select_option(first_slot)
    box.locator("[name=village]").fill("隆宫村")
    box.locator("[name=address_detail]").fill("隆宫村12号")
    box.locator("[name=reason][value=age]").check()
    box.locator("button[type=submit]").click()
    ref = box.locator(".ot-reference")
    ref.wait_for(timeout=15_000)
    reference = ref.inner_text().strip()
    assert len(reference) == 8
    assert "接下来" in box.inner_text()
    with app.extensions["onetrip"].read_session() as s:
        b = s.scalars(select(Booking).where(Booking.reference == reference)).one()
        assert (b.booker_kind, b.booker_relationship, b.town_code) == (
            "relative",
            "儿子",
            "331126205",
        )
    assert all(u.startswith(base) for u in requests_seen), [
        u for u in requests_seen if not u.startswith(base)
    ]


def test_form_reports_a_bad_id_number_in_chinese(served: tuple[str, Any], page: Any) -> None:
    """A mistyped ID number is flagged next to the field before anything is sent."""
    base, _ = served
    page.goto(f"{base}/items/{ITEM}/")
    box = page.locator(".ot-booking")
    box.locator("form.ot-form").wait_for(timeout=15_000)
    box.locator("[name=applicant_id_number]").fill("110105194912310021")
    box.locator("button[type=submit]").click()
    assert "身份证号码不正确" in box.inner_text()


def test_api_down_keeps_the_fallback_link(served: tuple[str, Any], page: Any) -> None:
    """When /api fails, a Chinese message appears and the /book/<item> link still works."""
    base, _ = served
    page.route("**/api/**", lambda route: route.abort())
    page.goto(f"{base}/items/{ITEM}/")
    box = page.locator(".ot-booking")
    box.locator(".ot-error").wait_for(timeout=15_000)
    assert "在线预约暂时无法使用" in box.inner_text()
    page.unroute("**/api/**")
    box.locator(f"a[href='/book/{ITEM}']").click()
    page.wait_for_url(f"**/book/{ITEM}")
    assert "预约上门办理" in page.content()


def _check(first17: str) -> str:
    from scheduler.identity import check_char

    return check_char(first17)


def test_pages_run_under_their_content_security_policy(
    served: tuple[str, Any], page: Any, tmp_path: Path
) -> None:
    """The item page (Material's inline scripts, the booking form), the look-up page and
    the staff login load in chromium without a single CSP violation, styled by the
    app's stylesheet."""
    base, _app = served
    refused: list[str] = []
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(f"{base}/items/{ITEM}/")
    page.locator(".ot-booking form.ot-form").wait_for(timeout=15_000)
    for path in ("/booking", "/staff/login"):
        page.goto(base + path)
        size = page.evaluate("getComputedStyle(document.body).fontSize")
        assert size == "18px", path  # onetrip.css applied
    page.screenshot(path=str(tmp_path / "staff-login-390.png"), full_page=True)
    assert refused == []
