"""Courier pages: role access, mark finished, CSV import, batches, manifests, verification."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from booking_support import _password_hash, make_app, staff_password
from courier_support import (
    MORNING,
    NOW,
    WINDOW,
    out_request,
    protector,
    real_catalog,
    request,
    settings,
)
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from scheduler.courier import intake, tokens
from scheduler.courier.cutoff import run_cutoff
from scheduler.courier.models import Batch, BatchKind, Certificate, CertStatus, Parcel, Validity
from scheduler.demo import add_staff
from scheduler.settings import TZ
from scheduler.web import ot

GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture
def capp(courier_db: Any, db_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app with the real guide catalog and a dispatcher account."""
    site = tmp_path / "site"
    site.mkdir()
    app = make_app(db_url, real_catalog(), site)
    app.config["COURIER"] = {"solver_time_limit_s": None, "solver_branch_limit": 2000}
    with app.extensions["onetrip"].write_session() as s:
        add_staff(
            s,
            "dispatch1",
            "",
            "dispatcher",
            "调度 李四",
            None,
            password_hash=_password_hash("dispatch1"),
        )
        s.commit()
    yield app
    app.extensions["onetrip"].dispose()


@pytest.fixture
def cclient(capp: Flask) -> FlaskClient:
    return capp.test_client()


def csrf(client: FlaskClient, url: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(as_text=True))
    assert match, url
    return match.group(1)


def login(client: FlaskClient, username: str) -> None:
    token = csrf(client, "/staff/login")
    r = client.post(
        "/staff/login",
        data={"username": username, "password": staff_password(username), "csrf_token": token},
    )
    assert r.status_code == 302


def _session(app: Flask) -> Any:
    return app.extensions["onetrip"].write_session()


def _seed_batches(app: Flask) -> tuple[int, int]:
    """Two certificates in county, two out, fixed references; cut-off 2026-06-01 10:30."""
    with _session(app) as s:
        for n, req in enumerate(
            [
                request(case_no="QY2026A0001"),
                request(
                    case_no="QY2026A0002",
                    holder="李明",
                    phone="13905785678",
                    town_code="331126001",
                    detail="庆元大道8号",
                ),
                out_request(case_no="QY2026B0001", holder="王芳", phone="13905780001"),
                out_request(
                    case_no="QY2026B0002", holder="赵强", phone="13905780002", recipient="赵小强"
                ),
            ]
        ):
            cert = intake.mark_finished(s, real_catalog(), protector(), req, now=NOW, actor=WINDOW)
            cert.reference = f"REF0000{n}"
        s.commit()
        run_cutoff(s, "county-hall", MORNING, MORNING, catalog=real_catalog(), settings=settings())
        s.commit()
        run = s.scalars(select(Batch).where(Batch.kind == BatchKind.RUN)).first()
        ems = s.scalars(select(Batch).where(Batch.kind == BatchKind.EMS)).one()
        return run.id, ems.id


ANON, WIN, CLERK, ADMIN, DISP = None, "window1", "clerk1", "admin1", "dispatch1"


@pytest.mark.parametrize(
    ("path", "user", "status"),
    [
        ("/staff/courier/", ANON, 302),
        ("/staff/courier/", WIN, 403),
        ("/staff/courier/", CLERK, 403),
        ("/staff/courier/", DISP, 200),
        ("/staff/courier/", ADMIN, 200),
        ("/staff/courier/finish", DISP, 403),
        ("/staff/courier/finish", CLERK, 403),
        ("/staff/courier/finish", WIN, 200),
        ("/staff/courier/finish", ADMIN, 200),
        ("/staff/courier/import", DISP, 403),
        ("/staff/courier/import", WIN, 200),
        ("/staff/courier/batches/{run}", WIN, 403),
        ("/staff/courier/batches/{run}", DISP, 200),
        ("/staff/courier/batches/{ems}/manifest", CLERK, 403),
        ("/staff/courier/batches/{ems}/manifest", DISP, 200),
        ("/staff/courier/batches/{ems}/manifest.csv", ANON, 302),
        ("/staff/courier/batches/{ems}/manifest.csv", WIN, 403),
        ("/staff/courier/batches/{ems}/manifest.csv", ADMIN, 200),
    ],
)
def test_role_access(
    capp: Flask, cclient: FlaskClient, path: str, user: str | None, status: int
) -> None:
    """Dispatcher pages for dispatchers and admins, intake pages for window staff and admins."""
    run, ems = _seed_batches(capp)
    if user:
        login(cclient, user)
    assert cclient.get(path.format(run=run, ems=ems)).status_code == status


