from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from guide import catalog

REPO = Path(__file__).resolve().parents[2]
CONTENT = REPO / "content"


@pytest.fixture(scope="session")
def real_catalog() -> catalog.Catalog:
    return catalog.load(CONTENT)


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A writable copy of the real content folder, named `content` like the original."""
    dest = tmp_path / "content"
    shutil.copytree(CONTENT, dest, ignore=shutil.ignore_patterns("pages"))
    return dest


@pytest.fixture(scope="session")
def site_server(built_site: Path) -> Iterator[str]:
    """The built site served over HTTP on loopback; yields the base URL."""
    handler = functools.partial(QuietHandler, directory=str(built_site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass
