"""The Flask app (the only Flask-importing subpackage): API, resident pages, staff pages, site."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from scheduler import db
from scheduler.booking import BookingService, CapacityRule, PerClerk, WrongPhoneSuffix
from scheduler.models import Booking
from scheduler.protect import Keyring, Protector
from scheduler.settings import BookingSettings, load_file
from scheduler.web.clock import utcnow

REPO = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)
__all__ = ["OneTrip", "create_app", "data_dir", "db_session", "ot", "resident_lookup", "utcnow"]


def data_dir() -> Path:
    """Where the secret key, the data keys and the default database live:
    ONETRIP_DATA_DIR, else $XDG_DATA_HOME/onetrip (~/.local/share/onetrip)."""
    if os.environ.get("ONETRIP_DATA_DIR"):
        return Path(os.environ["ONETRIP_DATA_DIR"]).expanduser().resolve()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "onetrip"


class OneTrip:
    """The app's booking extension: engine, session factories, the booking service,
    the rate limiter. `OneTrip(app)` or `OneTrip().init_app(app)`; one per app, found at
    `app.extensions["onetrip"]` (and by `ot()` inside a request)."""

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        from scheduler.limits import RateLimiter

        url = app.config["DATABASE_URL"]
        if app.config.get("MIGRATE_ON_START"):
            db.upgrade(url)
        self.engine = db.make_engine(url)
        self.read_session, self.write_session = db.session_factories(self.engine)
        # Core connections for writes that need no ORM session (begin IMMEDIATE on SQLite).
        self.write_engine = self.engine.execution_options(**db.WRITE)
        # Writes of one statement (a booking without an Idempotency-Key): on PostgreSQL
        # autocommit connections of their own, on SQLite the write engine.
        self.single_statement_engine = db.single_statement_engine(self.engine)
        data = dict(app.config.get("BOOKING") or {})
        if app.config.get("BOOKING_FILE"):
            data = {**load_file(app.config["BOOKING_FILE"]), **data}
        self.settings = BookingSettings.from_mapping(data)
        catalog = app.config.get("CATALOG")
        if catalog is None:
            from guide.catalog import load

            catalog = load(app.config["CONTENT_DIR"]) if app.config.get("CONTENT_DIR") else load()
        geocoder = app.config.get("GEOCODER", "gazetteer")
        if geocoder == "gazetteer":
            geocoder = _gazetteer_geocoder()
        self.protector = Protector(_keyring(app))
        self.service = BookingService(
            catalog,
            self.settings,
            self.protector,
            geocoder,
            capacity_rule=_capacity_rule(self.settings, catalog),
        )
        self.limiter = RateLimiter(self.write_engine, self.single_statement_engine)
        app.extensions["onetrip"] = self
        app.teardown_appcontext(_close_session)

    def dispose(self) -> None:
        """Close the pooled database connections."""
        self.engine.dispose()
        if self.single_statement_engine.engine is not self.engine:
            self.single_statement_engine.dispose()


def _capacity_rule(settings: BookingSettings, catalog: Any) -> CapacityRule:
    """The slots' places: plan-aware (planning's rule) unless the settings say per clerk;
    both leave out the clerks the board marked absent."""
    from scheduler.planning.capacity import PlanCapacity
    from scheduler.planning.service import absent_clerks

    if settings.capacity == "per_clerk":
        return PerClerk(settings.visits_per_clerk_half_day, absent=absent_clerks)
    return PlanCapacity(catalog)


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()  # rolls back anything not committed


def _gazetteer_geocoder() -> Any:
    try:
        from routing.geocode import GazetteerGeocoder
    except ImportError:  # routing not installed: the service falls back to township seats
        return None
    return GazetteerGeocoder()


def _secret_file(path: Path, make: Any) -> str:
    """The content of a secret file, created (owner-only) with `make()` when missing.

    Written to a temporary file and linked into place, so that a worker starting at the
    same moment finds either no file or the whole of it, and one of them wins.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(make())
            os.link(tmp, path)
        except FileExistsError:
            pass  # another worker made it meanwhile: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8")


def _session_secret(instance: Path) -> str:
    """ONETRIP_SECRET_KEY, else a key kept in the data directory (shared by all workers).
    It signs cookies only: replacing it logs everyone out and touches no stored data."""
    if os.environ.get("ONETRIP_SECRET_KEY"):
        return os.environ["ONETRIP_SECRET_KEY"]
    return _secret_file(instance / "secret_key", lambda: secrets.token_urlsafe(48)).strip()


