"""Marking a case finished for courier delivery (办结), one form or a CSV of many."""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from scheduler import identity
from scheduler.courier import audit
from scheduler.courier.audit import Actor, utc_naive
from scheduler.courier.errors import (
    Conflict,
    CsvImportError,
    InvalidField,
    NotCourierable,
    NotFound,
    RowProblem,
)
from scheduler.courier.models import Certificate, CertStatus, CourierEvent, Validity
from scheduler.protect import Protector
from scheduler.settings import TZ

CASE_NO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{3,39}$", re.ASCII)
CONTENTS = ("证照", "材料")
MAX_PROMISE_DAYS = 60
MAX_IMPORT_ROWS = 5000
MAX_PARCELS = 5


@dataclass(frozen=True, slots=True)
class FinishRequest:
    """What window staff enter when a case is finished and the result is to be couriered.

    `scope` is "county" (a 庆元 township `town_code` + `detail`) or "out" (`province`,
    `city`, `district` + `detail`). `recipient` defaults to the holder.
    """

    case_no: str
    item_code: str
    holder: str
    phone: str
    scope: str
    detail: str
    promised_date: date | None
    office_code: str
    recipient: str = ""
    town_code: str = ""
    province: str = ""
    city: str = ""
    district: str = ""
    contents: str = "证照"
    parcels: int = 1
    replaces: str = ""  # case number of a certificate this one replaces


FIELD_LABELS = {
    "case_no": "办件编号",
    "item_code": "事项编码",
    "holder": "持证人",
    "recipient": "收件人",
    "phone": "手机号",
    "scope": "送达范围",
    "town_code": "乡镇代码",
    "province": "省",
    "city": "市",
    "district": "区县",
    "detail": "详细地址",
    "promised_date": "承诺送达日期",
    "office_code": "存放地点",
    "contents": "内容",
    "parcels": "件数",
    "replaces": "替换办件编号",
}
CSV_COLUMNS = {label: name for name, label in FIELD_LABELS.items() if name != "replaces"}
REQUIRED_COLUMNS = ("办件编号", "事项编码", "持证人", "手机号", "送达范围", "详细地址")
SCOPE_WORDS = {"县内": "county", "县外": "out", "county": "county", "out": "out"}


def local_date(now: datetime) -> date:
    return now.astimezone(TZ).date()


def _name(raw: str) -> str | None:
    value = raw.strip()
    if not 1 <= len(value) <= 30 or not value.isprintable() or any(c.isdigit() for c in value):
        return None
    return value


def check(
    catalog: Any, req: FinishRequest, now: datetime, county: str = "庆元县"
) -> list[tuple[str, str]]:
    """Every (field, 中文原因) wrong with a request, in field order; empty if it is good."""
    problems: list[tuple[str, str]] = []
    if not CASE_NO.match(req.case_no.strip()):
        problems.append(("case_no", "办件编号应为4—40位字母、数字或连字符"))
    item = catalog.items.get(req.item_code.strip())
    if item is None:
        problems.append(("item_code", "没有这个事项编码"))
    elif not (getattr(item, "courier_supported", False) and getattr(item, "mail_result", False)):
        problems.append(("item_code", "该事项的办理结果不支持快递送达，请通知群众窗口领取"))
    if _name(req.holder) is None:
        problems.append(("holder", "请填写持证人姓名（1—30个字，不含数字）"))
    if req.recipient.strip() and _name(req.recipient) is None:
        problems.append(("recipient", "收件人姓名应为1—30个字，不含数字"))
    try:
        identity.normalize_mobile(req.phone)
    except identity.IdentityError as err:
        problems.append(("phone", err.message_zh))
    if req.scope not in ("county", "out"):
        problems.append(("scope", "送达范围应为「县内」或「县外」"))
    elif req.scope == "county":
        if req.town_code.strip() not in catalog.townships:
            problems.append(("town_code", f"请选择{county}的乡镇（街道）"))
    else:
        for name in ("province", "city", "district"):
            value = getattr(req, name).strip()
            if not 2 <= len(value) <= 20 or not value.isprintable():
                problems.append((name, f"请填写{FIELD_LABELS[name]}（2—20个字）"))
        if req.district.strip() == county:
            problems.append(("district", f"{county}内的地址请选择「县内」并填写乡镇"))
    detail = req.detail.strip()
    if not 2 <= len(detail) <= 100 or not detail.isprintable():
        problems.append(("detail", "请填写详细地址（2—100个字）"))
    today = local_date(now)
    if req.promised_date is None:
        problems.append(("promised_date", "请填写承诺送达日期（年-月-日）"))
    elif not today <= req.promised_date <= today + timedelta(days=MAX_PROMISE_DAYS):
        problems.append(("promised_date", f"承诺送达日期应在今天到{MAX_PROMISE_DAYS}天之内"))
    if req.office_code.strip() not in catalog.offices:
        problems.append(("office_code", "没有这个存放地点（办事大厅或乡镇便民服务中心）"))
    if req.contents not in CONTENTS:
        problems.append(("contents", "内容应为「证照」或「材料」"))
    if not 1 <= req.parcels <= MAX_PARCELS:
        problems.append(("parcels", f"件数应为1—{MAX_PARCELS}"))
    if req.replaces.strip() and not CASE_NO.match(req.replaces.strip()):
        problems.append(("replaces", "替换的办件编号格式不对"))
    return problems


