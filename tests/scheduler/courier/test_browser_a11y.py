"""Every courier page in Debian's chromium (issue 13): the dispatcher's index, batch page
and manifest, the window's certificate page, finish form and CSV import, the public
verification page (valid and invalid) and the resident's delivery look-up result; at 320 px
no sideways scroll, 44 px targets and no serious or critical axe finding."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from booking_support import _password_hash, make_app, staff_password
from courier_support import MORNING, NOW, WINDOW, out_request, protector, real_catalog, request
from courier_support import settings as courier_settings
from werkzeug.serving import make_server

from scheduler import db
from scheduler.courier import intake, tokens
from scheduler.courier.cutoff import run_cutoff
from scheduler.demo import add_staff
from tests.browser import axe_findings, chromium, sideways_overflow, small_targets

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[3] / "build" / "screenshots"


class Served:
    def __init__(self, base: str, token: str, reference: str) -> None:
        self.base, self.token, self.reference = base, token, reference


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, built_site: Path) -> Iterator[Served]:
    """The app on loopback with a dispatcher, one run with an EMS batch and a certificate's
    reference and verification token."""
    tmp = tmp_path_factory.mktemp("courier-a11y")
    url = f"sqlite:///{tmp / 'browser.sqlite3'}"
    db.upgrade(url)
    app = make_app(url, real_catalog(), built_site)
    with app.extensions["onetrip"].write_session() as s:
        add_staff(
            s, "dispatch1", "", "dispatcher", "调度 李四", None,
            password_hash=_password_hash("dispatch1"),
        )  # fmt: skip
        for req in [request(case_no="QY2026A0001"), out_request(case_no="QY2026B1")]:
            intake.mark_finished(s, real_catalog(), protector(), req, now=NOW, actor=WINDOW)
        s.commit()
        run_cutoff(
            s, "county-hall", MORNING, MORNING, catalog=real_catalog(), settings=courier_settings()
        )
        from scheduler.courier.models import Certificate

        cert = s.query(Certificate).order_by(Certificate.id).first()
        assert cert is not None
        token = tokens.token_for(s, protector(), cert, now=NOW)
        reference = cert.reference
        s.commit()
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield Served(f"http://127.0.0.1:{srv.server_port}", token, reference)
    srv.shutdown()
    thread.join()
    app.extensions["onetrip"].dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/staff/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", staff_password(username))
    page.click("button[type=submit]")
    page.wait_for_load_state()


def _staff(username: str, path: Callable[[Served], str]) -> Callable[[Any, Served], None]:
    def visit(page: Any, s: Served) -> None:
        login(page, s.base, username)
        response = page.goto(s.base + path(s))
        assert response is not None and response.status == 200, page.url

    return visit


def _delivery(page: Any, s: Served) -> None:
    page.goto(f"{s.base}/booking")
    page.fill("[name=reference]", s.reference)
    page.fill("[name=phone_last4]", "1234")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert "寄递状态" in page.inner_text("main")


def _import_errors(page: Any, s: Served) -> None:
    _staff("window1", lambda s: "/staff/courier/import")(page, s)
    csv = "case_no,holder\nQY1,吴秀英\n".encode()
    page.set_input_files("[name=file]", {"name": "bad.csv", "mimeType": "text/csv", "buffer": csv})
    page.click("form[enctype] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("main .error").count() == 1


PAGES: dict[str, Callable[[Any, Served], None]] = {
    "courier-index": _staff("dispatch1", lambda s: "/staff/courier/"),
    "courier-batch-run": _staff("dispatch1", lambda s: "/staff/courier/batches/1"),
    "courier-batch-ems": _staff("dispatch1", lambda s: "/staff/courier/batches/2"),
    "courier-manifest": _staff("dispatch1", lambda s: "/staff/courier/batches/1/manifest"),
    "courier-certificate": _staff(
        "window1", lambda s: f"/staff/courier/certificates/{s.reference}"
    ),
    "courier-finish": _staff("window1", lambda s: "/staff/courier/finish"),
    "courier-import": _staff("window1", lambda s: "/staff/courier/import"),
    "courier-import-errors": _import_errors,
    "verify-valid": lambda page, s: page.goto(f"{s.base}/verify/{s.token}"),
    "verify-invalid": lambda page, s: page.goto(f"{s.base}/verify/not-a-token"),
    "delivery-status": _delivery,
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_courier_page_fits_320px_has_44px_targets_and_no_serious_axe_finding(
    served: Served, browser: Any, name: str
) -> None:
    """At 320 px the courier page does not scroll sideways, every link, button and control
    is at least 44 × 44 px, and axe-core finds nothing serious or critical."""
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 320, "height": 800}, bypass_csp=True
    )
    page = context.new_page()
    PAGES[name](page, served)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-320.png"), full_page=True)
    assert sideways_overflow(page) == []
    assert small_targets(page) == []
    assert axe_findings(page) == []
    context.close()
