"""The booking, look-up, result, error and staff pages in Debian's chromium, as a resident
on a phone and a window clerk at a desk meet them (issue 13): one design with the guide,
confirmations, next steps, dates in one format, 320 px, 44 px and axe-core on every page."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from booking_support import make_app, make_id, small_catalog, staff_password
from sqlalchemy import select
from werkzeug.serving import make_server

from scheduler.booking import local_date
from scheduler.models import Booking, BookingEvent
from tests.browser import axe_findings, chromium, sideways_overflow, small_targets

pytestmark = pytest.mark.browser
ITEM = "resident-pension-claim"
TOWN = "331126205"
PHONE = "13905781234"
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
_SEQ = itertools.count(100)  # a new applicant for every booking (one open booking each)
DATE_TEXT = re.compile(r"\d{1,2}月\d{1,2}日 星期[一二三四五六日] [上下]午")


class Served:
    """The app with the built guide on one loopback origin, and a way to make bookings."""

    def __init__(self, base: str, app: Any) -> None:
        self.base, self.app = base, app

    def book(
        self, *, day: date | None = None, half_day: str | None = None, phone: str = PHONE
    ) -> str:
        """A booking made through the staff phone form (any day from today on); its reference."""
        client = self.app.test_client()
        html = client.get("/staff/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert token
        data = {"username": "window1", "password": staff_password("window1")}
        assert client.post("/staff/login", data={**data, "csrf_token": token[1]}).status_code == 302
        html = client.get("/staff/book").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert token
        today = local_date(datetime.now(UTC))
        # Two places per zone and half-day: spread the bookings over the next two weeks.
        n = next(_SEQ)
        day = day or today + timedelta(days=2 + (n // 4) % 12)
        half_day = half_day or ("am" if n % 4 < 2 else "pm")
        form = {
            "csrf_token": token[1],
            "item": ITEM,
            "channel": "phone",
            "applicant_name": "吴秀英",
            "applicant_id_number": make_id(date(1940, 3, 5), seq=n),
            "applicant_phone": phone,
            "booker_kind": "self",
            "town_code": TOWN,
            "village": "隆宫村",
            "address_detail": "隆宫村12号",
            "reason": "age",
            "date": day.isoformat(),
            "half_day": half_day,
        }
        r = client.post("/staff/book", data=form)
        assert r.status_code == 302, r.get_data(as_text=True)
        match = re.search(r"/staff/bookings/([0-9A-Z]{8})", r.headers["Location"])
        assert match
        return match[1]

    def scheduled_for_clerk1(self) -> str:
        """A booking tomorrow morning, confirmed and scheduled for clerk 1 (a visit card)."""
        ref = self.book(day=local_date(datetime.now(UTC)) + timedelta(days=1), half_day="am")
        client = self.app.test_client()
        html = client.get("/staff/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert token
        data = {"username": "window1", "password": staff_password("window1")}
        assert client.post("/staff/login", data={**data, "csrf_token": token[1]}).status_code == 302
        html = client.get(f"/staff/bookings/{ref}").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert token
        r = client.post(f"/staff/bookings/{ref}/confirm", data={"csrf_token": token[1]})
        assert r.status_code == 302
        form = {"csrf_token": token[1], "clerk_id": "1", "start": "09:00", "end": "10:00"}
        r = client.post(f"/staff/bookings/{ref}/schedule", data=form)
        assert r.status_code == 302, r.get_data(as_text=True)
        return ref

    def status(self, reference: str) -> str:
        with self.app.extensions["onetrip"].read_session() as s:
            value: str = s.scalars(
                select(Booking.status).where(Booking.reference == reference)
            ).one()
            return value


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, built_site: Path) -> Iterator[Served]:
    from scheduler import db

    db_path = tmp_path_factory.mktemp("pages") / "pages.sqlite3"
    db.upgrade(f"sqlite:///{db_path}")
    app = make_app(f"sqlite:///{db_path}", small_catalog(), built_site, login_rate=[1000, 60])
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield Served(f"http://127.0.0.1:{srv.server_port}", app)
    srv.shutdown()
    thread.join()
    app.extensions["onetrip"].dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def new_page(browser: Any, width: int = 390, *, js: bool = True) -> Any:
    # bypass_csp: axe-core is injected as an inline script, which the pages' policy refuses
    # (tests/scheduler/test_browser.py checks the pages under their policy).
    context = browser.new_context(
        locale="zh-CN",
        viewport={"width": width, "height": 800},
        java_script_enabled=js,
        bypass_csp=True,
    )
    return context.new_page()


def login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/staff/login")
    page.fill("[name=username]", username)
    page.fill("[name=password]", staff_password(username))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/staff/(\?.*)?$|.*/staff/visits.*"))


def look_up(page: Any, base: str, reference: str, last4: str = PHONE[-4:]) -> None:
    page.goto(f"{base}/booking")
    page.fill("[name=reference]", reference)
    page.fill("[name=phone_last4]", last4)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


# -- every page: 320 px without sideways scroll, 44 px targets, no serious axe finding ------


def _book_form(page: Any, s: Served) -> None:
    page.goto(f"{s.base}/book/{ITEM}")


def _book_slots(page: Any, s: Served) -> None:
    page.goto(f"{s.base}/book/{ITEM}?town_code={TOWN}")


def _book_errors(page: Any, s: Served) -> None:
    page.goto(f"{s.base}/book/{ITEM}?town_code={TOWN}")
    page.fill("[name=applicant_phone]", "05785551234")
    page.evaluate("document.querySelectorAll('[required]').forEach(e => e.required = false)")
    page.click("form[method=post] button[type=submit]")
    page.wait_for_load_state()


def _book_done(page: Any, s: Served) -> None:
    page.goto(f"{s.base}/book/{ITEM}?town_code={TOWN}")
    page.fill("[name=applicant_name]", "吴秀英")
    page.fill("[name=applicant_id_number]", make_id(date(1941, 4, 6), seq=next(_SEQ)))
    page.fill("[name=applicant_phone]", "13905785678")
    page.fill("[name=address_detail]", "隆宫村8号")
    page.check("[name=reason][value=age]")
    page.locator("[name=slot]").last.check()  # tomorrow's places are for the staff tests
    page.click("form[method=post] button[type=submit]")
    page.locator("[data-reference]").wait_for()


def _lookup(page: Any, s: Served) -> None:
    page.goto(f"{s.base}/booking")


def _lookup_not_found(page: Any, s: Served) -> None:
    look_up(page, s.base, "ABCD2345", "0000")


def _status(page: Any, s: Served) -> None:
    look_up(page, s.base, s.book())


def _cancel_confirm(page: Any, s: Served) -> None:
    look_up(page, s.base, s.book())
    page.get_by_role("button", name="取消这个预约…", exact=True).click()
    page.wait_for_load_state()


def _cancelled(page: Any, s: Served) -> None:
    _cancel_confirm(page, s)
    page.get_by_role("button", name="确认取消", exact=True).click()
    page.wait_for_load_state()


def _error(page: Any, s: Served) -> None:
    page.goto(f"{s.base}/book/no-such-item")


def _staff(username: str, path: Callable[[Served], str]) -> Callable[[Any, Served], None]:
    def visit(page: Any, s: Served) -> None:
        target = path(s)
        login(page, s.base, username)
        page.goto(s.base + target)

    return visit


def _staff_detail(page: Any, s: Served) -> None:
    ref = s.book()
    login(page, s.base, "window1")
    page.goto(f"{s.base}/staff/bookings/{ref}")
    page.get_by_role("button", name="显示完整电话", exact=True).click()
    page.wait_for_load_state()


def _password_mismatch(page: Any, s: Served) -> None:
    """The password page with its error (nothing changes: the new ones differ)."""
    login(page, s.base, "window1")
    page.goto(f"{s.base}/staff/password")
    page.get_by_label("当前密码").fill(staff_password("window1"))
    page.get_by_label("新密码（至少").fill("a-much-longer-new-password")
    page.get_by_label("再次输入新密码").fill("a-different-new-password")
    page.get_by_role("button", name="修改密码", exact=True).click()
    page.wait_for_load_state()


PAGES: dict[str, Callable[[Any, Served], None]] = {
    "book-form": _book_form,
    "book-form-slots": _book_slots,
    "book-form-errors": _book_errors,
    "book-done": _book_done,
    "lookup": _lookup,
    "lookup-not-found": _lookup_not_found,
    "status": _status,
    "cancel-confirm": _cancel_confirm,
    "cancelled": _cancelled,
    "error-404": _error,
    "staff-login": lambda page, s: page.goto(f"{s.base}/staff/login"),
    "staff-list-window": _staff("window1", lambda s: "/staff/"),
    "staff-list-admin": _staff("admin1", lambda s: (s.book(), "/staff/")[1]),
    "staff-search-empty": _staff("window1", lambda s: "/staff/?q=0000"),
    "staff-book-window": _staff("window1", lambda s: "/staff/book"),
    "staff-book-slots-admin": _staff(
        "admin1", lambda s: f"/staff/book?item={ITEM}&town_code={TOWN}"
    ),
    "staff-detail-window": _staff_detail,
    "staff-detail-admin": _staff("admin1", lambda s: f"/staff/bookings/{s.book()}"),
    "staff-visits-clerk": _staff(
        "clerk1", lambda s: (s.scheduled_for_clerk1(), "/staff/visits")[1]
    ),
    "staff-visits-admin": _staff("admin1", lambda s: "/staff/visits"),
    "staff-password-clerk": _staff("clerk1", lambda s: "/staff/password"),
    "staff-password-mismatch": _password_mismatch,
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_fits_320px_has_44px_targets_and_no_serious_axe_finding(
    served: Served, browser: Any, name: str
) -> None:
    """At 320 px the page does not scroll sideways, every link, button and control is at
    least 44 × 44 px, and axe-core finds nothing serious or critical."""
    page = new_page(browser, 320)
    PAGES[name](page, served)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-320.png"), full_page=True)
    assert sideways_overflow(page) == []
    assert small_targets(page) == []
    assert axe_findings(page) == []
    page.set_viewport_size({"width": 390, "height": 800})
    page.screenshot(path=str(SHOTS / f"{name}-390.png"), full_page=True)
    page.context.close()


# -- residents --------------------------------------------------------------------------


def test_booking_pages_share_the_guides_design_and_large_type(served: Served, browser: Any) -> None:
    """The look-up page uses the guide's font and blue, and keeps 大字 chosen in the guide."""
    page = new_page(browser)
    page.goto(f"{served.base}/stats/")
    page.evaluate("localStorage.setItem('onetrip.large', '1')")
    page.goto(f"{served.base}/booking")
    css = (
        "s => { const c = getComputedStyle(document.querySelector(s)); "
        "return [c.fontFamily, c.fontSize, c.backgroundColor]; }"
    )
    family, size, _ = page.evaluate(css, "main p, main label")
    assert "PingFang SC" in family and size == "22px"
    assert page.evaluate(css, "header")[2] == "rgb(26, 58, 143)"
    page.click("button.ot-large-toggle")
    assert page.evaluate(css, "main label")[1] == "18px"
    page.context.close()


