"""The Flask app (the only Flask-importing subpackage): API, resident pages, staff pages, site."""

from __future__ import annotations

import logging
import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, request

from scheduler import db
from scheduler.booking import BookingService, WrongPhoneSuffix
from scheduler.protect import Protector
from scheduler.settings import BookingSettings, load_file
from scheduler.web.ratelimit import RateLimiter

REPO = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)


class OneTrip:
    """Per-app state: engine, session factories, the booking service, rate limiter."""

    def __init__(self, app: Flask) -> None:
        url = app.config["DATABASE_URL"]
        if app.config.get("MIGRATE_ON_START"):
            db.upgrade(url)
        self.engine = db.make_engine(url)
        self.read_session, self.write_session = db.session_factories(self.engine)
        # Core connections for writes that need no ORM session (begin IMMEDIATE on SQLite).
        self.write_engine = self.engine.execution_options(**db.WRITE)
        # Writes of one statement (a booking without an Idempotency-Key): on PostgreSQL,
        # autocommit connections of their own, a few kept open between uses; on SQLite,
        # the write engine.
        self.single_statement_engine = db.single_statement_engine(self.engine)
        self.single_statement: Any = (
            db.KeptConnections(self.single_statement_engine)
            if self.engine.dialect.name == "postgresql"
            else self.single_statement_engine
        )
        secret = app.config["SECRET_KEY"]
        secret_bytes = secret.encode() if isinstance(secret, str) else secret
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
        self.service = BookingService(catalog, self.settings, Protector(secret_bytes), geocoder)
        self.limiter = RateLimiter()

    def dispose(self) -> None:
        """Close the pooled database connections."""
        self.engine.dispose()
        self.single_statement.dispose()  # on PostgreSQL, its kept connections and pool


def _gazetteer_geocoder() -> Any:
    try:
        from routing.geocode import GazetteerGeocoder
    except ImportError:  # routing not installed: the service falls back to township seats
        return None
    return GazetteerGeocoder()


def _secret_key(instance: Path) -> str:
    """ONETRIP_SECRET_KEY, else a key kept in the instance folder (shared by all workers)."""
    if os.environ.get("ONETRIP_SECRET_KEY"):
        return os.environ["ONETRIP_SECRET_KEY"]
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """App factory. `config` overrides; DATABASE_URL, ONETRIP_SECRET_KEY, ONETRIP_SETTINGS
    (a TOML/JSON settings file) and ONETRIP_SITE_DIR come from the environment otherwise."""
    app = Flask(__name__, instance_path=str(REPO / "instance"))
    instance = Path(app.instance_path)
    app.config.update(
        DATABASE_URL=os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'onetrip.sqlite3'}",
        SITE_DIR=os.environ.get("ONETRIP_SITE_DIR") or str(REPO / "build" / "site"),
        BOOKING_FILE=os.environ.get("ONETRIP_SETTINGS"),
        MIGRATE_ON_START=os.environ.get("ONETRIP_MIGRATE") == "1",
        MAX_CONTENT_LENGTH=256 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Behind HTTPS (any real deployment) set ONETRIP_SECURE_COOKIES=1.
        SESSION_COOKIE_SECURE=os.environ.get("ONETRIP_SECURE_COOKIES") == "1",
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if config:
        app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(instance)
    if app.config["DATABASE_URL"].startswith("sqlite:///") and not config:
        Path(app.config["DATABASE_URL"][len("sqlite:///") :]).parent.mkdir(
            parents=True, exist_ok=True
        )

    app.extensions["onetrip"] = OneTrip(app)

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()  # rolls back anything not committed

    from scheduler.web import api, courier, errors, resident, site, staff, verify

    app.register_blueprint(api.bp)
    app.register_blueprint(resident.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(courier.bp)
    app.register_blueprint(verify.bp)
    errors.init_app(app)
    site.init_app(app)
    return app


def ot() -> OneTrip:
    state: OneTrip = current_app.extensions["onetrip"]
    return state


def db_session() -> Any:
    """The request's session: writers (non-GET) begin IMMEDIATE on SQLite."""
    if "db_session" not in g:
        state = ot()
        factory = state.read_session if request.method in ("GET", "HEAD") else state.write_session
        g.db_session = factory()
    return g.db_session


def resident_lookup(session: Any, reference: str, phone_last4: str, *, now: datetime) -> Any:
    """The service's look-up for a resident; a wrong phone suffix is counted against the
    reference and committed on its own before the 404 goes out."""
    state = ot()
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