def _first_error(problems: list[tuple[str, str]]) -> InvalidField | NotCourierable:
    field, reason = problems[0]
    if field == "item_code" and "不支持快递" in reason:
        return NotCourierable(reason, field=field)
    return InvalidField(reason, field=field)


def _new_reference(session: Session) -> str:
    while True:
        ref = identity.new_reference()
        if session.scalar(select(Certificate.id).where(Certificate.reference == ref)) is None:
            return ref


def _build(
    catalog: Any, protector: Protector, req: FinishRequest, now: datetime, actor: Actor
) -> Certificate:
    item = catalog.items[req.item_code.strip()]
    holder = _name(req.holder) or ""
    recipient = _name(req.recipient) or holder
    phone = identity.normalize_mobile(req.phone)
    stamp = utc_naive(now)
    county = req.scope == "county"
    return Certificate(
        case_no=req.case_no.strip(),
        verify_id=secrets.token_urlsafe(9),
        item_code=item.code,
        cert_type=item.result_name or item.name,
        contents=req.contents,
        parcels=req.parcels,
        holder_name_enc=protector.encrypt(holder, field="holder_name_enc"),
        holder_name_masked=identity.mask_name(holder),
        recipient_name_enc=protector.encrypt(recipient, field="recipient_name_enc"),
        recipient_name_masked=identity.mask_name(recipient),
        phone_enc=protector.encrypt(phone, field="phone_enc"),
        phone_masked=identity.mask_phone(phone),
        scope=req.scope,
        town_code=req.town_code.strip() if county else None,
        province=None if county else req.province.strip(),
        city=None if county else req.city.strip(),
        district=None if county else req.district.strip(),
        address_detail_enc=protector.encrypt(req.detail.strip(), field="address_detail_enc"),
        office_code=req.office_code.strip(),
        promised_date=req.promised_date,
        issued_on=local_date(now),
        ready_at=stamp,
        status=CertStatus.READY,
        validity=Validity.VALID,
        created_by_staff_id=actor.staff_id,
        created_at=stamp,
        updated_at=stamp,
        lookup_failures=0,
    )


def _replaced(session: Session, req: FinishRequest) -> Certificate | None:
    if not req.replaces.strip():
        return None
    old = session.scalar(select(Certificate).where(Certificate.case_no == req.replaces.strip()))
    if old is None:
        raise NotFound("没有找到要替换的办件编号", field="replaces")
    if old.validity != Validity.VALID:
        raise Conflict("要替换的证照已作废或已被替换", field="replaces")
    return old


def _save(
    session: Session, cert: Certificate, old: Certificate | None, now: datetime, actor: Actor
) -> None:
    cert.reference = _new_reference(session)
    session.add(cert)
    session.flush()
    audit.record(
        session,
        now=now,
        actor=actor,
        action="finished",
        to_status=CertStatus.READY,
        certificate_id=cert.id,
        detail=f"case {cert.case_no}",
    )
    if old is not None:
        set_validity(session, old, Validity.REPLACED, now=now, actor=actor, replaced_by=cert)


def mark_finished(
    session: Session,
    catalog: Any,
    protector: Protector,
    req: FinishRequest,
    *,
    now: datetime,
    actor: Actor,
) -> Certificate:
    """A certificate `ready` at its office; raises the first problem of `check`."""
    problems = check(catalog, req, now, getattr(catalog.site, "county", "庆元县"))
    if problems:
        raise _first_error(problems)
    if session.scalar(select(Certificate.id).where(Certificate.case_no == req.case_no.strip())):
        raise Conflict("这个办件编号已登记过快递送达", field="case_no")
    old = _replaced(session, req)
    cert = _build(catalog, protector, req, now, actor)
    _save(session, cert, old, now, actor)
    return cert


def set_validity(
    session: Session,
    cert: Certificate,
    validity: Validity,
    *,
    now: datetime,
    actor: Actor,
    replaced_by: Certificate | None = None,
    reason: str = "",
) -> None:
    """Revoke or replace a certificate: its verification page says so from now on."""
    if cert.validity != Validity.VALID:
        raise Conflict("该证照已作废或已被替换")
    before = cert.validity
    cert.validity = validity
    cert.replaced_by_id = replaced_by.id if replaced_by is not None else None
    cert.updated_at = utc_naive(now)
    audit.record(
        session,
        now=now,
        actor=actor,
        action=str(validity),
        from_status=before,
        to_status=validity,
        certificate_id=cert.id,
        detail=reason[:100],
    )


