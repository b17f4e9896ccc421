from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

from guide import catalog, search

# Anything the browser fetches by itself: scripts, stylesheets, fonts, images, icons.
FETCHED = re.compile(
    r"<(?:script|img|source|iframe|audio|video)\b[^>]*\bsrc=[\"']([^\"']+)"
    r"|<link\b[^>]*\bhref=[\"']([^\"']+)"
    r"|url\(\s*[\"']?([^)\"']+)"
    r"|@import\s+[\"']([^\"']+)",
    re.I,
)


def _outside(url: str) -> bool:
    parsed = urlparse(url)
    if url.startswith("//"):
        return True
    return parsed.scheme in ("http", "https") and parsed.hostname not in ("127.0.0.1", "localhost")


def test_strict_build_succeeds(built_site: Path) -> None:
    """`mkdocs build --strict` builds the real content with no warning."""
    assert (built_site / "index.html").exists()
    assert (built_site / "pagefind" / "pagefind.js").exists()


def test_nothing_loads_from_outside_the_site(built_site: Path) -> None:
    """No page or stylesheet references an outside script, stylesheet, font or image."""
    offenders = []
    for path in [*built_site.rglob("*.html"), *built_site.rglob("*.css")]:
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in FETCHED.finditer(text):
            url = next(g for g in match.groups() if g)
            if _outside(url):
                offenders.append(f"{path.relative_to(built_site)}: {url}")
    assert offenders == []


def test_detector_catches_outside_assets() -> None:
    """The detector itself flags fonts, scripts and images from other hosts."""
    page = (
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
        '<script src="//cdn.example.com/x.js"></script><img src="http://example.com/a.png">'
        '<a href="https://creativecommons.org/">licence</a>'
    )
    urls = [next(g for g in m.groups() if g) for m in FETCHED.finditer(page)]
    assert [u for u in urls if _outside(u)] == [
        "https://fonts.googleapis.com/css?family=Roboto",
        "//cdn.example.com/x.js",
        "http://example.com/a.png",
    ]


def test_no_automatic_anchors(built_site: Path) -> None:
    """No heading id looks like `_1`: Chinese headings keep their explicit ids."""
    for path in built_site.rglob("*.html"):
        assert not re.search(r'\bid="_\d*"', path.read_text(encoding="utf-8")), path


def test_items_stay_out_of_the_navigation(built_site: Path, real_catalog: catalog.Catalog) -> None:
    """Item pages are not nav entries: a page's nav has no link to other items."""
    page = (built_site / "items" / "resident-pension-claim" / "index.html").read_text("utf-8")
    nav = page[page.index('<nav class="md-nav md-nav--primary"') :]
    nav = nav[: nav.index("</nav>")]
    assert "id-card-home" not in nav


def test_material_lunr_index_stays_empty(built_site: Path) -> None:
    """Material's single-file index holds no page: search is Pagefind's."""
    index = json.loads((built_site / "search" / "search_index.json").read_text("utf-8"))
    assert index["docs"] == []


def test_pagefind_bundle_is_built(built_site: Path) -> None:
    """The build writes Pagefind's chunked Chinese index next to the pages."""
    bundle = built_site / "pagefind"
    entry = json.loads((bundle / "pagefind-entry.json").read_text("utf-8"))
    assert "zh" in entry["languages"]
    assert (bundle / "pagefind.js").is_file()
    assert len(list((bundle / "index").glob("*.pf_index"))) >= 1


def test_item_page_carries_its_search_record(built_site: Path) -> None:
    """An item's hidden search record holds its name, aliases, materials and conditions."""
    page = (built_site / "items" / "birth-registration" / "index.html").read_text("utf-8")
    record = page[page.index('<div class="ot-search-record"') :]
    record = record[: record.index("</div>")]
    assert "data-pagefind-body" in record and " hidden" in record
    assert '<span data-pagefind-meta="title">出生登记</span>' in record
    indexed = set(re.sub(r"<[^>]+>", " ", record).split())
    # An alias (上户口), a material (户口簿, 出生医学证明) and a condition (落户).
    wanted = search.terms(["上户口", "户口簿", "出生医学证明", "随父或随母落户"])
    assert set(wanted) <= indexed, set(wanted) - indexed
    # Boilerplate stays out: no other part of the page is indexed.
    assert page.count("data-pagefind-body") == 1


def test_lists_are_not_searched(built_site: Path) -> None:
    """Category lists and indexes carry no search body: they would outrank their items."""
    for page in ["all-items", "lists/home-visit", "trips/zero", "departments"]:
        text = (built_site / page / "index.html").read_text("utf-8")
        assert "data-pagefind-body" not in text, page


@pytest.mark.parametrize(
    "page", ["stats", "offices", "procedures/home-visit", "procedures/courier"]
)
def test_key_pages_exist(built_site: Path, page: str) -> None:
    """改革成效, the offices and both procedure pages are published."""
    assert (built_site / page / "index.html").exists()


def test_data_sources_credit_the_coordinates(built_site: Path) -> None:
    """The CC BY 4.0 coordinates are attributed to Vonng/adcode on the site."""
    text = (built_site / "data-sources" / "index.html").read_text("utf-8")
    assert "Vonng/adcode" in text and "CC BY 4.0" in text


LINK = re.compile(r"<a\b[^>]*\bhref=\"([^\"#?]*)[^\"]*\"", re.I)


def test_every_internal_link_resolves(built_site: Path) -> None:
    """Every relative link of every built page leads to a page that exists."""
    broken = []
    for page in built_site.rglob("*.html"):
        for href in LINK.findall(page.read_text(encoding="utf-8")):
            if not href or ":" in href or href.startswith(("/book/", "/booking")):
                continue  # same page, outside, tel:, or the booking app's own pages
            base = built_site if href.startswith("/") else page.parent
            target = (base / href.lstrip("/")).resolve()
            if not (target.is_file() or (target / "index.html").is_file()):
                broken.append(f"{page.relative_to(built_site)} -> {href}")
    assert broken == []


LOOKUP = '<a href="/booking">查询/取消/改期我的预约</a>'


def test_every_page_leads_back_to_a_booking(built_site: Path) -> None:
    """The nav of every page links 「查询/取消/改期我的预约」 to /booking."""
    missing = []
    for page in built_site.rglob("index.html"):
        if "pagefind" in page.parts:
            continue
        text = page.read_text("utf-8")
        nav = text[text.index('<nav class="md-nav md-nav--primary"') :]
        if 'href="/booking"' not in nav[: nav.index("</nav>")]:
            missing.append(str(page.relative_to(built_site)))
    assert missing == []


def test_booking_forms_and_the_procedure_link_the_lookup(
    built_site: Path, real_catalog: catalog.Catalog
) -> None:
    """Beside every booking form and on the 上门约办 page the look-up link is given."""
    for item in real_catalog.items.values():
        text = (built_site / "items" / item.code / "index.html").read_text("utf-8")
        box = text[text.index('<div class="ot-booking"') :] if item.home_visit.allowed else ""
        assert (LOOKUP in box[: box.index("</div>")]) if box else LOOKUP not in text, item.code
    procedure = (built_site / "procedures" / "home-visit" / "index.html").read_text("utf-8")
    assert "查询/取消/改期我的预约</a>" in procedure and 'href="/booking"' in procedure
