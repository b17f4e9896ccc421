from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from geopy.exc import GeocoderServiceError, GeocoderTimedOut

from routing.gazetteer import Gazetteer, GazetteerDataError, Level
from routing.geo import Datum, LatLon, gcj02_to_wgs84, haversine_m, wgs84_to_gcj02
from routing.geocode import (
    AddressQuery,
    AmbiguousPlaceError,
    GazetteerGeocoder,
    GeocodeError,
    GeocoderUnavailableError,
    GeopyGeocoder,
    OutsideServiceAreaError,
    Precision,
    UnknownPlaceError,
    nominatim_precision,
)

GAZETTEER_DIR = Path(__file__).resolve().parents[2] / "content" / "gazetteer"

QINGYUAN_TOWNSHIPS = [
    ("331126001", "松源街道", Level.SUBDISTRICT),
    ("331126002", "濛洲街道", Level.SUBDISTRICT),
    ("331126003", "屏都街道", Level.SUBDISTRICT),
    ("331126101", "黄田镇", Level.TOWN),
    ("331126102", "竹口镇", Level.TOWN),
    ("331126104", "荷地镇", Level.TOWN),
    ("331126105", "左溪镇", Level.TOWN),
    ("331126106", "贤良镇", Level.TOWN),
    ("331126107", "百山祖镇", Level.TOWN),
    ("331126200", "岭头乡", Level.TOWNSHIP),
    ("331126201", "五大堡乡", Level.TOWNSHIP),
    ("331126202", "淤上乡", Level.TOWNSHIP),
    ("331126203", "安南乡", Level.TOWNSHIP),
    ("331126204", "张村乡", Level.TOWNSHIP),
    ("331126205", "隆宫乡", Level.TOWNSHIP),
    ("331126206", "举水乡", Level.TOWNSHIP),
    ("331126207", "江根乡", Level.TOWNSHIP),
    ("331126209", "龙溪乡", Level.TOWNSHIP),
    ("331126211", "官塘乡", Level.TOWNSHIP),
]

# 隆宫乡 seat as published (GCJ-02) in townships.csv.
LONGGONG_GCJ02 = LatLon(27.487014, 118.951277)
# 安溪村委会 (安南乡), one of the few 2016 villages with a point (GCJ-02).
ANXI_GCJ02 = LatLon(27.508058, 119.003643)


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.load(GAZETTEER_DIR)


@pytest.fixture(scope="module")
def geocoder(gazetteer: Gazetteer) -> GazetteerGeocoder:
    return GazetteerGeocoder(gazetteer=gazetteer)


def _close(a: LatLon, b: LatLon, metres: float = 0.5) -> bool:
    return haversine_m(a, b) < metres


# -- the gazetteer ---------------------------------------------------------------------


def test_qingyuan_has_19_township_units_in_code_order(gazetteer: Gazetteer) -> None:
    """庆元县 lists its 19 街道/镇/乡 with codes, names and levels, each with a point."""
    townships = gazetteer.townships("331126")
    assert [(t.code, t.name, t.level) for t in townships] == QINGYUAN_TOWNSHIPS
    assert all(t.point is not None and t.county_code == "331126" for t in townships)


def test_deqing_townships_include_ones_without_points(gazetteer: Gazetteer) -> None:
    """德清县 has 13 units; 阜溪, 下渚湖 and 康乾 街道 have no point."""
    townships = gazetteer.townships("330521")
    assert len(townships) == 13
    assert {t.name for t in townships if t.point is None} == {"阜溪街道", "下渚湖街道", "康乾街道"}


def test_points_are_converted_to_wgs84(gazetteer: Gazetteer) -> None:
    """Gazetteer points are the GCJ-02 file rows converted to WGS-84."""
    point = gazetteer.township("331126205").point
    assert point is not None
    assert point == gcj02_to_wgs84(LONGGONG_GCJ02)
    assert not _close(point, LONGGONG_GCJ02, metres=300)


def test_villages_snapshot(gazetteer: Gazetteer) -> None:
    """The 2016 snapshot has 533 villages/communities, 26 of them with a point."""
    villages = gazetteer.villages_by_code.values()
    assert len(villages) == 533
    assert sum(v.point is not None for v in villages) == 26
    assert [v.name for v in gazetteer.villages("331126001")][:3] == [
        "石龙社区",
        "咏归社区",
        "新建社区",
    ]


