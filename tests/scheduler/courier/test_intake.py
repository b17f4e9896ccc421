"""Marking cases finished for courier delivery: one at a time and by CSV import."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from courier_support import (
    NOT_COURIER_ITEM,
    NOW,
    WINDOW,
    finish,
    protector,
    real_catalog,
)
from sqlalchemy import func, select

from scheduler.courier import intake
from scheduler.courier.errors import Conflict, CsvImportError, InvalidField, NotCourierable
from scheduler.courier.models import Certificate, CourierEvent, Validity


def test_finished_certificate_is_ready_encrypted_masked_and_audited(courier_db: Any) -> None:
    """A finished case becomes a ready certificate; personal data encrypted and masked."""
    with courier_db() as s:
        cert = finish(s, 1)
        s.commit()
        assert cert.status == "ready" and cert.validity == Validity.VALID
        assert cert.cert_type == "中华人民共和国残疾人证（第二代）"
        assert cert.holder_name_masked == "吴**" and cert.phone_masked == "139****1234"
        assert "吴秀英" not in cert.holder_name_enc and "1390578" not in cert.phone_enc
        assert protector().decrypt(cert.address_detail_enc, field="address_detail_enc") == (
            "隆宫村12号"
        )
        event = s.scalars(select(CourierEvent)).one()
        assert (event.action, event.from_status, event.to_status) == ("finished", None, "ready")
        assert "吴" not in event.detail


def test_item_whose_result_cannot_be_couriered_is_refused(courier_db: Any) -> None:
    """The guide's courier fields decide: an item without courier delivery is refused."""
    with courier_db() as s, pytest.raises(NotCourierable) as err:
        finish(s, 1, item_code=NOT_COURIER_ITEM)
    assert err.value.field == "item_code"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"town_code": "331126999"}, "town_code"),
        ({"holder": "张3"}, "holder"),
        ({"case_no": "中文"}, "case_no"),
        ({"promised_date": date(2026, 5, 31)}, "promised_date"),
        ({"office_code": "nowhere"}, "office_code"),
        ({"detail": ""}, "detail"),
        ({"parcels": 9}, "parcels"),
        ({"out": True, "district": "庆元县"}, "district"),
        ({"out": True, "province": ""}, "province"),
    ],
)
def test_bad_field_is_named(courier_db: Any, overrides: dict[str, Any], field: str) -> None:
    """Each bad field is reported by name with a Chinese reason; nothing is stored."""
    with courier_db() as s:
        with pytest.raises(InvalidField) as err:
            finish(s, 1, **overrides)
        assert err.value.field == field and err.value.message_zh
        assert s.scalar(select(func.count()).select_from(Certificate)) == 0


def test_same_case_twice_is_a_conflict(courier_db: Any) -> None:
    """A case number is registered for courier delivery once."""
    with courier_db() as s:
        finish(s, 1)
        with pytest.raises(Conflict):
            finish(s, 1)


def test_replacing_certificate_marks_the_old_one_replaced(courier_db: Any) -> None:
    """A new certificate that replaces an old one makes the old one `replaced`."""
    with courier_db() as s:
        old = finish(s, 1)
        new = finish(s, 2, replaces=old.case_no)
        assert old.validity == Validity.REPLACED and old.replaced_by_id == new.id


COLUMNS = ["办件编号", "事项编码", "持证人", "手机号", "送达范围", "乡镇代码"]
COLUMNS += ["省", "市", "区县", "详细地址", "承诺送达日期", "存放地点"]
HEADER = ",".join(COLUMNS)
ITEM = "disability-card-new"


def row(case: str, name: str, phone: str, where: str, promised: str = "2026-06-02") -> str:
    """A CSV line: `where` is 县内 (隆宫乡) or 县外 (杭州市西湖区)."""
    if where == "县内":
        place = ["县内", "331126205", "", "", "", "隆宫村12号"]
    else:
        place = ["县外", "", "浙江省", "杭州市", "西湖区", "文三路100号"]
    return ",".join([case, ITEM, name, phone, *place, promised, "county-hall"])


GOOD = [
    row("QY2026A0001", "吴秀英", "13905781234", "县内"),
    row("QY2026A0002", "李明", "13905781235", "县外", "2026-06-05"),
]


def _import(s: Any, lines: list[str], header: str = HEADER) -> list[Certificate]:
    data = ("\ufeff" + "\r\n".join([header, *lines]) + "\r\n").encode()
    return intake.import_csv(s, real_catalog(), protector(), data, now=NOW, actor=WINDOW)


def test_good_csv_imports_every_row(courier_db: Any) -> None:
    """A clean export (UTF-8 with BOM) imports one ready certificate per row."""
    with courier_db() as s:
        certs = _import(s, GOOD)
        assert [c.scope for c in certs] == ["county", "out"]
        assert s.scalar(select(func.count()).select_from(Certificate)) == 2


def test_csv_with_bad_rows_imports_nothing_and_names_line_column_reason(
    courier_db: Any,
) -> None:
    """Every bad row is reported with line, column and reason; no row is imported."""
    bad = [
        GOOD[0],
        row("QY2026A0003", "王五", "1390578", "县内"),
        row("QY2026A0004", "赵六", "13905781236", "县内", "2026/06/02"),
        row("QY2026A0001", "吴秀英", "13905781234", "县内"),
    ]
    with courier_db() as s:
        with pytest.raises(CsvImportError) as err:
            _import(s, bad)
        found = {(p.line, p.column) for p in err.value.problems}
        assert found == {(3, "手机号"), (4, "承诺送达日期"), (5, "办件编号")}
        assert all(p.reason for p in err.value.problems)
        assert "第2行" in next(p.reason for p in err.value.problems if p.line == 5)
        assert s.scalar(select(func.count()).select_from(Certificate)) == 0


@pytest.mark.parametrize("count", ["²", "١", "two"])
def test_a_parcel_count_that_is_not_ascii_digits_is_a_row_problem(
    courier_db: Any, count: str
) -> None:
    """件数 must be written in ASCII digits: "²" (which `isdigit()` accepts and `int()`
    refuses) and "١" are reported for their line and column, not a crash or a 1."""
    with courier_db() as s:
        with pytest.raises(CsvImportError) as err:
            _import(s, [GOOD[0] + f",{count}"], header=HEADER + ",件数")
        assert {(p.line, p.column) for p in err.value.problems} == {(2, "件数")}


@pytest.mark.parametrize(
    ("data", "column"),
    [
        ("办件编号,持证人\r\nQY1,张三\r\n".encode(), "事项编码"),
        (HEADER.encode("gbk") + b"\r\n", ""),
        ((HEADER + ",备注\r\n").encode(), "备注"),
    ],
)
def test_csv_with_bad_header_or_encoding_is_refused(
    courier_db: Any, data: bytes, column: str
) -> None:
    """A missing or unknown column, or a file not in UTF-8, is reported on line 1."""
    with courier_db() as s, pytest.raises(CsvImportError) as err:
        intake.import_csv(s, real_catalog(), protector(), data, now=NOW, actor=WINDOW)
    assert err.value.problems[0].line == 1 and err.value.problems[0].column == column
