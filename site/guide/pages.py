"""Turn the catalog into the guide's Markdown pages. Pure: catalog in, {path: text} out.

Pages are written for residents, many of them elderly, reading on a phone: short
sentences, the most asked facts first, every heading with a stable explicit id.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable

from guide import dates, search
from guide import stats as stats_mod
from guide.catalog import Catalog
from guide.schema import (
    DeliveryMethod,
    Item,
    Limit,
    Material,
    MaterialForm,
    Office,
    OfficeKind,
)

TASK_TYPES = {
    "01": "行政许可",
    "02": "行政处罚",
    "03": "行政强制",
    "04": "行政征收",
    "05": "行政给付",
    "06": "行政检查",
    "07": "行政确认",
    "08": "行政奖励",
    "09": "行政裁决",
    "10": "其他行政权力",
    "20": "公共服务",
}
USE_LEVELS = {
    1: "国家级",
    2: "省级",
    3: "市级",
    4: "县级",
    5: "乡镇（街道）级",
    6: "村（社区）级",
    7: "分级管理",
}
SERVICE_OBJECTS = {
    1: "自然人",
    2: "企业法人",
    3: "事业法人",
    4: "社会组织法人",
    5: "行政机关",
    6: "其他组织",
}
CHANNELS = {
    1: "窗口办理",
    2: "电脑上网上办理",
    3: "手机上办理（浙里办）",
    4: "快递邮寄申请",
    9: "其他",
}
OFFICE_KINDS = {
    OfficeKind.HALL: "县行政服务中心",
    OfficeKind.STATION: "乡镇（街道）便民服务中心",
    OfficeKind.COMMUNITY: "社区便民服务点",
}
SAMPLE_NOTICE = (
    # One line, not the first screen: the data-sources page says the rest.
    '<p class="ot-sample" data-pagefind-ignore><strong>样例数据</strong>：非政府正式发布 · '
    '<a href="/data-sources/#sample">说明</a></p>\n'
)
BOOKING_LOOKUP = "/booking"
BOOKING_LOOKUP_TEXT = "查询/取消/改期我的预约"
# Pagefind weights (0-10; plain text counts 1, an h1 7): the words residents type are the
# item's name and its 也称, then the summary, then conditions and materials.
WEIGHT_TITLE = 10
WEIGHT_ALIASES = 9
WEIGHT_SUMMARY = 3
WEIGHT_BODY = 1


def render(catalog: Catalog) -> dict[str, str]:
    """Every generated page of the site, keyed by its path under the docs folder."""
    out: dict[str, str] = {"index.md": home_page(catalog), "all-items.md": all_items_page(catalog)}
    for item in catalog.items.values():
        out[item_path(item)] = item_page(catalog, item)
    out["departments/index.md"] = departments_index(catalog)
    for dept in catalog.departments.values():
        items = [i for i in catalog.items.values() if i.department == dept.id]
        body = (dept.description or "") + "\n\n" + item_list(items, "../")
        out[f"departments/{dept.id}.md"] = _page(
            dept.name, f"{dept.name}可以办理的事项", body, catalog
        )
    out["life-events/index.md"] = life_events_index(catalog)
    for ev in catalog.life_events.values():
        items = [i for i in catalog.items.values() if ev.id in i.life_events]
        body = ev.description + "\n\n" + item_list(items, "../")
        out[f"life-events/{ev.id}.md"] = _page(ev.name, f"遇到「{ev.name}」要办的事", body, catalog)
    out.update(trips_pages(catalog))
    out["lists/courier.md"] = filtered_page(
        catalog,
        "可快递送达的事项",
        "办好的证件和结果可以免费快递寄到家，不用再跑一趟来拿。申请时说一声「要快递」，留好收件地址和电话。"
        "具体怎么寄，请看[快递送达怎么办](../procedures/courier.md)。",
        lambda i: i.courier_supported,
    )
    out["lists/home-visit.md"] = filtered_page(
        catalog,
        "可上门办理的事项",
        "年纪大、身体弱、生病卧床或有残疾、出门不方便的居民，这些事项可以预约工作人员上门办理。"
        "怎么预约，请看[上门约办怎么办](../procedures/home-visit.md)。",
        lambda i: i.home_visit.allowed,
    )
    out["offices/index.md"] = offices_index(catalog)
    for office in catalog.offices.values():
        out[f"offices/{office.id}.md"] = office_page(catalog, office)
    out["stats.md"] = stats_page(catalog)
    return out


def item_path(item: Item) -> str:
    return f"items/{item.code}.md"


# -- item page -----------------------------------------------------------------------------


def item_page(catalog: Catalog, item: Item) -> str:
    """The full guide of one item.

    Search (Pagefind) indexes the name, the aliases, the summary, who may apply, the
    conditions and the materials (`search_record`): what residents type. Steps, fees,
    offices and the rest are the same words on every page and stay out of the index.
    """
    parts = [
        _front_matter(item.name, item.summary, pagefind="parts"),
        f"# {item.name} {{#top}}\n",
        badges(item) + "\n",
        item.summary + "\n",
        search_record(
            item.name,
            item.summary,
            [
                ([item.name], WEIGHT_TITLE),
                (item.aliases, WEIGHT_ALIASES),
                # 高频事项 rank a little higher when the words tie.
                ([item.summary], WEIGHT_SUMMARY + (1 if item.high_frequency else 0)),
                (
                    [item.applicants, *item.accept_conditions] + [m.name for m in item.materials],
                    WEIGHT_BODY,
                ),
            ],
        ),
    ]
    if item.aliases:
        aliases = "、".join(_h(a) for a in item.aliases)
        parts.append(f'<p class="ot-aliases">也称：{aliases}</p>\n')
    if catalog.site.sample_data:
        parts.append(SAMPLE_NOTICE)
    parts += [
        _key_facts(catalog, item),
        _section("谁可以申请", "who", item.applicants + "\n\n服务对象：" + _objects(item)),
        _section("受理条件", "conditions", _html_bullets(item.accept_conditions)),
        _section("要带哪些材料", "materials", materials_table(item)),
        _section("办理流程", "steps", _steps(item)),
        _section("多久办好", "time-limit", time_limits(item)),
        _section("收费", "fees", _fees(item)),
        _section("跑几次", "trips", _trips(item)),
        _section("结果怎么拿", "delivery", _delivery(item)),
        _section("上门办理", "home-visit", _home_visit(catalog, item)),
        _section("到哪里办", "where", _where(catalog, item)),
        _section("咨询和投诉", "contact", _contact(catalog, item)),
        _section("办事依据", "basis", _basis(item)),
    ]
    if item.faq:
        faq = "\n".join(
            f'<details class="question"><summary>{_h(f.q)}</summary><p>{_h(f.a)}</p></details>'
            for f in item.faq
        )
        parts.append(_section("常见问题", "faq", faq))
    parts.append(_section("事项信息", "info", _info(catalog, item)))
    return "\n".join(parts)


def badges(item: Item, tag: str = "p") -> str:
    """Short labels a resident scans first: trips, courier, home visit, same-day."""
    labels = [("trips-0", "跑零次") if item.visits_required == 0 else ("trips-1", "最多跑一次")]
    if item.promise_limit.immediate:
        labels.append(("immediate", "当场办结"))
    if item.courier_supported:
        labels.append(("courier", "可快递送达"))
    if item.home_visit.allowed:
        labels.append(("home", "可上门办理"))
    if item.online:
        labels.append(("online", "可网上办"))
    spans = " ".join(f'<span class="ot-badge ot-badge--{k}">{v}</span>' for k, v in labels)
    return f'<{tag} class="ot-badges" data-pagefind-ignore>{spans}</{tag}>'


def _key_facts(catalog: Catalog, item: Item) -> str:
    main = catalog.offices[item.offices[0]]
    rows = [
        ("跑几次", "跑零次" if item.visits_required == 0 else "最多跑一次"),
        ("多久办好", _promise_text(item)),
        ("收费", "收费，见下方" if item.fee else "不收费"),
        ("到哪里办", f"{main.name} {item.window}"),
    ]
    cells = "\n".join(f"<dt>{k}</dt><dd>{_h(v)}</dd>" for k, v in rows)
    return f'<dl class="ot-facts">\n{cells}\n</dl>\n'


def materials_table(item: Item) -> str:
    """The checklist of materials: one card per material, printable on one sheet."""
    rows = []
    for m in item.materials:
        tags = [_copies(m), "必需" if m.required else "视情况需要"]
        if m.deferrable:
            tags.append('<span class="ot-badge ot-badge--defer">可后补</span>')
        note = _material_note(m)
        rows.append(
            f'<li><span class="ot-box" aria-hidden="true"></span><strong>{_h(m.name)}</strong>'
            f'<br><span class="ot-need">{" · ".join(tags)}</span>'
            + (f"<br><small>{_h(note)}</small>" if note else "")
            + "</li>"
        )
    # Plain HTML: no links inside, and Markdown's inline pass over 2,000 checklists is slow.
    lines = ['<div class="ot-list ot-checklist"><ul>\n' + "\n".join(rows) + "\n</ul></div>\n"]
    if any(m.deferrable for m in item.materials):
        lines.append(
            "标「可后补」的材料实行**容缺受理**：一时没带齐，窗口先受理，"
            "您在约定时间内补交就行，不用为它再排一次队。\n"
        )
    if any(m.shared for m in item.materials):
        lines.append("标「免提交」的材料由工作人员通过部门共享获取，您不用带。\n")
    return "\n".join(lines)


def _copies(m: Material) -> str:
    parts = []
    if m.form in (MaterialForm.ORIGINAL, MaterialForm.BOTH) and m.originals:
        parts.append(f"原件 {m.originals} 份")
    if m.form in (MaterialForm.COPY, MaterialForm.BOTH) and m.copies:
        parts.append(f"复印件 {m.copies} 份")
    if m.form is MaterialForm.ELECTRONIC:
        parts.append("电子材料")
    return "，".join(parts) or m.form.value


def _material_note(m: Material) -> str:
    bits = []
    if m.shared:
        bits.append("免提交")
    if m.issuer:
        bits.append(f"由{m.issuer}出具")
    if m.note:
        bits.append(m.note)
    return "；".join(bits)


def _steps(item: Item) -> str:
    unit = _unit(item.promise_limit)
    lines = []
    for n, s in enumerate(item.steps, 1):
        when = ""
        if s.limit is not None:
            when = "，当场" if s.limit == 0 else f"，{s.limit} 个{unit}"
        std = f"：{_h(s.standard)}" if s.standard else ""
        lines.append(f"{n}. **{_h(s.name)}**（{_h(s.role)}{when}）{std}")
    return "\n".join(lines) + "\n"


def time_limits(item: Item) -> str:
    """Legal and promised limits, and how much faster the promise is."""
    legal = item.legal_limit
    lines = [
        f"- 法定办结时限：{legal.value} 个{_unit(legal)}"
        + (f"（{legal.note}）" if legal.note else "")
    ]
    lines.append(f"- 承诺办结时限：**{_promise_text(item)}**")
    if legal.working_days() > 0:
        faster = 1 - item.promise_limit.working_days() / legal.working_days()
        if faster > 0:
            lines.append(f"- 比法定时限快 **{stats_mod.percent(faster)}**")
    if item.special_procedures:
        lines.append("- 以下特别程序的时间不计入办结时限：" + "；".join(item.special_procedures))
    return "\n".join(lines) + "\n"


def _promise_text(item: Item) -> str:
    p = item.promise_limit
    if p.immediate:
        return "当场办结（即办）"
    return f"{p.value} 个{_unit(p)}"


def _fees(item: Item) -> str:
    if not item.fee:
        return "不收费。\n"
    lines = ["| 收费项目 | 标准 | 可否减免 |", "| --- | --- | --- |"]
    for f in item.fees:
        lines.append(
            f"| {_cell(f.name)} | {_cell(f.standard)} | "
            f"{_cell(f.basis or '可减免') if f.reducible else '不减免'} |"
        )
    lines.append(f"\n收费依据：{_h(item.fee_basis or '')}\n")
    if item.pay_online:
        lines.append("可以网上支付。\n")
    return "\n".join(lines)


def _trips(item: Item) -> str:
    ways = "、".join(CHANNELS[c] for c in item.channels)
    if item.visits_required == 0:
        text = "**跑零次**：不用到窗口，"
        text += "在网上或手机上就能办。" if item.online else "把材料快递寄来就能办。"
    else:
        reason = _h(item.visit_reason or "")
        text = f"**最多跑一次**：材料齐全的，到窗口一次就办好。必须到现场的原因：{reason}。"
    text += f"\n\n办理方式：{ways}。"
    if item.online_url:
        text += f"网上办理：浙江政务服务网或「浙里办」App（{_h(item.online_url)}）。"
    if item.home_visit.allowed and item.visits_required:
        text += "\n\n出门不方便的，可以[预约上门办理](#home-visit)，一次也不用跑。"
    return text + "\n"


def _delivery(item: Item) -> str:
    lines = []
    if item.result_name:
        lines.append(f"办理结果：{_h(item.result_name)}（{_h(item.result_type)}）。")
    methods = "、".join(m.value for m in item.delivery_methods)
    lines.append(f"领取方式：{methods}。")
    if item.courier_supported:
        days = f"，一般 {item.delivery_limit_days} 天内送到" if item.delivery_limit_days else ""
        lines.append(
            f"**可快递送达**：办好后免费寄到家{days}。见[快递送达怎么办](../procedures/courier.md)。"
        )
    if DeliveryMethod.SELF_PRINT in item.delivery_methods:
        lines.append("带电子签章的结果可在自助终端或网上自己打印，扫二维码可验真。")
    return "\n\n".join(lines) + "\n"


def _home_visit(catalog: Catalog, item: Item) -> str:
    hv = item.home_visit
    if not hv.allowed:
        return (
            "这个事项暂不提供上门办理。出门不方便的，可以请亲属带上材料代办，"
            "或就近到乡镇（街道）便民服务中心咨询帮办代办。\n"
        )
    skill = catalog.skills[hv.skill].name if hv.skill else ""
    text = (
        f"年纪大、身体弱、生病卧床或有残疾、出门不方便的居民，可以预约工作人员上门办理，"
        f"上门办理约需 **{hv.duration_min} 分钟**（由懂{_h(skill)}的工作人员上门）。"
        "本人、亲属或村（社区）干部都可以预约。"
        "怎么预约，请看[上门约办怎么办](../procedures/home-visit.md)。\n"
    )
    if hv.note:
        text += f"\n{_h(hv.note)}\n"
    booking = (
        f'\n<div class="ot-booking" data-item="{_h(item.code)}" data-item-name="{_h(item.name)}">'
        f'<p><a class="md-button md-button--primary" href="/book/{_h(item.code)}">'
        "预约上门办理</a></p>"
        f"<p>也可以拨打电话 {_tel(item.consult_phone)} 预约。</p>"
        f'<p class="ot-lookup">已经预约过？<a href="{BOOKING_LOOKUP}">{BOOKING_LOOKUP_TEXT}</a></p>'
        "</div>\n"
    )
    return text + booking


def _where(catalog: Catalog, item: Item) -> str:
    offices = catalog.offices_for(item)
    main = offices[0]
    lines = [
        f"**[{_h(main.name)}](../offices/{main.id}.md)**　{_h(item.window)}\n",
        f"- 地址：{_h(main.address)}",
        f"- 办理时间：{_h(item.hours or main.hours)}",
        f"- 电话：{_tel(main.phone)}",
    ]
    others = offices[1:]
    stations = [o for o in others if o.kind is OfficeKind.STATION]
    rest = [o for o in others if o.kind is not OfficeKind.STATION]
    if len(stations) == len(catalog.townships) and stations:
        # One line instead of 19 links keeps 2,000 item pages small; the office index
        # has each station's address and phone.
        names = "、".join(_h(o.name.removesuffix("便民服务中心")) for o in stations)
        lines.append(
            f"\n全县 {len(stations)} 个乡镇（街道）便民服务中心都能办：{names}。"
            "[查看各便民服务中心的地址和电话](../offices/index.md#stations)"
        )
    else:
        rest = stations + rest
    if rest:
        lines.append(f"\n下面 {len(rest)} 个地方也能办，离家近的可以就近去：\n")
        lines.append(
            _md_list([f"[{_h(o.name)}](../offices/{o.id}.md)" for o in rest], "ot-list--compact")
        )
    return "\n".join(lines) + "\n"


def _contact(catalog: Catalog, item: Item) -> str:
    return (
        f"- 咨询电话：{_tel(item.consult_phone)}\n"
        f"- 投诉电话：{_tel(item.complaint_phone)}\n"
        f"- 政务服务便民热线：{_tel(catalog.site.hotline)}\n"
    )


def _basis(item: Item) -> str:
    lines = []
    for b in item.legal_basis:
        head = f"《{_h(b.law)}》" + (f"{_h(b.article)}" if b.article else "")
        lines.append(f"- {head}" + (f"：{_h(b.text)}" if b.text else ""))
    return "\n".join(lines) + "\n"


def _info(catalog: Catalog, item: Item) -> str:
    dept = catalog.departments[item.department]
    effective = dates.date_text(item.effective_date, year=True, weekday=False)
    rows = [
        ("事项类型", TASK_TYPES[item.task_type]),
        ("实施主体", dept.name),
        ("承办机构", item.handling_org),
        ("联办机构", "、".join(item.joint_orgs) or "无"),
        ("行使层级", USE_LEVELS[item.use_level]),
        ("办件类型", "即办件" if item.project_type == 1 else "承诺件"),
        ("网上办理深度", f"{item.online_depth}级" if item.online_depth else "不支持网上办理"),
        ("基本编码", item.catalog_code),
        ("实施编码", item.task_code),
        ("版本", f"第 {item.version} 版，{effective}起施行"),
    ]
    body = "\n".join(f"<tr><th>{k}</th><td>{_h(v)}</td></tr>" for k, v in rows)
    return f'<table class="ot-info">\n{body}\n</table>\n'


def search_record(title: str, summary: str, fields: Iterable[tuple[Iterable[str], int]]) -> str:
    """The page's record in the search index: hidden from readers, one span of terms per
    weighted field (guide.search.terms), and the title and summary results show."""
    spans = [
        f'<span data-pagefind-meta="title">{_h(title)}</span>',
        f'<span data-pagefind-meta="summary" data-pagefind-weight="0">{_h(summary)}</span>',
    ]
    for texts, weight in fields:
        words = " ".join(search.terms(texts))
        spans.append(f'<span data-pagefind-weight="{weight}">{_h(words)}</span>')
    return '<div class="ot-search-record" data-pagefind-body hidden>' + " ".join(spans) + "</div>\n"


# -- lists and indexes ---------------------------------------------------------------------


def item_list(items: Iterable[Item], up: str) -> str:
    """A tappable list of items with their badges; `up` leads from the page's Markdown file
    to the docs root.

    Written as plain HTML, not Markdown: office and category pages list thousands of rows
    at 2,000 items, and Markdown's inline processing of them was a third of the build.
    The hook requires directory URLs, so page `a/b.md` lives at `a/b/`, one level deeper
    than its file; `tests/guide/test_site_build.py` checks every link of the built site.
    """
    rows = [
        f'<li><a href="../{up}items/{i.code}/">{_h(i.name)}</a> {badges(i, tag="span")}</li>'
        for i in items
    ]
    if not rows:
        return "暂无事项。\n"
    # Lists repeat item names: the search index already has the items themselves.
    return '<div class="ot-list" data-pagefind-ignore><ul>\n' + "\n".join(rows) + "\n</ul></div>\n"


def home_page(catalog: Catalog) -> str:
    s = stats_mod.compute(list(catalog.items.values()))
    tiles = [
        ("all-items.md", "全部事项", f"{s.items} 个事项，一个不漏"),
        ("departments/index.md", "按部门找", "社保、医保、民政、户籍、不动产……"),
        ("life-events/index.md", "按人生事件找", "出生、上学、退休养老、身后事……"),
        ("trips/index.md", "按跑动次数找", f"{s.zero_trip} 个事项一次不用跑"),
        ("lists/courier.md", "可快递送达", "证件办好寄到家"),
        ("lists/home-visit.md", "可上门办理", "老、弱、病、残上门办"),
        ("offices/index.md", "办事地点", "县行政服务中心和各乡镇便民服务中心"),
        ("stats.md", "改革成效", "数字看「最多跑一次」"),
    ]
    grid = "\n".join(f"-   [**{t}**]({p})\n\n    {d}\n" for p, t, d in tiles)
    # The booking app's page: raw HTML, since MkDocs checks Markdown links against the docs.
    grid += (
        f'\n-   <a href="{BOOKING_LOOKUP}"><strong>{BOOKING_LOOKUP_TEXT}</strong></a>\n\n'
        "    凭预约号和手机号后 4 位\n"
    )
    return (
        _front_matter(
            f"{catalog.site.county}办事指南",
            f"{catalog.site.county}政务服务事项办事指南",
            hide_toc=True,
        )
        + f"# {catalog.site.county}办事指南 {{#top}}\n\n"
        + "办事前先看一看：要带什么、到哪里办、多久办好、跑几次。"
        + "点右上角的 **搜索**，输入「养老」「社保」「身份证」等词就能找到事项。\n\n"
        + (SAMPLE_NOTICE + "\n" if catalog.site.sample_data else "")
        + f'<div class="grid cards ot-tiles" markdown>\n\n{grid}\n</div>\n\n'
        + "出门不方便？请看[上门约办怎么办](procedures/home-visit.md)；"
        + f'已经预约了上门办理的，可以<a href="{BOOKING_LOOKUP}">{BOOKING_LOOKUP_TEXT}</a>；'
        + "办好的证件可以[快递送到家](procedures/courier.md)。"
        + f"有问题请拨打政务服务便民热线 {_tel(catalog.site.hotline)}。\n"
    )


def all_items_page(catalog: Catalog) -> str:
    # Pure lists stay out of search: they would outrank the items they list.
    parts = [_front_matter("全部事项", "全部政务服务事项"), "# 全部事项 {#top}\n"]
    for dept in catalog.departments.values():
        items = [i for i in catalog.items.values() if i.department == dept.id]
        if items:
            parts.append(f"## {dept.short} {{#{dept.id}}}\n\n" + item_list(items, ""))
    return "\n".join(parts)


def departments_index(catalog: Catalog) -> str:
    rows = []
    for d in catalog.departments.values():
        n = sum(1 for i in catalog.items.values() if i.department == d.id)
        rows.append(f'[{_h(d.short)}]({d.id}.md) <span class="ot-count">{n} 个事项</span>')
    body = _md_list(rows)
    return _page("按部门找", "按部门找事项", body, catalog)


def life_events_index(catalog: Catalog) -> str:
    rows = []
    for ev in catalog.life_events.values():
        n = sum(1 for i in catalog.items.values() if ev.id in i.life_events)
        rows.append(
            f'[{_h(ev.name)}]({ev.id}.md) <span class="ot-count">{n} 个事项</span>'
            f"<br><small>{_h(ev.description)}</small>"
        )
    body = _md_list(rows)
    return _page("按人生事件找", "按人生事件找事项", body, catalog)


def trips_pages(catalog: Catalog) -> dict[str, str]:
    zero = [i for i in catalog.items.values() if i.visits_required == 0]
    one = [i for i in catalog.items.values() if i.visits_required == 1]
    index = (
        "按照《浙江省保障“最多跑一次”改革规定》，材料齐全、符合法定形式的，"
        "从申请到拿到结果，只需要到现场一次或者不用到现场。\n\n"
        + _md_list(
            [
                f'[跑零次](zero.md) <span class="ot-count">{len(zero)} 个事项</span>'
                "<br><small>网上办、手机办、快递寄材料，一次不用跑</small>",
                f'[最多跑一次](one.md) <span class="ot-count">{len(one)} 个事项</span>'
                "<br><small>需要本人到场，只跑一次</small>",
            ]
        )
    )
    return {
        "trips/index.md": _page("按跑动次数找", "按跑动次数找事项", index, catalog),
        "trips/zero.md": _page(
            "跑零次",
            "跑零次的事项",
            "这些事项不用到现场，在网上、手机上或快递寄材料就能办。\n\n" + item_list(zero, "../"),
            catalog,
        ),
        "trips/one.md": _page(
            "最多跑一次",
            "最多跑一次的事项",
            "这些事项需要本人到现场一次（例如拍照、按指纹、核对原件），材料齐全的，去一次就办好。"
            "出门不方便的，其中一些可以预约上门办理。\n\n" + item_list(one, "../"),
            catalog,
        ),
    }


def filtered_page(catalog: Catalog, title: str, intro: str, keep: Callable[[Item], bool]) -> str:
    items = [i for i in catalog.items.values() if keep(i)]
    return _page(
        title,
        title,
        intro + f"\n\n共 {len(items)} 个事项：\n\n" + item_list(items, "../"),
        catalog,
    )


def offices_index(catalog: Catalog) -> str:
    parts = [
        _front_matter("办事地点", "县行政服务中心、乡镇（街道）便民服务中心和社区便民服务点"),
        "# 办事地点 {#top}\n",
    ]
    anchors = {
        OfficeKind.HALL: "hall",
        OfficeKind.STATION: "stations",
        OfficeKind.COMMUNITY: "community",
    }
    for kind, label in OFFICE_KINDS.items():
        offices = [o for o in catalog.offices.values() if o.kind is kind]
        rows = [f"[{_h(o.name)}]({o.id}.md)<br><small>{_h(o.address)}</small>" for o in offices]
        parts.append(f"## {label}（{len(offices)} 个） {{#{anchors[kind]}}}\n")
        parts.append(_md_list(rows))
    return "\n".join(parts)


def office_page(catalog: Catalog, office: Office) -> str:
    items = catalog.items_at(office)
    lines = [
        f"- 类型：{OFFICE_KINDS[office.kind]}",
        f"- 地址：{_h(office.address)}",
        f"- 办理时间：{_h(office.hours)}",
        f"- 电话：{_tel(office.phone)}",
    ]
    if office.directions:
        lines.append(f"- 怎么去：{_h(office.directions)}")
    if office.location:
        loc = office.location
        lines.append(f"- 位置：北纬 {loc.lat:.5f}°，东经 {loc.lon:.5f}°（{loc.datum} 坐标）")
    body = "\n".join(lines) + "\n"
    if office.windows:
        # Window names (社保窗口, 医保窗口) would pull the office above the items in search.
        rows = "\n".join(
            f"<tr><td>{_h(w.number)}</td><td>{_h(w.name)}</td><td>{_h(w.note or '')}</td></tr>"
            for w in office.windows
        )
        body += (
            "\n## 窗口 {#windows}\n\n"
            '<table class="ot-windows" data-pagefind-ignore>\n'
            "<thead><tr><th>窗口</th><th>业务</th><th>说明</th></tr></thead>\n"
            f"<tbody>\n{rows}\n</tbody></table>\n"
        )
    body += f"\n## 可以办理的事项（{len(items)} 个） {{#items}}\n\n" + item_list(items, "../")
    return _page(
        office.name, f"{office.name}：地址、办理时间和可办事项", body, catalog, pagefind="page"
    )


def stats_page(catalog: Catalog) -> str:
    items = list(catalog.items.values())
    s = stats_mod.compute(items)
    pct = stats_mod.percent
    rows = [
        ("事项总数", f"{s.items} 个"),
        ("跑零次的事项", f"{s.zero_trip} 个，占 {pct(s.share(s.zero_trip))}"),
        ("最多跑一次的事项", f"{s.at_most_one_trip} 个，占 {pct(s.share(s.at_most_one_trip))}"),
        ("可快递送达的事项", f"{s.courier} 个，占 {pct(s.share(s.courier))}"),
        ("可上门办理的事项", f"{s.home_visit} 个，占 {pct(s.share(s.home_visit))}"),
        ("当场办结（即办）的事项", f"{s.immediate} 个，占 {pct(s.share(s.immediate))}"),
        ("承诺时限比法定时限压缩", pct(s.compression)),
    ]
    table = "| 指标 | 数值 |\n| --- | --- |\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    by_dept = [
        "| 部门 | 事项 | 跑零次 | 可快递 | 可上门 | 时限压缩 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for d in catalog.departments.values():
        ds = stats_mod.compute([i for i in items if i.department == d.id])
        if ds.items:
            by_dept.append(
                f"| {d.short} | {ds.items} | {ds.zero_trip} | {ds.courier} "
                f"| {ds.home_visit} | {pct(ds.compression)} |"
            )
    body = (
        "下面的数字由本站收录的事项数据自动算出，每次发布时更新。\n\n"
        + table
        + "\n\n时限压缩率 = 1 − 各事项承诺办结时限之和 ÷ 各事项法定办结时限之和"
        "（自然日按每 7 天 5 个工作日折算成工作日）。德清县报告的这一数字是 43.4%。\n\n"
        "## 各部门 {#by-department}\n\n" + "\n".join(by_dept) + "\n"
    )
    return _page("改革成效", "「最多跑一次」改革成效", body, catalog)


# -- helpers ---------------------------------------------------------------------------


def _page(
    title: str, description: str, body: str, catalog: Catalog, *, pagefind: str = "none"
) -> str:
    notice = SAMPLE_NOTICE + "\n" if catalog.site.sample_data else ""
    head = _front_matter(title, description, pagefind=pagefind)
    return head + f"# {title} {{#top}}\n\n" + notice + body


def _front_matter(
    title: str, description: str, *, hide_toc: bool = False, pagefind: str = "none"
) -> str:
    """Front matter; `pagefind` says what search indexes (site/overrides/main.html):
    "page" the whole page, "parts" the elements marked `data-pagefind-body`, "none" nothing
    (lists and indexes would outrank the items they list)."""
    if pagefind not in ("none", "page", "parts"):
        raise ValueError(f"unknown pagefind mode {pagefind!r}")
    lines = ["---", f"title: {_yaml_str(title)}", f"description: {_yaml_str(description)}"]
    lines.append(f"pagefind: {pagefind}")
    # Material's lunr index is never fetched (search is Pagefind): keep its plugin idle.
    lines += ["search:", "  exclude: true"]
    if hide_toc:
        lines += ["hide:", "  - toc"]
    return "\n".join(lines) + "\n---\n\n"


def _md_list(rows: list[str], extra_class: str = "") -> str:
    """A Markdown list wrapped so the stylesheet can give it large tap targets."""
    items = "\n".join(f"- {r}" for r in rows)
    classes = f"ot-list {extra_class}".strip()
    return f'<div class="{classes}" markdown>\n\n{items}\n\n</div>\n'


def _section(title: str, anchor: str, body: str) -> str:
    return f"## {title} {{#{anchor}}}\n\n{body.rstrip()}\n"


def _html_bullets(lines: Iterable[str]) -> str:
    rows = "".join(f"<li>{_h(x)}</li>" for x in lines)
    return f"<ul>{rows}</ul>\n"


def _objects(item: Item) -> str:
    return "、".join(SERVICE_OBJECTS[o] for o in item.service_objects)


def _unit(limit: Limit) -> str:
    return "工作日" if limit.unit.value == "working" else "自然日"


def _tel(phone: str) -> str:
    digits = phone.replace("-", "")
    return f'<a class="ot-tel" href="tel:{digits}">{_h(phone)}</a>'


def _h(text: str) -> str:
    return html.escape(text, quote=True)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return _h(text).replace("|", "&#124;").replace("\n", "<br>")


def _yaml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