def _golden(name: str, data: bytes) -> bytes:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    return path.read_bytes()


def test_manifests_are_the_same_bytes_from_stored_data(capp: Flask, cclient: FlaskClient) -> None:
    """The EMS hand-over CSV and the run's print view match the golden files, every time."""
    run, ems = _seed_batches(capp)
    login(cclient, DISP)
    csv_bytes = cclient.get(f"/staff/courier/batches/{ems}/manifest.csv").data
    assert csv_bytes == _golden("ems_manifest.csv", csv_bytes)
    assert cclient.get(f"/staff/courier/batches/{ems}/manifest.csv").data == csv_bytes
    html = cclient.get(f"/staff/courier/batches/{run}/manifest").data
    assert html == _golden("run_manifest.html", html)
    text = html.decode()
    assert re.search(r"139\*{4}\d{4}", text)
    assert not re.search(r"1390578\d{4}", text)
    assert "<svg" in text and "OT1/" not in text.split("<svg")[0]


def test_run_is_drawn_on_the_plans_county_map(capp: Flask, cclient: FlaskClient) -> None:
    """A delivery run's page draws it on the board's map: county outline, every township."""
    run, _ = _seed_batches(capp)
    login(cclient, DISP)
    body = cclient.get(f"/staff/courier/batches/{run}").get_data(as_text=True)
    assert '<svg id="map"' in body and 'aria-label="派送路线"' in body
    assert "<polygon" in body and "<polyline" in body
    with capp.app_context():
        towns = ot().service.catalog.townships.values()
    assert all(f">{t.name}</text>" in body for t in towns)


def test_batch_page_dispatch_tracking_and_return(capp: Flask, cclient: FlaskClient) -> None:
    """The dispatcher records numbers as a pasted column, dispatches, and marks a return."""
    _, ems = _seed_batches(capp)
    login(cclient, DISP)
    page = f"/staff/courier/batches/{ems}"
    body = cclient.get(page).get_data(as_text=True)
    assert "EMS交接" in body and "139****0001" in body and "王芳" not in body
    token = csrf(cclient, page)
    r = cclient.post(
        f"{page}/tracking", data={"numbers": "EA000000001CN\nEA000000002CN", "csrf_token": token}
    )
    assert r.status_code == 302
    bad = cclient.post(f"{page}/tracking", data={"numbers": "bad", "csrf_token": token})
    assert bad.status_code == 422 and "运单号" in bad.get_data(as_text=True)
    assert cclient.post(f"{page}/dispatch", data={"csrf_token": token}).status_code == 302
    assert cclient.post(f"{page}/dispatch", data={"csrf_token": token}).status_code == 409
    with _session(capp) as s:
        parcel = s.scalars(
            select(Parcel).where(Parcel.batch_id == ems).order_by(Parcel.seq)
        ).first()
    r = cclient.post(
        f"/staff/courier/parcels/{parcel.id}/returned",
        data={"reason": "refused", "csrf_token": token},
    )
    assert r.status_code == 302
    with _session(capp) as s:
        cert = s.get_one(Certificate, parcel.certificate_id)
        assert (cert.status, cert.return_reason) == (CertStatus.READY, "refused")


