"""Helpers and fixtures for booking tests: a small catalog, a database per backend, the app.

Each test that takes `db_url` runs on SQLite and, when DATABASE_URL points at a
PostgreSQL server (``make test`` starts one), on PostgreSQL too.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from guide.catalog import load_townships
from guide.schema import OfficeKind
from scheduler import db, identity
from scheduler.accounts import add_staff
from scheduler.booking import BookingService, ensure_zones
from scheduler.models import HALF_DAYS, Clerk, Shift, Slot
from scheduler.protect import Keyring, Protector
from scheduler.settings import QINGYUAN_ZONES, BookingSettings

REPO = Path(__file__).resolve().parents[2]
SECRET = "test-secret-key-not-for-production-0123456789"


def test_keyring() -> Keyring:
    """Data keys fixed for the tests (apart from the cookie key SECRET)."""
    import hashlib

    def key(label: str) -> bytes:
        return hashlib.sha256(f"test data key {label}".encode()).digest()

    return Keyring(hash_key=key("hash"), keys={"t1": key("t1")}, current="t1")


test_keyring.__test__ = False  # type: ignore[attr-defined]
TABLES = (
    "booking_events",
    "idempotency_keys",
    "staff_sessions",
    "rate_counts",
    "bookings",
    "staff_users",
    "shifts",
    "slots",
    "clerks",
    "zone_towns",
    "zones",
)

# --- a small catalog (same shape as guide.catalog.Catalog) ---------------------------


@dataclass(frozen=True)
class HomeVisit:
    allowed: bool
    duration_min: int | None = None
    skill: str | None = None


@dataclass(frozen=True)
class Item:
    code: str
    name: str
    department: str
    home_visit: HomeVisit
    station_served: bool = True


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float
    datum: str = "GCJ-02"


@dataclass(frozen=True)
class Office:
    id: str
    name: str
    kind: OfficeKind
    town_code: str
    address: str
    phone: str
    hours: str
    location: Location


@dataclass(frozen=True)
class Site:
    county: str = "庆元县"
    county_code: str = "331126"


@dataclass(frozen=True)
class Skill:
    id: str
    name: str


@dataclass(frozen=True)
class SmallCatalog:
    items: dict[str, Item]
    offices: dict[str, Office]
    townships: dict[str, Any]
    skills: dict[str, Skill]
    site: Site = field(default_factory=Site)

    def offices_for(self, item: Item) -> list[Office]:
        hall = [o for o in self.offices.values() if o.kind is OfficeKind.HALL]
        rest = [o for o in self.offices.values() if o.kind is not OfficeKind.HALL]
        return hall + (rest if item.station_served else [])

    def home_visit_items(self) -> list[Item]:
        return [i for i in self.items.values() if i.home_visit.allowed]


def small_catalog() -> SmallCatalog:
    """Three items (two allow home visits), the county hall and three township stations."""
    towns = load_townships(REPO / "content" / "gazetteer" / "townships.csv", "庆元县")
    items = {
        "resident-pension-claim": Item(
            "resident-pension-claim",
            "城乡居民基本养老保险待遇申领",
            "rsj",
            HomeVisit(True, 30, "social-insurance"),
        ),
        "id-card-home": Item(
            "id-card-home",
            "居民身份证换领（行动不便人员上门办理）",
            "gaj",
            HomeVisit(True, 40, "household-photo"),
            False,
        ),
        "business-licence": Item("business-licence", "营业执照办理", "scjgj", HomeVisit(False)),
    }
    hours = "工作日 上午8:30—12:00，下午2:00—5:00"
    offices = {
        "county-hall": Office(
            "county-hall",
            "庆元县行政服务中心",
            OfficeKind.HALL,
            "331126001",
            "庆元县松源街道",
            "0578-6120000",
            hours,
            Location(27.61922, 119.06259),
        ),
    }
    for code in ("331126205", "331126101", "331126211"):
        t = towns[code]
        offices[f"station-{code}"] = Office(
            f"station-{code}",
            f"{t.name}便民服务中心",
            OfficeKind.STATION,
            code,
            f"庆元县{t.name}",
            "0578-6000000",
            hours,
            Location(t.lat, t.lon),
        )
    skills = {
        "social-insurance": Skill("social-insurance", "社保业务"),
        "household-photo": Skill("household-photo", "户籍拍照采集"),
    }
    return SmallCatalog(items, offices, dict(towns), skills)


# --- identities ----------------------------------------------------------------------


def make_id(birth: date, seq: int = 123, region: str = "331126") -> str:
    """A valid 18-character ID number for a birth date (MOD 11-2 check character)."""
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + identity.check_char(first17)


def make_phone(n: int) -> str:
    return f"139{n:08d}"


# --- settings, service, database ------------------------------------------------------


def test_settings(**overrides: Any) -> BookingSettings:
    data = {
        "visits_per_clerk_half_day": 2,
        "horizon_days": 14,
        "lookup_rate": [1000, 60],
        "write_rate": [1000, 60],
        **overrides,
    }
    return BookingSettings.from_mapping(data)


test_settings.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def catalog() -> SmallCatalog:
    return small_catalog()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    db.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        if os.environ.get("CI"):
            pytest.fail("CI is set but DATABASE_URL does not point at PostgreSQL")
        pytest.skip("no PostgreSQL (DATABASE_URL unset); run `make test` to start one")
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    db.upgrade(url)
    yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a copy of the SQLite template, or a truncated PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "onetrip.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


def seed(
    session: Session, settings: BookingSettings, first: date, days: int = 15, clerks: int = 1
) -> None:
    """Zones of 庆元县 and `clerks` clerks on shift in every zone, every half-day."""
    ensure_zones(session, QINGYUAN_ZONES)
    staff = [
        Clerk(name=f"上门人员{i}", skills="social-insurance")
        for i in range(clerks * len(QINGYUAN_ZONES))
    ]
    session.add_all(staff)
    session.flush()
    per_zone: dict[str, int] = {}
    shifts = []
    for i, c in enumerate(staff):
        # Clerk 1 serves "west", the zone of the tests' usual township (隆宫乡).
        zone = QINGYUAN_ZONES[(i + 1) % len(QINGYUAN_ZONES)].code
        per_zone[zone] = per_zone.get(zone, 0) + 1
        for offset in range(days):
            for half in HALF_DAYS:
                shifts.append(
                    Shift(
                        clerk_id=c.id,
                        zone_code=zone,
                        date=first + timedelta(days=offset),
                        half_day=half,
                    )
                )
    session.add_all(shifts)
    session.flush()
    # Capacity as the PerClerk rule derives it (clerks on shift × visits per clerk), in bulk.
    session.add_all(
        Slot(
            zone_code=zone,
            date=first + timedelta(days=offset),
            half_day=half,
            capacity=n * settings.visits_per_clerk_half_day,
            booked=0,
        )
        for zone, n in per_zone.items()
        for offset in range(days)
        for half in HALF_DAYS
    )
    session.flush()


NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


@pytest.fixture
def settings() -> BookingSettings:
    return test_settings()


@pytest.fixture
def service(catalog: SmallCatalog, settings: BookingSettings) -> BookingService:
    return BookingService(catalog, settings, Protector(test_keyring()), geocoder=None)


@pytest.fixture
def engine(db_url: str) -> Iterator[Any]:
    eng = db.make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def seeded(engine: Any, settings: BookingSettings) -> Any:
    """A seeded database around NOW; returns the write session factory."""
    _, write = db.session_factories(engine)
    with write() as s:
        seed(s, settings, NOW.date())
        s.commit()
    return write


# --- the Flask app --------------------------------------------------------------------


STAFF_ACCOUNTS = (
    ("window1", "window", "窗口 张三", None),
    ("clerk1", "clerk", "上门人员0", 1),
    ("admin1", "admin", "管理员", None),
)


def staff_password(username: str) -> str:
    return f"{username}-pass"


@functools.cache
def _password_hash(username: str) -> str:
    # scrypt costs ~0.2 s; hash each test account once per session.
    return generate_password_hash(staff_password(username))


def make_app(
    db_url: str, catalog: Any, site_dir: Path, config: dict[str, Any] | None = None, **booking: Any
) -> Flask:
    from scheduler.web import create_app

    app = create_app(
        {
            **(config or {}),
            "TESTING": True,
            "DATABASE_URL": db_url,
            "SECRET_KEY": SECRET,
            "DATA_KEYS": test_keyring(),
            "DATA_DIR": str(site_dir.parent / "data"),
            "SESSION_COOKIE_SECURE": False,
            "CATALOG": catalog,
            "GEOCODER": None,
            "SITE_DIR": str(site_dir),
            "BOOKING": {
                # seed() writes the slots as the flat rule makes them; tests of the
                # plan-aware rule ask for capacity="plan".
                "capacity": "per_clerk",
                "visits_per_clerk_half_day": 2,
                "lookup_rate": [1000, 60],
                "write_rate": [1000, 60],
                **booking,
            },
        }
    )
    state = app.extensions["onetrip"]
    with state.write_session() as s:
        seed(s, state.settings, datetime.now(UTC).date())
        clerk = s.get(Clerk, 1)
        assert clerk is not None
        for username, role, name, clerk_id in STAFF_ACCOUNTS:
            add_staff(s, username, "", role, name, clerk_id, password_hash=_password_hash(username))
        s.commit()
    return app


@pytest.fixture
def app(db_url: str, catalog: SmallCatalog, tmp_path: Path) -> Iterator[Flask]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>办事指南</h1>", encoding="utf-8")
    application = make_app(db_url, catalog, site)
    yield application
    application.extensions["onetrip"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def payload(**overrides: Any) -> dict[str, Any]:
    """A valid booking request body for an 85-year-old in 隆宫乡, on the first bookable date."""
    body: dict[str, Any] = {
        "item": "resident-pension-claim",
        "applicant": {
            "name": "吴秀英",
            "id_number": make_id(date(1940, 3, 5)),
            "phone": "13905781234",
        },
        "address": {"town_code": "331126205", "village": "隆宫村", "detail": "隆宫村12号"},
        "reason": "age",
        "date": "",
        "half_day": "am",
    }
    body.update(overrides)
    return body


def first_date(app: Flask) -> str:
    """The first date a resident can book right now (after the planning cut-off)."""
    return app.extensions["onetrip"].service.first_bookable(datetime.now(UTC)).isoformat()
