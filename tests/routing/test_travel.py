from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.gazetteer import Gazetteer
from routing.geo import LatLon, gcj02_to_wgs84
from routing.travel import (
    QINGYUAN_SEAT,
    QINGYUAN_TOWN,
    CachedTravelModel,
    GeodesicTravelModel,
    OsrmHttpError,
    OsrmProtocolError,
    OsrmResponseError,
    OsrmTravelModel,
    OsrmUnavailableError,
    RoadProfile,
    ServiceArea,
    TravelError,
    TravelMatrix,
    UnreachableError,
)

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "travel.md"
TABLE_START = "<!-- township-table:start -->"
TABLE_END = "<!-- township-table:end -->"


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.load(REPO / "content" / "gazetteer")


def _township_point(gazetteer: Gazetteer, name: str) -> LatLon:
    for township in gazetteer.townships("331126"):
        if township.name == name:
            assert township.point is not None
            return township.point
    raise AssertionError(name)


def _geodesic_m(a: LatLon, b: LatLon) -> float:
    return float(geodesic((a.lat, a.lon), (b.lat, b.lon)).meters)


# Points inside 庆元县's bounding box (WGS-84).
county_points = st.builds(
    LatLon,
    st.floats(min_value=27.42, max_value=27.86, allow_nan=False),
    st.floats(min_value=118.83, max_value=119.50, allow_nan=False),
)


# -- geodesic model --------------------------------------------------------------------


def test_seat_is_the_published_point_in_wgs84() -> None:
    """QINGYUAN_SEAT is the published GCJ-02 county seat converted to WGS-84."""
    assert gcj02_to_wgs84(LatLon(27.61922, 119.06259)) == QINGYUAN_SEAT


def test_geodesic_matrix_shape_symmetry_and_diagonal(gazetteer: Gazetteer) -> None:
    """Over all 19 township seats and the county seat: square, symmetric, zero diagonal."""
    points = [QINGYUAN_SEAT] + [t.point for t in gazetteer.townships() if t.point is not None]
    matrix = GeodesicTravelModel().matrix(points)
    assert matrix.size == 20
    for i in range(20):
        assert matrix.seconds[i][i] == 0 and matrix.metres[i][i] == 0
        for j in range(20):
            assert matrix.seconds[i][j] == matrix.seconds[j][i]
            assert matrix.metres[i][j] == matrix.metres[j][i]
            if i != j:
                assert matrix.seconds[i][j] > 0 and matrix.metres[i][j] > 0


def test_geodesic_duplicate_points_cost_nothing() -> None:
    """Two stops at the same point (a clerk's start and end office) are 0 s and 0 m apart."""
    matrix = GeodesicTravelModel().matrix([QINGYUAN_SEAT, QINGYUAN_SEAT])
    assert matrix.seconds == ((0, 0), (0, 0))
    assert matrix.metres == ((0, 0), (0, 0))


def test_geodesic_empty_and_single_point() -> None:
    """No points give an empty matrix; one point a 1×1 zero matrix."""
    assert GeodesicTravelModel().matrix([]).size == 0
    assert GeodesicTravelModel().matrix([QINGYUAN_SEAT]).seconds == ((0,),)


def test_geodesic_rounds_seconds_up_and_metres_to_nearest() -> None:
    """At 3.6 km/h (1 m/s) with no detour, seconds = ceil(metres) and metres = round(metres)."""
    walk = GeodesicTravelModel(default=RoadProfile(detour_factor=1.0, speed_kmh=3.6), areas=())
    a, b = LatLon(27.5, 119.0), LatLon(27.5031, 119.0047)
    exact_m = _geodesic_m(a, b)
    assert exact_m != round(exact_m)
    seconds, metres = walk.leg(a, b)
    assert seconds == math.ceil(exact_m)
    assert metres == round(exact_m)
    assert seconds >= exact_m


def test_geodesic_uses_profile_outside_the_town() -> None:
    """Outside every area, road metres = detour × geodesic and seconds = road / speed."""
    model = GeodesicTravelModel(default=RoadProfile(detour_factor=1.8, speed_kmh=36.0), areas=())
    a, b = LatLon(27.5, 119.2), LatLon(27.7, 119.3)
    exact_m = _geodesic_m(a, b)
    seconds, metres = model.leg(a, b)
    assert metres == round(1.8 * exact_m)
    assert seconds == math.ceil(1.8 * exact_m / 10.0)  # 36 km/h = 10 m/s