def test_cancel_asks_first_and_works_without_javascript(served: Served, browser: Any) -> None:
    """Without JavaScript, 取消 shows a confirmation; 不取消 goes back unchanged, 确认取消
    cancels, and the result page's 重新预约 is a link to the booking form."""
    ref = served.book()
    page = new_page(browser, js=False)
    look_up(page, served.base, ref)
    page.get_by_role("button", name="取消这个预约…", exact=True).click()
    assert "确认取消预约？" in page.inner_text("main")
    assert served.status(ref) == "pending"
    page.get_by_role("button", name="不取消，返回", exact=True).click()
    page.wait_for_load_state()
    assert "待确认" in page.inner_text("main") and served.status(ref) == "pending"
    page.get_by_role("button", name="取消这个预约…", exact=True).click()
    page.get_by_role("button", name="确认取消", exact=True).click()
    page.wait_for_load_state()
    assert served.status(ref) == "cancelled"
    assert "预约已取消" in page.inner_text("main")
    page.click("text=重新预约上门办理")
    page.wait_for_url(f"**/book/{ITEM}")
    page.context.close()


def test_every_result_page_says_what_happens_next_with_links(served: Served, browser: Any) -> None:
    """The booked, status and moved pages have a 接下来 section with links to the guide's
    materials and to changing the booking."""
    page = new_page(browser)
    _book_done(page, served)
    box = page.locator("section.next")
    assert "接下来" in box.inner_text() and box.locator(f"a[href='/items/{ITEM}/']").count() == 1
    look_up(page, served.base, served.book())
    assert page.locator("section.next a[href='#move-title']").count() == 1
    page.select_option("[name=slot]", index=page.locator("[name=slot] option").count() - 1)
    page.get_by_role("button", name="改到这个时段", exact=True).click()
    page.wait_for_load_state()
    assert re.search("已改到 " + DATE_TEXT.pattern, page.inner_text("main"))
    assert page.locator("section.next a").count() >= 2
    page.context.close()


