"""MkDocs hook: append the pages generated from `content/` to the build.

Thin on purpose: loading and rendering live in `guide.catalog` and `guide.pages`, plain
Python that MkDocs 2 (which drops plugins) cannot break.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

from guide import catalog, pages, search


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    # guide.pages writes item lists as HTML with links for directory URLs.
    if not config.use_directory_urls:
        raise PluginError("the guide needs use_directory_urls: true")
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    # docs_dir is content/pages: the catalog is the folder around it.
    try:
        cat = catalog.load(Path(config.docs_dir).parent)
    except catalog.CatalogError as exc:
        raise PluginError(str(exc)) from exc
    for src_uri, text in pages.render(cat).items():
        files.append(File.generated(config, src_uri, content=text))
    return files


def on_post_build(config: MkDocsConfig) -> None:
    try:
        search.index_site(Path(config.site_dir))
    except search.SearchIndexError as exc:
        raise PluginError(str(exc)) from exc
