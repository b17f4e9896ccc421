"""One date format on every page: guide.dates and its browser twin OneTrip.dateText."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from guide import dates
from tests.browser import chromium


def test_a_half_day_reads_month_day_weekday_and_half() -> None:
    """4 December 2026, morning, reads 12月4日 星期五 上午."""
    assert dates.date_text(date(2026, 12, 4), "am") == "12月4日 星期五 上午"
    assert dates.date_text(date(2026, 12, 6), "pm") == "12月6日 星期日 下午"


def test_year_and_weekday_are_optional() -> None:
    """A date far from today carries its year; an effective date drops the weekday."""
    assert dates.date_text(date(2024, 3, 1), year=True) == "2024年3月1日 星期五"
    assert dates.date_text(date(2024, 3, 1), year=True, weekday=False) == "2024年3月1日"


def test_an_unknown_half_day_is_refused() -> None:
    """A half-day other than am/pm is an error that names it."""
    with pytest.raises(ValueError, match="'noon'"):
        dates.date_text(date(2026, 12, 4), "noon")


@pytest.fixture(scope="module")
def page(built_site: Any) -> Iterator[Any]:
    with chromium() as browser:
        p = browser.new_page()
        p.add_script_tag(path=str(built_site / "assets" / "javascripts" / "onetrip.js"))
        yield p


@pytest.mark.browser
def test_browser_writes_the_same_dates(page: Any) -> None:
    """OneTrip.dateText writes what guide.dates.date_text writes, for two weeks of days."""
    days = [date(2026, 12, 1) + timedelta(days=n) for n in range(14)] + [date(2027, 1, 1)]
    for day in days:
        for half in ("am", "pm", None):
            js = page.evaluate("([d, h]) => OneTrip.dateText(d, h)", [day.isoformat(), half])
            assert js == dates.date_text(day, half), day
    js = page.evaluate("d => OneTrip.dateText(d, null, {year: true, weekday: false})", "2024-03-01")
    assert js == dates.date_text(date(2024, 3, 1), year=True, weekday=False)
