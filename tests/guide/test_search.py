"""Search finds what residents type: the query set of search_queries.yml, typed into the
real search box of the built guide (Pagefind behind Material's box)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from guide import catalog
from tests.browser import chromium

pytestmark = pytest.mark.browser

QUERIES = Path(__file__).with_name("search_queries.yml")
TOP = 3
TARGET_HIT_RATE = 0.97
BOX = "input.md-search__input"


def expected(cat: catalog.Catalog, entry: dict[str, Any]) -> set[str]:
    """The item codes that answer one query: those listed, and for `material: X` every
    item whose materials list X."""
    codes = set(entry.get("expect", []))
    if "material" in entry:
        material = entry["material"]
        codes |= {
            i.code for i in cat.items.values() if any(material in m.name for m in i.materials)
        }
    unknown = codes - set(cat.items)
    assert not unknown, f"{entry['query']}: unknown items {unknown}"
    assert codes, f"{entry['query']}: nothing expected"
    return codes


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def search_page(browser: Any, site_server: str) -> Iterator[Any]:
    """A phone-sized guide page with the search dialog open."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{site_server}/")
    page.click('label.md-header__button[for="__search"]')
    yield page
    context.close()


def type_query(page: Any, query: str) -> list[str]:
    """Type `query` into the search box and return the item codes listed, in order."""
    page.fill(BOX, "")
    page.wait_for_function("() => !document.querySelector('.ot-search-results li')")
    page.type(BOX, query)
    page.wait_for_function(
        """q => { const m = document.querySelector('.ot-search-meta').textContent;
                  return document.querySelector('input.md-search__input').value === q
                    && (m.includes('个结果') || m.includes('没有找到')); }""",
        arg=query,
    )
    hrefs = page.eval_on_selector_all(
        ".ot-search-results a.md-search-result__link", "els => els.map(a => a.href)"
    )
    path = [urlparse(h).path.strip("/").split("/") for h in hrefs]
    return [p[1] if p[0] == "items" else "/".join(p) for p in path]


def test_query_set_is_large_enough(real_catalog: catalog.Catalog) -> None:
    """The query set has at least 40 queries, each naming items that exist."""
    entries = yaml.safe_load(QUERIES.read_text(encoding="utf-8"))
    assert len(entries) >= 40
    for entry in entries:
        expected(real_catalog, entry)


def test_search_box_finds_the_item_people_mean(
    search_page: Any, real_catalog: catalog.Catalog
) -> None:
    """At least 97 % of the query set list an expected item among the first three results."""
    entries = yaml.safe_load(QUERIES.read_text(encoding="utf-8"))
    misses = []
    for entry in entries:
        listed = type_query(search_page, entry["query"])
        if not set(listed[:TOP]) & expected(real_catalog, entry):
            misses.append(f"{entry['query']}: {listed[:5]}")
    rate = 1 - len(misses) / len(entries)
    print(f"search hit rate (top {TOP}): {len(entries) - len(misses)}/{len(entries)} = {rate:.1%}")
    assert rate >= TARGET_HIT_RATE, "\n".join(misses)


def test_a_phrase_no_page_contains_still_finds_the_item(search_page: Any) -> None:
    """退休拿养老金 (no page says 拿) still lists the retirement item, marked as close matches."""
    listed = type_query(search_page, "退休拿养老金")
    assert "retirement-application" in listed[:TOP]
    assert "相近" in search_page.inner_text(".ot-search-meta")


def test_nonsense_says_nothing_was_found(search_page: Any) -> None:
    """A query that matches nothing says so and suggests words and the hotline."""
    assert type_query(search_page, "zzqqxx") == []
    assert "12345" in search_page.inner_text(".ot-search-meta")


def test_search_fetches_index_chunks_not_the_lunr_index(browser: Any, site_server: str) -> None:
    """A first query loads Pagefind's chunks from the site and never Material's lunr index."""
    page = browser.new_page(viewport={"width": 390, "height": 844})
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(f"{site_server}/items/birth-registration/")
    assert not any("/pagefind/" in u for u in requested)  # nothing before the box is used
    page.click('label.md-header__button[for="__search"]')
    page.fill(BOX, "医保")
    page.wait_for_selector(".md-search-result__item")
    assert any(u.endswith(".pf_index") for u in requested)
    assert not any("search_index.json" in u for u in requested)
    assert all(urlparse(u).hostname == "127.0.0.1" for u in requested if "://" in u)
    page.close()
