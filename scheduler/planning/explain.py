"""Why a visit was left out of a plan, in words a dispatcher reads: per unassigned visit
the reason code, a Chinese message, each clerk's best failed insertion and the smallest
fix that `routing.explain` verified (stored with the version, shown on the board)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from routing.explain import (
    ADD_SKILL,
    LATER_LUNCH,
    LATER_SHIFT_END,
    LONGER_WORKING,
    MORE_CAPACITY,
    MORE_VISITS,
    Explanation,
    Relaxation,
)
from routing.model import Problem, Reason, RoutePlan
from scheduler.planning import bookings as bk
from scheduler.planning import engine
from scheduler.planning.problem import ANY_SKILL, item_skill


def explain(
    session: Session,
    day: date,
    problem: Problem,
    plan: RoutePlan,
    rows: dict[str, bk.Booking],
    catalog: Any,
) -> list[dict[str, Any]]:
    """Per unassigned visit: reason code, a Chinese message, the best failed insertion per
    clerk and the smallest fix."""
    names = bk.clerk_names(session)
    zones = bk.zone_names(session)
    library = engine.explain(problem, plan) if plan.unassigned and plan.routes else {}
    out = []
    for u in plan.unassigned:
        b = rows[u.visit_id]
        half = bk.HALF_DAY_ZH[b.half_day]
        zone = zones.get(b.zone_code, b.zone_code).split("（")[0]
        skill = item_skill(catalog, b.item_code)
        skill_name = _skill_name(catalog, skill)
        slots = bk.open_slots(session, b.zone_code, day, limit=2)
        later = "；".join(f"{_md(d)}{bk.HALF_DAY_ZH[h]}{zone}还有 {n} 个空位" for d, h, n in slots)
        insertions: list[dict[str, Any]] = []
        if u.reason is Reason.NO_SKILL:
            message = f"{half}{zone}没有在班且具备「{skill_name}」技能的办事员"
            fix = f"为{zone}{half}安排一名具备「{skill_name}」技能的办事员，或与居民改约" + (
                f"（{later}）" if later else ""
            )
        elif u.reason is Reason.OUTSIDE_SHIFTS:
            message = f"{half}没有办事员在{zone}当班"
            fix = f"为{zone}{half}排班，或改约" + (f"（{later}）" if later else "")
        elif u.reason is Reason.UNREACHABLE_IN_WINDOW:
            message = "没有办事员能在预约时段内赶到并在下班前返回（已计入路程、办理时间和午休）"
            fix = "改约到其他时段，或安排从更近的服务中心出发的办事员"
        else:
            # Full routes (time, visit count): routing.explain tried every place in every
            # clerk's route; the reason is the best place with a clerk already out there,
            # the fix the smallest change it verified (which may put another clerk there).
            lib = library.get(u.visit_id)
            words = _Words(names, zones, catalog)
            insertions = _insertions(lib, words) if lib is not None else []
            there = [
                ins
                for ins in (lib.insertions if lib is not None else ())
                if ins.position is not None and all(r.kind != ADD_SKILL for r in ins.binding)
            ]
            best = min(there, key=lambda ins: ins.cost) if there else None
            if best is None or best.position is None:
                message = f"{half}{zone}当班的办事员都排不下此次上门"
            else:
                who = words.clerk(best.clerk_id)
                if not best.binding:
                    message = f"{who} 的路线还可以插入此次上门（第 {best.position + 1} 站）"
                else:
                    message = (
                        f"{who} 的{half}已满：排在第 {best.position + 1} 站需"
                        + "，并且".join(words.change(r) for r in best.binding)
                    )
            fixed = lib.fix if lib is not None else None
            if fixed is None or fixed.position is None:
                fix = "增派一名办事员，或改约" + (f"（{later}）" if later else "")
            elif not fixed.binding:
                fix = f"把它移到 {words.clerk(fixed.clerk_id)} 的路线上"
            else:
                fix = (
                    "，并且".join(words.change(r) for r in fixed.binding)
                    + f"，即可排进 {words.clerk(fixed.clerk_id)} 的路线；或改约"
                    + (f"（{later}）" if later else "")
                )
        out.append(
            {
                "visit_id": u.visit_id,
                "reason": u.reason.value,
                "message": message,
                "fix": fix,
                "insertions": insertions,
            }
        )
    return out


@dataclass(frozen=True)
class _Words:
    """routing.explain's changes worded for the dispatcher: clerk and zone names."""

    names: dict[int, str]
    zones: dict[str, str]
    catalog: Any

    def clerk(self, clerk_id: str) -> str:
        return self.names.get(int(clerk_id), clerk_id) if clerk_id.isdigit() else clerk_id

    def change(self, r: Relaxation) -> str:
        who = self.clerk(r.clerk_id)
        minutes = f"{r.minutes} 分钟"
        if r.kind == ADD_SKILL:
            # Visit skills are ``skill@zone/half`` (see visit_skill): the change puts the
            # clerk out in that zone and half-day, holding the skill.
            base, _, where = (r.skill or "").partition("@")
            zone_code, _, half = where.partition("/")
            zone = self.zones.get(zone_code, zone_code).split("（")[0]
            name = _skill_name(self.catalog, None if base == ANY_SKILL else base)
            return f"安排{who}{bk.HALF_DAY_ZH.get(half, half)}到{zone}上门（需具备「{name}」技能）"
        if r.kind == MORE_VISITS:
            return f"{who}当天多上门 {r.amount} 次"
        if r.kind == MORE_CAPACITY:
            return f"{who}的携带量上限增加 {r.amount}"
        if r.kind == LATER_SHIFT_END:
            return f"{who}延长下班 {minutes}"
        if r.kind == LONGER_WORKING:
            return f"{who}的工作时长增加 {minutes}"
        if r.kind == LATER_LUNCH:
            return f"{who}的午休推迟 {minutes}"
        return f"有上门晚于时间窗 {minutes}"


def _insertions(e: Explanation, words: _Words) -> list[dict[str, Any]]:
    """Each clerk's best place for the visit (routing.explain), fitting ones first."""
    out = []
    for ins in e.insertions:
        if ins.position is None:
            continue  # pinned to another clerk: no place was tried
        out.append(
            {
                "clerk_id": ins.clerk_id,
                "clerk": words.clerk(ins.clerk_id),
                "position": ins.position,
                "feasible": ins.verified and not ins.binding,
                "verified": ins.verified,
                "changes": [words.change(r) for r in ins.binding],
                "cost": list(ins.cost),
            }
        )
    return sorted(out, key=lambda i: (not i["feasible"], not i["verified"], i["cost"]))


def _skill_name(catalog: Any, skill: str | None) -> str:
    if skill is None:
        return "上门办理"
    found = getattr(catalog, "skills", {}).get(skill)
    return found.name if found else skill


def _md(d: date) -> str:
    return f"{d.month}月{d.day}日（周{'一二三四五六日'[d.weekday()]}）"