def test_unknown_county_has_no_townships(gazetteer: Gazetteer) -> None:
    """Asking for the townships of a county not in the gazetteer is a KeyError."""
    with pytest.raises(KeyError):
        gazetteer.townships("330100")


def test_missing_directory_names_the_file(tmp_path: Path) -> None:
    """Loading from a directory without the CSVs raises GazetteerDataError naming the file."""
    with pytest.raises(GazetteerDataError, match=r"townships\.csv"):
        Gazetteer.load(tmp_path)


def test_malformed_row_names_file_and_line(tmp_path: Path) -> None:
    """A bad latitude is reported with the file name and line number."""
    header = "county,name,admin_code,level,lat,lon,datum,source\n"
    (tmp_path / "townships.csv").write_text(
        header
        + "庆元县,庆元县,331126,county,27.61922,119.06259,GCJ-02,x\n"
        + "庆元县,松源街道,331126001,subdistrict,north,119.0,GCJ-02,x\n",
        encoding="utf-8",
    )
    (tmp_path / "villages_2016.csv").write_text(header, encoding="utf-8")
    with pytest.raises(GazetteerDataError, match=r"townships\.csv:3"):
        Gazetteer.load(tmp_path)


def test_geocoder_loads_from_a_directory_argument() -> None:
    """GazetteerGeocoder takes the gazetteer directory as its first argument."""
    geocoder = GazetteerGeocoder(GAZETTEER_DIR)
    assert len(geocoder.townships()) == 19
    assert geocoder.county.name == "庆元县"


# -- townships -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["331126205", "３３１１２６２０５", "隆宫乡", "隆宫", " 隆 宫乡 ", "庆元县隆宫乡"]
)
def test_township_by_code_name_or_short_name(geocoder: GazetteerGeocoder, query: str) -> None:
    """A township code, full name or short name gives the township seat, precision township."""
    result = geocoder.geocode(query)
    assert result.precision is Precision.TOWNSHIP
    assert result.point == gcj02_to_wgs84(LONGGONG_GCJ02)
    assert (result.admin_code, result.township_code, result.county_code) == (
        "331126205",
        "331126205",
        "331126",
    )
    assert result.name == "庆元县隆宫乡"


def test_township_form_fields(geocoder: GazetteerGeocoder) -> None:
    """AddressQuery(township=short name) resolves like the full name; detail is ignored offline."""
    result = geocoder.geocode(AddressQuery(township="举水", detail="月山村12号"))
    assert result.precision is Precision.TOWNSHIP
    assert result.township_code == "331126206"


def test_old_township_suffix_is_accepted(geocoder: GazetteerGeocoder) -> None:
    """百山祖乡 (its 2016 name) finds today's 百山祖镇."""
    assert geocoder.geocode(AddressQuery(township="百山祖乡")).admin_code == "331126107"
    assert geocoder.geocode("庆元县百山祖乡斋郎村").admin_code == "331126107"


def test_full_name_beats_a_street_named_after_another_township(
    geocoder: GazetteerGeocoder,
) -> None:
    """In 濛洲街道松源路12号 the township is 濛洲, not 松源 (a street name)."""
    assert geocoder.geocode("濛洲街道松源路12号").township_code == "331126002"


def test_free_text_first_township_mentioned_wins(geocoder: GazetteerGeocoder) -> None:
    """Addresses go coarse to fine, so the first township short name is the township."""
    assert geocoder.geocode("庆元县竹口黄田路5号").township_code == "331126102"


# -- villages --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "331126203200",
        "庆元县安南乡安溪村",
        "安南乡安溪村委会",
        "安南安溪",
        AddressQuery(township="安南乡", village="安溪村"),
        AddressQuery(township="331126203", village="安溪"),
        AddressQuery(village="331126203200"),
    ],
)
def test_village_with_point(geocoder: GazetteerGeocoder, query: str | AddressQuery) -> None:
    """A 2016 village that has a point is located at it, with precision village."""
    result = geocoder.geocode(query)
    assert result.precision is Precision.VILLAGE
    assert result.point == gcj02_to_wgs84(ANXI_GCJ02)
    assert result.admin_code == "331126203200"
    assert result.township_code == "331126203"
    assert result.name == "庆元县安南乡安溪村委会"


