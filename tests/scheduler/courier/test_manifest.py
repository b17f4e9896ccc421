"""Label QR codes: ASCII payloads, regular QR (never Micro QR), short enough for a label."""

from __future__ import annotations

import re

import pytest

from scheduler.courier.manifest import qr_svg


def test_short_payload_still_gets_a_regular_qr_code() -> None:
    """Even one character makes a full QR symbol (21+ modules), not a Micro QR (≤ 17)."""
    width = int(re.search(r'width="(\d+)"', qr_svg("A", scale=1)).group(1))  # type: ignore[union-attr]
    assert width >= 21 + 2 * 4  # modules plus the quiet zone


def test_non_ascii_payload_is_refused() -> None:
    """Chinese in a QR payload is refused (scanners mis-decode it)."""
    with pytest.raises(ValueError):
        qr_svg("证照")
