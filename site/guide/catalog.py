"""Load `content/` into a validated, immutable catalog.

Every problem names the file, the field and the rule; the loader collects all of them
before it fails, so an editor fixes a batch of mistakes in one round.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from guide.rules import check_item
from guide.schema import (
    Department,
    Item,
    LifeEvent,
    Location,
    Office,
    OfficeKind,
    SiteInfo,
    Skill,
)

CONTENT_DIR = Path(__file__).resolve().parents[2] / "content"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ContentError:
    """One problem in one content file."""

    path: str
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: field '{self.field}': [{self.rule}] {self.message}"


class CatalogError(Exception):
    """The content does not load; `errors` lists every problem found."""

    def __init__(self, errors: Iterable[ContentError]) -> None:
        self.errors = tuple(errors)
        lines = "\n".join(f"  {e}" for e in self.errors)
        super().__init__(f"{len(self.errors)} problem(s) in content:\n{lines}")


@dataclass(frozen=True, slots=True)
class Township:
    """A township-level unit of the county, from the gazetteer (GCJ-02 as published)."""

    code: str
    name: str
    level: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Catalog:
    """Everything the guide publishes, keyed by id and in a stable order."""

    site: SiteInfo
    items: Mapping[str, Item]
    offices: Mapping[str, Office]
    departments: Mapping[str, Department]
    life_events: Mapping[str, LifeEvent]
    skills: Mapping[str, Skill]
    townships: Mapping[str, Township]
    sources: Mapping[str, str] = field(default_factory=dict)  # id -> content file

    def offices_for(self, item: Item) -> list[Office]:
        """Every office that handles an item: the listed ones, then stations and points."""
        chosen = [self.offices[o] for o in item.offices]
        for office in self.offices.values():
            if office.id in item.offices:
                continue
            if _handles(item, office):
                chosen.append(office)
        return chosen

    def items_at(self, office: Office) -> list[Item]:
        return [i for i in self.items.values() if _handles(i, office)]

    def home_visit_items(self) -> list[Item]:
        return [i for i in self.items.values() if i.home_visit.allowed]


def _handles(item: Item, office: Office) -> bool:
    return (
        office.id in item.offices
        or (item.township_stations and office.kind is OfficeKind.STATION)
        or (item.community_points and office.kind is OfficeKind.COMMUNITY)
    )


def load(content_dir: Path | str = CONTENT_DIR) -> Catalog:
    """Read and check every content file; raise `CatalogError` listing all problems."""
    root = Path(content_dir)
    errors: list[ContentError] = []
    sources: dict[str, str] = {}

    site = _load_one(root, "site.yml", SiteInfo, errors)
    departments = _load_list(root, "departments.yml", Department, "id", errors)
    life_events = _load_list(root, "life_events.yml", LifeEvent, "id", errors)
    skills = _load_list(root, "skills.yml", Skill, "id", errors)
    townships = load_townships(root / "gazetteer" / "townships.csv", site.county if site else None)
    offices = _load_list(root, "offices.yml", Office, "id", errors)
    offices = {k: _with_location(o, townships, errors, root) for k, o in offices.items()}

    items: dict[str, Item] = {}
    task_codes: dict[str, str] = {}
    item_files = sorted((root / "items").glob("*.yml"))
    if not item_files:
        errors.append(ContentError(_rel(root / "items", root), "-", "no-items", "没有任何事项文件"))
    for path in item_files:
        rel = _rel(path, root)
        item = _parse(path, rel, Item, errors)
        if item is None:
            continue
        before = len(errors)
        if item.code != path.stem:
            errors.append(
                ContentError(
                    rel,
                    "code",
                    "code-is-filename",
                    f"事项编码「{item.code}」应与文件名「{path.stem}」一致",
                )
            )
        if item.task_code in task_codes:
            errors.append(
                ContentError(
                    rel,
                    "task_code",
                    "unique-task-code",
                    f"实施编码与 {task_codes[item.task_code]} 重复",
                )
            )
        if site is not None:
            errors.extend(
                ContentError(rel, p.field, p.rule, p.message)
                for p in check_item(item, site.area_code)
            )
        errors.extend(_references(item, rel, departments, life_events, offices, skills))
        if len(errors) == before:
            items[item.code] = item
            task_codes[item.task_code] = rel
            sources[item.code] = rel

    if errors or site is None:
        raise CatalogError(errors)
    return Catalog(
        site=site,
        items=MappingProxyType(
            dict(sorted(items.items(), key=lambda kv: (kv[1].department, kv[0])))
        ),
        offices=MappingProxyType(offices),
        departments=MappingProxyType(departments),
        life_events=MappingProxyType(life_events),
        skills=MappingProxyType(skills),
        townships=MappingProxyType(townships),
        sources=MappingProxyType(sources),
    )


def load_townships(path: Path, county: str | None) -> dict[str, Township]:
    """The county's township-level units from the gazetteer CSV, keyed by 9-digit code."""
    rows: dict[str, Township] = {}
    if not path.exists():
        return rows
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["level"] == "county" or (county and row["county"] != county) or not row["lat"]:
                continue
            rows[row["admin_code"]] = Township(
                row["admin_code"], row["name"], row["level"], float(row["lat"]), float(row["lon"])
            )
    return rows


