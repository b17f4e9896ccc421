"""The design tokens and the 大字 setting work on a page outside the guide, as the booking
and staff pages will use them: link tokens.css and onetrip.js, add a toggle button."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser import chromium

pytestmark = pytest.mark.browser

OUTSIDE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<link rel="stylesheet" href="/assets/stylesheets/tokens.css">
<script src="/assets/javascripts/onetrip.js"></script></head>
<body class="ot-page"><button type="button" class="ot-large-toggle ot-button">大字</button>
<p id="text">查询/取消/改期我的预约</p></body></html>"""


def test_a_booking_page_gets_the_tokens_and_shares_large_type(site_server: str) -> None:
    """A page linking tokens.css uses the guide's font, colour and 18 px text; its 大字 button
    lifts text to 22 px, and the guide's next page keeps large type."""
    with chromium() as browser:
        page: Any = browser.new_page(viewport={"width": 390, "height": 844})
        page.route(
            f"{site_server}/booking-like/",
            lambda route: route.fulfill(status=200, content_type="text/html", body=OUTSIDE),
        )
        page.goto(f"{site_server}/booking-like/")
        style = (
            "s => { const c = getComputedStyle(document.querySelector(s)); "
            "return [c.fontSize, c.fontFamily, c.backgroundColor]; }"
        )
        size, family, _ = page.evaluate(style, "#text")
        assert size == "18px" and "PingFang SC" in family
        assert page.evaluate(style, ".ot-button")[2] == "rgb(26, 58, 143)"  # --ot-color-primary
        page.click(".ot-large-toggle")
        assert page.evaluate(style, "#text")[0] == "22px"
        assert page.get_attribute(".ot-large-toggle", "aria-pressed") == "true"
        page.goto(f"{site_server}/stats/")
        assert page.evaluate("document.documentElement.classList.contains('ot-large')")
        page.close()