def test_booking_form_links_to_my_bookings(served: Served, browser: Any) -> None:
    """Beside the booking form and in the header: 查询/取消/改期我的预约, leading to /booking."""
    page = new_page(browser)
    page.goto(f"{served.base}/book/{ITEM}")
    links = page.locator("a", has_text="查询/取消/改期我的预约")
    assert links.count() >= 2 and page.locator("header a[href='/booking']").count() == 1
    page.locator(".ot-mine a").first.click()
    page.wait_for_url("**/booking")
    page.context.close()


def test_dates_are_written_one_way(served: Served, browser: Any) -> None:
    """Slots, the status page and the staff pages write dates as 12月4日 星期五 上午, never ISO."""
    page = new_page(browser)
    _book_slots(page, served)
    assert DATE_TEXT.search(page.inner_text("fieldset:has([name=slot])"))
    ref = served.book()
    look_up(page, served.base, ref)
    text = page.inner_text("main")
    assert DATE_TEXT.search(text) and not re.search(r"\d{4}-\d{2}-\d{2}", text)
    login(page, served.base, "window1")
    page.goto(f"{served.base}/staff/bookings/{ref}")
    assert not re.search(r"\d{4}-\d{2}-\d{2}", page.inner_text("main"))
    page.context.close()


# -- window clerks ----------------------------------------------------------------------


