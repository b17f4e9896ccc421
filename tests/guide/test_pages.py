from __future__ import annotations

import os
from pathlib import Path

import pytest

from guide import catalog, pages, stats

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("code", ["resident-pension-claim", "id-card-home"])
def test_item_page_matches_golden(real_catalog: catalog.Catalog, code: str) -> None:
    """An item's page is exactly the reviewed Markdown (UPDATE_GOLDEN=1 rewrites it)."""
    text = pages.item_page(real_catalog, real_catalog.items[code])
    golden = GOLDEN / f"{code}.md"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_every_item_and_office_gets_a_page(real_catalog: catalog.Catalog) -> None:
    """Rendering yields one page per item and per office, plus the indexes."""
    out = pages.render(real_catalog)
    for code in real_catalog.items:
        assert f"items/{code}.md" in out
    for office in real_catalog.offices:
        assert f"offices/{office}.md" in out
    for path in ("index.md", "all-items.md", "stats.md", "trips/zero.md", "trips/one.md"):
        assert path in out
    assert "lists/courier.md" in out and "lists/home-visit.md" in out


def test_every_heading_has_an_explicit_id(real_catalog: catalog.Catalog) -> None:
    """No heading relies on an automatic anchor, which for Chinese is `_1`, `_2`, …"""
    for path, text in pages.render(real_catalog).items():
        for line in text.splitlines():
            if line.startswith("#") and not line.startswith("#!"):
                assert line.rstrip().endswith("}") and "{#" in line, (path, line)


def test_item_page_states_what_a_resident_asks(real_catalog: catalog.Catalog) -> None:
    """The pension page says trips, limits, faster-by, aliases, phones and stations."""
    text = pages.item_page(real_catalog, real_catalog.items["resident-pension-claim"])
    for needle in (
        "跑零次",
        "法定办结时限：20 个工作日",
        "承诺办结时限：**5 个工作日**",
        "比法定时限快 **75.0%**",
        "也称：社保",
        'href="tel:05786122231"',
        "可后补",
        "可快递送达",
        'data-item="resident-pension-claim"',
        "全县 19 个乡镇（街道）便民服务中心都能办：松源街道、",
        "下面 5 个地方也能办",
    ):
        assert needle in text, needle


def test_home_visit_container_only_where_allowed(real_catalog: catalog.Catalog) -> None:
    """The booking container appears exactly on the pages of items that allow home visits."""
    for item in real_catalog.items.values():
        text = pages.item_page(real_catalog, item)
        assert ('class="ot-booking"' in text) == item.home_visit.allowed, item.code


def test_categories_link_every_item(real_catalog: catalog.Catalog) -> None:
    """Each item is reachable from its department page and from the all-items page."""
    out = pages.render(real_catalog)
    for item in real_catalog.items.values():
        # Pages live one level below their file (directory URLs): departments/rsj/.
        assert f'href="../../items/{item.code}/"' in out[f"departments/{item.department}.md"]
        assert f'href="../items/{item.code}/"' in out["all-items.md"]
        trips = "trips/zero.md" if item.visits_required == 0 else "trips/one.md"
        assert f'href="../../items/{item.code}/"' in out[trips]


def test_compression_ratio_converts_natural_days(real_catalog: catalog.Catalog) -> None:
    """Compression is 1 − Σpromised/Σlegal with natural days counted as 5/7 working days."""
    items = [real_catalog.items["resident-pension-claim"], real_catalog.items["id-card-home"]]
    s = stats.compute(items)
    # legal 20 working + 60 natural (= 42.857 working); promised 5 + 20 working.
    assert s.legal_working_days == pytest.approx(20 + 60 * 5 / 7)
    assert s.promised_working_days == pytest.approx(25)
    assert s.compression == pytest.approx(1 - 25 / (20 + 60 * 5 / 7))
    assert stats.percent(s.compression) == "60.2%"


def test_stats_page_shows_computed_shares(real_catalog: catalog.Catalog) -> None:
    """The 改革成效 page prints the shares computed from the whole catalog."""
    s = stats.compute(list(real_catalog.items.values()))
    text = pages.stats_page(real_catalog)
    assert f"| 事项总数 | {s.items} 个 |" in text
    assert stats.percent(s.share(s.zero_trip)) in text
    assert f"| 承诺时限比法定时限压缩 | {stats.percent(s.compression)} |" in text


def test_empty_stats_do_not_divide_by_zero() -> None:
    """An empty selection gives zero shares, not an error."""
    s = stats.compute([])
    assert s.compression == 0.0 and s.share(s.zero_trip) == 0.0
