"""Frontmatter and import rewriting, as open_webui/utils/plugin.py does them."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.loader import LoadError, extract_frontmatter, load, replace_imports


def test_frontmatter_needs_exactly_triple_quotes_on_the_first_line() -> None:
    source = '"""\ntitle: My Tool\nAuthor: me\nrequirements: a, b==1\nnot a pair\nurl_x: http://x:1/y \n"""\nx: 1\n'
    assert extract_frontmatter(source) == {
        "title": "My Tool",
        "Author": "me",
        "requirements": "a, b==1",
        "url_x": "http://x:1/y",
    }
    assert extract_frontmatter('  """  \ntitle: t\n"""') == {"title": "t"}
    assert extract_frontmatter('"""title: t\n"""') == {}
    assert extract_frontmatter('\n"""\ntitle: t\n"""') == {}
    assert extract_frontmatter("") == {}


def test_frontmatter_stops_at_the_closing_quotes_line() -> None:
    assert extract_frontmatter('"""\na: 1\nb: 2 """\nc: 3\n') == {"a": "1"}


def test_import_rewrites_are_plain_substring_replacements() -> None:
    source = "from utils.misc import x\nfrom config import Y\ns = 'from apps import z'\nfrom mainframe import q\n"
    assert replace_imports(source) == (
        "from open_webui.utils.misc import x\nfrom open_webui.config import Y\n"
        "s = 'from open_webui.apps import z'\nfrom open_webui.mainframe import q\n"
    )


def test_load_finds_classes_in_upstream_order(tmp_path: Path) -> None:
    loaded = load("f", "class Action: pass\nclass Filter: pass\n", tmp_path)
    assert loaded.kind == "filter"
    assert loaded.module.__name__ == "function_f"
    assert Path(loaded.module.__file__ or "").read_text() == "class Action: pass\nclass Filter: pass\n"


def test_load_errors_carry_the_plugin_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as info:
        load("f", "raise KeyError('k')\n", tmp_path)
    assert info.value.error_type == "KeyError"
    assert str(info.value) == "'k'"
