"""What a phone downloads to search the guide: Pagefind against Material's lunr index.

    .venv/bin/python benchmarks/search.py                  # N = 200 and 2000
    .venv/bin/python benchmarks/search.py --items 200 --no-lunr

For each N it builds the synthetic guide of benchmarks/site_build.py (the real items
cycled under new codes) twice:

* as shipped: Pagefind's bundle. In Debian's chromium it opens an item page, opens the
  search box, types each query and counts the bytes of every response under /pagefind/
  until results show: the first query from a fresh browser, then the next queries in the
  same page (the script and the shared chunks are loaded by then);
* with Material's lunr search indexing every page in full (a benchmark-only hook clears
  the pages' `search: exclude`): the size of search/search_index.json, which Material's
  worker fetches whole on the first query.

Bytes are as sent by a plain static server (no HTTP compression; Pagefind's chunks are
gzip-compressed files already), plus the gzip size where a server compresses.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.site_build import make_content, write_config
from tests.browser import ARGS, CHROMIUM

QUERIES = ["医保", "户口簿", "退休拿养老金", "残疾人证", "公积金取钱"]
LUNR_HOOK = """
def on_page_markdown(markdown, page, config, files):
    page.meta.pop("search", None)  # index every page in full, as Material does by default
    return markdown
"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def build(work: Path, n: int, *, lunr: bool) -> Path:
    make_content(work / "content", n)
    config_path = write_config(work)
    if lunr:
        hook = work / "lunr_hook.py"
        hook.write_text(LUNR_HOOK, encoding="utf-8")
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        config["hooks"].append(str(hook))
        config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--quiet", "-f", str(config_path)]
    subprocess.run(cmd, check=True, env=env, cwd=work)
    return work / "site"


def pagefind_bytes(site: Path) -> dict[str, Any]:
    """Bundle size on disk, and the bytes the first and later queries fetch."""
    from playwright.sync_api import sync_playwright

    bundle = site / "pagefind"
    files = [p for p in bundle.rglob("*") if p.is_file()]
    index = [p for p in files if p.suffix in (".pf_index", ".pf_meta", ".pf_fragment")]
    handler = functools.partial(_Quiet, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    first: list[int] = []
    first_code: list[int] = []
    later: list[int] = []
    first_ms: list[float] = []
    item = next((site / "items").iterdir()).name
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            for k, query in enumerate(QUERIES):
                # A fresh browser context per first query: nothing cached.
                context = browser.new_context(viewport={"width": 390, "height": 844})
                page = context.new_page()
                fetched: list[int] = []
                code: list[int] = []

                def count(resp: Any, into: list[int] = fetched, js: list[int] = code) -> None:
                    if "/pagefind/" in resp.url:
                        into.append(len(resp.body()))
                        if resp.url.endswith((".js", ".pagefind")):
                            js.append(into[-1])

                page.on("response", count)
                page.goto(f"{base}/items/{item}/")
                page.click('label.md-header__button[for="__search"]')
                start = time.perf_counter()
                _type(page, query)
                first_ms.append((time.perf_counter() - start) * 1000)
                first.append(sum(fetched))
                first_code.append(sum(code))
                # The other queries in the same page: only the chunks they add.
                for other in QUERIES[k + 1 :] + QUERIES[:k]:
                    fetched.clear()
                    _type(page, other)
                    later.append(sum(fetched))
                context.close()
            browser.close()
    finally:
        server.shutdown()
    return {
        "bundle_kb": sum(p.stat().st_size for p in files) / 1e3,
        "index_kb": sum(p.stat().st_size for p in index) / 1e3,
        "first_kb_max": max(first) / 1e3,
        "first_kb_median": sorted(first)[len(first) // 2] / 1e3,
        "code_kb": max(first_code) / 1e3,
        "later_kb_max": max(later) / 1e3,
        "first_ms_median": sorted(first_ms)[len(first_ms) // 2],
    }


def _type(page: Any, query: str) -> None:
    box = "input.md-search__input"
    page.fill(box, "")
    page.fill(box, query)
    page.wait_for_function(
        """q => document.querySelector('input.md-search__input').value === q &&
               /个结果|没有找到/.test(document.querySelector('.ot-search-meta').textContent)""",
        arg=query,
    )


def lunr_bytes(site: Path) -> dict[str, float]:
    data = (site / "search" / "search_index.json").read_bytes()
    return {"lunr_kb": len(data) / 1e3, "lunr_gz_kb": len(gzip.compress(data)) / 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", default="200,2000", help="comma-separated item counts")
    parser.add_argument("--no-lunr", action="store_true", help="skip the lunr comparison build")
    args = parser.parse_args()
    print(
        f"cores: {os.cpu_count()}  load average: {os.getloadavg()[0]:.1f}  "
        f"python: {sys.version.split()[0]}  queries: {' '.join(QUERIES)}"
    )
    print(
        "| items | Pagefind bundle KB | of it index KB | first query KB (median / max) "
        "| of it script + wasm KB "
        "| next query KB (max) | first results ms (median) | lunr index KB | lunr gzip KB |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in (int(x) for x in args.items.split(",")):
        with tempfile.TemporaryDirectory(prefix="onetrip-search-") as tmp:
            pf = pagefind_bytes(build(Path(tmp), n, lunr=False))
        lunr = {"lunr_kb": float("nan"), "lunr_gz_kb": float("nan")}
        if not args.no_lunr:
            with tempfile.TemporaryDirectory(prefix="onetrip-lunr-") as tmp:
                lunr = lunr_bytes(build(Path(tmp), n, lunr=True))
        print(
            f"| {n} | {pf['bundle_kb']:.0f} | {pf['index_kb']:.0f} "
            f"| {pf['first_kb_median']:.0f} / {pf['first_kb_max']:.0f} | {pf['code_kb']:.0f} "
            f"| {pf['later_kb_max']:.0f} | {pf['first_ms_median']:.0f} "
            f"| {lunr['lunr_kb']:.0f} | {lunr['lunr_gz_kb']:.0f} |"
        )


if __name__ == "__main__":
    main()
