"""The one coordinate type of the project, and datum conversion in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LatLon:
    """A point in decimal degrees, WGS-84 unless a caller says otherwise (latitude first)."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"bad coordinate lat={self.lat} lon={self.lon}")
