"""Where an address is: the geocoder's answer for the village, else the township seat.

Answers are remembered (a county has a few hundred villages); an answer found while an
online geocoder was unavailable only briefly, so it neither outlives the outage nor
sends every booking of the outage to the failing service again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

# (lat, lon, datum, precision) of an address.
Place = tuple[float | None, float | None, str | None, str | None]
MAX_PLACES_REMEMBERED = 4096
GEOCODER_RETRY_S = 60.0  # a place located while the geocoder was unavailable: ask again after


class PlaceFinder:
    """Locates (township, village) pairs with an optional geocoder, remembering answers."""

    def __init__(self, catalog: Any, geocoder: Any = None) -> None:
        self.catalog = catalog
        self.geocoder = geocoder
        # By (township, village): the place and the monotonic time it expires (None: never).
        self._places: dict[tuple[str, str], tuple[Place, float | None]] = {}
        self._lock = threading.Lock()
        self.clock: Callable[[], float] = time.monotonic

    def locate(self, town_code: str, village: str) -> Place:
        key = (town_code, village)
        now = self.clock()
        remembered = self._places.get(key)
        if remembered is not None and (remembered[1] is None or now < remembered[1]):
            return remembered[0]
        found, lasting = self._find(town_code, village)
        with self._lock:
            if len(self._places) >= MAX_PLACES_REMEMBERED:
                self._places.clear()
            self._places[key] = (found, None if lasting else now + GEOCODER_RETRY_S)
        return found

    def _find(self, town_code: str, village: str) -> tuple[Place, bool]:
        lasting = True
        if self.geocoder is not None:
            from routing.geocode import AddressQuery, GeocodeError, GeocoderUnavailableError

            for query in (
                AddressQuery(township=town_code, village=village),
                AddressQuery(township=town_code),
            ):
                try:
                    res = self.geocoder.geocode(query)
                except GeocodeError as err:
                    lasting = lasting and not isinstance(err, GeocoderUnavailableError)
                    continue
                return (res.point.lat, res.point.lon, "WGS-84", str(res.precision)), lasting
        town = self.catalog.townships.get(town_code)
        if town is None:
            return (None, None, None, None), lasting
        return (town.lat, town.lon, "GCJ-02", "township"), lasting
