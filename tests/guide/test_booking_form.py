"""The booking form on item pages (booking.js) as residents meet it, with the booking API
answered by the test: dates in the one format, helpful phone messages, focus on the first
error, and the way back to a booking beside the form."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import chromium

pytestmark = pytest.mark.browser

ITEM = "id-card-home"
TOWNSHIPS = [{"code": "331126001", "name": "松源街道"}]
SLOTS = [
    {"date": "2026-12-04", "half_day": "am", "half_day_name": "上午", "remaining": 3},
    {"date": "2026-12-04", "half_day": "pm", "half_day_name": "下午", "remaining": 0},
    {"date": "2026-12-07", "half_day": "pm", "half_day_name": "下午", "remaining": 1},
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def form(browser: Any, site_server: str) -> Iterator[Any]:
    """The item page at phone size with its booking form built from the answered API."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()

    def api(route: Any) -> None:
        url = route.request.url
        body = TOWNSHIPS if "/api/townships" in url else SLOTS if "/api/slots" in url else {}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/api/**", api)
    page.goto(f"{site_server}/items/{ITEM}/")
    page.wait_for_selector(".ot-booking[data-ready=true] form")
    yield page
    context.close()


def test_slots_read_in_the_one_date_format(form: Any) -> None:
    """Open slots read 12月4日 星期五 上午（剩余3个名额）; full ones are not offered."""
    form.select_option("[name=town_code]", "331126001")
    form.wait_for_selector("[name=slot] option[value='2026-12-04|am']", state="attached")
    options = form.eval_on_selector_all("[name=slot] option", "os => os.map(o => o.textContent)")
    assert options == [
        "请选择",
        "12月4日 星期五 上午（剩余3个名额）",
        "12月7日 星期一 下午（剩余1个名额）",
    ]


def test_a_landline_gets_advice_not_just_an_error(form: Any) -> None:
    """A landline in the phone field says a relative's mobile works, or to call 12345."""
    form.fill("[name=applicant_phone]", "0578-6122110")
    form.click(".ot-booking button[type=submit]")
    message = form.inner_text("[name=applicant_phone] ~ .ot-field-error")
    assert "固定电话" in message and "亲属" in message and "12345" in message
    assert form.get_attribute("[name=applicant_phone]", "aria-invalid") == "true"


def test_with_several_errors_the_first_gets_the_focus(form: Any) -> None:
    """Submitting an empty form marks every missing field and focuses the first (姓名)."""
    form.click(".ot-booking button[type=submit]")
    assert form.evaluate("document.activeElement.name") == "applicant_name"
    assert form.locator("[aria-invalid=true]").count() >= 4


def test_the_way_back_to_a_booking_is_beside_the_form(form: Any) -> None:
    """Next to the form a link 「查询/取消/改期我的预约」 leads to /booking."""
    link = form.locator(".ot-booking a[href='/booking']")
    assert link.inner_text() == "查询/取消/改期我的预约"
