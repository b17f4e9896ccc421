"""Geocoding: from a resident's address to a WGS-84 point, saying how precise it is.

Two implementations sit behind the :class:`Geocoder` protocol:

* :class:`GazetteerGeocoder` — offline, over ``content/gazetteer`` (township seats
  of the county, and the few 2016 villages that have a point; read by
  :mod:`routing.gazetteer`). The default.
* :class:`GeopyGeocoder` — any geopy geocoder (Nominatim by default) for
  deployments with network access; rate-limited.

Every result carries a :class:`Precision`: ``village`` when the point is the
village itself, ``township`` when it is the township seat, ``county`` when it is
the county seat. Planning treats coarse points as approximate; the booking form
can ask for more detail when the precision is too coarse.
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from geopy.exc import GeopyError
from geopy.geocoders import Nominatim

from routing.gazetteer import (
    COUNTY_CODE_LEN,
    QINGYUAN_COUNTY_CODE,
    TOWNSHIP_CODE_LEN,
    VILLAGE_CODE_LEN,
    Gazetteer,
    Township,
    Village,
    strip_suffix,
    village_bare_name,
)
from routing.geo import Datum, LatLon, to_wgs84


class Precision(StrEnum):
    """What a geocoded point stands for, finest first."""

    VILLAGE = "village"
    TOWNSHIP = "township"
    COUNTY = "county"


class GeocodeError(Exception):
    """An address could not be turned into a point.

    ``str(error)`` is for logs (English); ``message_zh`` may be shown to a
    resident; ``code`` is the machine-readable error code for an API body and
    ``field`` names the address part at fault, when one is.
    """

    code = "geocode_failed"

    def __init__(self, message: str, message_zh: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message_zh = message_zh
        self.field = field


class UnknownPlaceError(GeocodeError):
    """No county, township or village of the service area matches."""

    code = "unknown_place"


class OutsideServiceAreaError(GeocodeError):
    """The place exists but lies outside the county this geocoder serves."""

    code = "outside_service_area"


class AmbiguousPlaceError(GeocodeError):
    """The words match several places and nothing says which one is meant."""

    code = "ambiguous_place"


class GeocoderUnavailableError(GeocodeError):
    """The online geocoding service failed (network, quota, server error)."""

    code = "geocoder_unavailable"


@dataclass(frozen=True, slots=True)
class AddressQuery:
    """An address as the booking form collects it; every part is optional.

    ``county`` and ``township`` take a name, a short name (``隆宫`` for ``隆宫乡``)
    or an administrative code; ``village`` a name or a 12-digit code. ``detail``
    (street, house number, landmark) is kept for the clerk and passed to online
    geocoders; the offline gazetteer cannot resolve it.
    """

    township: str = ""
    village: str = ""
    detail: str = ""
    county: str = ""

    def text(self) -> str:
        """The parts joined into one line, coarse to fine (for free-text geocoders)."""
        return "".join(
            part.strip() for part in (self.county, self.township, self.village, self.detail)
        )


@dataclass(frozen=True, slots=True)
class GeocodeResult:
    """A geocoded address.

    ``point`` is WGS-84 and stands for what ``precision`` says. ``name`` and
    ``admin_code`` describe the finest unit that was recognised, which can be
    finer than the point: a 2016 village without coordinates is recognised
    (its code is kept) but located at its township seat (``precision`` township).
    """

    point: LatLon
    precision: Precision
    name: str
    admin_code: str | None = None
    township_code: str | None = None
    county_code: str | None = None


class Geocoder(Protocol):
    """Anything that turns an address into a point (offline gazetteer, online service)."""

    def geocode(self, query: str | AddressQuery) -> GeocodeResult: ...


@dataclass(frozen=True, slots=True)
class _Match:
    position: int
    length: int
    code: str


def _earliest(matches: list[_Match]) -> list[_Match]:
    """The matches that start first in the text; among those, the longest ones."""
    if not matches:
        return []
    first = min(m.position for m in matches)
    at_first = [m for m in matches if m.position == first]
    longest = max(m.length for m in at_first)
    return [m for m in at_first if m.length == longest]


def _clean(text: str) -> str:
    """Full-width digits and letters (common from phone keyboards) to ASCII; no whitespace."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _find_all(text: str, needle: str, code: str) -> list[_Match]:
    return [_Match(m.start(), len(needle), code) for m in re.finditer(re.escape(needle), text)]


