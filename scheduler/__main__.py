"""``python -m scheduler``: the scheduler process (same as ``onetrip scheduler``)."""

from __future__ import annotations

import sys

from scheduler.cli import main

sys.exit(main(["scheduler", *sys.argv[1:]]))
