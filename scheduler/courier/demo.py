"""Sample certificates for the demo: finished cases waiting for the next courier cut-off."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from scheduler.courier.audit import Actor
from scheduler.courier.intake import FinishRequest, mark_finished
from scheduler.protect import Protector
from scheduler.settings import TZ

DEMO_WINDOW = Actor("staff", "window", None)
# Sample residents (not real people): holder, mobile, township or out-of-county address.
_IN_COUNTY = (
    ("吴秀英", "13905781234", "331126205", "隆宫村12号"),
    ("周建国", "13757801122", "331126102", "黄田村下村35号"),
    ("叶美华", "13967851203", "331126001", "城东路58号3单元"),
    ("陈福生", "15858731460", "331126104", "竹口村后街7号"),
    ("吴丽娟", "18857802231", "331126002", "五都村14号"),
    ("刘金土", "13511206785", "331126107", "荷地村新村路2号"),
)
_OUT_OF_COUNTY = (("胡晓东", "13605716620", "浙江省", "杭州市", "西湖区", "文三路100号"),)


def courier_items(catalog: Any) -> list[str]:
    """Items whose result the guide lets residents receive by courier."""
    return sorted(
        code
        for code, item in catalog.items.items()
        if getattr(item, "courier_supported", False) and getattr(item, "mail_result", False)
    )


def load_certificates(
    session: Session, catalog: Any, protector: Protector, *, now: datetime, due: date
) -> int:
    """Finished certificates ready at the county hall, promised for `due` (never commits)."""
    items = courier_items(catalog)
    if not items:
        return 0
    stamp = now.astimezone(TZ).strftime("%Y%m%d")
    made = 0
    for n, (holder, phone, town, detail) in enumerate(_IN_COUNTY):
        req = FinishRequest(
            case_no=f"QY{stamp}{n + 1:04d}",
            item_code=items[n % len(items)],
            holder=holder,
            phone=phone,
            scope="county",
            town_code=town,
            detail=detail,
            promised_date=due + timedelta(days=n % 2),
            office_code="county-hall",
        )
        mark_finished(session, catalog, protector, req, now=now, actor=DEMO_WINDOW)
        made += 1
    for m, (holder, phone, province, city, district, detail) in enumerate(_OUT_OF_COUNTY):
        req = FinishRequest(
            case_no=f"QY{stamp}{len(_IN_COUNTY) + m + 1:04d}",
            item_code=items[m % len(items)],
            holder=holder,
            phone=phone,
            scope="out",
            province=province,
            city=city,
            district=district,
            detail=detail,
            promised_date=due + timedelta(days=3),
            office_code="county-hall",
        )
        mark_finished(session, catalog, protector, req, now=now, actor=DEMO_WINDOW)
        made += 1
    return made
