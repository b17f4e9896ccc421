"""How the guide's build scales: N synthetic items built with the real schema and site.

    .venv/bin/python benchmarks/site_build.py            # N = 200 and 2000
    .venv/bin/python benchmarks/site_build.py --items 200,2000,5000

Each synthetic item is a real item from `content/items/` under a new code, name and
implementation code, validated by the same loader as the real content. Prints build
seconds (Pagefind's indexing included), seconds per 100 items, total site bytes, median
item page bytes and the Pagefind bundle's bytes (benchmarks/search.py measures what a
query fetches of it). Targets (docs/benchmarks.md): 2,000 items build in under 30 s on 2 cores;
median item page under 60 KB.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from guide import catalog

REPO = Path(__file__).resolve().parents[1]


def make_content(dest: Path, n: int) -> None:
    """A content folder like the real one, with `n` items cycled from the real items."""
    shutil.copytree(REPO / "content", dest, ignore=shutil.ignore_patterns("items"))
    (dest / "items").mkdir()
    real = list(catalog.load(REPO / "content").items.values())
    for k in range(n):
        src = real[k % len(real)]
        code = f"{src.code}-s{k:05d}"
        item = src.model_copy(
            update={
                "code": code,
                "name": f"{src.name}（样例 {k}）",
                "task_code": f"{src.task_code[:24]}S{k:05d}",
            }
        )
        data = item.model_dump(mode="json", exclude_defaults=True)
        (dest / "items" / f"{code}.yml").write_text(
            yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )


def write_config(work: Path) -> Path:
    """The repo's mkdocs.yml pointed at the synthetic content and a scratch site_dir."""
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    config["docs_dir"] = str(work / "content" / "pages")
    config["site_dir"] = str(work / "site")
    config["theme"]["custom_dir"] = str(REPO / "site" / "overrides")
    config["hooks"] = [str(REPO / h) for h in config["hooks"]]
    path = work / "mkdocs.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def measure(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="onetrip-site-") as tmp:
        work = Path(tmp)
        make_content(work / "content", n)
        config = write_config(work)
        env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
        cpu_before = _child_cpu()
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--quiet", "--strict", "-f", str(config)],
            check=True,
            env=env,
            cwd=work,
        )
        seconds = time.perf_counter() - start
        cpu = _child_cpu() - cpu_before
        site = work / "site"
        total = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
        pages = [p.stat().st_size for p in (site / "items").glob("*/index.html")]
        bundle = [p for p in (site / "pagefind").rglob("*") if p.is_file()]
        index = [p for p in bundle if p.suffix in (".pf_index", ".pf_meta", ".pf_fragment")]
        return {
            "items": n,
            "seconds": seconds,
            "cpu": cpu,
            "per100": seconds / n * 100,
            "site_mb": total / 1e6,
            "median_kb": statistics.median(pages) / 1e3,
            "bundle_mb": sum(p.stat().st_size for p in bundle) / 1e6,
            "index_mb": sum(p.stat().st_size for p in index) / 1e6,
        }


def _child_cpu() -> float:
    """User + system CPU seconds of finished children: steady when other work shares the cores."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", default="200,2000", help="comma-separated item counts")
    args = parser.parse_args()
    rows = [measure(int(n)) for n in args.items.split(",")]
    print(
        f"cores: {os.cpu_count()}  load average: {os.getloadavg()[0]:.1f}  "
        f"python: {sys.version.split()[0]}"
    )
    print(
        "| items | build s | build CPU s | s per 100 items | site MB | median item page KB "
        "| Pagefind bundle MB | of it index MB |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['items']:.0f} | {r['seconds']:.1f} | {r['cpu']:.1f} | {r['per100']:.2f} "
            f"| {r['site_mb']:.1f} "
            f"| {r['median_kb']:.1f} | {r['bundle_mb']:.2f} | {r['index_mb']:.2f} |"
        )


if __name__ == "__main__":
    main()