class GazetteerGeocoder:
    """Offline geocoder over the gazetteer: village point, else township seat, else county seat.

    It serves one county (``county_code``); places of other counties in the
    gazetteer are reported as :class:`OutsideServiceAreaError`.
    """

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        county_code: str = QINGYUAN_COUNTY_CODE,
        gazetteer: Gazetteer | None = None,
    ) -> None:
        self.gazetteer = gazetteer if gazetteer is not None else Gazetteer.load(directory)
        if county_code not in self.gazetteer.counties_by_code:
            raise ValueError(f"county {county_code} is not in the gazetteer")
        self.county = self.gazetteer.county(county_code)
        self._townships = self.gazetteer.townships(county_code)
        self._villages_of = {t.code: self.gazetteer.villages(t.code) for t in self._townships}

    def townships(self) -> tuple[Township, ...]:
        """The township-level units this geocoder serves (for a booking form's list)."""
        return self._townships

    def geocode(self, query: str | AddressQuery) -> GeocodeResult:
        """Locate an address given as free text, an administrative code or form fields."""
        if isinstance(query, AddressQuery):
            return self._geocode_fields(query)
        text = _clean(query)
        if not text:
            raise UnknownPlaceError("empty address", "请填写地址。", field="address")
        if text.isdigit():
            return self._geocode_code(text, field="address")
        return self._geocode_text(text)

    # -- structured fields ------------------------------------------------------------

    def _geocode_fields(self, query: AddressQuery) -> GeocodeResult:
        county_text = _clean(query.county)
        township_text = _clean(query.township)
        village_text = _clean(query.village)
        if county_text:
            self._check_county(county_text)
        if village_text.isdigit():
            result = self._geocode_code(village_text, field="village")
            if (
                township_text
                and result.township_code != self._township_by_field(township_text).code
            ):
                raise AmbiguousPlaceError(
                    f"village {village_text} is not in township {township_text}",
                    f"所填村（社区）{village_text}不属于{township_text}，请核对。",
                    field="village",
                )
            return result
        if not township_text:
            if village_text:
                return self._geocode_text(village_text, field="village")
            if county_text:
                return self._county_result()
            raise UnknownPlaceError(
                "no township given", "请选择所在乡镇（街道）。", field="township"
            )
        township = self._township_by_field(township_text)
        if village_text:
            village = self._village_by_name(township, village_text)
            if village is not None:
                return self._village_result(village)
        return self._township_result(township)

    def _check_county(self, text: str, field: str = "county") -> None:
        if text.isdigit():
            if text == self.county.code:
                return
            if text in self.gazetteer.counties_by_code:
                raise self._outside(self.gazetteer.county(text).name, field=field)
            raise UnknownPlaceError(
                f"unknown county code {text}", f"未找到区县代码{text}。", field=field
            )
        # "庆元", "庆元县" and "浙江省丽水市庆元县" all name the county.
        if self.county.short_name in text:
            return
        for county in self.gazetteer.counties():
            if county.short_name in text:
                raise self._outside(county.name, field=field)
        raise self._outside(text, field=field)

    def _township_by_field(self, text: str) -> Township:
        if text.isdigit():
            result = self._geocode_code(text, field="township")
            if len(text) != TOWNSHIP_CODE_LEN or result.township_code is None:
                raise UnknownPlaceError(
                    f"township code {text} is not 9 digits",
                    f"乡镇（街道）代码{text}应为9位数字。",
                    field="township",
                )
            return self.gazetteer.township(result.township_code)
        for township in self._townships:
            if text in (township.name, township.short_name):
                return township
        # "百山祖乡" (its 2016 name) for "百山祖镇": same short name, other suffix.
        short = strip_suffix(text, ("街道", "镇", "乡"))
        for township in self._townships:
            if short == township.short_name:
                return township
        for township in self.gazetteer.townships_by_code.values():
            if text in (township.name, township.short_name):
                raise self._outside(township.name, field="township")
        raise UnknownPlaceError(
            f"unknown township {text!r} in {self.county.name}",
            f"{self.county.name}没有名为“{text}”的乡镇（街道），请从列表中选择。",
            field="township",
        )

    def _village_by_name(self, township: Township, text: str) -> Village | None:
        villages = self._villages_of[township.code]
        for village in villages:
            if text in village.aliases:
                return village
        bare = village_bare_name(text)
        found = [v for v in villages if v.bare_name == bare]
        return found[0] if len(found) == 1 else None

    # -- codes ------------------------------------------------------------------------

    def _geocode_code(self, code: str, *, field: str) -> GeocodeResult:
        if len(code) == COUNTY_CODE_LEN:
            self._check_county(code, field)
            return self._county_result()
        county_code = code[:COUNTY_CODE_LEN]
        if len(code) in (TOWNSHIP_CODE_LEN, VILLAGE_CODE_LEN) and county_code != self.county.code:
            if county_code in self.gazetteer.counties_by_code:
                raise self._outside(self.gazetteer.county(county_code).name, field=field)
            raise UnknownPlaceError(
                f"code {code} is outside the gazetteer",
                f"行政区划代码{code}不在本县服务范围内。",
                field=field,
            )
        if len(code) == TOWNSHIP_CODE_LEN:
            if code in self.gazetteer.townships_by_code:
                return self._township_result(self.gazetteer.township(code))
        elif len(code) == VILLAGE_CODE_LEN:
            if code in self.gazetteer.villages_by_code:
                return self._village_result(self.gazetteer.villages_by_code[code])
            # The village list is the 2016 snapshot; later codes (after the 2019
            # mergers) are unknown here but still name their township.
            township_code = code[:TOWNSHIP_CODE_LEN]
            if township_code in self.gazetteer.townships_by_code:
                return self._township_result(self.gazetteer.township(township_code))
        raise UnknownPlaceError(
            f"unknown administrative code {code}",
            f"未找到行政区划代码{code}，请核对。",
            field=field,
        )

    # -- free text --------------------------------------------------------------------

    def _geocode_text(self, text: str, field: str = "address") -> GeocodeResult:
        county_named = self._scan_counties(text, field)
        township = self._scan_townships(text, field)
        if township is not None:
            end = self._township_end(text, township)
            village = self._scan_villages(text[end:], self._villages_of[township.code], field)
            if village is None:
                return self._township_result(township)
            return self._village_result(village)
        everywhere = [v for t in self._townships for v in self._villages_of[t.code]]
        village = self._scan_villages(text, everywhere, field, allow_bare=False)
        if village is not None:
            return self._village_result(village)
        if county_named:
            return self._county_result()
        for other in self.gazetteer.townships_by_code.values():
            if other.county_code != self.county.code and other.name in text:
                raise self._outside(other.name, field=field)
        raise UnknownPlaceError(
            f"no place of {self.county.name} found in {text!r}",
            f"未能识别地址“{text}”，请写明所在乡镇（街道）和村（社区）。",
            field=field,
        )

    def _scan_counties(self, text: str, field: str) -> bool:
        named_here = False
        for county in self.gazetteer.counties():
            if county.name in text or county.short_name in text:
                if county.code != self.county.code:
                    if self.county.name not in text and self.county.short_name not in text:
                        raise self._outside(county.name, field=field)
                else:
                    named_here = True
        return named_here

    def _scan_townships(self, text: str, field: str) -> Township | None:
        by_code = {t.code: t for t in self._townships}
        full: list[_Match] = []
        short: list[_Match] = []
        for township in self._townships:
            full += _find_all(text, township.name, township.code)
            short += _find_all(text, township.short_name, township.code)
        # A full name ("松源街道") beats a short name that may be a street ("松源路").
        best = _earliest(full) or _earliest(short)
        codes = {m.code for m in best}
        if len(codes) > 1:
            names = "、".join(by_code[c].name for c in sorted(codes))
            raise AmbiguousPlaceError(
                f"several townships match {text!r}",
                f"地址中的乡镇（街道）不明确（{names}），请写明其一。",
                field=field,
            )
        return by_code[codes.pop()] if codes else None

    @staticmethod
    def _township_end(text: str, township: Township) -> int:
        for needle in (township.name, township.short_name):
            found = text.find(needle)
            if found >= 0:
                return found + len(needle)
        return 0

    def _scan_villages(
        self, text: str, villages: Iterable[Village], field: str, *, allow_bare: bool = True
    ) -> Village | None:
        candidates = list(villages)
        by_code = {v.code: v for v in candidates}
        matches: list[_Match] = []
        for village in candidates:
            for alias in village.aliases:
                matches += _find_all(text, alias, village.code)
        if not matches and allow_bare:
            # Within a known township, "安溪" alone is taken for 安溪村; only at the start
            # of the remaining text, so that a street ("新建路") is not read as a village.
            for village in candidates:
                if len(village.bare_name) >= 2 and text.startswith(village.bare_name):
                    matches.append(_Match(0, len(village.bare_name), village.code))
        best = _earliest(matches)
        codes = {m.code for m in best}
        if len(codes) > 1:
            names = "、".join(
                f"{self.gazetteer.township(by_code[c].township_code).name}{by_code[c].name}"
                for c in sorted(codes)
            )
            raise AmbiguousPlaceError(
                f"several villages match {text!r}",
                f"同名村（社区）不止一个（{names}），请写明所在乡镇（街道）。",
                field=field,
            )
        return by_code[codes.pop()] if codes else None

    # -- results ----------------------------------------------------------------------

    def _outside(self, place: str, *, field: str) -> OutsideServiceAreaError:
        return OutsideServiceAreaError(
            f"{place} is outside {self.county.name}",
            f"{place}不在{self.county.name}服务范围内，上门服务仅限本县。",
            field=field,
        )

    def _county_result(self) -> GeocodeResult:
        return GeocodeResult(
            point=self.county.point,
            precision=Precision.COUNTY,
            name=self.county.name,
            admin_code=self.county.code,
            township_code=None,
            county_code=self.county.code,
        )

    def _township_result(self, township: Township, village: Village | None = None) -> GeocodeResult:
        name = self.county.name + township.name + (village.name if village else "")
        admin_code = village.code if village else township.code
        if township.point is None:
            return GeocodeResult(
                self.county.point,
                Precision.COUNTY,
                name,
                admin_code,
                township.code,
                self.county.code,
            )
        return GeocodeResult(
            township.point, Precision.TOWNSHIP, name, admin_code, township.code, self.county.code
        )

    def _village_result(self, village: Village) -> GeocodeResult:
        township = self.gazetteer.township(village.township_code)
        if village.point is None:
            return self._township_result(township, village)
        return GeocodeResult(
            point=village.point,
            precision=Precision.VILLAGE,
            name=self.county.name + township.name + village.name,
            admin_code=village.code,
            township_code=township.code,
            county_code=self.county.code,
        )


