"""Courier fixtures (helpers in courier_support, importable by the tests)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from courier_support import courier_db  # noqa: F401
