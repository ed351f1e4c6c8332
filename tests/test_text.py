"""The one rule for showing cloud text (terminal lines, SSH config comments, error messages)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from codelab_ext.text import one_line, printable


def test_one_line_folds_whitespace_and_hides_control_characters():
    assert one_line("  a\n\tb\u2028c  ") == "a b c"
    assert one_line("red \x1b[31m alert\x00") == "red ?[31m alert?"
    assert one_line("x" * 10, 6) == "xxx..."
    assert one_line("short", 6) == "short"
    assert one_line(None) == "None"


def test_printable_keeps_lines_and_tabs():
    assert printable("a\tb\nc\x1b") == "a\tb\nc?"


@given(st.text(), st.integers(min_value=3, max_value=200))
def test_one_line_is_always_one_printable_bounded_line(text, limit):
    out = one_line(text, limit)
    assert "\n" not in out and "\r" not in out
    assert all(char.isprintable() for char in out)
    assert len(out) <= limit


def test_terminal_width_counts_chinese_characters_as_two_columns():
    from codelab_ext.text import clip, pad, width

    assert width("状态") == 4 and width("ID") == 2 and width("e\u0301") == 1
    assert pad("状态", 6) == "状态  " and pad("ID", 6) == "ID    " and pad("太长的标签", 4) == "太长的标签"
    assert clip("正在打开 CodeLab", 9) == "正在打开 " and clip("abc", 9) == "abc"
    assert width(clip("状态ab", 3)) == 2
