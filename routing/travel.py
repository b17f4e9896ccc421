"""Travel models: integer seconds and metres between points.

All points are :class:`~routing.geo.LatLon` in **WGS-84**. Gazetteer points
(GCJ-02) are converted by the caller through :mod:`routing.geo` (the
:class:`~routing.gazetteer.Gazetteer` already does so); nothing here shifts datums.

* :class:`GeodesicTravelModel` — offline default: ellipsoidal distance × a detour
  factor at an average speed, per area (county-town streets vs mountain roads).
* :class:`OsrmTravelModel` — road times from an OSRM server's ``table`` service.
* :class:`CachedTravelModel` — wraps either; in memory and optionally in SQLite.

Calibration figures and their reasoning are in ``docs/travel.md``.
"""

from __future__ import annotations

import http.client
import json
import math
import sqlite3
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from geopy.distance import geodesic

from routing.geo import LatLon, gcj02_to_wgs84, haversine_m

# One reusable geopy calculator (WGS-84 ellipsoid, Karney's algorithm); ``measure``
# returns kilometres.
_GEODESIC = geodesic()


@dataclass(frozen=True, slots=True)
class TravelMatrix:
    """Square matrices over the points a model was asked about, in that order.

    ``seconds[i][j]`` and ``metres[i][j]`` are non-negative integers; the diagonal is 0.
    """

    seconds: tuple[tuple[int, ...], ...]
    metres: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        n = len(self.seconds)
        if len(self.metres) != n or any(
            len(row) != n for rows in (self.seconds, self.metres) for row in rows
        ):
            raise ValueError("travel matrices must be square and of the same size")
        # Checked here, once, not by every Problem built over the matrix.
        for rows in (self.seconds, self.metres):
            if any(value < 0 for row in rows for value in row):
                raise ValueError("travel matrix entries must be >= 0")

    @property
    def size(self) -> int:
        return len(self.seconds)


class TravelModel(Protocol):
    """Anything that turns points into a travel matrix (offline model, OSRM, a cache)."""

    def matrix(self, points: Sequence[LatLon]) -> TravelMatrix: ...


class TravelError(Exception):
    """A travel matrix could not be produced."""


class OsrmUnavailableError(TravelError):
    """The OSRM server could not be reached or did not answer in time."""


class OsrmHttpError(TravelError):
    """The OSRM server answered with an HTTP error status."""

    def __init__(self, status: int, osrm_code: str | None, message: str) -> None:
        super().__init__(f"OSRM HTTP {status} ({osrm_code or 'no code'}): {message}")
        self.status = status
        self.osrm_code = osrm_code


class OsrmResponseError(TravelError):
    """OSRM answered, but with a ``code`` other than ``"Ok"`` (e.g. ``NoTable``)."""

    def __init__(self, osrm_code: str, message: str) -> None:
        super().__init__(f"OSRM code {osrm_code}: {message}")
        self.osrm_code = osrm_code


class OsrmProtocolError(TravelError):
    """The answer is not the JSON the ``table`` service promises."""


class UnreachableError(TravelError):
    """Some point pairs have no route (OSRM returned ``null``); ``pairs`` lists (i, j)."""

    def __init__(self, pairs: Sequence[tuple[int, int]]) -> None:
        shown = ", ".join(f"{i}→{j}" for i, j in pairs[:10])
        more = f" and {len(pairs) - 10} more" if len(pairs) > 10 else ""
        super().__init__(f"no route between points {shown}{more}")
        self.pairs = tuple(pairs)


# -- offline model ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoadProfile:
    """How straight-line distance becomes road: metres of road per straight metre, and speed."""

    detour_factor: float
    speed_kmh: float

    def __post_init__(self) -> None:
        if not (self.detour_factor >= 1.0 and math.isfinite(self.detour_factor)):
            raise ValueError(f"detour_factor must be >= 1, got {self.detour_factor}")
        if not (self.speed_kmh > 0.0 and math.isfinite(self.speed_kmh)):
            raise ValueError(f"speed_kmh must be > 0, got {self.speed_kmh}")

    @property
    def seconds_per_straight_metre(self) -> float:
        return self.detour_factor * 3.6 / self.speed_kmh