def test_town_legs_use_town_profile() -> None:
    """A leg wholly inside the county town is priced with the town's streets profile."""
    model = GeodesicTravelModel()
    a = QINGYUAN_SEAT
    b = LatLon(QINGYUAN_SEAT.lat + 0.01, QINGYUAN_SEAT.lon)  # ~1.1 km north, inside 2.5 km
    exact_m = _geodesic_m(a, b)
    profile = QINGYUAN_TOWN.profile
    seconds, metres = model.leg(a, b)
    assert metres == round(profile.detour_factor * exact_m)
    assert seconds == math.ceil(exact_m * profile.detour_factor * 3.6 / profile.speed_kmh)


def test_leg_crossing_the_town_edge_is_continuous() -> None:
    """Moving a point 10 m across the town's edge changes the leg by only a few seconds."""
    model = GeodesicTravelModel()
    far = LatLon(27.45, 119.25)
    metres_per_deg_lat = 111_200.0
    edge_lat = QINGYUAN_SEAT.lat + QINGYUAN_TOWN.radius_m / metres_per_deg_lat
    inside = LatLon(edge_lat - 5 / metres_per_deg_lat, QINGYUAN_SEAT.lon)
    outside = LatLon(edge_lat + 5 / metres_per_deg_lat, QINGYUAN_SEAT.lon)
    inside_s, _ = model.leg(inside, far)
    outside_s, _ = model.leg(outside, far)
    assert abs(inside_s - outside_s) <= 5


@settings(max_examples=60, deadline=None)
@given(county_points, county_points, county_points)
def test_single_profile_model_obeys_triangle_inequality(a: LatLon, b: LatLon, c: LatLon) -> None:
    """With one profile everywhere the matrix is a metric: a→c ≤ a→b + b→c (seconds, metres ±1)."""
    model = GeodesicTravelModel(areas=())
    m = model.matrix([a, b, c])
    assert m.seconds[0][2] <= m.seconds[0][1] + m.seconds[1][2]
    assert m.metres[0][2] <= m.metres[0][1] + m.metres[1][2] + 1


@settings(max_examples=60, deadline=None)
@given(county_points, county_points, county_points)
def test_default_model_is_nearly_a_metric(a: LatLon, b: LatLon, c: LatLon) -> None:
    """With the town area, a detour via a third point is never more than 16 % cheaper."""
    m = GeodesicTravelModel().matrix([a, b, c])
    assert m.seconds[0][2] <= 1.16 * (m.seconds[0][1] + m.seconds[1][2]) + 1


@pytest.mark.parametrize(
    ("township", "low_min", "high_min"),
    [
        ("松源街道", 0, 5),
        ("屏都街道", 15, 40),
        ("隆宫乡", 40, 80),
        ("举水乡", 40, 80),
        ("龙溪乡", 55, 90),
        ("百山祖镇", 40, 80),
        ("官塘乡", 90, 150),
    ],
)
def test_calibration_county_seat_to_township(
    gazetteer: Gazetteer, township: str, low_min: int, high_min: int
) -> None:
    """County seat → township drive times fall in the ranges docs/travel.md argues for."""
    seconds, _ = GeodesicTravelModel().leg(QINGYUAN_SEAT, _township_point(gazetteer, township))
    assert low_min * 60 <= seconds <= high_min * 60


def test_spherical_option_is_within_half_a_percent(gazetteer: Gazetteer) -> None:
    """ellipsoidal=False (haversine) stays within 0.5 % of the geodesic model."""
    points = [
        QINGYUAN_SEAT,
        _township_point(gazetteer, "官塘乡"),
        _township_point(gazetteer, "隆宫乡"),
    ]
    exact = GeodesicTravelModel().matrix(points)
    fast = GeodesicTravelModel(ellipsoidal=False).matrix(points)
    for i in range(3):
        for j in range(3):
            assert fast.metres[i][j] == pytest.approx(exact.metres[i][j], rel=0.005)
    assert GeodesicTravelModel().identity != GeodesicTravelModel(ellipsoidal=False).identity