# -- online ---------------------------------------------------------------------------

QINGYUAN_BOUNDS = (LatLon(27.35, 118.75), LatLon(27.95, 119.60))
"""South-west and north-east corners (WGS-84) of a box around 庆元县 with a few km margin."""

# Nominatim's "addresstype" (or "type") → what the point stands for.
_NOMINATIM_PRECISION = {
    **dict.fromkeys(
        (
            "house",
            "building",
            "amenity",
            "road",
            "hamlet",
            "village",
            "isolated_dwelling",
            "neighbourhood",
            "residential",
            "farm",
            "allotments",
            "place",
            "office",
        ),
        Precision.VILLAGE,
    ),
    **dict.fromkeys(
        ("town", "suburb", "quarter", "city_district", "municipality"), Precision.TOWNSHIP
    ),
    **dict.fromkeys(("county", "city", "state_district", "district"), Precision.COUNTY),
}


def nominatim_precision(raw: Mapping[str, Any]) -> Precision:
    """Precision of a Nominatim answer; anything unrecognised is claimed as county only."""
    for key in ("addresstype", "type"):
        value = raw.get(key)
        if isinstance(value, str) and value in _NOMINATIM_PRECISION:
            return _NOMINATIM_PRECISION[value]
    return Precision.COUNTY