# -- CSV import ------------------------------------------------------------------------


def _request_from_row(row: Mapping[str, str]) -> tuple[FinishRequest, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {f.name: "" for f in fields(FinishRequest)}
    values.update(contents="证照", parcels=1, promised_date=None)
    for label, raw in row.items():
        name = CSV_COLUMNS.get(label)
        if name is None:
            continue
        text = (raw or "").strip()
        if name == "scope":
            values[name] = SCOPE_WORDS.get(text, text)
        elif name == "promised_date":
            try:
                values[name] = date.fromisoformat(text) if text else None
            except ValueError:
                problems.append((name, "日期格式应为年-月-日，如 2026-06-03"))
                values[name] = date.min
        elif name == "parcels":
            # ASCII digits only: "²" passes isdigit() and int() then raises; "١" would be 1.
            whole = text.isascii() and text.isdigit()
            if text and not whole:
                problems.append((name, "件数应为整数"))
            values[name] = int(text) if whole else 1
        elif name == "contents":
            values[name] = text or "证照"
        else:
            values[name] = text
    return FinishRequest(**values), problems


def parse_csv(data: bytes) -> tuple[list[int], list[FinishRequest], list[RowProblem]]:
    """(line numbers, requests, problems of form) of a case-system export (UTF-8, BOM ok)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvImportError([RowProblem(1, "", "文件应为 UTF-8 编码的 CSV")]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        raise CsvImportError(
            [RowProblem(1, c, "缺少这一列") for c in missing]
            + [RowProblem(1, c, "不认识的列名") for c in unknown]
        )
    lines: list[int] = []
    requests: list[FinishRequest] = []
    problems: list[RowProblem] = []
    for row in reader:
        if None in row:  # more values than columns
            problems.append(RowProblem(reader.line_num, "", "这一行的列数比表头多"))
            continue
        if not any((v or "").strip() for v in row.values()):
            continue
        if len(requests) >= MAX_IMPORT_ROWS:
            raise CsvImportError([RowProblem(reader.line_num, "", "一次最多导入5000行")])
        req, form = _request_from_row(row)
        lines.append(reader.line_num)
        requests.append(req)
        problems += [RowProblem(reader.line_num, FIELD_LABELS[f], r) for f, r in form]
    return lines, requests, problems


def import_csv(
    session: Session,
    catalog: Any,
    protector: Protector,
    data: bytes,
    *,
    now: datetime,
    actor: Actor,
) -> list[Certificate]:
    """Every row validated first; any bad row (line, column, reason) imports nothing."""
    lines, requests, problems = parse_csv(data)
    county = getattr(catalog.site, "county", "庆元县")
    seen: dict[str, int] = {}
    cases = [r.case_no.strip() for r in requests]
    known = set(session.scalars(select(Certificate.case_no).where(Certificate.case_no.in_(cases))))
    for line, req in zip(lines, requests, strict=True):
        reported = {p.column for p in problems if p.line == line}
        for field, reason in check(catalog, req, now, county):
            if FIELD_LABELS[field] not in reported:
                problems.append(RowProblem(line, FIELD_LABELS[field], reason))
        case = req.case_no.strip()
        if case in seen:
            problems.append(RowProblem(line, "办件编号", f"与第{seen[case]}行重复"))
        elif case in known:
            problems.append(RowProblem(line, "办件编号", "这个办件编号已登记过快递送达"))
        seen.setdefault(case, line)
    if not requests and not problems:
        problems.append(RowProblem(2, "", "文件里没有数据行"))
    if problems:
        raise CsvImportError(sorted(problems, key=lambda p: (p.line, p.column)))
    out = [_build(catalog, protector, req, now, actor) for req in requests]
    refs = _new_references(session, len(out))
    for cert, ref in zip(out, refs, strict=True):
        cert.reference = ref
    session.add_all(out)
    session.flush()
    session.execute(
        insert(CourierEvent),
        [
            {
                "certificate_id": c.id,
                "batch_id": None,
                "at": utc_naive(now),
                "action": "finished",
                "actor_kind": actor.kind,
                "actor_staff_id": actor.staff_id,
                "channel": actor.channel,
                "from_status": None,
                "to_status": CertStatus.READY,
                "detail": f"case {c.case_no}",
            }
            for c in out
        ],
    )
    return out


def _new_references(session: Session, n: int) -> list[str]:
    """n distinct references none of which is taken (one query per round)."""
    chosen: set[str] = set()
    while len(chosen) < n:
        fresh = {identity.new_reference() for _ in range(n - len(chosen))} - chosen
        taken = set(
            session.scalars(select(Certificate.reference).where(Certificate.reference.in_(fresh)))
        )
        chosen |= fresh - taken
    return sorted(chosen)
