"""Reform figures computed from the catalog (改革成效)."""

from __future__ import annotations

from dataclasses import dataclass

from guide.schema import Item


@dataclass(frozen=True, slots=True)
class ReformStats:
    items: int
    zero_trip: int
    at_most_one_trip: int
    courier: int
    home_visit: int
    immediate: int
    online: int
    legal_working_days: float
    promised_working_days: float

    @property
    def compression(self) -> float:
        """1 − Σpromised / Σlegal, in working days (德清 reported 43.4 %)."""
        if self.legal_working_days == 0:
            return 0.0
        return 1 - self.promised_working_days / self.legal_working_days

    def share(self, count: int) -> float:
        return count / self.items if self.items else 0.0


def compute(items: list[Item]) -> ReformStats:
    """Counts and time-limit sums over the given items."""
    return ReformStats(
        items=len(items),
        zero_trip=sum(1 for i in items if i.visits_required == 0),
        at_most_one_trip=sum(1 for i in items if i.visits_required <= 1),
        courier=sum(1 for i in items if i.courier_supported),
        home_visit=sum(1 for i in items if i.home_visit.allowed),
        immediate=sum(1 for i in items if i.promise_limit.immediate),
        online=sum(1 for i in items if i.online),
        legal_working_days=sum(i.legal_limit.working_days() for i in items),
        promised_working_days=sum(i.promise_limit.working_days() for i in items),
    )


def percent(value: float) -> str:
    """A share as the guide prints it: one decimal, e.g. 43.4%."""
    return f"{value * 100:.1f}%"