def _references(
    item: Item,
    rel: str,
    departments: Mapping[str, Department],
    life_events: Mapping[str, LifeEvent],
    offices: Mapping[str, Office],
    skills: Mapping[str, Skill],
) -> Iterable[ContentError]:
    refs: list[tuple[str, str, Mapping[str, object], str, str, str]] = [
        ("department", item.department, departments, "known-department", "部门", "departments"),
        *(
            (f"life_events[{i}]", ev, life_events, "known-life-event", "人生事件", "life_events")
            for i, ev in enumerate(item.life_events)
        ),
        *(
            (f"offices[{i}]", o, offices, "known-office", "办事地点", "offices")
            for i, o in enumerate(item.offices)
        ),
    ]
    if item.home_visit.skill is not None:
        refs.append(
            ("home_visit.skill", item.home_visit.skill, skills, "known-skill", "业务技能", "skills")
        )
    for field_name, ref, known, rule, label, file in refs:
        if ref not in known:
            yield ContentError(rel, field_name, rule, f"未知的{label}「{ref}」（见 {file}.yml）")
    main = offices.get(item.offices[0])
    if main is not None and main.windows:
        windows = set().union(*(window_numbers(w.number) for w in main.windows))
        unknown = sorted(window_numbers(item.window) - windows)
        if unknown:
            yield ContentError(
                rel,
                "window",
                "known-window",
                f"{main.name}没有 {'、'.join(map(str, unknown))} 号窗口（见 offices.yml）",
            )


def window_numbers(text: str) -> set[int]:
    """Window numbers a text names: "综合受理窗口 1—8号" → {1, …, 8}; "16号" → {16}."""
    numbers: set[int] = set()
    for first, last in re.findall(r"(\d+)(?:\s*[—–~-]\s*(\d+))?\s*号", text):
        numbers.update(range(int(first), int(last or first) + 1))
    return numbers


def _with_location(
    office: Office, townships: Mapping[str, Township], errors: list[ContentError], root: Path
) -> Office:
    if office.location is not None:
        return office
    town = townships.get(office.town_code)
    if town is None:
        errors.append(
            ContentError(
                _rel(root / "offices.yml", root),
                f"{office.id}.town_code",
                "known-township",
                f"县内没有编码为 {office.town_code} 的乡镇（街道）",
            )
        )
        return office
    source = "gazetteer township seat (Vonng/adcode, CC BY 4.0)"
    return office.model_copy(
        update={"location": Location(lat=town.lat, lon=town.lon, datum="GCJ-02", source=source)}
    )


_UNREADABLE = object()
# libyaml's loader is ten times faster on 2,000 items; both are the safe loader.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path, rel: str, errors: list[ContentError]) -> Any:
    """The file's YAML, or `_UNREADABLE` after recording why it could not be read."""
    try:
        with path.open(encoding="utf-8") as f:
            return yaml.load(f, Loader=_SafeLoader)
    except FileNotFoundError:
        errors.append(ContentError(rel, "-", "file-exists", "文件不存在"))
    except UnicodeDecodeError as exc:
        errors.append(
            ContentError(rel, f"byte {exc.start}", "utf-8", "文件不是 UTF-8 编码，请另存为 UTF-8")
        )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "-"
        problem = getattr(exc, "problem", None) or exc
        errors.append(ContentError(rel, where, "yaml-syntax", f"YAML 语法错误：{problem}"))
    return _UNREADABLE


def _parse(path: Path, rel: str, model: type[M], errors: list[ContentError]) -> M | None:
    return _validate(_read_yaml(path, rel, errors), rel, model, errors)


def _validate(
    data: Any, rel: str, model: type[M], errors: list[ContentError], prefix: str = ""
) -> M | None:
    if data is _UNREADABLE:
        return None
    if data is None:
        errors.append(ContentError(rel, prefix.rstrip(".") or "-", "not-empty", "内容为空"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            errors.append(
                ContentError(rel, prefix + _loc(err["loc"]), _rule_of(err["type"]), err["msg"])
            )
        return None


def _load_one(root: Path, name: str, model: type[M], errors: list[ContentError]) -> M | None:
    rel = _rel(root / name, root)
    return _validate(_read_yaml(root / name, rel, errors), rel, model, errors)


def _load_list(
    root: Path, name: str, model: type[M], key: str, errors: list[ContentError]
) -> dict[str, M]:
    rel = _rel(root / name, root)
    data = _read_yaml(root / name, rel, errors)
    if data is _UNREADABLE:
        return {}
    if not isinstance(data, list):
        errors.append(ContentError(rel, "-", "is-list", "文件内容应为列表"))
        return {}
    out: dict[str, M] = {}
    for i, entry in enumerate(data):
        obj = _validate(entry, rel, model, errors, prefix=f"[{i}].")
        if obj is None:
            continue
        ident = getattr(obj, key)
        if ident in out:
            errors.append(ContentError(rel, f"[{i}].{key}", "unique-id", f"编号「{ident}」重复"))
        out[ident] = obj
    return out


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "-"


def _rule_of(error_type: str) -> str:
    return {
        "missing": "required",
        "extra_forbidden": "unknown-field",
        "too_short": "not-empty",
        "string_too_short": "not-empty",
        "string_pattern_mismatch": "format",
        "literal_error": "allowed-values",
        "enum": "allowed-values",
    }.get(error_type, error_type.replace("_", "-"))


def _rel(path: Path, root: Path) -> str:
    """A file's name as an editor sees it: relative to the folder holding `content/`."""
    return path.relative_to(root.parent).as_posix()