def test_run_cutoff_from_the_dispatcher_page(capp: Flask, cclient: FlaskClient) -> None:
    """A dispatcher runs a past cut-off; running it again adds nothing."""
    now = datetime.now(UTC)
    with _session(capp) as s:
        intake.mark_finished(
            s,
            real_catalog(),
            protector(),
            request(promised_date=(now + timedelta(days=5)).astimezone(TZ).date()),
            now=now - timedelta(minutes=10),
            actor=WINDOW,
        )
        s.commit()
    login(cclient, DISP)
    token = csrf(cclient, "/staff/courier/")
    moment = (now - timedelta(minutes=1)).astimezone(TZ)
    form = {
        "office": "county-hall",
        "date": moment.date().isoformat(),
        "time": moment.strftime("%H:%M"),
        "csrf_token": token,
    }
    assert cclient.post("/staff/courier/cutoff", data=form).status_code == 302
    assert cclient.post("/staff/courier/cutoff", data=form).status_code == 302
    with _session(capp) as s:
        assert len(list(s.scalars(select(Batch)))) == 1
    future = dict(form, date=(moment + timedelta(days=1)).date().isoformat())
    assert cclient.post("/staff/courier/cutoff", data=future).status_code == 409


def test_window_marks_finished_and_gets_the_verification_qr(
    capp: Flask, cclient: FlaskClient
) -> None:
    """The form makes a ready certificate and shows its QR; a bad field re-renders with 422."""
    login(cclient, WIN)
    token = csrf(cclient, "/staff/courier/finish")
    promised = (datetime.now(TZ) + timedelta(days=3)).date().isoformat()
    form = {
        "case_no": "QY2026C0001",
        "item_code": "disability-card-new",
        "holder": "吴秀英",
        "phone": "13905781234",
        "scope": "county",
        "town_code": "331126205",
        "detail": "隆宫村12号",
        "promised_date": promised,
        "office_code": "county-hall",
        "contents": "证照",
        "parcels": "1",
        "csrf_token": token,
    }
    bad = cclient.post("/staff/courier/finish", data=dict(form, phone="123"))
    assert bad.status_code == 422 and "手机号" in bad.get_data(as_text=True)
    r = cclient.post("/staff/courier/finish", data=form)
    assert r.status_code == 302
    page = cclient.get(r.headers["Location"]).get_data(as_text=True)
    assert "<svg" in page and "吴**" in page and "13905781234" not in page


def test_odd_numbers_and_days_on_courier_pages_are_refused_not_a_500(
    capp: Flask, cclient: FlaskClient
) -> None:
    """A 25-digit batch id is a 404; a cut-off at the calendar's start, and parcels or a
    promised date the form cannot hold, answer 4xx instead of an overflow."""
    login(cclient, ADMIN)
    assert cclient.get("/staff/courier/batches/" + "9" * 25).status_code == 404
    token = csrf(cclient, "/staff/courier/")
    form = {"office": "county-hall", "date": "0001-01-01", "time": "00:00", "csrf_token": token}
    assert cclient.post("/staff/courier/cutoff", data=form).status_code == 422
    token = csrf(cclient, "/staff/courier/finish")
    for odd in ({"parcels": "²"}, {"promised_date": "9999-12-31"}):
        data = {"case_no": "QY2026C0009", "holder": "吴秀英", "csrf_token": token, **odd}
        r = cclient.post("/staff/courier/finish", data=data)
        assert r.status_code == 422, (odd, r.status_code)


