"""Courier pages in Debian's chromium at phone width (390 px): batch page, verification."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
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
from tests.browser import chromium

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("ONETRIP_SCREENSHOTS")  # a folder to keep the screenshots in


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The app on loopback with one run, one EMS batch and a certificate token."""
    url = f"sqlite:///{tmp_path / 'browser.sqlite3'}"
    db.upgrade(url)
    site = tmp_path / "site"
    site.mkdir()
    app = make_app(url, real_catalog(), site)
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
        for req in [request(case_no="QY2026A0001"), out_request(case_no="QY2026B1")]:
            intake.mark_finished(s, real_catalog(), protector(), req, now=NOW, actor=WINDOW)
        s.commit()
        run_cutoff(
            s, "county-hall", MORNING, MORNING, catalog=real_catalog(), settings=courier_settings()
        )
        from scheduler.courier.models import Certificate

        cert = s.query(Certificate).first()
        token = tokens.token_for(s, protector(), cert, now=NOW)
        s.commit()
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", token
    srv.shutdown()
    thread.join()
    app.extensions["onetrip"].dispose()


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    folder = Path(SHOTS) if SHOTS else tmp_path
    page.screenshot(path=str(folder / name), full_page=True)


def test_dispatcher_batch_page_and_verification_fit_a_phone(
    served: tuple[str, str], tmp_path: Path
) -> None:
    """At 390 px the batch page shows the route map and parcels, and the verification
    page the certificate's state, without sideways scrolling of the page itself; the
    courier and verification pages load without a single CSP violation."""
    base, token = served
    refused: list[str] = []
    with chromium() as browser:
        context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(f"{base}/staff/login?next=/staff/courier/")
        page.fill("input[name=username]", "dispatch1")
        page.fill("input[name=password]", staff_password("dispatch1"))
        page.click("button[type=submit]")
        page.wait_for_url("**/staff/**")
        page.goto(f"{base}/staff/courier/batches/1")
        assert page.locator("svg[aria-label=派送路线]").count() == 1
        assert page.locator("text=确认发出").count() == 1
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        _shot(page, tmp_path, "courier-batch-390.png")
        page.goto(f"{base}/verify/{token}")
        assert page.locator("text=现行有效").count() == 1
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        _shot(page, tmp_path, "courier-verify-390.png")
        for path in (
            "/staff/courier/",
            "/staff/courier/batches/1/manifest",
            "/staff/courier/batches/2",
            "/verify/keys",
        ):
            page.goto(base + path)
        context.close()
    assert refused == []