def test_bad_profiles_and_overlapping_areas_are_refused() -> None:
    """Detour below 1, non-positive speed or radius, and overlapping areas raise ValueError."""
    with pytest.raises(ValueError, match="detour_factor"):
        RoadProfile(detour_factor=0.9, speed_kmh=30.0)
    with pytest.raises(ValueError, match="speed_kmh"):
        RoadProfile(detour_factor=1.2, speed_kmh=0.0)
    with pytest.raises(ValueError, match="radius_m"):
        ServiceArea("x", QINGYUAN_SEAT, 0.0, QINGYUAN_TOWN.profile)
    near = ServiceArea("旁边", LatLon(QINGYUAN_SEAT.lat + 0.02, QINGYUAN_SEAT.lon), 1000.0,
                       QINGYUAN_TOWN.profile)  # fmt: skip
    with pytest.raises(ValueError, match="overlap"):
        GeodesicTravelModel(areas=(QINGYUAN_TOWN, near))


# -- the township table in docs/travel.md ----------------------------------------------


def township_table(gazetteer: Gazetteer) -> str:
    """Markdown rows: county seat → each 庆元 township seat under the default model."""
    model = GeodesicTravelModel()
    lines = [
        "| code | township | straight km | road km (model) | drive min (model) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for township in gazetteer.townships("331126"):
        assert township.point is not None
        seconds, metres = model.leg(QINGYUAN_SEAT, township.point)
        straight_km = _geodesic_m(QINGYUAN_SEAT, township.point) / 1000
        lines.append(
            f"| {township.code} | {township.name} | {straight_km:.1f} | {metres / 1000:.1f} "
            f"| {math.ceil(seconds / 60)} |"
        )
    return "\n".join(lines)


def test_docs_township_table_is_generated_from_the_model(gazetteer: Gazetteer) -> None:
    """docs/travel.md's table equals the model's output (ONETRIP_UPDATE_DOCS=1 rewrites it)."""
    text = DOC.read_text(encoding="utf-8")
    before, rest = text.split(TABLE_START, 1)
    _, after = rest.split(TABLE_END, 1)
    expected = f"{TABLE_START}\n{township_table(gazetteer)}\n{TABLE_END}"
    if os.environ.get("ONETRIP_UPDATE_DOCS") == "1":
        DOC.write_text(before + expected + after, encoding="utf-8")
        text = DOC.read_text(encoding="utf-8")
    assert expected in text


# -- fake OSRM server ------------------------------------------------------------------


def fake_duration_s(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Asymmetric made-up duration from (lon, lat) a to b: uphill (north) is 10 % slower."""
    base = 10_000.0 * (abs(a[0] - b[0]) + abs(a[1] - b[1]))
    return base * (1.1 if b[1] > a[1] else 1.0) + 0.25


def fake_distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return 100_000.0 * (abs(a[0] - b[0]) + abs(a[1] - b[1])) + 0.6


@dataclass
class FakeOsrm:
    """What the fake server does next, and what it was asked."""

    mode: str = "ok"
    max_table_size: int = 100
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    null_pair: tuple[int, int] = (0, 1)


def _handler(state: FakeOsrm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
            state.requests.append((parsed.path, query))
            mode = state.mode
            if mode == "slow":
                time.sleep(1.0)
            if mode == "http500":
                self._send(500, b"<html>Internal Server Error</html>")
                return
            if mode == "truncated":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b'{"code": "Ok"')
                self.close_connection = True
                return
            if mode == "malformed":
                self._send(200, b'{"code": "Ok", "durations": [[0, 1]')
                return
            if mode == "notable":
                self._send(200, json.dumps({"code": "NoTable", "message": "no table"}).encode())
                return
            parts = parsed.path.split("/")
            if parts[1:4] != ["table", "v1", "driving"]:
                self._send(400, json.dumps({"code": "InvalidUrl", "message": "bad"}).encode())
                return
            pairs = [c.split(",") for c in parts[4].split(";")]
            coords = [(float(lon), float(lat)) for lon, lat in pairs]
            if mode == "bad_coordinates" or any(not -90 <= c[1] <= 90 for c in coords):
                error = {"code": "InvalidQuery", "message": "Query string malformed near 7"}
                self._send(400, json.dumps(error).encode())
                return
            n = len(coords)
            sources = (
                [int(k) for k in query["sources"].split(";")]
                if "sources" in query
                else list(range(n))
            )
            destinations = (
                [int(k) for k in query["destinations"].split(";")]
                if "destinations" in query
                else list(range(n))
            )
            if (
                len(sources) * len(destinations) > state.max_table_size**2
                or n > state.max_table_size
            ):
                self._send(
                    400, json.dumps({"code": "TooBig", "message": "Too many coordinates"}).encode()
                )
                return
            durations: list[list[float | None]] = [
                [0.0 if s == d else fake_duration_s(coords[s], coords[d]) for d in destinations]
                for s in sources
            ]
            distances: list[list[float | None]] = [
                [0.0 if s == d else fake_distance_m(coords[s], coords[d]) for d in destinations]
                for s in sources
            ]
            if mode == "null":
                i, j = state.null_pair
                durations[i][j] = None
                distances[i][j] = None
            body: dict[str, Any] = {"code": "Ok", "durations": durations, "distances": distances}
            if mode == "no_distances":
                del body["distances"]
            if mode == "negative":
                durations[0][1] = -5.0
            self._send(200, json.dumps(body).encode())

    return Handler


@pytest.fixture
def osrm() -> Iterator[tuple[FakeOsrm, str]]:
    state = FakeOsrm()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


POINTS = [
    QINGYUAN_SEAT,
    LatLon(27.490367, 118.946580),  # 隆宫乡
    LatLon(27.734234, 119.185591),  # 百山祖镇
    LatLon(27.671, 119.460),  # 官塘乡
    LatLon(27.5, 119.0),
]


def _lonlat(p: LatLon) -> tuple[float, float]:
    # What the server sees: 6 decimals, lon first.
    return float(f"{p.lon:.6f}"), float(f"{p.lat:.6f}")


def _expected(points: Sequence[LatLon]) -> TravelMatrix:
    c = [_lonlat(p) for p in points]
    n = len(points)
    seconds = tuple(
        tuple(0 if i == j else math.ceil(fake_duration_s(c[i], c[j])) for j in range(n))
        for i in range(n)
    )
    metres = tuple(
        tuple(0 if i == j else round(fake_distance_m(c[i], c[j])) for j in range(n))
        for i in range(n)
    )
    return TravelMatrix(seconds, metres)


def test_osrm_table_is_parsed_in_point_order(osrm: tuple[FakeOsrm, str]) -> None:
    """One table request, lon,lat in the URL, durations rounded up and distances rounded."""
    state, url = osrm
    matrix = OsrmTravelModel(url).matrix(POINTS)
    assert matrix == _expected(POINTS)
    assert len(state.requests) == 1
    path, query = state.requests[0]
    assert path.startswith(f"/table/v1/driving/{QINGYUAN_SEAT.lon:.6f},{QINGYUAN_SEAT.lat:.6f};")
    assert query == {"annotations": "duration,distance"}
    assert matrix.seconds[1][2] != matrix.seconds[2][1]  # direction is kept


def test_osrm_large_sets_are_chunked(osrm: tuple[FakeOsrm, str]) -> None:
    """With max_table_size 4, 5 points are fetched as 2×2 blocks (sources/destinations)."""
    state, url = osrm
    state.max_table_size = 4
    model = OsrmTravelModel(url, max_table_size=4)
    assert model.matrix(POINTS) == _expected(POINTS)
    assert len(state.requests) == 9  # blocks of 2: [0,1], [2,3], [4] → 3 × 3
    assert any("sources" in query for _, query in state.requests)


def test_osrm_trivial_sets_make_no_request(osrm: tuple[FakeOsrm, str]) -> None:
    """Zero or one point needs no server call."""
    state, url = osrm
    assert OsrmTravelModel(url).matrix([QINGYUAN_SEAT]).seconds == ((0,),)
    assert OsrmTravelModel(url).matrix([]).size == 0
    assert state.requests == []


def test_osrm_null_entry_is_unreachable(osrm: tuple[FakeOsrm, str]) -> None:
    """A null duration becomes UnreachableError naming the point pair."""
    state, url = osrm
    state.mode = "null"
    state.null_pair = (2, 3)
    with pytest.raises(UnreachableError) as caught:
        OsrmTravelModel(url).matrix(POINTS)
    assert caught.value.pairs == ((2, 3),)
    assert "2→3" in str(caught.value)


def test_osrm_http_400_carries_osrm_code(osrm: tuple[FakeOsrm, str]) -> None:
    """An HTTP 400 with an OSRM JSON body raises OsrmHttpError with status and code."""
    state, url = osrm
    state.mode = "bad_coordinates"
    with pytest.raises(OsrmHttpError) as caught:
        OsrmTravelModel(url).matrix(POINTS)
    assert caught.value.status == 400
    assert caught.value.osrm_code == "InvalidQuery"


def test_osrm_http_500_without_json(osrm: tuple[FakeOsrm, str]) -> None:
    """An HTTP 500 with an HTML body raises OsrmHttpError without an OSRM code."""
    state, url = osrm
    state.mode = "http500"
    with pytest.raises(OsrmHttpError) as caught:
        OsrmTravelModel(url).matrix(POINTS)
    assert caught.value.status == 500
    assert caught.value.osrm_code is None


def test_osrm_code_not_ok(osrm: tuple[FakeOsrm, str]) -> None:
    """A 200 answer whose code is not "Ok" raises OsrmResponseError."""
    state, url = osrm
    state.mode = "notable"
    with pytest.raises(OsrmResponseError) as caught:
        OsrmTravelModel(url).matrix(POINTS)
    assert caught.value.osrm_code == "NoTable"


@pytest.mark.parametrize("mode", ["malformed", "no_distances", "negative"])
def test_osrm_malformed_answers(osrm: tuple[FakeOsrm, str], mode: str) -> None:
    """Truncated JSON, a missing distances table or a negative entry raise OsrmProtocolError."""
    state, url = osrm
    state.mode = mode
    with pytest.raises(OsrmProtocolError):
        OsrmTravelModel(url).matrix(POINTS)


def test_osrm_wrong_profile_is_an_http_error(osrm: tuple[FakeOsrm, str]) -> None:
    """The profile goes into the path; an unknown one is the server's 400."""
    _, url = osrm
    with pytest.raises(OsrmHttpError, match="InvalidUrl"):
        OsrmTravelModel(url, profile="hovercraft").matrix(POINTS)


def test_osrm_timeout(osrm: tuple[FakeOsrm, str]) -> None:
    """A server slower than timeout_s raises OsrmUnavailableError."""
    state, url = osrm
    state.mode = "slow"
    with pytest.raises(OsrmUnavailableError):
        OsrmTravelModel(url, timeout_s=0.2).matrix(POINTS)


def test_osrm_connection_dropped_mid_answer(osrm: tuple[FakeOsrm, str]) -> None:
    """A body cut short of its Content-Length raises OsrmUnavailableError."""
    state, url = osrm
    state.mode = "truncated"
    with pytest.raises(OsrmUnavailableError):
        OsrmTravelModel(url, timeout_s=2).matrix(POINTS)


def test_osrm_connection_refused() -> None:
    """Nothing listening on the port raises OsrmUnavailableError (a TravelError)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OsrmUnavailableError) as caught:
        OsrmTravelModel(f"http://127.0.0.1:{port}", timeout_s=2).matrix(POINTS)
    assert isinstance(caught.value, TravelError)


def test_osrm_configuration_is_validated() -> None:
    """A non-HTTP base URL, a table size below 2 or a zero timeout are refused."""
    with pytest.raises(ValueError, match="base_url"):
        OsrmTravelModel("127.0.0.1:5000")
    with pytest.raises(ValueError, match="max_table_size"):
        OsrmTravelModel("http://127.0.0.1:5000", max_table_size=1)
    with pytest.raises(ValueError, match="timeout_s"):
        OsrmTravelModel("http://127.0.0.1:5000", timeout_s=0)


# -- cache -----------------------------------------------------------------------------


@dataclass
class CountingModel:
    """Wraps a model and records the point lists it was asked about."""

    inner: Any
    calls: list[list[LatLon]] = field(default_factory=list)

    @property
    def identity(self) -> str:
        return str(self.inner.identity)

    def matrix(self, points: Sequence[LatLon]) -> TravelMatrix:
        self.calls.append(list(points))
        result: TravelMatrix = self.inner.matrix(points)
        return result


def _submatrix(matrix: TravelMatrix, index: Sequence[int]) -> TravelMatrix:
    return TravelMatrix(
        tuple(tuple(matrix.seconds[i][j] for j in index) for i in index),
        tuple(tuple(matrix.metres[i][j] for j in index) for i in index),
    )


def test_cache_hit_on_repeat() -> None:
    """The same request twice calls the inner model once; stats count 1 miss and 1 hit."""
    inner = CountingModel(GeodesicTravelModel())
    cache = CachedTravelModel(inner)
    first = cache.matrix(POINTS)
    second = cache.matrix(POINTS)
    assert first == second == GeodesicTravelModel().matrix(POINTS)
    assert len(inner.calls) == 1
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


def test_cache_reuses_pairs_for_a_reordered_subset(osrm: tuple[FakeOsrm, str]) -> None:
    """A later request over a subset, in another order, is cut from cached directed pairs."""
    _, url = osrm
    inner = CountingModel(OsrmTravelModel(url))
    cache = CachedTravelModel(inner)
    full = cache.matrix(POINTS)
    subset = cache.matrix([POINTS[3], POINTS[1], POINTS[2]])
    assert subset == _submatrix(full, [3, 1, 2])
    assert subset.seconds[1][2] != subset.seconds[2][1]
    assert len(inner.calls) == 1
    assert cache.stats.hits == 1


def test_cache_misses_on_a_new_point() -> None:
    """A request with a point never seen goes to the inner model."""
    inner = CountingModel(GeodesicTravelModel())
    cache = CachedTravelModel(inner)
    cache.matrix(POINTS[:3])
    cache.matrix(POINTS[:4])
    assert len(inner.calls) == 2
    assert (cache.stats.hits, cache.stats.misses) == (0, 2)


def test_cache_asks_inner_about_unique_points_only() -> None:
    """Duplicate points (a clerk's start and end) reach the inner model once and are 0 apart."""
    inner = CountingModel(GeodesicTravelModel())
    cache = CachedTravelModel(inner)
    matrix = cache.matrix([POINTS[0], POINTS[1], POINTS[0]])
    assert inner.calls == [[POINTS[0], POINTS[1]]]
    assert matrix.seconds[0][2] == matrix.seconds[2][0] == 0
    assert matrix.seconds[1][2] == matrix.seconds[1][0]


def test_cache_persists_across_instances(tmp_path: Path) -> None:
    """With a SQLite path, a new cache object answers a known request without the inner model."""
    path = tmp_path / "travel.sqlite"
    first_inner = CountingModel(GeodesicTravelModel())
    expected = CachedTravelModel(first_inner, path=path).matrix(POINTS)
    second_inner = CountingModel(GeodesicTravelModel())
    second = CachedTravelModel(second_inner, path=path)
    assert second.matrix(POINTS[1:4]) == _submatrix(expected, [1, 2, 3])
    assert second_inner.calls == []
    assert second.stats.hits == 1


def test_persistent_cache_is_keyed_by_model_identity(tmp_path: Path) -> None:
    """Pairs computed by one model are not served for a model with other parameters."""
    path = tmp_path / "travel.sqlite"
    CachedTravelModel(GeodesicTravelModel(), path=path).matrix(POINTS)
    slower = CountingModel(GeodesicTravelModel(default=RoadProfile(2.0, 30.0)))
    CachedTravelModel(slower, path=path).matrix(POINTS)
    assert len(slower.calls) == 1


def test_persistent_cache_needs_an_identity(tmp_path: Path) -> None:
    """A model without ``identity`` cannot back a file cache unless one is given."""

    class Anonymous:
        def matrix(self, points: Sequence[LatLon]) -> TravelMatrix:
            return GeodesicTravelModel().matrix(points)

    with pytest.raises(ValueError, match="identity"):
        CachedTravelModel(Anonymous(), path=tmp_path / "t.sqlite")
    cache = CachedTravelModel(Anonymous(), path=tmp_path / "t.sqlite", identity="anon-v1")
    assert cache.matrix(POINTS[:2]).size == 2


def test_cache_passes_inner_errors_through(osrm: tuple[FakeOsrm, str]) -> None:
    """An inner failure propagates and nothing is cached for that request."""
    state, url = osrm
    state.mode = "notable"
    cache = CachedTravelModel(OsrmTravelModel(url))
    with pytest.raises(OsrmResponseError):
        cache.matrix(POINTS)
    state.mode = "ok"
    assert cache.matrix(POINTS) == _expected(POINTS)
    assert cache.stats.misses == 1
