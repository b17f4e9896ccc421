"""Travel models: integer seconds and metres between points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from routing.geo import LatLon


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

    @property
    def size(self) -> int:
        return len(self.seconds)


class TravelModel(Protocol):
    """Anything that turns points into a travel matrix (offline model, OSRM, a cache)."""

    def matrix(self, points: Sequence[LatLon]) -> TravelMatrix: ...