def test_phone_form_starts_unselected_and_shows_the_slot_picker(
    served: Served, browser: Any
) -> None:
    """The staff phone form starts with 请选择事项; choosing a township lists the same
    half-days with places left that residents see, from today on."""
    page = new_page(browser)
    login(page, served.base, "window1")
    page.goto(f"{served.base}/staff/book")
    first = page.locator("#item-first option").first
    assert first.inner_text() == "请选择事项" and page.input_value("#item-first") == ""
    page.select_option("#item-first", ITEM)
    page.select_option("form[method=get] [name=town_code]", TOWN)
    page.get_by_role("button", name="查看可约时段", exact=True).click()
    page.wait_for_load_state()
    labels = page.locator("label:has([name=slot])")
    assert labels.count() > 0 and "剩余" in labels.first.inner_text()
    assert DATE_TEXT.search(labels.first.inner_text())
    assert page.input_value("#item") == ITEM
    page.context.close()


def test_window_clerk_reveals_the_full_phone_and_it_is_audited(
    served: Served, browser: Any
) -> None:
    """One tap shows the applicant's full phone to a window clerk; the reveal is an audit
    event naming who, whose and when, shown in Chinese in the record log."""
    ref = served.book(phone="13905780011")
    page = new_page(browser)
    login(page, served.base, "window1")
    page.goto(f"{served.base}/staff/bookings/{ref}")
    assert "13905780011" not in page.content()
    page.get_by_role("button", name="显示完整电话", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("a.phone-full").inner_text() == "13905780011"
    with served.app.extensions["onetrip"].read_session() as s:
        b = s.scalars(select(Booking).where(Booking.reference == ref)).one()
        event = s.scalars(
            select(BookingEvent).where(
                BookingEvent.booking_id == b.id, BookingEvent.action == "phone_revealed"
            )
        ).one()
    assert event.actor_staff_id is not None and event.detail == "applicant" and event.at
    assert "查看完整电话" in page.inner_text("table:has(th:text('操作人'))")
    page.context.close()


def test_record_log_and_lists_show_chinese_labels_only(served: Served, browser: Any) -> None:
    """After a phone booking and a move, the record log and the list show no raw codes
    (phone, window, pm, am, web)."""
    ref = served.book()
    page = new_page(browser)
    login(page, served.base, "window1")
    page.goto(f"{served.base}/staff/bookings/{ref}")
    page.select_option("#move-slot", index=1)
    page.get_by_role("button", name="改期", exact=True).click()
    page.wait_for_load_state()
    main = page.inner_text("main")
    assert "渠道：电话" in main
    log = page.inner_text("table:has(th:text('操作人'))")
    assert "改期" in log and not re.search(r"\b(phone|window|web|am|pm|moved|created)\b", log)
    page.goto(f"{served.base}/staff/")
    assert not re.search(r"\b(phone|window|am|pm|pending)\b", page.inner_text("main table"))
    page.context.close()


def test_list_filters_by_status_and_date_with_today_first(served: Served, browser: Any) -> None:
    """The default list holds confirmed bookings too, today's and tomorrow's first; filters
    by status and by day narrow it."""
    today = local_date(datetime.now(UTC))
    later = served.book(day=today + timedelta(days=5))
    soon = served.book(day=today + timedelta(days=1), half_day="pm")
    page = new_page(browser)
    login(page, served.base, "window1")
    page.goto(f"{served.base}/staff/bookings/{soon}")
    page.get_by_role("button", name="电话核实后确认", exact=True).click()
    page.wait_for_load_state()
    page.goto(f"{served.base}/staff/")
    refs = page.locator("main table tbody tr td:first-child").all_inner_texts()
    assert soon in refs and later in refs and refs.index(soon) < refs.index(later)
    page.select_option("[name=status]", "confirmed")
    page.get_by_role("button", name="筛选", exact=True).click()
    page.wait_for_load_state()
    refs = page.locator("main table tbody tr td:first-child").all_inner_texts()
    assert soon in refs and later not in refs
    page.select_option("[name=status]", "")
    page.select_option("[name=day]", (today + timedelta(days=5)).isoformat())
    page.get_by_role("button", name="筛选", exact=True).click()
    page.wait_for_load_state()
    refs = page.locator("main table tbody tr td:first-child").all_inner_texts()
    assert later in refs and soon not in refs
    page.context.close()


def test_search_says_what_it_finds_and_explains_nothing_found(served: Served, browser: Any) -> None:
    """The search box names what can be searched; the last four digits find a booking; a
    name finds nothing and the page says why."""
    ref = served.book(phone="13905784321")
    page = new_page(browser)
    login(page, served.base, "window1")
    label = page.inner_text("label[for=q]") + page.inner_text("#q-hint")
    assert "预约号" in label and "后四位" in label and "姓名" in label
    page.fill("#q", "4321")
    page.get_by_role("button", name="查找", exact=True).click()
    page.wait_for_load_state()
    assert ref in page.inner_text("main table")
    page.fill("#q", "吴秀英")
    page.get_by_role("button", name="查找", exact=True).click()
    page.wait_for_load_state()
    assert "姓名不能查找" in page.inner_text("[role=status]")
    page.context.close()


def test_staff_tables_keep_item_names_readable_at_320px(served: Served, browser: Any) -> None:
    """At 320 px the list does not scroll the page sideways and an item name is not broken
    one character a line (its cell is at least several characters wide)."""
    served.book()
    page = new_page(browser, 320)
    login(page, served.base, "window1")
    page.goto(f"{served.base}/staff/")
    assert sideways_overflow(page) == []
    width = page.evaluate(
        "() => document.querySelector('main table tbody td:nth-child(3)')"
        ".getBoundingClientRect().width"
    )
    assert width > 4 * 18
    page.context.close()


def test_pages_have_a_favicon(served: Served, browser: Any) -> None:
    """Booking and staff pages name an icon, and /favicon.ico answers with it."""
    page = new_page(browser)
    page.goto(f"{served.base}/booking")
    href = page.get_attribute("link[rel=icon]", "href")
    assert href and page.request.get(served.base + href).status == 200
    r = page.request.get(f"{served.base}/favicon.ico")
    assert r.status == 200 and r.headers["content-type"].startswith("image/svg+xml")
    page.context.close()