def _keyring(app: Flask) -> Keyring:
    """The data keys: config DATA_KEYS (a Keyring or its JSON), else the file
    ONETRIP_DATA_KEYS_FILE, else `data_keys.json` in the data directory, created on
    first start. A data directory that already has a cookie secret from an earlier
    version (which derived the data keys from it) carries those keys over."""
    given = app.config.get("DATA_KEYS")
    if isinstance(given, Keyring):
        return given
    if isinstance(given, str):
        return Keyring.loads(given)
    path = Path(app.config.get("DATA_KEYS_FILE") or Path(app.instance_path) / "data_keys.json")

    def make() -> str:
        old = app.config.get("LEGACY_SECRET_KEY")
        if old:
            log.warning(
                "data keys carried over from the earlier secret key; rotate them with "
                "`onetrip keys rotate` and `onetrip keys reencrypt`"
            )
            secret = old.encode() if isinstance(old, str) else old
            return Keyring.from_legacy_secret(secret).dumps()
        return Keyring.generate().dumps()

    return Keyring.loads(_secret_file(path, make))


class RowId(IntegerConverter):
    """`<int:…>` in a URL: at most a database integer (2**63 - 1), so that a 25-digit id is
    a 404 like any unknown one, not an overflow in the database driver."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """App factory. `config` overrides; DATABASE_URL, ONETRIP_SECRET_KEY, ONETRIP_DATA_DIR,
    ONETRIP_DATA_KEYS_FILE, ONETRIP_SETTINGS (a TOML/JSON settings file),
    ONETRIP_SITE_DIR, ONETRIP_TRUSTED_PROXIES and ONETRIP_SECURE_COOKIES come from the
    environment otherwise."""
    config = dict(config or {})
    instance = Path(config.get("DATA_DIR") or data_dir()).resolve()
    app = Flask(__name__, instance_path=str(instance), static_url_path="/_onetrip/static")
    app.url_map.converters["int"] = RowId
    app.config.update(
        DATA_DIR=str(instance),
        DATABASE_URL=os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'onetrip.sqlite3'}",
        SITE_DIR=os.environ.get("ONETRIP_SITE_DIR") or str(REPO / "build" / "site"),
        BOOKING_FILE=os.environ.get("ONETRIP_SETTINGS"),
        DATA_KEYS_FILE=os.environ.get("ONETRIP_DATA_KEYS_FILE"),
        # Upgrading from the single-secret versions: the keyring, made on the first start,
        # carries that secret's data keys over (docs/booking.md, Keys).
        LEGACY_SECRET_KEY=os.environ.get("ONETRIP_LEGACY_SECRET_KEY"),
        MIGRATE_ON_START=os.environ.get("ONETRIP_MIGRATE") == "1",
        # Reverse proxies in front of the app that set X-Forwarded-For/-Proto (nginx: 1).
        # Without it every request seems to come from the proxy, and a per-address limit
        # is one bucket for the whole county.
        TRUSTED_PROXIES=int(os.environ.get("ONETRIP_TRUSTED_PROXIES") or 0),
        MAX_CONTENT_LENGTH=256 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure unless told otherwise (ONETRIP_SECURE_COOKIES=0, or the demo on plain http).
        SESSION_COOKIE_SECURE=os.environ.get("ONETRIP_SECURE_COOKIES") != "0",
        REMEMBER_COOKIE_SECURE=os.environ.get("ONETRIP_SECURE_COOKIES") != "0",
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _session_secret(instance)
    url = app.config["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0
        )

    OneTrip(app)

    from scheduler.web import (
        api,
        auth,
        clerk_day,
        courier,
        errors,
        headers,
        plans,
        resident,
        site,
        staff,
        verify,
    )
    from scheduler.web.present import day_text

    app.jinja_env.filters["date_text"] = day_text
    auth.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(clerk_day.bp)
    app.register_blueprint(plans.bp)
    app.register_blueprint(resident.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(courier.bp)
    app.register_blueprint(verify.bp)
    errors.init_app(app)
    headers.init_app(app)
    site.init_app(app)
    return app


def ot() -> OneTrip:
    state: OneTrip = current_app.extensions["onetrip"]
    return state


def db_session() -> Session:
    """The request's session: writers (non-GET) begin IMMEDIATE on SQLite."""
    if "db_session" not in g:
        state = ot()
        factory = state.read_session if request.method in ("GET", "HEAD") else state.write_session
        g.db_session = factory()
    session: Session = g.db_session
    return session


def resident_lookup(session: Session, reference: str, phone_last4: str) -> Booking:
    """The service's look-up for a resident; a wrong phone suffix is counted against the
    reference and committed on its own before the 404 goes out."""
    state, now = ot(), utcnow()
    try:
        return state.service.lookup(session, reference, phone_last4, now=now)
    except WrongPhoneSuffix as err:
        # End the request's transaction first: on SQLite a write session holds the
        # writer lock, which the count's own transaction needs.
        session.rollback()
        with state.write_engine.connect() as conn:
            state.service.count_failed_lookup(conn, err.booking_id, now=now)
            conn.commit()
        raise
