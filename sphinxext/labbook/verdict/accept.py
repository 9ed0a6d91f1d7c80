"""New expected output for a drifted command, keeping what the page still gets right."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..errors import DirectiveError
from ..steps.console import command_extent
from ..steps.model import Command, MatchMode
from .matching import (
    NOT_JSON,
    Op,
    actual_lines,
    align,
    compare_json,
    compile_lines,
    expected_lines,
    json_pair,
    match_output,
    with_gaps,
)
from .normalize import ELLIPSIS

#: How alike an actual line must be to take the place of a lost line in ``contains`` mode.
_SIMILAR = 0.6


def accept(
    expected: Sequence[str], actual: str, mode: MatchMode | str = MatchMode.NORMALIZED
) -> list[str]:
    """The expected lines that make ``actual`` pass: the actual output, except that
    ``...``, ``(re)`` lines and lines that still match (by shape) stay as the page wrote
    them, so real-looking values on the page are not churned. ``match_output(accept(e, a),
    a, mode).ok`` always holds."""
    mode = MatchMode(mode)
    new = _accept(list(expected), actual, mode)
    try:
        ok = match_output(new, actual, mode).ok
    except DirectiveError:  # json mode, and the command did not print JSON
        ok = False
    # Never write a block that fails at once: the plain output always matches itself.
    return new if ok else [literal(x) for x in actual_lines(actual)]


def _accept(expected: list[str], actual: str, mode: MatchMode) -> list[str]:
    if mode in (MatchMode.JSON, MatchMode.NORMALIZED):
        try:
            parsed = json_pair(expected, actual, required=mode is MatchMode.JSON)
        except DirectiveError:  # the page's JSON is broken: the real output replaces it
            parsed = None
        if parsed is not None and parsed[1] is not NOT_JSON:
            return _accept_json(expected, *parsed)
    exp = expected_lines(expected)
    act = actual_lines(actual)
    if mode is MatchMode.CONTAINS:
        return _accept_contains(exp, act)
    return _from_ops(exp, act, align(compile_lines(exp, mode), act, exp))


def literal(line: str) -> str:
    """An actual line as an expected line that matches exactly itself: a line the
    matcher would read as ``...``, ``(re)`` or ``(glob)`` becomes an escaped regex."""
    if line.strip() == ELLIPSIS or line.endswith((" (re)", " (glob)")):
        return re.escape(line) + " (re)"
    return line


def _from_ops(exp: list[str], act: list[str], ops: Sequence[Op]) -> list[str]:
    out: list[str] = []
    for op in ops:
        if op.kind == "match" or (op.kind == "skip" and op.j is None):
            out.append(exp[op.i])
        elif op.kind == "ins" and op.j is not None:
            out.append(literal(act[op.j]))
    return out


def _accept_contains(exp: list[str], act: list[str]) -> list[str]:
    """Keep the lines still found; a lost line gives way to the most alike actual line
    between its neighbours, if one is alike enough; else it goes."""
    tests, index = with_gaps(compile_lines(exp, MatchMode.CONTAINS))
    ops = align(tests, act, [ELLIPSIS if t is None else exp[index[k]] for k, t in enumerate(tests)])
    matched = {index[op.i]: op.j for op in ops if op.kind == "match" and op.j is not None}
    out: list[str] = []
    low = 0
    for i, line in enumerate(exp):
        if line.strip() == ELLIPSIS:
            out.append(line)
        elif i in matched:
            out.append(line)
            low = matched[i] + 1
        else:
            high = next((matched[k] for k in sorted(matched) if k > i), len(act))
            j = _most_alike(line, act, low, high)
            if j is not None:
                out.append(literal(act[j]))
                low = j + 1
    return out


def _most_alike(line: str, act: list[str], low: int, high: int) -> int | None:
    best, best_ratio = None, _SIMILAR
    for j in range(low, high):
        ratio = difflib.SequenceMatcher(None, line, act[j]).ratio()
        if ratio > best_ratio:
            best, best_ratio = j, ratio
    return best


def _accept_json(expected: list[str], exp: Any, act: Any) -> list[str]:
    kept = compare_json(exp, act).kept
    text = "\n".join(expected).strip()
    one_line = "\n" not in text
    indent = None if one_line else _indent_of(expected)
    return json.dumps(kept, indent=indent, ensure_ascii=False).splitlines()


def _indent_of(lines: Sequence[str]) -> int:
    widths = [len(x) - len(x.lstrip(" ")) for x in lines if x.strip() and x[0] == " "]
    return min(widths) if widths else 2


def rewrite_block(
    content: Sequence[str], commands: Sequence[Command], first_line: int = 0
) -> list[str]:
    """The console block ``content`` with each command's output replaced by its new
    ``expected`` lines; prompts, commands and blank separator lines stay as they are.

    ``commands`` are the block's commands, in any order, their lines counted from
    ``first_line`` for the block's first line (as :func:`parse_console` counts them).
    """
    lines = list(content)
    ordered = [replace(c, line=c.line - first_line) for c in sorted(commands, key=lambda c: c.line)]
    out = lines[: ordered[0].line] if ordered else list(lines)
    for k, cmd in enumerate(ordered):
        end = ordered[k + 1].line if k + 1 < len(ordered) else len(lines)
        body_start = min(cmd.line + command_extent(cmd), end)
        out += lines[cmd.line : body_start]
        old = lines[body_start:end]
        blanks = len(old) - len(expected_lines(old)) if any(x.strip() for x in old) else len(old)
        out += [_unprompted(x, cmd.prompt) for x in expected_lines(list(cmd.expected))]
        out += [""] * blanks
    return out


def _unprompted(line: str, prompt: str) -> str:
    """An output line that would read as a new command is written as a regex instead."""
    if line.startswith(prompt) or line.rstrip() == prompt.rstrip():
        return re.escape(line) + " (re)"
    return line
