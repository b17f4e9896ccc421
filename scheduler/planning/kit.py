"""What a clerk takes on a visit, and how a phone navigates there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from routing.geo import Datum, LatLon, from_wgs84, to_wgs84

# The portable equipment each skill needs on a home visit (sample; a county edits it).
DEVICES = {
    "social-insurance": "社保移动经办终端（含高拍仪）",
    "medical-insurance": "医保移动经办终端（含高拍仪）",
    "civil-affairs": "入户调查表和移动终端",
    "disability-assessment": "残疾评定量表和评定工具包",
    "household-photo": "便携式证件照采集设备（白色背景布、补光灯）和指纹采集仪",
    "real-estate": "不动产登记移动终端和电子签名板",
}
FORMS = "空白申请表（每项两份）、告知承诺书、签字笔和印泥"


@dataclass(frozen=True, slots=True)
class Bring:
    materials: tuple[str, ...]
    forms: str
    device: str | None


def what_to_bring(item: Any) -> Bring:
    """The item's materials from the guide (to check or collect), blank forms, the device."""
    materials = []
    for m in getattr(item, "materials", None) or ():
        count = []
        if getattr(m, "originals", 0):
            count.append(f"原件{m.originals}份")
        if getattr(m, "copies", 0):
            count.append(f"复印件{m.copies}份")
        flag = "" if getattr(m, "required", True) else "（如有）"
        materials.append(f"{m.name}{flag}" + (f"：{'、'.join(count)}" if count else ""))
    skill = item.home_visit.skill if item is not None else None
    return Bring(tuple(materials), FORMS, DEVICES.get(skill) if skill else None)


@dataclass(frozen=True, slots=True)
class NavLinks:
    amap: str
    baidu: str
    geo: str


def nav_links(lat: float, lon: float, datum: str | None, label: str) -> NavLinks:
    """Amap and Baidu with GCJ-02 (Baidu told so: its default is bd09ll), geo: with WGS-84.

    The label is a place (township and village), never the resident's name.
    """
    point = LatLon(lat, lon)
    wgs = to_wgs84(point, Datum(datum or Datum.GCJ02.value))
    gcj = from_wgs84(wgs, Datum.GCJ02)
    name = quote(label)
    return NavLinks(
        amap=(
            f"https://uri.amap.com/navigation?to={gcj.lon:.6f},{gcj.lat:.6f},{name}"
            "&mode=car&coordinate=gaode&callnative=1&src=onetrip"
        ),
        baidu=(
            f"baidumap://map/direction?destination=latlng:{gcj.lat:.6f},{gcj.lon:.6f}|name:{name}"
            "&coord_type=gcj02&mode=driving&src=onetrip"
        ),
        geo=f"geo:{wgs.lat:.6f},{wgs.lon:.6f}?q={wgs.lat:.6f},{wgs.lon:.6f}({name})",
    )
