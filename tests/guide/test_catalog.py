from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from guide import catalog
from guide.schema import OfficeKind

BAD = Path(__file__).parent / "bad_items"
EXPECT = re.compile(r"^# expect: field=(?P<field>.+?) rule=(?P<rule>\S+)$", re.M)


def test_real_content_loads(real_catalog: catalog.Catalog) -> None:
    """The shipped content loads without a single problem."""
    assert real_catalog.items
    assert real_catalog.site.county == "庆元县"


def test_real_content_meets_the_issue_minimums(real_catalog: catalog.Catalog) -> None:
    """At least 60 items, 15 with home visits and 25 with courier delivery."""
    items = list(real_catalog.items.values())
    assert len(items) >= 60
    assert sum(i.home_visit.allowed for i in items) >= 15
    assert sum(i.courier_supported for i in items) >= 25


def test_offices_cover_the_county(real_catalog: catalog.Catalog) -> None:
    """One county hall, a station in each of the 19 townships and 5 community points."""
    kinds = [o.kind for o in real_catalog.offices.values()]
    assert kinds.count(OfficeKind.HALL) == 1
    assert kinds.count(OfficeKind.COMMUNITY) == 5
    stations = {o.town_code for o in real_catalog.offices.values() if o.kind is OfficeKind.STATION}
    assert stations == set(real_catalog.townships)
    assert len(stations) == 19


def test_every_office_has_a_located_point_with_its_datum(real_catalog: catalog.Catalog) -> None:
    """Offices without their own point get the township seat, recorded as GCJ-02."""
    for office in real_catalog.offices.values():
        assert office.location is not None
        assert office.location.datum == "GCJ-02"
        assert 27.3 < office.location.lat < 27.9 and 118.7 < office.location.lon < 119.6


def test_items_with_stations_are_handled_everywhere(real_catalog: catalog.Catalog) -> None:
    """An item pushed down to the townships lists the hall first, then all 19 stations."""
    item = real_catalog.items["resident-pension-claim"]
    offices = real_catalog.offices_for(item)
    assert offices[0].id == "county-hall"
    assert sum(o.kind is OfficeKind.STATION for o in offices) == 19


def _cases() -> list[Path]:
    return sorted(BAD.glob("*.yml"))


@pytest.mark.parametrize("bad_file", _cases(), ids=lambda p: p.stem)
def test_bad_item_names_file_field_and_rule(bad_file: Path, content_copy: Path) -> None:
    """A malformed item fails the load with its file, the field and the broken rule named."""
    expect = EXPECT.search(bad_file.read_text(encoding="utf-8"))
    assert expect, f"{bad_file.name} lacks an '# expect:' line"
    shutil.copy(bad_file, content_copy / "items" / bad_file.name)
    with pytest.raises(catalog.CatalogError) as info:
        catalog.load(content_copy)
    errors = info.value.errors
    assert all(e.path == f"content/items/{bad_file.name}" for e in errors), errors
    assert any(e.field == expect["field"] and e.rule == expect["rule"] for e in errors), errors
    message = str(info.value)
    assert f"content/items/{bad_file.name}" in message and expect["rule"] in message


def test_bad_folder_covers_the_issue_cases() -> None:
    """The bad-item folder holds every case the issue names."""
    rules = {EXPECT.search(p.read_text(encoding="utf-8"))["rule"] for p in _cases()}  # type: ignore[index]
    assert {
        "required",
        "promise-within-legal",
        "zero-trip-channel",
        "phone-area-code",
        "complaint-differs",
        "known-office",
    } <= rules


def test_all_problems_reported_at_once(content_copy: Path) -> None:
    """Two broken files give two sets of errors in one failure, not one at a time."""
    for name in ("unknown-office.yml", "promise-above-legal.yml"):
        shutil.copy(BAD / name, content_copy / "items" / name)
    with pytest.raises(catalog.CatalogError) as info:
        catalog.load(content_copy)
    assert {e.path for e in info.value.errors} == {
        "content/items/unknown-office.yml",
        "content/items/promise-above-legal.yml",
    }


def test_duplicate_task_code_is_refused(content_copy: Path) -> None:
    """Two items cannot share an implementation code (实施编码)."""
    src = yaml.safe_load((content_copy / "items" / "resident-pension-claim.yml").read_text("utf-8"))
    src["code"] = "pension-twin"
    (content_copy / "items" / "pension-twin.yml").write_text(
        yaml.safe_dump(src, allow_unicode=True), "utf-8"
    )
    with pytest.raises(catalog.CatalogError) as info:
        catalog.load(content_copy)
    assert [(e.field, e.rule) for e in info.value.errors] == [("task_code", "unique-task-code")]


def test_office_in_unknown_township_is_refused(content_copy: Path) -> None:
    """An office whose township is not in the county gazetteer is an error in offices.yml."""
    offices = yaml.safe_load((content_copy / "offices.yml").read_text("utf-8"))
    offices.append(
        {
            "id": "far-away",
            "name": "外县便民服务中心",
            "kind": "station",
            "town_code": "330521001",
            "address": "德清县某街道",
            "hours": "工作日",
            "phone": "0572-8000000",
        }
    )
    (content_copy / "offices.yml").write_text(yaml.safe_dump(offices, allow_unicode=True), "utf-8")
    with pytest.raises(catalog.CatalogError) as info:
        catalog.load(content_copy)
    assert [(e.path, e.field, e.rule) for e in info.value.errors] == [
        ("content/offices.yml", "far-away.town_code", "known-township")
    ]


def test_file_not_in_utf8_is_named(content_copy: Path) -> None:
    """An item saved in GBK is a content error naming the file, not a bare UnicodeDecodeError."""
    path = content_copy / "items" / "resident-pension-claim.yml"
    path.write_bytes(path.read_text("utf-8").encode("gbk"))
    with pytest.raises(catalog.CatalogError) as info:
        catalog.load(content_copy)
    assert [(e.path, e.rule) for e in info.value.errors] == [
        ("content/items/resident-pension-claim.yml", "utf-8")
    ]


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("综合受理窗口 1—8号", set(range(1, 9))),
        ("户籍和身份证窗口 16号", {16}),
        ("综合受理窗口 8号（婚姻登记）", {8}),
        ("10-12号", {10, 11, 12}),
        ("二楼服务台", set()),
    ],
)
def test_window_numbers(text: str, numbers: set[int]) -> None:
    """Window texts name single numbers and ranges with any dash."""
    assert catalog.window_numbers(text) == numbers
