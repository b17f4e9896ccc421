"""Every guide page on a phone: no sideways scrolling at 320 px, tap targets of 44 px,
no serious or critical axe-core finding. The helpers live in tests/browser.py so the
booking, look-up and staff pages can run the same checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import axe_findings, chromium, sideways_overflow, small_targets

pytestmark = pytest.mark.browser

# One of each kind of page: home, indexes, lists, an item without and two with the booking
# form, an office, both procedure pages, the numbers and the data sources.
PAGES = [
    "/",
    "/all-items/",
    "/departments/",
    "/departments/rsj/",
    "/life-events/",
    "/trips/",
    "/lists/home-visit/",
    "/items/birth-registration/",
    "/items/id-card-home/",
    "/items/resident-pension-claim/",
    "/offices/",
    "/offices/county-hall/",
    "/procedures/home-visit/",
    "/procedures/courier/",
    "/stats/",
    "/data-sources/",
]
# What the booking API answers, so item pages show the real form (booking.js) without the
# booking app: its look is checked here, its behaviour in tests/scheduler.
TOWNSHIPS = [{"code": "331126001", "name": "松源街道"}, {"code": "331126100", "name": "黄田镇"}]
SLOTS = [
    {"date": "2026-12-04", "half_day": "am", "half_day_name": "上午", "remaining": 3},
    {"date": "2026-12-04", "half_day": "pm", "half_day_name": "下午", "remaining": 0},
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _open(browser: Any, base: str, path: str, width: int) -> Any:
    context = browser.new_context(
        viewport={"width": width, "height": 800}, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    page = context.new_page()

    def api(route: Any) -> None:
        url = route.request.url
        body = TOWNSHIPS if "/api/townships" in url else SLOTS if "/api/slots" in url else {}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/api/**", api)
    page.goto(base + path)
    if page.locator(".ot-booking[data-item]").count():
        page.wait_for_selector(".ot-booking[data-ready=true] form")
    return page


@pytest.fixture(scope="module")
def site(site_server: str, built_site: Any) -> str:
    """The served guide; fails early if a listed page is not built."""
    for path in PAGES:
        assert (built_site / path.strip("/") / "index.html").is_file(), path
    return site_server


@pytest.mark.parametrize("path", PAGES)
def test_no_sideways_scrolling_at_320_px(browser: Any, site: str, path: str) -> None:
    """At 320 px wide the page is no wider than the screen (long codes wrap)."""
    page = _open(browser, site, path, 320)
    try:
        found = sideways_overflow(page)
        assert not found, "\n".join(found)
    finally:
        page.context.close()


@pytest.mark.parametrize("path", PAGES)
def test_tap_targets_are_44_px(browser: Any, site: str, path: str) -> None:
    """Every visible link, button and form row is at least 44 × 44 CSS px at 390 px."""
    page = _open(browser, site, path, 390)
    try:
        found = small_targets(page)
        assert not found, "\n".join(found)
    finally:
        page.context.close()


@pytest.mark.parametrize("path", PAGES)
def test_no_serious_accessibility_findings(browser: Any, site: str, path: str) -> None:
    """axe-core finds nothing serious or critical on the page."""
    page = _open(browser, site, path, 390)
    try:
        found = axe_findings(page)
        assert not found, "\n".join(found)
    finally:
        page.context.close()


def test_open_search_passes_the_same_checks(browser: Any, site: str) -> None:
    """With the search dialog open and results listed, it is named, fits 320 px and has
    44 px targets."""
    page = _open(browser, site, "/", 320)
    try:
        page.click('label.md-header__button[for="__search"]')
        page.fill("input.md-search__input", "养老")
        page.wait_for_selector(".md-search-result__item")
        # On small screens the dialog slides in from the right (a CSS transition): measure
        # once it has arrived, not while it is still beside the page.
        page.wait_for_function(
            "() => document.getAnimations().every(a => a.playState !== 'running')"
        )
        assert page.get_attribute(".md-search", "aria-label") == "搜索事项"
        found = sideways_overflow(page)
        assert not found, "\n".join(found)
        found = small_targets(page)
        assert not found, "\n".join(found)
        found = axe_findings(page)
        assert not found, "\n".join(found)
    finally:
        page.context.close()


def test_the_checks_catch_what_they_look_for(browser: Any) -> None:
    """On a page built to fail, each helper reports its problem."""
    page = browser.new_page(viewport={"width": 320, "height": 600})
    try:
        page.set_content(
            '<html lang="zh"><body style="margin:0"><div style="width:500px">宽</div>'
            '<button style="width:30px;height:30px">小</button>'
            '<label><input type="radio" name="r">一行</label>'
            '<input type="checkbox" id="t" hidden><label for="t" style="display:inline-block;'
            'width:40px;height:40px">菜单</label>'
            '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
            '<div role="dialog"><a href="#x">链接</a></div></body></html>'
        )
        assert sideways_overflow(page)[0] == "page is 500px wide at 320px"
        small = small_targets(page)
        assert any(s.startswith('button "小" 30x30') for s in small), small
        assert any(s.startswith('label "一行"') for s in small), small
        assert any(s.startswith('label "菜单" 40x40') for s in small), small
        rules = {f.split(" ")[0] for f in axe_findings(page)}
        assert {"image-alt", "aria-dialog-name"} <= rules, rules
    finally:
        page.close()
