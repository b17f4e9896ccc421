from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.geo import (
    Datum,
    LatLon,
    from_wgs84,
    gcj02_to_wgs84,
    haversine_m,
    in_china_offset_area,
    to_wgs84,
    wgs84_to_gcj02,
)

GAZETTEER = Path(__file__).resolve().parents[2] / "content" / "gazetteer"
QINGYUAN_SEAT_GCJ02 = LatLon(27.61922, 119.06259)


def _points(name: str) -> dict[str, LatLon]:
    with (GAZETTEER / name).open(encoding="utf-8", newline="") as handle:
        return {
            row["admin_code"]: LatLon(float(row["lat"]), float(row["lon"]))
            for row in csv.DictReader(handle)
            if row["lat"]
        }


GCJ02_ROWS = _points("townships.csv")
WGS84_ROWS = _points("townships_wgs84.csv")


def test_gazetteer_files_pair_up() -> None:
    """Both township files have the same 31 coordinate rows (2 counties, 29 townships)."""
    assert GCJ02_ROWS.keys() == WGS84_ROWS.keys()
    assert len(GCJ02_ROWS) == 31


@pytest.mark.parametrize("code", sorted(GCJ02_ROWS))
def test_gcj02_to_wgs84_matches_published_conversion(code: str) -> None:
    """Each GCJ-02 gazetteer row converts to its townships_wgs84.csv row within 1e-6°."""
    converted = gcj02_to_wgs84(GCJ02_ROWS[code])
    expected = WGS84_ROWS[code]
    assert converted.lat == pytest.approx(expected.lat, abs=1e-6)
    assert converted.lon == pytest.approx(expected.lon, abs=1e-6)


@pytest.mark.parametrize("code", sorted(GCJ02_ROWS))
def test_wgs84_to_gcj02_matches_published_rows(code: str) -> None:
    """Each WGS-84 row shifts back onto its published GCJ-02 row within 1e-6°."""
    shifted = wgs84_to_gcj02(WGS84_ROWS[code])
    expected = GCJ02_ROWS[code]
    assert shifted.lat == pytest.approx(expected.lat, abs=1e-6)
    assert shifted.lon == pytest.approx(expected.lon, abs=1e-6)


def test_offset_near_qingyuan_is_about_350_m_south_480_m_east() -> None:
    """At the 庆元 county seat GCJ-02 lies ≈0.0031° south and ≈0.0049° east of WGS-84."""
    wgs = gcj02_to_wgs84(QINGYUAN_SEAT_GCJ02)
    south_m = haversine_m(LatLon(wgs.lat, wgs.lon), LatLon(QINGYUAN_SEAT_GCJ02.lat, wgs.lon))
    east_m = haversine_m(LatLon(wgs.lat, wgs.lon), LatLon(wgs.lat, QINGYUAN_SEAT_GCJ02.lon))
    assert QINGYUAN_SEAT_GCJ02.lat < wgs.lat
    assert QINGYUAN_SEAT_GCJ02.lon > wgs.lon
    assert 300 < south_m < 400
    assert 430 < east_m < 530


def test_no_offset_outside_china() -> None:
    """Points outside the China rectangle (Tokyo, Paris) are returned unchanged both ways."""
    for point in (LatLon(35.6812, 139.7671), LatLon(48.8566, 2.3522), LatLon(-33.9, 18.4)):
        assert not in_china_offset_area(point)
        assert wgs84_to_gcj02(point) == point
        assert gcj02_to_wgs84(point) == point


def test_to_wgs84_follows_the_stated_datum() -> None:
    """to_wgs84 converts GCJ-02 and leaves WGS-84 alone; from_wgs84 is its inverse."""
    assert to_wgs84(QINGYUAN_SEAT_GCJ02, Datum.WGS84) == QINGYUAN_SEAT_GCJ02
    wgs = to_wgs84(QINGYUAN_SEAT_GCJ02, Datum.GCJ02)
    assert wgs == gcj02_to_wgs84(QINGYUAN_SEAT_GCJ02)
    back = from_wgs84(wgs, Datum.GCJ02)
    assert back.lat == pytest.approx(QINGYUAN_SEAT_GCJ02.lat, abs=1e-9)
    assert back.lon == pytest.approx(QINGYUAN_SEAT_GCJ02.lon, abs=1e-9)
    assert from_wgs84(wgs, Datum.WGS84) == wgs


def test_haversine_known_distance() -> None:
    """One degree of latitude along a meridian is about 111.2 km on the mean sphere."""
    assert haversine_m(LatLon(27.0, 119.0), LatLon(28.0, 119.0)) == pytest.approx(111195, rel=1e-4)
    assert haversine_m(QINGYUAN_SEAT_GCJ02, QINGYUAN_SEAT_GCJ02) == 0.0


def test_latlon_rejects_out_of_range() -> None:
    """LatLon refuses latitudes beyond ±90° and longitudes beyond ±180°."""
    with pytest.raises(ValueError, match="bad coordinate"):
        LatLon(91.0, 0.0)
    with pytest.raises(ValueError, match="bad coordinate"):
        LatLon(0.0, -180.5)


# Mainland China, kept a little inside the offset rectangle so the shifted point
# cannot cross its edge (where the offset jumps to zero).
china_points = st.builds(
    LatLon,
    st.floats(min_value=18.0, max_value=53.5, allow_nan=False),
    st.floats(min_value=73.5, max_value=135.0, allow_nan=False),
)


@given(china_points)
def test_round_trip_wgs84_gcj02_wgs84(point: LatLon) -> None:
    """WGS-84 → GCJ-02 → WGS-84 returns the start point to within 1e-9° anywhere in China."""
    back = gcj02_to_wgs84(wgs84_to_gcj02(point))
    assert abs(back.lat - point.lat) < 1e-9
    assert abs(back.lon - point.lon) < 1e-9


@given(china_points)
def test_round_trip_gcj02_wgs84_gcj02(point: LatLon) -> None:
    """GCJ-02 → WGS-84 → GCJ-02 returns the start point to within 1e-9° anywhere in China."""
    back = wgs84_to_gcj02(gcj02_to_wgs84(point))
    assert abs(back.lat - point.lat) < 1e-9
    assert abs(back.lon - point.lon) < 1e-9


@given(china_points)
def test_offset_is_a_few_hundred_metres(point: LatLon) -> None:
    """The GCJ-02 shift is never zero and never more than about a kilometre inside China."""
    shift_m = haversine_m(point, wgs84_to_gcj02(point))
    assert 1.0 < shift_m < 1200.0
