"""The one coordinate type of the project, and datum conversion in one place.

``LatLon`` is WGS-84 by convention everywhere in ``routing``. Chinese map data
(Amap, Tencent, the gazetteer in ``content/gazetteer``) is published in GCJ-02,
the "Mars" datum: WGS-84 plus a deliberate, smoothly varying offset of a few
hundred metres. This module is the only place that knows the offset; every
other module converts through :func:`to_wgs84` / :func:`gcj02_to_wgs84`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

# Krasovsky 1940 ellipsoid, as used by the public GCJ-02 formula.
_KRASOVSKY_A_M = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323

# The rough rectangle in which the offset is applied (outside: no offset).
_CHINA_LAT_MIN, _CHINA_LAT_MAX = 0.8293, 55.8271
_CHINA_LON_MIN, _CHINA_LON_MAX = 72.004, 137.8347

# The inverse stops when a further step moves the estimate by less than this
# (degrees); 1e-12° is about 0.1 µm, far below any data precision.
_INVERSE_TOLERANCE_DEG = 1e-12
_INVERSE_MAX_STEPS = 30

EARTH_MEAN_RADIUS_M = 6371008.8


@dataclass(frozen=True, slots=True)
class LatLon:
    """A point in decimal degrees, WGS-84 unless a caller says otherwise (latitude first)."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"bad coordinate lat={self.lat} lon={self.lon}")


class Datum(StrEnum):
    """Geodetic datums the project meets: WGS-84 (GPS, OSM) and GCJ-02 (Chinese maps)."""

    WGS84 = "WGS-84"
    GCJ02 = "GCJ-02"


def in_china_offset_area(point: LatLon) -> bool:
    """True where GCJ-02 differs from WGS-84 (the rectangle the public formula uses)."""
    return (
        _CHINA_LAT_MIN <= point.lat <= _CHINA_LAT_MAX
        and _CHINA_LON_MIN <= point.lon <= _CHINA_LON_MAX
    )


def _offset_lat(x: float, y: float) -> float:
    # x, y: longitude - 105°, latitude - 35°. Result in "formula metres", scaled below.
    pi = math.pi
    value = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    value += (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    value += (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
    value += (160.0 * math.sin(y / 12.0 * pi) + 320.0 * math.sin(y * pi / 30.0)) * 2.0 / 3.0
    return value


def _offset_lon(x: float, y: float) -> float:
    pi = math.pi
    value = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    value += (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    value += (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
    value += (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0
    return value


def _gcj02_offset_deg(lat: float, lon: float) -> tuple[float, float]:
    """The (dlat, dlon) in degrees that GCJ-02 adds to a WGS-84 point."""
    if not in_china_offset_area(LatLon(lat, lon)):
        return 0.0, 0.0
    dlat = _offset_lat(lon - 105.0, lat - 35.0)
    dlon = _offset_lon(lon - 105.0, lat - 35.0)
    rad_lat = math.radians(lat)
    magic = 1.0 - _KRASOVSKY_EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    # Metres → degrees on the Krasovsky ellipsoid (meridional and parallel radii).
    meridian_radius_m = _KRASOVSKY_A_M * (1.0 - _KRASOVSKY_EE) / (magic * sqrt_magic)
    parallel_radius_m = _KRASOVSKY_A_M / sqrt_magic * math.cos(rad_lat)
    dlat_deg = dlat * 180.0 / (meridian_radius_m * math.pi)
    dlon_deg = dlon * 180.0 / (parallel_radius_m * math.pi)
    return dlat_deg, dlon_deg


def wgs84_to_gcj02(point: LatLon) -> LatLon:
    """Shift a WGS-84 point into GCJ-02 (no change outside the China offset area)."""
    dlat, dlon = _gcj02_offset_deg(point.lat, point.lon)
    return LatLon(point.lat + dlat, point.lon + dlon)


def gcj02_to_wgs84(point: LatLon) -> LatLon:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration (exact to about 1e-9°).

    The offset varies slowly (its gradient is far below 1), so the iteration
    ``w ← w − (forward(w) − g)`` contracts quickly: 3–5 steps in practice.
    """
    if not in_china_offset_area(point):
        return point
    lat, lon = point.lat, point.lon
    for _ in range(_INVERSE_MAX_STEPS):
        dlat, dlon = _gcj02_offset_deg(lat, lon)
        next_lat = point.lat - dlat
        next_lon = point.lon - dlon
        step = max(abs(next_lat - lat), abs(next_lon - lon))
        lat, lon = next_lat, next_lon
        if step < _INVERSE_TOLERANCE_DEG:
            break
    return LatLon(lat, lon)


def to_wgs84(point: LatLon, datum: Datum) -> LatLon:
    """Bring a point given in ``datum`` to WGS-84, the datum of ``routing``."""
    if datum is Datum.WGS84:
        return point
    return gcj02_to_wgs84(point)


def from_wgs84(point: LatLon, datum: Datum) -> LatLon:
    """Express a WGS-84 point in ``datum`` (e.g. GCJ-02 to draw it on Amap tiles)."""
    if datum is Datum.WGS84:
        return point
    return wgs84_to_gcj02(point)


def haversine_m(a: LatLon, b: LatLon) -> float:
    """Great-circle distance on a sphere of the Earth's mean radius, in metres.

    Within 0.5 % of the ellipsoidal geodesic; used where speed matters more than
    the last metre (a quick radius test), never for the travel matrix itself.
    """
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2.0) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2.0) ** 2
    return 2.0 * EARTH_MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
