"""guide.search.terms: what the search index holds for a piece of text."""

from __future__ import annotations

from pathlib import Path

import pytest

from guide import search


def test_chinese_gives_characters_pairs_and_long_words() -> None:
    """异地就医备案 gives each character, each neighbouring pair and jieba's longer words."""
    got = search.terms(["异地就医备案"])
    for t in ["异", "地", "异地", "地就", "就医", "备案"]:
        assert t in got, t
    assert len(got) == len(set(got))


def test_latin_and_digits_stay_whole_and_punctuation_goes() -> None:
    """80岁补贴（A类） gives 80 and a whole, and no punctuation."""
    got = search.terms(["80岁补贴（A类）"])
    assert "80" in got and "a" in got and "补贴" in got
    assert not any(c in "".join(got) for c in "（）")


def test_index_site_refuses_a_folder_that_is_not_a_site(tmp_path: Path) -> None:
    """Indexing a folder without index.html fails with a message naming the folder."""
    with pytest.raises(search.SearchIndexError, match=str(tmp_path)):
        search.index_site(tmp_path)
