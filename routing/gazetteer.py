"""The county gazetteer (``content/gazetteer``): counties, townships and the 2016
villages of 庆元县 with their points, read from CSV and converted to WGS-84.

`routing.geocode` matches addresses against it; `routing.travel` places its townships.
A file that is missing or malformed raises :class:`GazetteerDataError` naming the file
and line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from routing.geo import Datum, LatLon, to_wgs84

QINGYUAN_COUNTY_CODE = "331126"
"""庆元县, GB/T 2260."""

DEFAULT_GAZETTEER_DIR = Path(__file__).resolve().parent.parent / "content" / "gazetteer"
"""``content/gazetteer`` of the repository checkout this package lives in."""

_TOWNSHIPS_FILE = "townships.csv"
_VILLAGES_FILE = "villages_2016.csv"

COUNTY_CODE_LEN = 6
TOWNSHIP_CODE_LEN = 9
VILLAGE_CODE_LEN = 12


class Level(StrEnum):
    """Administrative level of a gazetteer row (the ``level`` column)."""

    COUNTY = "county"
    SUBDISTRICT = "subdistrict"  # 街道
    TOWN = "town"  # 镇
    TOWNSHIP = "township"  # 乡
    COMMUNITY = "community"  # 社区 / 居委会
    VILLAGE = "village"  # 村委会


_TOWNSHIP_LEVELS = frozenset({Level.SUBDISTRICT, Level.TOWN, Level.TOWNSHIP})
_VILLAGE_LEVELS = frozenset({Level.COMMUNITY, Level.VILLAGE})


class GazetteerDataError(ValueError):
    """A gazetteer file is missing or malformed; the message names file and line."""


@dataclass(frozen=True, slots=True)
class County:
    """A county-level unit and its seat (WGS-84)."""

    code: str
    name: str
    point: LatLon

    @property
    def short_name(self) -> str:
        return strip_suffix(self.name, ("自治县", "县", "市", "区"))


@dataclass(frozen=True, slots=True)
class Township:
    """A township-level unit (街道, 镇 or 乡) and its seat (WGS-84; None when unknown)."""

    code: str
    name: str
    level: Level
    county_code: str
    point: LatLon | None

    @property
    def short_name(self) -> str:
        """The name without its 街道/镇/乡 suffix, as people often say it (``隆宫``)."""
        return strip_suffix(self.name, ("街道", "镇", "乡"))


@dataclass(frozen=True, slots=True)
class Village:
    """A village committee or community of the 2016 snapshot (point WGS-84, often None)."""

    code: str
    name: str
    level: Level
    township_code: str
    point: LatLon | None

    @property
    def aliases(self) -> tuple[str, ...]:
        """Ways a resident writes the name, longest first (``安溪村委会``, ``安溪村``)."""
        return tuple(sorted(_village_aliases(self.name), key=len, reverse=True))

    @property
    def bare_name(self) -> str:
        """The name without 村委会/社区/居委会 (``安溪``), matched only where unambiguous."""
        return village_bare_name(self.name)


def strip_suffix(name: str, suffixes: Iterable[str]) -> str:
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def village_bare_name(name: str) -> str:
    for suffix in ("社区居委会", "村村委会", "村委会", "居委会", "社区"):
        if name.endswith(suffix) and len(name) > len(suffix):
            bare = name[: -len(suffix)]
            # "八一村村委会" → "八一", but "底村村委会" keeps "底村": one character is too loose.
            if suffix == "村村委会" and len(bare) < 2:
                return name[: -len("村委会")]
            return bare
    return name


def _village_aliases(name: str) -> set[str]:
    aliases = {name}
    if name.endswith("村委会"):
        village = name[: -len("委会")]  # "安溪村委会" → "安溪村", "八一村村委会" → "八一村村"
        aliases.add(village[:-1] if village.endswith("村村") else village)
    elif name.endswith("社区居委会"):
        aliases.add(name[: -len("居委会")])
    elif name.endswith("居委会"):
        aliases.add(name[: -len("居委会")] + "社区")
    return aliases


@dataclass(frozen=True, slots=True, eq=False)
class Gazetteer:
    """The county, township and 2016 village rows of ``content/gazetteer``, in WGS-84."""

    counties_by_code: Mapping[str, County]
    townships_by_code: Mapping[str, Township]
    villages_by_code: Mapping[str, Village]

    @classmethod
    def load(cls, directory: Path | str | None = None) -> Gazetteer:
        """Read ``townships.csv`` and ``villages_2016.csv`` from ``directory``.

        Points are converted to WGS-84 from the datum each row states (the
        published files are GCJ-02).
        """
        base = Path(directory) if directory is not None else DEFAULT_GAZETTEER_DIR
        counties: dict[str, County] = {}
        townships: dict[str, Township] = {}
        villages: dict[str, Village] = {}
        for path, line, row in _read_rows(base / _TOWNSHIPS_FILE):
            code, name, level, point = _parse_row(path, line, row)
            if level is Level.COUNTY:
                if len(code) != COUNTY_CODE_LEN or point is None:
                    raise GazetteerDataError(
                        f"{path}:{line}: county row needs a 6-digit code and a point"
                    )
                counties[code] = County(code, name, point)
            elif level in _TOWNSHIP_LEVELS:
                if len(code) != TOWNSHIP_CODE_LEN:
                    raise GazetteerDataError(
                        f"{path}:{line}: township code {code!r} is not 9 digits"
                    )
                townships[code] = Township(code, name, level, code[:COUNTY_CODE_LEN], point)
            else:
                raise GazetteerDataError(
                    f"{path}:{line}: unexpected level {level!s} in {path.name}"
                )
        for path, line, row in _read_rows(base / _VILLAGES_FILE):
            code, name, level, point = _parse_row(path, line, row)
            if level not in _VILLAGE_LEVELS or len(code) != VILLAGE_CODE_LEN:
                raise GazetteerDataError(f"{path}:{line}: not a 12-digit village row")
            township_code = code[:TOWNSHIP_CODE_LEN]
            if township_code not in townships:
                raise GazetteerDataError(f"{path}:{line}: township {township_code} is not listed")
            villages[code] = Village(code, name, level, township_code, point)
        for township in townships.values():
            if township.county_code not in counties:
                raise GazetteerDataError(
                    f"county {township.county_code} of {township.name} is not listed"
                )
        return cls(counties, townships, villages)

    def counties(self) -> tuple[County, ...]:
        """All counties, by code."""
        return tuple(self.counties_by_code[code] for code in sorted(self.counties_by_code))

    def county(self, code: str) -> County:
        """The county with this 6-digit code (KeyError when unknown)."""
        return self.counties_by_code[code]

    def townships(self, county_code: str = QINGYUAN_COUNTY_CODE) -> tuple[Township, ...]:
        """The township-level units of a county, by code (庆元县: the 19 街道/镇/乡)."""
        if county_code not in self.counties_by_code:
            raise KeyError(county_code)
        return tuple(
            self.townships_by_code[code]
            for code in sorted(self.townships_by_code)
            if self.townships_by_code[code].county_code == county_code
        )

    def township(self, code: str) -> Township:
        """The township with this 9-digit code (KeyError when unknown)."""
        return self.townships_by_code[code]

    def villages(self, township_code: str) -> tuple[Village, ...]:
        """The 2016 villages and communities of a township, by code."""
        return tuple(
            self.villages_by_code[code]
            for code in sorted(self.villages_by_code)
            if self.villages_by_code[code].township_code == township_code
        )


def _read_rows(path: Path) -> Iterable[tuple[Path, int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"name", "admin_code", "level", "lat", "lon", "datum"} - set(
                reader.fieldnames or ()
            )
            if missing:
                raise GazetteerDataError(f"{path}: missing columns {sorted(missing)}")
            rows = [(path, reader.line_num, row) for row in reader]
    except OSError as error:
        raise GazetteerDataError(f"{path}: cannot read gazetteer file ({error})") from error
    return rows


def _parse_row(path: Path, line: int, row: dict[str, str]) -> tuple[str, str, Level, LatLon | None]:
    code = (row.get("admin_code") or "").strip()
    name = (row.get("name") or "").strip()
    if not code.isdigit() or not name:
        raise GazetteerDataError(f"{path}:{line}: admin_code and name are required")
    try:
        level = Level((row.get("level") or "").strip())
    except ValueError as error:
        raise GazetteerDataError(f"{path}:{line}: unknown level {row.get('level')!r}") from error
    lat_text, lon_text = (row.get("lat") or "").strip(), (row.get("lon") or "").strip()
    if not lat_text and not lon_text:
        return code, name, level, None
    try:
        datum = Datum((row.get("datum") or "").strip())
        point = LatLon(float(lat_text), float(lon_text))
    except ValueError as error:
        raise GazetteerDataError(f"{path}:{line}: bad point or datum ({error})") from error
    return code, name, level, to_wgs84(point, datum)
