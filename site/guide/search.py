"""Build the guide's search index with Pagefind over the built site.

Pagefind splits the index into chunks and a phone fetches only those its query needs,
where Material's lunr index is one file fetched whole on the first query (docs/benchmarks.md:
Search). The pagefind_bin_extended wheel carries the binary with Chinese word segmentation;
the pages' `<html lang="zh">` selects it. What is indexed is marked in the pages
(`data-pagefind-body`, see guide.pages and site/overrides/main.html).

Chinese words are cut twice: by the indexer (its own dictionary) and, in the browser, by
`Intl.Segmenter`, which often splits 异地 into 异 / 地 or 过户 into 过 / 户. Pagefind matches
each query segment as a word prefix and wants them all, so a segment that falls inside an
indexed word finds nothing (异地就医备案 found no page). `terms()` therefore indexes every
character, every pair of neighbouring characters and jieba's longer words: whatever the
browser's segments are, each is a prefix of some indexed term.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import jieba

BUNDLE = "pagefind"
_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[0-9A-Za-z]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


class SearchIndexError(RuntimeError):
    """Pagefind failed; the message carries its output."""


def index_site(site_dir: Path) -> Path:
    """Write the Pagefind bundle into `site_dir/pagefind/` and return that folder."""
    if not (site_dir / "index.html").is_file():
        raise SearchIndexError(f"{site_dir} is not a built site (no index.html)")
    result = subprocess.run(
        [sys.executable, "-m", "pagefind", "--site", str(site_dir), "--output-subdir", BUNDLE],
        capture_output=True,
        text=True,
        check=False,
    )
    out = site_dir / BUNDLE
    if result.returncode != 0 or not (out / "pagefind.js").is_file():
        raise SearchIndexError(
            f"pagefind failed ({result.returncode}): {(result.stderr or result.stdout)[-2000:]}"
        )
    return out


def terms(texts: Iterable[str]) -> list[str]:
    """The search terms of some text, each once, in first-seen order: for a run of Chinese
    its characters, its character pairs and jieba's words of three or more characters; a
    run of Latin letters or digits as one lower-case term; punctuation dropped."""
    seen: dict[str, None] = {}
    for text in texts:
        for run in _RUN.findall(text):
            if not _CJK.fullmatch(run):
                seen[run.lower()] = None
                continue
            seen.update(dict.fromkeys(run))
            seen.update(dict.fromkeys(a + b for a, b in itertools.pairwise(run)))
            if len(run) >= 3:
                words: Iterable[str] = jieba.cut_for_search(run)
                seen.update(dict.fromkeys(w for w in words if len(w) >= 3))
    return list(seen)
