"""Booking-test fixtures live in booking_support (importable by the tests themselves)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

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


@pytest.fixture(autouse=True)
def _data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys and default database of every app made in a test go to a temporary data
    directory, never to the user's."""
    monkeypatch.setenv("ONETRIP_DATA_DIR", str(tmp_path_factory.mktemp("data")))