@dataclass(frozen=True, slots=True)
class ServiceArea:
    """A circle with its own road profile, e.g. the built-up area of a county seat."""

    name: str
    centre: LatLon
    radius_m: float
    profile: RoadProfile

    def __post_init__(self) -> None:
        if not self.radius_m > 0.0:
            raise ValueError(f"radius_m must be > 0, got {self.radius_m}")


QINGYUAN_SEAT = gcj02_to_wgs84(LatLon(27.61922, 119.06259))
"""庆元县 county seat (published GCJ-02 27.61922, 119.06259), in WGS-84."""

MOUNTAIN_ROAD = RoadProfile(detour_factor=1.8, speed_kmh=37.0)
"""County and township roads of 庆元 (winding valley roads): see docs/travel.md."""

COUNTY_TOWN_STREETS = RoadProfile(detour_factor=1.4, speed_kmh=25.0)
"""Streets of the county town (松源/濛洲): short blocks, lights, parking."""

QINGYUAN_TOWN = ServiceArea("庆元县城", QINGYUAN_SEAT, radius_m=2500.0, profile=COUNTY_TOWN_STREETS)
"""The county town: 2.5 km around the seat covers 松源 and 濛洲 街道's built-up valley."""


def _fraction_inside(a: LatLon, b: LatLon, area: ServiceArea) -> float:
    """Share of the straight segment a→b that lies inside the area's circle.

    Computed in a local plane around the centre (equirectangular; the error is
    negligible at county scale), by intersecting the segment with the circle.
    """
    metres_per_deg = math.pi * 6371008.8 / 180.0
    cos_lat = math.cos(math.radians(area.centre.lat))
    ax = (a.lon - area.centre.lon) * cos_lat * metres_per_deg
    ay = (a.lat - area.centre.lat) * metres_per_deg
    dx = (b.lon - a.lon) * cos_lat * metres_per_deg
    dy = (b.lat - a.lat) * metres_per_deg
    qa = dx * dx + dy * dy
    qb = 2.0 * (ax * dx + ay * dy)
    qc = ax * ax + ay * ay - area.radius_m * area.radius_m
    if qa == 0.0:
        return 1.0 if qc <= 0.0 else 0.0
    disc = qb * qb - 4.0 * qa * qc
    if disc <= 0.0:
        return 0.0
    root = math.sqrt(disc)
    enter = (-qb - root) / (2.0 * qa)
    leave = (-qb + root) / (2.0 * qa)
    return max(0.0, min(leave, 1.0) - max(enter, 0.0))


