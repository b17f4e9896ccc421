"""The content schema: what one YAML file of `content/` may say, field by field.

Field names follow DOMAIN.md §1.3 (GB/T 39046 and the national upload interface).
Cross-field consistency rules (DOMAIN.md §1.2, the Zhejiang reviewers' rules) live in
`guide.rules`, so that every rule has a name an editor can look up.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]
TownCode = Annotated[str, StringConstraints(pattern=r"^\d{9}$")]
# Landline with area code (0578-xxxxxxx) or the 12345 government hotline with area code.
PHONE_RE = re.compile(r"^0\d{2,3}-\d{5,8}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class LimitUnit(StrEnum):
    WORKING = "working"  # 工作日 (W)
    NATURAL = "natural"  # 自然日 (N)


class Limit(Strict):
    """A time limit with its unit (法定/承诺办结时限)."""

    value: Annotated[int, Field(ge=0, le=3650)]
    unit: LimitUnit = LimitUnit.WORKING
    note: str | None = None

    def working_days(self) -> float:
        """The limit in working days; a natural week has five working days."""
        return self.value if self.unit is LimitUnit.WORKING else self.value * 5 / 7


class PromiseLimit(Limit):
    immediate: bool = False  # 即办: finished on the spot, value 0


class LegalBasis(Strict):
    law: ShortText
    article: str | None = None
    text: str | None = None


class MaterialForm(StrEnum):
    ORIGINAL = "原件"
    COPY = "复印件"
    BOTH = "原件和复印件"
    ELECTRONIC = "电子"


class Material(Strict):
    name: ShortText
    required: bool
    form: MaterialForm = MaterialForm.ORIGINAL
    originals: Annotated[int, Field(ge=0, le=99)] = 0
    copies: Annotated[int, Field(ge=0, le=99)] = 0
    issuer: str | None = None
    source: Literal["申请人自备", "政府部门核发", "其他"] = "申请人自备"
    deferrable: bool = False  # 容缺受理: may be handed in after acceptance
    shared: bool = False  # 免提交: fetched by the office from a shared database
    note: str | None = None


class Step(Strict):
    name: ShortText
    role: ShortText
    limit: Annotated[int, Field(ge=0)] | None = None  # in the unit of the promised limit
    standard: str | None = None


class Fee(Strict):
    name: ShortText
    standard: ShortText
    reducible: bool = False
    basis: str | None = None


class Faq(Strict):
    q: Text
    a: Text


class HomeVisit(Strict):
    """Whether a clerk may do the item at the resident's home (上门约办)."""

    allowed: bool
    duration_min: Annotated[int, Field(ge=5, le=240)] | None = None
    skill: Slug | None = None
    note: str | None = None


class DeliveryMethod(StrEnum):
    WINDOW = "窗口领取"
    MAIL = "邮寄"
    ELECTRONIC = "电子证照"
    SELF_PRINT = "自助打印"
    NONE = "无需送达"


class Item(Strict):
    """One service item (办事指南). Keys per DOMAIN.md §1.3."""

    code: Slug
    name: ShortText
    aliases: list[ShortText] = []  # 也称: what residents type into search
    high_frequency: bool = False  # 高频事项: its summary weighs more in search
    summary: Text
    catalog_code: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{10,12}$")]
    task_code: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{12,36}$")]
    task_type: Literal["01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "20"]
    use_level: Literal[1, 2, 3, 4, 5, 6, 7]
    department: Slug
    dept_type: Literal[1, 2, 3, 9] = 1
    handling_org: ShortText
    joint_orgs: list[ShortText] = []
    legal_basis: Annotated[list[LegalBasis], Field(min_length=1)]
    service_objects: Annotated[list[Literal[1, 2, 3, 4, 5, 6]], Field(min_length=1)]
    topics_person: list[ShortText] = []
    topics_corp: list[ShortText] = []
    life_events: list[Slug] = []
    applicants: Text  # 申请对象, in plain words
    project_type: Literal[1, 2]  # 1 即办件, 2 承诺件
    review_type: Literal["即审即办", "前审后批"] | None = None
    accept_conditions: Annotated[list[Text], Field(min_length=1)]
    materials: Annotated[list[Material], Field(min_length=1)]
    steps: Annotated[list[Step], Field(min_length=1)]
    special_procedures: list[Text] = []
    legal_limit: Limit
    promise_limit: PromiseLimit
    result_type: Literal["出证办结", "出文办结", "审批办结", "其他"]
    result_name: ShortText | None = None
    result_sample: str | None = None
    delivery_methods: Annotated[list[DeliveryMethod], Field(min_length=1)]
    delivery_limit_days: Annotated[int, Field(ge=0, le=30)] | None = None
    courier_supported: bool
    mail_materials: bool = False
    mail_result: bool = False
    channels: Annotated[list[Literal[1, 2, 3, 4, 9]], Field(min_length=1)]
    visits_required: Annotated[int, Field(ge=0)]
    visit_reason: str | None = None
    online: bool
    online_depth: Literal["Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ"] | None = None
    online_url: str | None = None
    pay_online: bool
    self_service: bool = False
    in_service_hall: bool
    commitment_system: bool = False
    cross_area: Literal["全国", "跨省", "跨市", "跨县"] | None = None
    offices: Annotated[list[Slug], Field(min_length=1)]  # where to go; the first is the main one
    township_stations: bool = False  # also handled at every township/sub-district station
    community_points: bool = False  # also handled at the community service points
    window: ShortText  # window or room number at the main office
    hours: str | None = None  # defaults to the main office's hours
    consult_phone: str
    complaint_phone: str
    fee: bool
    fee_basis: str | None = None
    fees: list[Fee] = []
    faq: list[Faq] = []
    review_route: str | None = None
    litigation_route: str | None = None
    home_visit: HomeVisit
    version: Annotated[int, Field(ge=1)] = 1
    effective_date: date
    state: Literal["在用", "暂停", "取消"] = "在用"


class OfficeKind(StrEnum):
    HALL = "hall"
    STATION = "station"  # 乡镇（街道）便民服务中心
    COMMUNITY = "community"  # 社区便民服务点


class Location(Strict):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    datum: Literal["GCJ-02", "WGS-84"]
    source: ShortText


class Window(Strict):
    number: ShortText
    name: ShortText
    note: str | None = None


class Office(Strict):
    id: Slug
    name: ShortText
    kind: OfficeKind
    town_code: TownCode
    address: ShortText
    hours: Text
    phone: str
    location: Location | None = None  # filled from the gazetteer's township seat when absent
    windows: list[Window] = []
    directions: str | None = None


class Department(Strict):
    id: Slug
    name: ShortText
    short: ShortText
    description: str | None = None


class LifeEvent(Strict):
    id: Slug
    name: ShortText
    description: Text


class Skill(Strict):
    id: Slug
    name: ShortText


class SiteInfo(Strict):
    county: ShortText
    county_code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
    area_code: Annotated[str, StringConstraints(pattern=r"^0\d{2,3}$")]
    hotline: str
    sample_data: bool
    hours_template: Text
