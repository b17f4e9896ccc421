"""Dates as residents read them: 12月4日 星期五 上午. Pure; the booking pages use it too.

One format everywhere (guide, booking form, look-up, staff pages): month and day without
leading zeros, the weekday as 星期一…星期日, then the half-day. `assets/javascripts/
onetrip.js` has the same function for the browser (`OneTrip.dateText`), and a browser test
checks that both write the same text.
"""

from __future__ import annotations

from datetime import date

WEEKDAYS = "一二三四五六日"  # date.weekday(): Monday is 0
HALF_DAYS = {"am": "上午", "pm": "下午"}


def date_text(
    day: date, half_day: str | None = None, *, year: bool = False, weekday: bool = True
) -> str:
    """`12月4日 星期五`, with `year=True` `2026年12月4日 星期五`, with a half-day
    (`am`/`pm`) `12月4日 星期五 上午`."""
    text = f"{day.year}年" if year else ""
    text += f"{day.month}月{day.day}日"
    if weekday:
        text += f" 星期{WEEKDAYS[day.weekday()]}"
    if half_day is not None:
        try:
            text += f" {HALF_DAYS[half_day]}"
        except KeyError:
            raise ValueError(f"half_day must be 'am' or 'pm', not {half_day!r}") from None
    return text