@dataclass(frozen=True, slots=True)
class GeodesicTravelModel:
    """Offline travel: WGS-84 geodesic × detour factor, at an average speed, per area.

    The straight segment between two points is split by the ``areas`` it
    crosses (non-overlapping circles, e.g. the county town); each part is
    priced with its area's profile, the rest with ``default``. Seconds are
    rounded up, metres to the nearest metre. The model is symmetric.
    """

    default: RoadProfile = MOUNTAIN_ROAD
    areas: tuple[ServiceArea, ...] = (QINGYUAN_TOWN,)
    # False: spherical great circle instead of the ellipsoidal geodesic, ~100× faster
    # and within 0.5 % — far inside the uncertainty of a detour factor; for big benchmarks.
    ellipsoidal: bool = True

    def __post_init__(self) -> None:
        for i, first in enumerate(self.areas):
            for second in self.areas[i + 1 :]:
                if _geodesic_m(first.centre, second.centre) < first.radius_m + second.radius_m:
                    raise ValueError(f"service areas {first.name} and {second.name} overlap")

    @property
    def identity(self) -> str:
        """Stable description of the parameters, for persistent caches."""
        kind = "geodesic" if self.ellipsoidal else "haversine"
        parts = [f"{kind}:{self.default.detour_factor}x@{self.default.speed_kmh}kmh"]
        for area in self.areas:
            parts.append(
                f"{area.centre.lat:.6f},{area.centre.lon:.6f}r{area.radius_m}:"
                f"{area.profile.detour_factor}x@{area.profile.speed_kmh}kmh"
            )
        return "|".join(parts)

    def leg(self, origin: LatLon, destination: LatLon) -> tuple[int, int]:
        """Travel (seconds, metres) for one pair."""
        straight_m = (
            _geodesic_m(origin, destination)
            if self.ellipsoidal
            else haversine_m(origin, destination)
        )
        if straight_m == 0.0:
            return 0, 0
        remaining = 1.0
        road_per_straight = 0.0
        seconds_per_straight = 0.0
        for area in self.areas:
            share = min(remaining, _fraction_inside(origin, destination, area))
            remaining -= share
            road_per_straight += share * area.profile.detour_factor
            seconds_per_straight += share * area.profile.seconds_per_straight_metre
        road_per_straight += remaining * self.default.detour_factor
        seconds_per_straight += remaining * self.default.seconds_per_straight_metre
        return (
            math.ceil(straight_m * seconds_per_straight),
            round(straight_m * road_per_straight),
        )

    def matrix(self, points: Sequence[LatLon]) -> TravelMatrix:
        n = len(points)
        seconds = [[0] * n for _ in range(n)]
        metres = [[0] * n for _ in range(n)]
        for i in range(n):
            for j in range(i + 1, n):
                s, m = self.leg(points[i], points[j])
                seconds[i][j] = seconds[j][i] = s
                metres[i][j] = metres[j][i] = m
        return TravelMatrix(
            tuple(tuple(row) for row in seconds), tuple(tuple(row) for row in metres)
        )


def _geodesic_m(a: LatLon, b: LatLon) -> float:
    if a == b:
        return 0.0
    return float(_GEODESIC.measure((a.lat, a.lon), (b.lat, b.lon))) * 1000.0