def test_village_with_doubled_character_name(geocoder: GazetteerGeocoder) -> None:
    """八一村村委会 is found as 八一村 and as 八一 within 屏都街道."""
    for query in ("屏都街道八一村", AddressQuery(township="屏都", village="八一")):
        result = geocoder.geocode(query)
        assert (result.admin_code, result.precision) == ("331126003201", Precision.VILLAGE)


def test_village_without_point_falls_back_to_township_seat(
    geocoder: GazetteerGeocoder, gazetteer: Gazetteer
) -> None:
    """石龙社区 has no point: the result is the 松源街道 seat, precision township, code kept."""
    for query in (
        "331126001001",
        "松源街道石龙社区",
        AddressQuery(township="松源", village="石龙社区"),
    ):
        result = geocoder.geocode(query)
        assert result.precision is Precision.TOWNSHIP
        assert result.point == gazetteer.township("331126001").point
        assert result.admin_code == "331126001001"
        assert result.name == "庆元县松源街道石龙社区"


def test_unknown_village_in_known_township_gives_township(geocoder: GazetteerGeocoder) -> None:
    """A village name or post-2016 code not in the snapshot falls back to its township seat."""
    by_name = geocoder.geocode(AddressQuery(township="隆宫乡", village="新合并村"))
    by_code = geocoder.geocode("331126205299")
    for result in (by_name, by_code):
        assert result.precision is Precision.TOWNSHIP
        assert result.admin_code == "331126205"


def test_village_alone_in_free_text_is_found_county_wide(geocoder: GazetteerGeocoder) -> None:
    """A village written with its suffix is found without a township when its name is unique."""
    result = geocoder.geocode("庆元县西门村委会")
    assert result.admin_code == "331126001202"
    assert result.precision is Precision.VILLAGE


def test_village_code_must_belong_to_the_given_township(geocoder: GazetteerGeocoder) -> None:
    """A village code from another township than the one chosen is refused."""
    with pytest.raises(AmbiguousPlaceError) as caught:
        geocoder.geocode(AddressQuery(township="隆宫乡", village="331126203200"))
    assert caught.value.field == "village"


def test_duplicate_village_names_are_ambiguous_without_township(gazetteer: Gazetteer) -> None:
    """Two 城西村委会 in 德清县: naming only the village is ambiguous, with a Chinese message."""
    deqing = GazetteerGeocoder(gazetteer=gazetteer, county_code="330521")
    with pytest.raises(AmbiguousPlaceError) as caught:
        deqing.geocode("城西村委会")
    assert "城西村委会" in caught.value.message_zh


# -- county and errors -----------------------------------------------------------------


def test_county_alone_gives_county_seat(geocoder: GazetteerGeocoder, gazetteer: Gazetteer) -> None:
    """Only the county named (庆元县, 331126, AddressQuery(county=...)): precision county."""
    for query in (
        "庆元县",
        "331126",
        AddressQuery(county="庆元"),
        AddressQuery(county="浙江省丽水市庆元县"),
    ):
        result = geocoder.geocode(query)
        assert result.precision is Precision.COUNTY
        assert result.point == gazetteer.county("331126").point
        assert result.township_code is None


def test_township_without_point_falls_back_to_county_seat(gazetteer: Gazetteer) -> None:
    """德清 阜溪街道 has no point: its result is the county seat with precision county."""
    deqing = GazetteerGeocoder(gazetteer=gazetteer, county_code="330521")
    result = deqing.geocode("阜溪街道")
    assert result.precision is Precision.COUNTY
    assert result.township_code == "330521003"
    assert result.point == gazetteer.county("330521").point


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("330521115", "address"),
        ("德清县莫干山镇", "address"),
        ("莫干山镇", "address"),
        ("330521", "address"),
        (AddressQuery(county="德清县", township="莫干山镇"), "county"),
        (AddressQuery(township="莫干山镇"), "township"),
        (AddressQuery(township="330521115"), "township"),
        (AddressQuery(county="杭州市西湖区", township="隆宫乡"), "county"),
    ],
)
def test_place_in_another_county_is_outside_service_area(
    geocoder: GazetteerGeocoder, query: str | AddressQuery, field: str
) -> None:
    """Places of 德清县 are refused by the 庆元 geocoder as outside the service area."""
    with pytest.raises(OutsideServiceAreaError) as caught:
        geocoder.geocode(query)
    assert caught.value.code == "outside_service_area"
    assert caught.value.field == field
    assert "庆元县服务范围" in caught.value.message_zh


