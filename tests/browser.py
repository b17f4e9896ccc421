"""Shared Playwright launch for browser tests: Debian's chromium, never a downloaded one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags chromium dials Google at start, which this
# network refuses; the tests also assert nothing leaves loopback.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless browser; skips outside CI when chromium is missing, fails in CI."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing: `make system-deps` installs it")
        pytest.skip("/usr/bin/chromium is not installed (run `make system-deps`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


# -- page checks shared by the guide, booking, look-up and staff browser tests -------------

REPO = Path(__file__).resolve().parents[1]
# Installed by the Makefile's test set-up (`make test-assets`, from the npm registry).
AXE_JS = REPO / "build" / "node" / "node_modules" / "axe-core" / "axe.min.js"
MIN_TARGET_PX = 44

_SMALL_TARGETS_JS = """min => {
  // label[for] too: Material's header menu and search icons are labels of hidden toggles.
  const sel = 'a[href], button, input:not([type=hidden]), select, textarea, summary, '
    + 'label[for], [role=button], [role=link], [tabindex]:not([tabindex="-1"])';
  const seen = new Set(), small = [];
  for (let el of document.querySelectorAll(sel)) {
    if (el.closest('[aria-hidden=true], [hidden], [inert]')) continue;
    // A radio or checkbox is tapped through its label: the label is the target.
    if (el.matches('input[type=radio], input[type=checkbox]') && el.closest('label')) {
      el = el.closest('label');
    }
    // A label of a visible control is not a target of its own: the control is measured.
    if (el.matches('label[for]')) {
      const control = document.getElementById(el.htmlFor);
      if (control && control.getClientRects().length && control.getBoundingClientRect().width) {
        continue;
      }
    }
    if (seen.has(el)) continue;
    seen.add(el);
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    // Off-canvas (a closed drawer, the skip link before focus): not on screen, not tappable.
    if (r.right <= 0 || r.bottom <= 0 || r.left >= innerWidth) continue;
    if (r.width < min - 0.5 || r.height < min - 0.5) {
      const text = (el.innerText || el.value || el.getAttribute('aria-label') || '').trim();
      const cls = String(el.className || '').trim().split(/\\s+/).filter(Boolean);
      small.push(`${el.tagName.toLowerCase()}${cls.map(c => '.' + c).join('')} `
        + `"${text.slice(0, 20)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
  }
  return small;
}"""

_OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width) return [];
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right <= width + 1 || r.width === 0) continue;
    // Inside a box that scrolls by itself (a wide table's wrapper): the page does not move.
    let p = el.parentElement, clipped = false;
    while (p && p !== document.body) {
      if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(p).overflowX)) {
        clipped = true;
        break;
      }
      p = p.parentElement;
    }
    const cls = typeof el.className === 'string' ? el.className.trim().split(/\\s+/) : [];
    if (!clipped) wide.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}`
      + `${cls.filter(Boolean).map(c => '.' + c).join('')} right=${Math.round(r.right)}`);
  }
  const total = document.documentElement.scrollWidth;
  return [`page is ${total}px wide at ${width}px`, ...wide.slice(0, 8)];
}"""


def small_targets(page: Any, min_px: int = MIN_TARGET_PX) -> list[str]:
    """Visible links, buttons and form controls smaller than `min_px` × `min_px` CSS px
    (a radio or checkbox counts by its label); empty when every target is big enough."""
    result: list[str] = page.evaluate(_SMALL_TARGETS_JS, min_px)
    return result


def sideways_overflow(page: Any) -> list[str]:
    """Why the page scrolls sideways (its width, then the elements that stick out); empty
    when it does not."""
    result: list[str] = page.evaluate(_OVERFLOW_JS)
    return result


def axe_findings(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of the given impacts on the page as it is now, one line per
    rule: `rule (impact): help — targets`. axe-core comes from the test set-up, never a CDN."""
    if not AXE_JS.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{AXE_JS} is missing: `make test-assets` installs it")
        pytest.skip(f"{AXE_JS} is missing (run `make test-assets`)")
    page.add_script_tag(path=str(AXE_JS))
    violations: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in violations
        if v["impact"] in impacts
    ]