# -- OSRM ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OsrmTravelModel:
    """Client of an OSRM server's ``table`` service (``osrm-routed``), standard library only.

    Large point sets are split into blocks of ``max_table_size // 2`` sources ×
    destinations, so that no request exceeds the server's ``--max-table-size``
    (100 by default). OSRM's ``lon,lat`` order is produced here and nowhere else.
    """

    base_url: str
    profile: str = "driving"
    timeout_s: float = 10.0
    max_table_size: int = 100
    user_agent: str = "OneTrip-routing"

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        if self.max_table_size < 2:
            raise ValueError(f"max_table_size must be >= 2, got {self.max_table_size}")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")

    @property
    def identity(self) -> str:
        return f"osrm:{self.base_url.rstrip('/')}:{self.profile}"

    def matrix(self, points: Sequence[LatLon]) -> TravelMatrix:
        n = len(points)
        seconds = [[0] * n for _ in range(n)]
        metres = [[0] * n for _ in range(n)]
        unreachable: list[tuple[int, int]] = []
        if n >= 2:
            block = n if n <= self.max_table_size else max(1, self.max_table_size // 2)
            starts = range(0, n, block)
            for src_start in starts:
                for dst_start in starts:
                    sources = range(src_start, min(src_start + block, n))
                    destinations = range(dst_start, min(dst_start + block, n))
                    self._fill(points, sources, destinations, seconds, metres, unreachable)
        for i in range(n):
            seconds[i][i] = 0
            metres[i][i] = 0
        unreachable = [(i, j) for i, j in unreachable if i != j]
        if unreachable:
            raise UnreachableError(sorted(unreachable))
        return TravelMatrix(
            tuple(tuple(row) for row in seconds), tuple(tuple(row) for row in metres)
        )

    def _fill(
        self,
        points: Sequence[LatLon],
        sources: range,
        destinations: range,
        seconds: list[list[int]],
        metres: list[list[int]],
        unreachable: list[tuple[int, int]],
    ) -> None:
        if sources == destinations:
            coordinates = [points[i] for i in sources]
            query: dict[str, str] = {}
        else:
            coordinates = [points[i] for i in sources] + [points[j] for j in destinations]
            query = {
                "sources": ";".join(str(k) for k in range(len(sources))),
                "destinations": ";".join(str(len(sources) + k) for k in range(len(destinations))),
            }
        body = self._get(coordinates, query)
        durations = _table(body, "durations", len(sources), len(destinations))
        distances = _table(body, "distances", len(sources), len(destinations))
        for a, i in enumerate(sources):
            for b, j in enumerate(destinations):
                duration, distance = durations[a][b], distances[a][b]
                if duration is None or distance is None:
                    unreachable.append((i, j))
                    continue
                seconds[i][j] = math.ceil(duration)
                metres[i][j] = round(distance)

    def _get(self, coordinates: Sequence[LatLon], query: dict[str, str]) -> dict[str, Any]:
        # OSRM wants lon,lat; 6 decimals is ~0.1 m.
        path = ";".join(f"{p.lon:.6f},{p.lat:.6f}" for p in coordinates)
        params = {"annotations": "duration,distance", **query}
        url = (
            f"{self.base_url.rstrip('/')}/table/v1/{urllib.parse.quote(self.profile, safe='')}"
            f"/{path}?{urllib.parse.urlencode(params, safe=',;')}"
        )
        request = urllib.request.Request(
            url, headers={"User-Agent": self.user_agent, "Accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            osrm_code, message = _error_body(error)
            raise OsrmHttpError(error.code, osrm_code, message) from error
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            raise OsrmUnavailableError(f"OSRM at {self.base_url} unreachable: {error}") from error
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise OsrmProtocolError(f"OSRM answered with malformed JSON: {error}") from error
        if not isinstance(body, dict):
            raise OsrmProtocolError("OSRM answer is not a JSON object")
        code = body.get("code")
        if code != "Ok":
            raise OsrmResponseError(str(code), str(body.get("message", "")))
        return body


def _error_body(error: urllib.error.HTTPError) -> tuple[str | None, str]:
    try:
        body = json.loads(error.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None, str(error.reason)
    if isinstance(body, dict):
        code = body.get("code")
        return (str(code) if code is not None else None), str(body.get("message", error.reason))
    return None, str(error.reason)


def _table(body: dict[str, Any], key: str, rows: int, cols: int) -> list[list[float | None]]:
    table = body.get(key)
    if not isinstance(table, list) or len(table) != rows:
        raise OsrmProtocolError(
            f"OSRM answer lacks a {rows}×{cols} {key!r} table"
            + (" (the server must support distance annotations)" if key == "distances" else "")
        )
    result: list[list[float | None]] = []
    for row in table:
        if not isinstance(row, list) or len(row) != cols:
            raise OsrmProtocolError(f"OSRM {key!r} row has the wrong length")
        values: list[float | None] = []
        for value in row:
            if value is None:
                values.append(None)
            elif (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
                and value >= 0
            ):
                values.append(float(value))
            else:
                raise OsrmProtocolError(
                    f"OSRM {key!r} entry {value!r} is not a non-negative number"
                )
        result.append(values)
    return result


# -- cache -----------------------------------------------------------------------------

_Key = tuple[int, int]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS travel_pair (
    model TEXT NOT NULL,
    from_lat INTEGER NOT NULL, from_lon INTEGER NOT NULL,
    to_lat INTEGER NOT NULL, to_lon INTEGER NOT NULL,
    seconds INTEGER NOT NULL, metres INTEGER NOT NULL,
    PRIMARY KEY (model, from_lat, from_lon, to_lat, to_lon)
) WITHOUT ROWID
"""


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Requests answered from the cache (``hits``) and passed to the inner model (``misses``)."""

    hits: int
    misses: int


class CachedTravelModel:
    """A :class:`TravelModel` that remembers every directed pair it has seen.

    Points are keyed by coordinates rounded to ``1e-6``° (~0.1 m). Because pairs
    are stored, a later request over any subset (or any recombination) of known
    points is answered without the inner model. With ``path``, pairs are also
    kept in a SQLite file, keyed by the inner model's identity, so a restart or
    another process reuses them.
    """

    def __init__(
        self,
        inner: TravelModel,
        *,
        path: Path | str | None = None,
        identity: str | None = None,
    ) -> None:
        self.inner = inner
        inner_identity = getattr(inner, "identity", None)
        resolved = identity if identity is not None else inner_identity
        if path is not None and not isinstance(resolved, str):
            raise ValueError("a persistent travel cache needs the inner model's identity")
        self.identity = resolved if isinstance(resolved, str) else f"object:{id(inner)}"
        self.path = Path(path) if path is not None else None
        self._pairs: dict[tuple[_Key, _Key], tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        if self.path is not None:
            with closing(_connect(self.path)) as connection, connection:
                connection.execute(_SCHEMA)

    @property
    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses)

    def matrix(self, points: Sequence[LatLon]) -> TravelMatrix:
        keys = [_key(p) for p in points]
        unique = list(dict.fromkeys(keys))
        found = self._from_memory(unique)
        if found is None and self.path is not None:
            found = self._from_disk(self.path, unique)
        if found is None:
            representatives = {k: p for k, p in zip(keys, points, strict=True)}
            inner_matrix = self.inner.matrix([representatives[k] for k in unique])
            if inner_matrix.size != len(unique):
                raise TravelError("inner travel model returned a matrix of the wrong size")
            found = {
                (a, b): (inner_matrix.seconds[i][j], inner_matrix.metres[i][j])
                for i, a in enumerate(unique)
                for j, b in enumerate(unique)
                if i != j
            }
            with self._lock:
                self._misses += 1
                self._pairs.update(found)
            if self.path is not None:
                self._to_disk(self.path, found)
        else:
            with self._lock:
                self._hits += 1
        return _assemble(keys, found)

    def _from_memory(self, unique: list[_Key]) -> dict[tuple[_Key, _Key], tuple[int, int]] | None:
        found: dict[tuple[_Key, _Key], tuple[int, int]] = {}
        with self._lock:
            for pair in _pairs(unique):
                value = self._pairs.get(pair)
                if value is None:
                    return None
                found[pair] = value
        return found

    def _from_disk(
        self, path: Path, unique: list[_Key]
    ) -> dict[tuple[_Key, _Key], tuple[int, int]] | None:
        wanted = set(unique)
        stored: dict[tuple[_Key, _Key], tuple[int, int]] = {}
        with closing(_connect(path)) as connection:
            for origin in unique:
                rows = connection.execute(
                    "SELECT to_lat, to_lon, seconds, metres FROM travel_pair"
                    " WHERE model = ? AND from_lat = ? AND from_lon = ?",
                    (self.identity, origin[0], origin[1]),
                )
                for to_lat, to_lon, seconds, metres in rows:
                    if (to_lat, to_lon) in wanted:
                        stored[(origin, (to_lat, to_lon))] = (int(seconds), int(metres))
        if any(pair not in stored for pair in _pairs(unique)):
            return None
        with self._lock:
            self._pairs.update(stored)
        return stored

    def _to_disk(self, path: Path, found: dict[tuple[_Key, _Key], tuple[int, int]]) -> None:
        with closing(_connect(path)) as connection, connection:
            connection.executemany(
                "INSERT OR REPLACE INTO travel_pair VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (self.identity, a[0], a[1], b[0], b[1], seconds, metres)
                    for (a, b), (seconds, metres) in found.items()
                ],
            )


def _connect(path: Path) -> sqlite3.Connection:
    # Several processes (web, scheduler) may share the file; wait for their writes.
    return sqlite3.connect(path, timeout=30.0)


def _key(point: LatLon) -> _Key:
    return round(point.lat * 1_000_000), round(point.lon * 1_000_000)


def _pairs(unique: list[_Key]) -> Iterator[tuple[_Key, _Key]]:
    return ((a, b) for a in unique for b in unique if a != b)


def _assemble(keys: list[_Key], found: dict[tuple[_Key, _Key], tuple[int, int]]) -> TravelMatrix:
    seconds = tuple(tuple(0 if a == b else found[(a, b)][0] for b in keys) for a in keys)
    metres = tuple(tuple(0 if a == b else found[(a, b)][1] for b in keys) for a in keys)
    return TravelMatrix(seconds, metres)
