"""Consistency rules for one item, after its fields parsed (DOMAIN.md §1.2).

Each rule has a stable name so that a build failure can say which rule broke, and the
editor can find it here. Rules return problems; they never raise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from guide.schema import PHONE_RE, DeliveryMethod, Item, MaterialForm


@dataclass(frozen=True, slots=True)
class Problem:
    """A rule an item breaks: the field to fix, the rule's name, and what is wrong."""

    field: str
    rule: str
    message: str


Rule = Callable[[Item, str], Iterator[Problem]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def check_item(item: Item, area_code: str) -> list[Problem]:
    """Every problem of one item, in rule order."""
    return [p for r in RULES for p in r(item, area_code)]


@rule
def promise_within_legal(item: Item, area_code: str) -> Iterator[Problem]:
    legal, promise = item.legal_limit, item.promise_limit
    if promise.working_days() > legal.working_days():
        yield Problem(
            "promise_limit",
            "promise-within-legal",
            f"承诺办结时限（{promise.value} {_unit(promise.unit)}）不得超过"
            f"法定办结时限（{legal.value} {_unit(legal.unit)}）",
        )
    if promise.immediate and promise.value != 0:
        yield Problem(
            "promise_limit.value",
            "immediate-is-zero",
            "即办事项的承诺办结时限应为 0",
        )


@rule
def immediate_matches_type(item: Item, area_code: str) -> Iterator[Problem]:
    # 即办 ⇔ 即办件 (1) and 即审即办; otherwise 承诺件 (2) and 前审后批.
    if item.promise_limit.immediate:
        rule, who, project, review = "immediate-is-jiban", "承诺即办的事项", 1, "即审即办"
    else:
        rule, who, project, review = "promise-is-chengnuo", "非即办事项", 2, "前审后批"
    if item.project_type != project:
        kind = "即办件" if project == 1 else "承诺件"
        yield Problem("project_type", rule, f"{who}，办件类型应为 {project}（{kind}）")
    if item.review_type not in (None, review):
        yield Problem("review_type", rule, f"{who}，审查类型应为「{review}」")


@rule
def at_most_one_trip(item: Item, area_code: str) -> Iterator[Problem]:
    if item.visits_required > 1:
        yield Problem(
            "visits_required",
            "at-most-one-trip",
            f"到办事现场次数为 {item.visits_required}，「最多跑一次」要求不超过 1 次",
        )
    if item.visits_required >= 1 and not item.visit_reason:
        yield Problem(
            "visit_reason",
            "visit-needs-reason",
            "需要到现场办理的事项必须说明必须现场办理的原因",
        )


@rule
def zero_trip_needs_channel(item: Item, area_code: str) -> Iterator[Problem]:
    if item.visits_required == 0 and not item.online and 4 not in item.channels:
        yield Problem(
            "channels",
            "zero-trip-channel",
            "跑零次的事项若不能网上办理，办理形式必须包含 4（快递/邮寄申请）",
        )


@rule
def online_consistent(item: Item, area_code: str) -> Iterator[Problem]:
    if item.online and item.online_depth is None:
        yield Problem("online_depth", "online-depth-required", "网上可办的事项必须填写网上办理深度")
    if not item.online and item.online_depth is not None:
        yield Problem(
            "online_depth", "online-depth-required", "不能网上办理的事项不应填写网上办理深度"
        )
    if item.online_depth == "Ⅳ" and item.visits_required != 0:
        yield Problem(
            "visits_required",
            "full-online-zero-trip",
            "网上办理深度为全程网办（Ⅳ级）的事项，到办事现场次数应为 0",
        )
    if item.online and not ({2, 3} & set(item.channels)):
        yield Problem(
            "channels", "online-channel", "网上可办的事项，办理形式应包含 2 或 3（网上办理）"
        )


@rule
def phones(item: Item, area_code: str) -> Iterator[Problem]:
    for name in ("consult_phone", "complaint_phone"):
        phone = getattr(item, name)
        if not PHONE_RE.match(phone) or not phone.startswith(area_code + "-"):
            yield Problem(
                name,
                "phone-area-code",
                f"电话「{phone}」应带区号，写作 {area_code}-xxxxxxx",
            )
    if item.consult_phone == item.complaint_phone:
        yield Problem("complaint_phone", "complaint-differs", "投诉电话不能与咨询电话相同")


@rule
def hours_say_working_days(item: Item, area_code: str) -> Iterator[Problem]:
    if item.hours is not None and "工作日" not in item.hours:
        yield Problem("hours", "hours-working-days", "办理时间必须写明「工作日」")


@rule
def window_is_precise(item: Item, area_code: str) -> Iterator[Problem]:
    if not re.search(r"\d.*(号|室|窗口)|(窗口|室).*\d", item.window):
        yield Problem("window", "window-number", "办理地点必须精确到窗口号或房间号")


@rule
def topics_match_objects(item: Item, area_code: str) -> Iterator[Problem]:
    is_person = 1 in item.service_objects
    is_corp = any(o != 1 for o in item.service_objects)
    if item.topics_person and not is_person:
        yield Problem(
            "topics_person", "topics-match-objects", "服务对象不含自然人，不应填写自然人主题分类"
        )
    if item.topics_corp and not is_corp:
        yield Problem(
            "topics_corp", "topics-match-objects", "服务对象不含法人或组织，不应填写法人主题分类"
        )


@rule
def licence_has_faq_and_timed_steps(item: Item, area_code: str) -> Iterator[Problem]:
    if item.task_type == "01" and not item.faq:
        yield Problem("faq", "licence-faq", "行政许可事项至少要有一条常见问题")
    step_total = sum(s.limit or 0 for s in item.steps)
    if step_total > item.promise_limit.value and not item.promise_limit.immediate:
        yield Problem(
            "steps",
            "steps-within-promise",
            f"各环节时限之和（{step_total}）超过承诺办结时限（{item.promise_limit.value}）",
        )


@rule
def named_result_has_sample(item: Item, area_code: str) -> Iterator[Problem]:
    if item.result_name and not item.result_sample:
        yield Problem("result_sample", "result-sample", "有审批结果名称的事项必须提供结果样本")


@rule
def fees_consistent(item: Item, area_code: str) -> Iterator[Problem]:
    if item.fee and not (item.fee_basis and item.fees):
        yield Problem("fees", "fee-basis", "收费事项必须写明收费依据和收费项目")
    if not item.fee and item.fees:
        yield Problem("fees", "fee-basis", "不收费的事项不应列出收费项目")
    if not item.fee and item.pay_online:
        yield Problem("pay_online", "no-fee-no-payment", "不收费的事项不应支持网上支付")


@rule
def courier_consistent(item: Item, area_code: str) -> Iterator[Problem]:
    if item.courier_supported and DeliveryMethod.MAIL not in item.delivery_methods:
        yield Problem(
            "delivery_methods", "courier-mail", "支持快递送达的事项，送达方式应包含「邮寄」"
        )
    if item.courier_supported and not item.mail_result:
        yield Problem("mail_result", "courier-mail", "支持快递送达的事项，应支持办件结果邮寄")
    if not item.courier_supported and DeliveryMethod.MAIL in item.delivery_methods:
        yield Problem("courier_supported", "courier-mail", "送达方式含「邮寄」时应支持物流快递")


@rule
def home_visit_complete(item: Item, area_code: str) -> Iterator[Problem]:
    hv = item.home_visit
    if hv.allowed and hv.duration_min is None:
        yield Problem(
            "home_visit.duration_min",
            "home-visit-complete",
            "可上门办理的事项必须写明上门办理时长（分钟）",
        )
    if hv.allowed and hv.skill is None:
        yield Problem(
            "home_visit.skill",
            "home-visit-complete",
            "可上门办理的事项必须写明办事员需要的业务技能",
        )


@rule
def materials_counted(item: Item, area_code: str) -> Iterator[Problem]:
    for i, m in enumerate(item.materials):
        wants_original = m.form in (MaterialForm.ORIGINAL, MaterialForm.BOTH)
        wants_copy = m.form in (MaterialForm.COPY, MaterialForm.BOTH)
        if wants_original and m.originals < 1:
            yield Problem(
                f"materials[{i}].originals",
                "material-count",
                f"材料「{m.name}」要原件，原件份数至少 1",
            )
        if wants_copy and m.copies < 1:
            yield Problem(
                f"materials[{i}].copies",
                "material-count",
                f"材料「{m.name}」要复印件，复印件份数至少 1",
            )
        if m.deferrable and not m.required:
            yield Problem(
                f"materials[{i}].deferrable",
                "deferrable-required",
                f"材料「{m.name}」不是必备材料，无需标为容缺",
            )


def _unit(unit: str) -> str:
    return "工作日" if unit == "working" else "自然日"
