"""Booking-test fixtures live in booking_support (importable by the tests themselves)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from booking_support import (  # noqa: F401
    app,
    catalog,
    client,
    db_url,
    engine,
    postgres_url,
    seeded,
    service,
    settings,
    sqlite_template,
)