def test_csv_import_page_lists_bad_rows(capp: Flask, cclient: FlaskClient) -> None:
    """A bad CSV answers 422 with a table of line, column and reason; nothing is imported."""
    login(cclient, WIN)
    token = csrf(cclient, "/staff/courier/import")
    data = "办件编号,事项编码,持证人,手机号,送达范围,详细地址\nQY1X,x,张三,1,县内,某村\n"
    import io

    r = cclient.post(
        "/staff/courier/import",
        data={"csrf_token": token, "file": (io.BytesIO(data.encode()), "cases.csv")},
        content_type="multipart/form-data",
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "<td>2</td><td>手机号</td>" in html
    with _session(capp) as s:
        assert s.scalars(select(Certificate)).first() is None


def test_verification_page_keys_and_tampering(capp: Flask, cclient: FlaskClient) -> None:
    """The QR target shows type, masked holder, date, office and state; a changed token
    gets a clear 400 page; revocation shows at once; /verify/keys publishes the keys."""
    with _session(capp) as s:
        cert = intake.mark_finished(
            s, real_catalog(), protector(), request(), now=NOW, actor=WINDOW
        )
        token = tokens.token_for(s, protector(), cert, now=NOW)
        s.commit()
    page = cclient.get(f"/verify/{token}").get_data(as_text=True)
    for shown in (
        "中华人民共和国残疾人证（第二代）",
        "吴**",
        "2026-06-01",
        "庆元县行政服务中心",
        "有效",
    ):
        assert shown in page
    assert "1234" not in page and "隆宫村12号" not in page
    broken = cclient.get(f"/verify/{token[:-10]}")
    assert broken.status_code == 400 and "无法核验" in broken.get_data(as_text=True)
    keys = cclient.get("/verify/keys").get_json()
    assert keys["keys"][0]["kid"] in page
    with _session(capp) as s:
        intake.set_validity(
            s, s.get_one(Certificate, cert.id), Validity.REVOKED, now=NOW, actor=WINDOW
        )
        s.commit()
    assert "已作废" in cclient.get(f"/verify/{token}").get_data(as_text=True)


def test_dispatcher_sees_certificates_that_will_miss_their_date(
    capp: Flask, cclient: FlaskClient
) -> None:
    """An out-of-county certificate promised for today (EMS needs days) is flagged at once."""
    now = datetime.now(UTC)
    today = now.astimezone(TZ).date()
    with _session(capp) as s:
        for case, promised in (("QY2026R0001", today), ("QY2026R0002", today + timedelta(days=20))):
            intake.mark_finished(
                s,
                real_catalog(),
                protector(),
                out_request(case_no=case, promised_date=promised),
                now=now,
                actor=WINDOW,
            )
        s.commit()
    login(cclient, DISP)
    html = cclient.get("/staff/courier/").get_data(as_text=True)
    assert "将超过承诺送达日期（1 件）" in html
    assert "QY2026R0001" in html and "QY2026R0002" not in html


# -- on booking's base: data keyring, headers, menu, resident look-up, demo --------------


def _foreign(column: str) -> str:
    """A value encrypted under a data key the app's keyring does not have."""
    from scheduler.protect import Keyring, Protector

    return Protector(Keyring.generate("gone")).encrypt("某某", field=column)


def test_manifest_shows_cannot_decrypt_for_a_lost_key(capp: Flask, cclient: FlaskClient) -> None:
    """A recipient or address no data key opens is printed as 「无法解密」, not a 500."""
    run, ems = _seed_batches(capp)
    with _session(capp) as s:
        for c in s.scalars(select(Certificate)):
            c.recipient_name_enc = _foreign("recipient_name_enc")
            c.address_detail_enc = _foreign("address_detail_enc")
        s.commit()
    login(cclient, DISP)
    html = cclient.get(f"/staff/courier/batches/{run}/manifest")
    assert html.status_code == 200
    assert "无法解密" in html.get_data(as_text=True)
    csv = cclient.get(f"/staff/courier/batches/{ems}/manifest.csv")
    assert csv.status_code == 200
    assert "无法解密" in csv.data.decode("utf-8-sig")


def test_certificate_page_survives_an_unreadable_signing_key(
    capp: Flask, cclient: FlaskClient
) -> None:
    """A signing key stored under a lost data key leaves the certificate page up (no QR,
    a message for the administrator) instead of failing."""
    from scheduler.courier.models import SigningKey

    with _session(capp) as s:
        cert = intake.mark_finished(
            s, real_catalog(), protector(), request(), now=NOW, actor=WINDOW
        )
        tokens.rotate_key(s, protector(), now=NOW)
        for key in s.scalars(select(SigningKey)):
            key.private_enc = _foreign("courier_signing_key")
        s.commit()
        ref = cert.reference
    login(cclient, WIN)
    r = cclient.get(f"/staff/courier/certificates/{ref}")
    assert r.status_code == 200
    assert "签名密钥无法解密" in r.get_data(as_text=True)


def test_courier_pages_are_not_stored_and_carry_no_inline_style(
    capp: Flask, cclient: FlaskClient
) -> None:
    """Courier pages with personal data answer Cache-Control: no-store under the app's
    CSP, and have no inline script or style for that CSP to refuse."""
    run, ems = _seed_batches(capp)
    login(cclient, ADMIN)
    with _session(capp) as s:
        ref = s.scalars(select(Certificate.reference)).first()
    for path in (
        "/staff/courier/",
        f"/staff/courier/batches/{run}",
        f"/staff/courier/batches/{run}/manifest",
        f"/staff/courier/batches/{ems}/manifest.csv",
        "/staff/courier/finish",
        "/staff/courier/import",
        f"/staff/courier/certificates/{ref}",
    ):
        r = cclient.get(path)
        assert r.status_code == 200, path
        assert r.headers["Cache-Control"] == "no-store", path
        assert "style-src 'self'" in r.headers["Content-Security-Policy"], path
        body = r.get_data(as_text=True)
        assert "style=" not in body and "<style" not in body, path
        # Scripts only from files (the CSP's script-src 'self'), never inline.
        assert not re.search(r"<script(?![^>]*\bsrc=)", body), path


@pytest.mark.parametrize(
    ("user", "page", "shown", "hidden"),
    [
        (DISP, "/staff/", ["寄递批次"], ["办结寄递登记", "批量导入"]),
        (WIN, "/staff/", ["办结寄递登记", "批量导入"], ["寄递批次"]),
        (ADMIN, "/staff/", ["寄递批次", "办结寄递登记", "批量导入"], []),
        (CLERK, "/staff/visits", [], ["寄递批次", "办结寄递登记"]),
    ],
)
def test_staff_menu_links_the_courier_pages_by_role(
    cclient: FlaskClient, user: str, page: str, shown: list[str], hidden: list[str]
) -> None:
    """The staff menu links the courier pages a role may open, and only those."""
    login(cclient, user)
    body = cclient.get(page).get_data(as_text=True)
    for text in shown:
        assert text in body, (user, text)
    for text in hidden:
        assert text not in body, (user, text)


def test_resident_looks_up_a_delivery_on_the_booking_page(
    capp: Flask, cclient: FlaskClient
) -> None:
    """POST /booking with a certificate's reference and phone suffix shows its delivery
    state; a wrong suffix answers like an unknown reference and counts towards booking's
    lock-out."""
    with _session(capp) as s:
        cert = intake.mark_finished(
            s, real_catalog(), protector(), request(), now=NOW, actor=WINDOW
        )
        s.commit()
        ref = cert.reference
    token = csrf(cclient, "/booking")
    good = {"reference": ref, "phone_last4": "1234", "csrf_token": token}
    r = cclient.post("/booking", data=good)
    assert r.status_code == 200
    assert "待寄出" in r.get_data(as_text=True)
    assert r.headers["Cache-Control"] == "no-store"
    unknown = cclient.post("/booking", data=good | {"reference": "ZZZZZZZZ"})
    wrong = cclient.post("/booking", data=good | {"phone_last4": "0000"})
    assert unknown.status_code == wrong.status_code == 404
    message = re.compile(r'class="error" role="alert">([^<]+)<')
    assert message.findall(unknown.get_data(as_text=True)) == message.findall(
        wrong.get_data(as_text=True)
    )
    allowed = capp.extensions["onetrip"].settings.lookup_failures_allowed
    for _ in range(allowed - 1):
        assert cclient.post("/booking", data=good | {"phone_last4": "0000"}).status_code == 404
    assert cclient.post("/booking", data=good).status_code == 429
    # The phone suffix never travels in a query string.
    assert cclient.get(f"/booking?reference={ref}&phone_last4=1234").status_code == 400


def test_demo_has_a_dispatcher_account(courier_db: Any) -> None:
    """The demo data includes one staff account of every role, a dispatcher among them."""
    from scheduler.accounts import ROLES
    from scheduler.demo import load_demo
    from scheduler.settings import BookingSettings

    with courier_db() as s:
        accounts = load_demo(s, BookingSettings(), NOW.date())
        s.commit()
    assert {a.role for a in accounts} == set(ROLES)