@pytest.mark.parametrize(
    "query",
    [
        "331126999",
        "331199",
        "110101001",
        "12345",
        "北京市东城区",
        "",
        AddressQuery(township="不存在乡"),
        AddressQuery(),
        AddressQuery(township="3311262"),
    ],
)
def test_unknown_places_raise_unknown_place(
    geocoder: GazetteerGeocoder, query: str | AddressQuery
) -> None:
    """Unknown codes, names or empty input raise UnknownPlaceError with a Chinese message."""
    with pytest.raises(UnknownPlaceError) as caught:
        geocoder.geocode(query)
    assert isinstance(caught.value, GeocodeError)
    assert caught.value.code == "unknown_place"
    assert caught.value.message_zh.endswith("。")


def test_unknown_township_message_names_county_and_input(geocoder: GazetteerGeocoder) -> None:
    """The resident sees which name was not found in which county."""
    with pytest.raises(UnknownPlaceError) as caught:
        geocoder.geocode(AddressQuery(township="花果山乡"))
    assert caught.value.message_zh == "庆元县没有名为“花果山乡”的乡镇（街道），请从列表中选择。"
    assert caught.value.field == "township"


def test_geocoder_for_unknown_county_is_refused(gazetteer: Gazetteer) -> None:
    """A GazetteerGeocoder cannot be built for a county missing from the gazetteer."""
    with pytest.raises(ValueError, match="330100"):
        GazetteerGeocoder(gazetteer=gazetteer, county_code="330100")


# -- geopy adapter (fake geocoder, no network) -----------------------------------------


@dataclass
class FakeLocation:
    latitude: float
    longitude: float
    address: str
    raw: dict[str, Any]


@dataclass
class FakeGeopy:
    """Stands in for a geopy geocoder: records queries, answers from a list."""

    answers: list[FakeLocation | Exception | None]
    queries: list[str] = field(default_factory=list)
    on_call: Callable[[], None] = lambda: None

    def geocode(self, query: str, exactly_one: bool = True) -> FakeLocation | None:
        assert exactly_one
        self.on_call()
        self.queries.append(query)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class FakeClock:
    """A monotonic clock that only moves when told to (or when slept on)."""

    now_s: float = 100.0
    slept_s: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.slept_s.append(seconds)
        self.now_s += seconds


ANXI_WGS84 = gcj02_to_wgs84(ANXI_GCJ02)


def _location(point: LatLon = ANXI_WGS84, kind: str = "village") -> FakeLocation:
    return FakeLocation(
        point.lat, point.lon, "安溪村, 安南乡, 庆元县, 丽水市, 浙江省", {"addresstype": kind}
    )


def test_geopy_result_is_mapped(tmp_path: Path) -> None:
    """The adapter prefixes the region, returns the point, the address and the precision."""
    clock = FakeClock()
    fake = FakeGeopy([_location()])
    geocoder = GeopyGeocoder(fake, clock=clock, sleep=clock.sleep)
    result = geocoder.geocode(AddressQuery(township="安南乡", village="安溪村"))
    assert fake.queries == ["浙江省丽水市庆元县安南乡安溪村"]
    assert result.point == ANXI_WGS84
    assert result.precision is Precision.VILLAGE
    assert result.name.startswith("安溪村")
    assert result.admin_code is None


@pytest.mark.parametrize(
    ("query", "sent"),
    [
        ("隆宫乡", "浙江省丽水市庆元县隆宫乡"),
        ("庆元县隆宫乡", "浙江省丽水市庆元县隆宫乡"),
        ("丽水市庆元县隆宫乡", "浙江省丽水市庆元县隆宫乡"),
        ("浙江省丽水市庆元县隆宫乡", "浙江省丽水市庆元县隆宫乡"),
    ],
)
def test_geopy_region_prefix_is_not_repeated(query: str, sent: str) -> None:
    """Only the missing part of 浙江省丽水市庆元县 is prepended to the query."""
    clock = FakeClock()
    fake = FakeGeopy([_location()])
    GeopyGeocoder(fake, clock=clock, sleep=clock.sleep).geocode(query)
    assert fake.queries == [sent]


