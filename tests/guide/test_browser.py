from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser import chromium

PHONE = {"width": 390, "height": 844}
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def phone(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """A phone-sized page that records every URL it requests."""
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    yield page, requested
    context.close()


def _outside(urls: list[str]) -> list[str]:
    return [
        u
        for u in urls
        if urlparse(u).scheme in ("http", "https", "ws", "wss")
        and urlparse(u).hostname not in ("127.0.0.1", "localhost")
    ]


def test_item_page_reads_large_on_a_phone(phone: tuple[Any, list[str]], site_server: str) -> None:
    """On a phone, the item page's body text computes to at least 18 px."""
    page, requested = phone
    page.goto(f"{site_server}/items/resident-pension-claim/")
    size = page.eval_on_selector(".md-typeset p", "e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 18
    assert page.locator("h1").inner_text() == "城乡居民基本养老保险待遇申领"
    assert _outside(requested) == []


@pytest.mark.parametrize("query", ["养老", "社保"])
def test_search_finds_the_pension_item(
    phone: tuple[Any, list[str]], site_server: str, query: str
) -> None:
    """Typing 养老 or 社保 into the real search box lists the pension item."""
    page, requested = phone
    page.goto(f"{site_server}/")
    page.click('label.md-header__button[for="__search"]')
    # search.js answers the input event, which fill() sends; the retry loop stays as a guard
    # for a slow first load of Pagefind. Zero-width breaks are stripped before comparing.
    listed = """name => [...document.querySelectorAll('.md-search-result__article h1')]
                 .some(h => h.textContent.replaceAll('\u200b', '').includes(name))"""
    box = "input.md-search__input"
    for _attempt in range(10):
        page.fill(box, query)
        page.press(box, "End")
        try:
            page.wait_for_function(listed, arg="城乡居民基本养老保险待遇申领", timeout=3_000)
            break
        except PlaywrightTimeout:
            page.fill(box, "")
    titles = page.locator(".md-search-result__article h1").all_inner_texts()
    assert any("城乡居民基本养老保险待遇申领" in t.replace("\u200b", "") for t in titles), titles
    assert _outside(requested) == []


def test_list_rows_are_big_enough_to_tap(phone: tuple[Any, list[str]], site_server: str) -> None:
    """Every item link on a category page is at least 44 px tall."""
    page, requested = phone
    page.goto(f"{site_server}/lists/home-visit/")
    heights = page.eval_on_selector_all(
        ".ot-list li > a:first-child", "els => els.map(e => e.getBoundingClientRect().height)"
    )
    assert heights and min(heights) >= 44
    assert _outside(requested) == []


def test_large_type_toggle_is_remembered(phone: tuple[Any, list[str]], site_server: str) -> None:
    """The 大字 button enlarges body text and the next page keeps the choice."""
    page, requested = phone
    page.goto(f"{site_server}/items/id-card-home/")
    size = "e => parseFloat(getComputedStyle(e).fontSize)"
    before = page.eval_on_selector(".md-typeset p", size)
    button = page.locator(".ot-large-toggle")
    box = button.bounding_box()
    assert box and box["height"] >= 44 and box["width"] >= 44
    button.click()
    assert page.eval_on_selector(".md-typeset p", size) > before
    page.goto(f"{site_server}/stats/")
    assert page.eval_on_selector(".md-typeset p", size) > before
    assert button.get_attribute("aria-pressed") == "true"
    assert _outside(requested) == []


def test_item_prints_as_a_short_checklist(browser: Any, site_server: str) -> None:
    """Printed, an item keeps the checklist, drops steps and booking, and fits two A4 pages."""
    page = browser.new_page()
    page.goto(f"{site_server}/items/resident-pension-claim/")
    page.emulate_media(media="print")
    display = "id => getComputedStyle(document.getElementById(id)).display"
    assert page.evaluate(display, "materials") != "none"
    assert page.evaluate(display, "steps") == "none"
    assert page.evaluate(display, "where") != "none"
    assert page.eval_on_selector(".ot-booking", "e => getComputedStyle(e).display") == "none"
    pdf = page.pdf(format="A4")
    assert 1 <= len(re.findall(rb"/Type\s*/Page\b", pdf)) <= 2
    page.close()
