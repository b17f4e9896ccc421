"""Who qualifies for a home visit (the county's rules in `BookingSettings.eligibility`),
and where someone who does not can go instead."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scheduler.errors import InvalidField, NotEligible
from scheduler.settings import BookingSettings


@dataclass(frozen=True, slots=True)
class Eligibility:
    rule: str
    needs_phone_check: bool


def eligibility(
    settings: BookingSettings, *, age: int, reason: str, disability_grade: int | None
) -> Eligibility | None:
    """The first configured rule the facts satisfy, or None."""
    for rule in settings.eligibility:
        ok = (
            (rule.kind == "age" and age >= (rule.min_age or 0))
            or (rule.kind == "disability" and disability_grade in rule.grades)
            or (rule.kind == "illness" and reason == "illness")
            or (rule.kind == "alone" and reason == "alone" and age >= (rule.min_age or 0))
            or (rule.kind == "other" and reason == "other")
        )
        if ok:
            return Eligibility(rule.kind, rule.needs_phone_check)
    return None


def ineligible_text(settings: BookingSettings) -> str:
    """The rules in Chinese, for a refusal."""
    parts = []
    for rule in settings.eligibility:
        if rule.kind == "age":
            parts.append(f"{rule.min_age}周岁以上老人")
        elif rule.kind == "disability":
            grades = "、".join("一二三四"[g - 1] for g in rule.grades if 1 <= g <= 4)
            parts.append(f"{grades}级残疾人")
        elif rule.kind == "illness":
            parts.append("重病或卧床人员")
        elif rule.kind == "alone":
            parts.append(f"{rule.min_age}周岁以上独居老人")
        elif rule.kind == "other":
            parts.append("其他确有困难的人员")
    return "上门办理面向" + "、".join(parts) + "。根据所填信息，申请人暂不符合上门办理条件"


def item(catalog: Any, code: str) -> Any:
    """The catalog item, or a field error."""
    found = catalog.items.get(code)
    if found is None:
        raise InvalidField("没有这个办事事项。", field="item", code="unknown_item")
    return found


def township(catalog: Any, code: str) -> Any:
    """The county's township, or a field error saying why not."""
    town = catalog.townships.get(code)
    if town is None:
        if not code.startswith(catalog.site.county_code):
            raise InvalidField(
                f"上门办理只在{catalog.site.county}范围内提供。",
                field="address.town_code",
                code="outside_county",
            )
        raise InvalidField(
            "没有这个乡镇（街道）。", field="address.town_code", code="unknown_township"
        )
    return town


def nearest_station(catalog: Any, item: Any, town_code: str) -> dict[str, str] | None:
    """The office handling the item nearest to the township seat (stations first)."""
    town = catalog.townships.get(town_code)
    offices = list(catalog.offices_for(item))
    if not offices:
        return None
    if town is None:
        chosen = offices[0]
    else:
        chosen = min(
            offices,
            key=lambda o: (
                o.kind.value == "hall",
                _km(town.lat, town.lon, o.location.lat, o.location.lon) if o.location else 1e9,
            ),
        )
    return {
        "id": chosen.id,
        "name": chosen.name,
        "address": chosen.address,
        "phone": chosen.phone,
        "hours": chosen.hours,
    }


def require_eligible(
    catalog: Any,
    settings: BookingSettings,
    item: Any,
    town_code: str,
    *,
    age: int,
    reason: str,
    disability_grade: int | None,
) -> Eligibility:
    """The rule the request qualifies under; else NotEligible naming the nearest office."""
    if not item.home_visit.allowed:
        raise NotEligible(
            "该事项不提供上门办理，请到就近窗口办理。",
            field="item",
            code="item_not_home_visit",
            extra={"nearest_office": nearest_station(catalog, item, town_code)},
        )
    found = eligibility(settings, age=age, reason=reason, disability_grade=disability_grade)
    if found is None:
        office = nearest_station(catalog, item, town_code)
        where = f"，可就近到{office['name']}办理（{office['phone']}）。" if office else "。"
        raise NotEligible(
            ineligible_text(settings) + where, field="reason", extra={"nearest_office": office}
        )
    return found


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    rlat1, rlat2 = math.radians(lat1), math.radians(lat2)
    dlat, dlon = rlat2 - rlat1, math.radians(lon2 - lon1)
    a = math.sin(dlat / 2) ** 2 + math.cos(rlat1) * math.cos(rlat2) * math.sin(dlon / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))