def test_geopy_calls_are_at_least_one_second_apart() -> None:
    """Back-to-back calls wait so that calls start ≥1 s after the previous one ended."""
    clock = FakeClock()
    starts: list[float] = []
    fake = FakeGeopy(
        [_location(), _location(), _location()], on_call=lambda: starts.append(clock())
    )
    geocoder = GeopyGeocoder(fake, clock=clock, sleep=clock.sleep)
    geocoder.geocode("安南乡安溪村")
    clock.now_s += 0.25
    geocoder.geocode("安南乡安溪村")
    clock.now_s += 5.0
    geocoder.geocode("安南乡安溪村")
    assert clock.slept_s == [pytest.approx(0.75)]
    assert starts[1] - starts[0] >= 1.0
    assert starts[2] - starts[1] >= 1.0


def test_geopy_gcj02_service_points_are_converted() -> None:
    """With datum GCJ-02 (an Amap-like service) the answer is shifted to WGS-84."""
    clock = FakeClock()
    fake = FakeGeopy([_location(wgs84_to_gcj02(ANXI_WGS84))])
    geocoder = GeopyGeocoder(fake, datum=Datum.GCJ02, clock=clock, sleep=clock.sleep)
    result = geocoder.geocode("安南乡安溪村")
    assert _close(result.point, ANXI_WGS84, metres=0.01)


def test_geopy_nothing_found_is_unknown_place() -> None:
    """A None answer from geopy becomes UnknownPlaceError."""
    clock = FakeClock()
    geocoder = GeopyGeocoder(FakeGeopy([None]), clock=clock, sleep=clock.sleep)
    with pytest.raises(UnknownPlaceError):
        geocoder.geocode("庆元县不存在村")


def test_geopy_answer_outside_bounds_is_refused() -> None:
    """An answer in Hangzhou for a 庆元 address is refused as outside the service area."""
    clock = FakeClock()
    fake = FakeGeopy([_location(LatLon(30.27, 120.15), kind="city")])
    geocoder = GeopyGeocoder(fake, clock=clock, sleep=clock.sleep)
    with pytest.raises(OutsideServiceAreaError):
        geocoder.geocode("安溪村")


@pytest.mark.parametrize("error", [GeocoderTimedOut("slow"), GeocoderServiceError("502")])
def test_geopy_failures_become_geocoder_unavailable(error: Exception) -> None:
    """geopy errors surface as GeocoderUnavailableError with a Chinese message."""
    clock = FakeClock()
    geocoder = GeopyGeocoder(FakeGeopy([error]), clock=clock, sleep=clock.sleep)
    with pytest.raises(GeocoderUnavailableError) as caught:
        geocoder.geocode("安南乡安溪村")
    assert "暂不可用" in caught.value.message_zh


def test_geopy_empty_query_is_refused_without_a_call() -> None:
    """An empty address raises before any call to the service."""
    fake = FakeGeopy([])
    with pytest.raises(UnknownPlaceError):
        GeopyGeocoder(fake).geocode("  ")
    assert fake.queries == []


@pytest.mark.parametrize(
    ("raw", "precision"),
    [
        ({"addresstype": "village"}, Precision.VILLAGE),
        ({"addresstype": "house"}, Precision.VILLAGE),
        ({"addresstype": "town"}, Precision.TOWNSHIP),
        ({"type": "county"}, Precision.COUNTY),
        ({"addresstype": "ocean"}, Precision.COUNTY),
        ({}, Precision.COUNTY),
    ],
)
def test_nominatim_precision(raw: dict[str, Any], precision: Precision) -> None:
    """Nominatim address types map to precision; unknown types claim only county."""
    assert nominatim_precision(raw) is precision


def test_nominatim_factory_sets_user_agent_and_refuses_fast_public_use() -> None:
    """nominatim() sets our user agent; under 1 s between calls to the public server is refused."""
    geocoder = GeopyGeocoder.nominatim("OneTrip-test/1.0 (ops@example.org)")
    assert geocoder.min_delay_s == 1.0
    inner = geocoder._geocoder
    assert inner.headers["User-Agent"] == "OneTrip-test/1.0 (ops@example.org)"
    with pytest.raises(ValueError, match="one request per second"):
        GeopyGeocoder.nominatim("OneTrip-test/1.0", min_delay_s=0.2)
    with pytest.raises(ValueError, match="user agent"):
        GeopyGeocoder.nominatim(" ")