class GeopyGeocoder:
    """Adapter from a geopy geocoder to :class:`Geocoder`, at most one call per ``min_delay_s``.

    The geopy instance is injected (tests pass a fake; production builds one with
    :meth:`nominatim`). ``datum`` is the datum the service answers in: WGS-84 for
    Nominatim, GCJ-02 for Chinese services such as Amap; points are converted to
    WGS-84. Answers outside ``bounds`` are refused as outside the service area.
    """

    def __init__(
        self,
        geocoder: Any,
        *,
        min_delay_s: float = 1.0,
        region_prefix: str = "浙江省丽水市庆元县",
        bounds: tuple[LatLon, LatLon] | None = QINGYUAN_BOUNDS,
        datum: Datum = Datum.WGS84,
        precision_of: Callable[[Mapping[str, Any]], Precision] = nominatim_precision,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if min_delay_s < 0:
            raise ValueError(f"min_delay_s must be >= 0, got {min_delay_s}")
        self._geocoder = geocoder
        self.min_delay_s = min_delay_s
        self.region_prefix = region_prefix
        self.bounds = bounds
        self.datum = datum
        self._precision_of = precision_of
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._last_call_s: float | None = None

    @classmethod
    def nominatim(
        cls,
        user_agent: str,
        *,
        domain: str = "nominatim.openstreetmap.org",
        timeout_s: float = 10.0,
        min_delay_s: float = 1.0,
    ) -> GeopyGeocoder:
        """A Nominatim-backed geocoder; OSM's policy asks for a real user agent and ≤1 call/s."""
        if not user_agent.strip():
            raise ValueError("Nominatim requires an identifying user agent")
        if domain == "nominatim.openstreetmap.org" and min_delay_s < 1.0:
            raise ValueError("the public Nominatim server allows at most one request per second")
        geocoder = Nominatim(user_agent=user_agent, domain=domain, timeout=timeout_s)
        return cls(geocoder, min_delay_s=min_delay_s)

    def geocode(self, query: str | AddressQuery) -> GeocodeResult:
        """Ask the online service, waiting first if the previous call was too recent."""
        text = query.text() if isinstance(query, AddressQuery) else query.strip()
        if not text:
            raise UnknownPlaceError("empty address", "请填写地址。", field="address")
        text = _with_prefix(self.region_prefix, text)
        location = self._call(text)
        if location is None:
            raise UnknownPlaceError(
                f"the geocoding service found nothing for {text!r}",
                f"未能找到地址“{text}”，请写明所在乡镇（街道）和村（社区）。",
                field="address",
            )
        try:
            point = to_wgs84(
                LatLon(float(location.latitude), float(location.longitude)), self.datum
            )
        except (AttributeError, TypeError, ValueError) as error:
            raise GeocoderUnavailableError(
                f"the geocoding service returned an unusable point: {error}",
                "地址解析服务返回了无效结果，请稍后再试。",
            ) from error
        if self.bounds is not None and not _inside(point, self.bounds):
            raise OutsideServiceAreaError(
                f"{text!r} resolved to {point}, outside the service area",
                f"地址“{text}”不在服务范围内，上门服务仅限本县。",
                field="address",
            )
        raw = getattr(location, "raw", None)
        precision = self._precision_of(raw if isinstance(raw, Mapping) else {})
        address = getattr(location, "address", None)
        return GeocodeResult(point, precision, address if isinstance(address, str) else text)

    def _call(self, text: str) -> Any:
        with self._lock:
            if self._last_call_s is not None:
                wait_s = self.min_delay_s - (self._clock() - self._last_call_s)
                if wait_s > 0:
                    self._sleep(wait_s)
            try:
                return self._geocoder.geocode(text, exactly_one=True)
            except GeopyError as error:
                raise GeocoderUnavailableError(
                    f"geocoding service failed: {error!r}",
                    "地址解析服务暂不可用，请稍后再试或选择所在乡镇（街道）。",
                ) from error
            finally:
                self._last_call_s = self._clock()


def _with_prefix(prefix: str, text: str) -> str:
    """Prepend the part of ``prefix`` the text lacks: 庆元县隆宫乡 → 浙江省丽水市庆元县隆宫乡."""
    for start in range(len(prefix)):
        if text.startswith(prefix[start:]):
            return prefix[:start] + text
    return prefix + text


def _inside(point: LatLon, bounds: tuple[LatLon, LatLon]) -> bool:
    south_west, north_east = bounds
    return (
        south_west.lat <= point.lat <= north_east.lat
        and south_west.lon <= point.lon <= north_east.lon
    )
