"""The cram and Scrut constructs: quantified lines, (esc), (no-eol), (eq), glob escapes,
literal lines tried first, and byte-exact matching."""

from __future__ import annotations

import pytest

from sphinxext.labbook.errors import DirectiveError
from sphinxext.labbook.verdict.expect import escape, glob_regex, parse_expected, unescape
from sphinxext.labbook.verdict.matching import match_output, validate_expected


def ok(expected: str, actual: str, mode: str = "normalized") -> bool:
    return match_output(expected.split("\n"), actual, mode).ok


@pytest.mark.parametrize(
    ("line", "kind", "low", "high", "no_eol"),
    [
        ("abc", "text", 1, 1, False),
        ("a.c (re)", "re", 1, 1, False),
        ("a.c (regex)", "re", 1, 1, False),
        ("a* (glob+)", "glob", 1, None, False),
        ("a* (gl?)", "glob", 0, 1, False),
        ("x\\ty (escaped)", "esc", 1, 1, False),
        ("x\\ty (esc) (no-eol)", "esc", 1, 1, True),
        ("tail (no-eol)", "text", 1, 1, True),
        ("ab (*)", "eq", 0, None, False),
        ("ab (equal+)", "eq", 1, None, False),
        ("... (eq)", "eq", 1, 1, False),
        ("call (me)", "text", 1, 1, False),  # an unknown word is output text
        ("f(x)", "text", 1, 1, False),
    ],
)
def test_suffixes_in_every_spelling(line, kind, low, high, no_eol):
    e = parse_expected(line)
    assert (e.kind, e.low, e.high, e.no_eol) == (kind, low, high, no_eol)


def test_quantified_regex_lines_take_zero_one_or_many():
    page = "start\nitem \\d+ (re*)\nend"
    assert ok(page, "start\nend\n")
    assert ok(page, "start\nitem 1\nitem 22\nitem 3\nend\n")
    assert not ok(page, "start\nitem 1\nother\nend\n")
    plus = "start\nitem \\d+ (re+)\nend"
    assert not ok(plus, "start\nend\n")
    assert ok(plus, "start\nitem 7\nend\n")
    opt = "start\nwarning: * (glob?)\nend"
    assert ok(opt, "start\nend\n")
    assert ok(opt, "start\nwarning: disk full\nend\n")
    assert not ok(opt, "start\nwarning: a\nwarning: b\nend\n")


def test_quantified_equal_lines_and_ellipsis_together():
    page = "x (?)\n...\ny (+)"
    assert ok(page, "y\n")
    assert ok(page, "x\nanything\nat all\ny\ny\n")
    assert not ok(page, "x\nanything\n")


def test_a_quantified_line_that_fails_shows_a_diff_at_its_line():
    m = match_output(["head", "n=\\d+ (re+)", "tail"], "head\ntail\n")
    assert not m.ok
    assert m.first_bad == 1
    assert "-n=\\d+ (re+)" in m.diff


def test_a_literal_line_is_tried_before_its_pattern():
    # output that really ends in " (re)" matches the page line that shows it
    assert ok("a+b (re)", "a+b (re)\n")
    assert not ok("a+b (re)", "a+b\n")
    assert ok("1+1 (glob)", "1+1 (glob)\n")
    assert ok("a.c (re)", "abc\n")


def test_a_literal_ellipsis_line():
    assert ok("... (eq)", "...\n")
    assert not ok("... (eq)", "anything\n")
    assert ok("...", "anything\n")


@pytest.mark.parametrize(
    ("glob", "text", "hit"),
    [
        ("a\\*b", "a*b", True),
        ("a\\*b", "axxb", False),
        ("what\\?", "what?", True),
        ("what\\?", "whatx", False),
        ("a*b", "axxb", True),
        ("a?b", "axb", True),
        ("[!x]y", "ay", True),
        ("[!x]y", "xy", False),
        ("back\\\\slash", "back\\slash", True),
        ("1.5", "1x5", False),
    ],
)
def test_glob_escapes(glob, text, hit):
    import re

    assert (re.fullmatch(glob_regex(glob), text) is not None) is hit
    assert ok(f"{glob} (glob)", text + "\n") is hit


def test_escapes_round_trip():
    raw = "a\tb\x1b[31mred\x1b[0m\r\\ \x7f"
    assert unescape(escape(raw)) == raw
    assert unescape("\\033[1m\\u00e9\\x41\\0") == "\x1b[1m\u00e9A\0"


def test_escaped_lines_in_the_terminal_default_compare_what_a_terminal_shows():
    # a colour code cannot be asserted on a terminal: the folded text is compared
    assert ok("\\x1b[31mred\\x1b[0m (esc)", "\x1b[31mred\x1b[0m\n")
    assert ok("\\x1b[31mred\\x1b[0m (esc)", "red\n")
    assert ok("a\\tb (esc)", "a\tb\n")


def test_bytes_mode_asserts_colours_tabs_and_carriage_returns():
    assert ok("\\x1b[31mred\\x1b[0m (esc)", "\x1b[31mred\x1b[0m\n", "bytes")
    assert not ok("\\x1b[31mred\\x1b[0m (esc)", "red\n", "bytes")
    assert not ok("red", "\x1b[31mred\x1b[0m\n", "bytes")
    assert ok("a\\tb (esc)", "a\tb\n", "bytes")
    assert not ok("a\\tb (esc)", "a       b\n", "bytes")
    assert ok("50%\\r100% (esc)", "50%\r100%\n", "bytes")
    assert not ok("100%", "50%\r100%\n", "bytes")
    assert ok("100%", "50%\r100%\n")  # the terminal default shows the last state


def test_bytes_mode_counts_trailing_white_space():
    assert not ok("abc", "abc  \n", "bytes")
    assert ok("abc  ", "abc  \n", "bytes")
    assert ok("abc", "abc  \n")


def test_no_eol_is_checked_in_every_mode():
    assert ok("prompt>  (no-eol)", "prompt> ", "bytes")
    assert not ok("prompt>", "prompt> ", "bytes")  # trailing space and no newline
    assert ok("done (no-eol)", "done", "bytes")
    assert not ok("done", "done", "bytes")
    assert not ok("done (no-eol)", "done\n", "bytes")
    assert ok("done (no-eol)", "done")
    assert not ok("done (no-eol)", "done\n")
    assert ok("done", "done")  # the terminal default: a missing newline is not shown


def test_bytes_mode_diff_writes_lines_as_a_page_would():
    m = match_output(["a"], "a\tb\nlast", "bytes")
    assert not m.ok
    assert "+a\\tb (esc)" in m.diff
    assert "+last (no-eol)" in m.diff


def test_bytes_mode_patterns_and_quantifiers():
    assert ok("id=\\d+ (re+)\n...\nend (no-eol)", "id=1\nid=2\nx\ny\nend", "bytes")
    assert ok("a* (glob)", "a\x1b[0m\n", "bytes")


def test_no_eol_only_on_the_last_line():
    with pytest.raises(DirectiveError) as exc:
        validate_expected(["a (no-eol)", "b"], "bytes")
    assert exc.value.line == 0
    with pytest.raises(DirectiveError):
        validate_expected(["a (no-eol)", "b"], "normalized")


def test_a_bad_quantified_regex_is_reported_at_its_line():
    with pytest.raises(DirectiveError) as exc:
        validate_expected(["fine", "a[ (re*)"], "normalized")
    assert exc.value.line == 1
    assert "(re)" in exc.value.message


def test_contains_mode_with_a_quantified_line():
    assert ok("begin\nx \\d (re+)\nend", "noise\nbegin\nx 1\nx 2\nend\nmore\n", "contains")
