"""Expected output vs actual output: literal lines, ``...``, ``(re)``, shapes and JSON."""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import DirectiveError
from ..steps.model import MatchMode
from .normalize import ELLIPSIS, VOLATILE_JSON_NUMBERS, line_regex, shape_key

#: ANSI colour and cursor sequences: a page cannot show them, so they never count.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_RE_SUFFIX = " (re)"
_GLOB_SUFFIX = " (glob)"


@dataclass(frozen=True)
class Match:
    """The verdict on one output: ok, or a unified diff and where the drift starts."""

    ok: bool
    diff: str  # '--- expected\n+++ actual\n@@ ...' with real values ('' when ok)
    first_bad: int | None  # 0-based index into expected of the first bad line, None when ok


#: One expected line compiled: None for ``...``, else a predicate on an actual line.
LineTest = Callable[[Any], bool] | None


@dataclass(frozen=True)
class Op:
    """One step of an alignment of expected items with actual lines.

    ``kind`` is "match" (i matched j), "skip" (the ``...`` at i took j; once with j None
    for every ``...``), "del" (expected i has no actual line), "ins" (actual j has no
    expected line; i is where it would go) or, for JSON arrays, "change" (i became j).
    """

    kind: str
    i: int
    j: int | None


def match_output(
    expected: Sequence[str], actual: str, mode: MatchMode | str = MatchMode.NORMALIZED
) -> Match:
    """Compare the page's ``expected`` lines with a command's ``actual`` output."""
    mode = MatchMode(mode)
    if mode is MatchMode.JSON or mode is MatchMode.NORMALIZED:
        parsed = json_pair(expected, actual, required=mode is MatchMode.JSON)
        if parsed is not None:
            return _json_match(expected, actual, *parsed)
    exp = expected_lines(expected)
    tests = compile_lines(exp, mode)
    gapped = with_gaps(tests) if mode is MatchMode.CONTAINS else None
    return match_tests(exp, actual_lines(actual), *(gapped or (tests,)))


def match_tests(
    exp: Sequence[str],
    act: Sequence[str],
    tests: Sequence[LineTest],
    index: Sequence[int] | None = None,
) -> Match:
    """Match compiled ``tests`` (``index``: the expected line of each) against lines."""
    if quick_match(tests, act):
        return Match(True, "", None)
    index = range(len(tests)) if index is None else index
    ops = align(tests, act, [ELLIPSIS if t is None else exp[index[k]] for k, t in enumerate(tests)])
    return Match(False, render_diff(exp, act, ops, index), first_bad(ops, index, len(exp)))


def validate_expected(expected: Sequence[str], mode: MatchMode | str) -> None:
    """Raise DirectiveError (``line`` = offset in expected) for what can never match: a
    bad ``(re)`` line, or expected output of a ``json`` step that is not JSON. Lets a
    directive report it where it was written, before any lab runs."""
    mode = MatchMode(mode)
    if mode is MatchMode.JSON:
        json_pair(expected, "null", required=True)
    else:
        compile_lines(expected_lines(expected), mode)


def expected_lines(expected: Sequence[str]) -> list[str]:
    """The page's lines with tabs expanded as for the actual output, trailing white space
    and trailing blank lines dropped."""
    lines = [x.expandtabs(8).rstrip() for x in expected]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def actual_lines(actual: str) -> list[str]:
    """What a terminal would show: CRLF as LF, a ``\\r``-overwritten line as its last
    state, tabs as spaces to the next multiple of 8 (a page never holds tabs: docutils
    expands them), no colour codes, no trailing white space, no trailing blank lines."""
    lines = []
    for raw in _ANSI.sub("", actual).replace("\r\n", "\n").split("\n"):
        segments = [s for s in raw.split("\r") if s.strip()]
        lines.append(segments[-1].expandtabs(8).rstrip() if segments else "")
    while lines and not lines[-1]:
        lines.pop()
    return lines


def compile_lines(lines: Sequence[str], mode: MatchMode | str) -> list[LineTest]:
    """One test per expected line; raises DirectiveError (``line``) for a bad ``(re)``."""
    normalize = MatchMode(mode) is not MatchMode.EXACT
    return [compile_line(x, normalize, i) for i, x in enumerate(lines)]


def compile_line(line: str, normalize: bool = True, offset: int = 0) -> LineTest:
    """The test for one expected line (None for ``...``)."""
    if line.strip() == ELLIPSIS:
        return None
    if line.endswith(_RE_SUFFIX):
        return _regex_test(line[: -len(_RE_SUFFIX)], offset)
    if line.endswith(_GLOB_SUFFIX):
        glob = line[: -len(_GLOB_SUFFIX)]
        return _regex_test(
            fnmatch.translate(glob).removeprefix("(?s:").removesuffix(")\\Z"), offset
        )
    pattern = line_regex(line, normalize)
    if pattern is None:
        return line.__eq__
    return lambda text: pattern.fullmatch(text) is not None


def _regex_test(source: str, offset: int) -> LineTest:
    try:
        pattern = re.compile(source)
    except re.error as exc:
        raise DirectiveError(
            f"bad regular expression before ' (re)': {exc}; escape special "
            "characters with a backslash",
            line=offset,
        ) from None
    return lambda text: pattern.fullmatch(text) is not None


def with_gaps(tests: list[LineTest]) -> tuple[list[LineTest], list[int]]:
    """``contains`` as ``...`` around every expected line; and each item's expected index."""
    out: list[LineTest] = [None]
    index = [0]
    for i, t in enumerate(tests):
        if t is not None:
            out += [t, None]
            index += [i, i + 1]
    return out, index


def quick_match(tests: Sequence[LineTest], act: Sequence[str]) -> bool:
    """Does it match? Wildcard matching that backtracks only to the last ``...``, which is
    enough because every other item takes exactly one line (worst case len*len tests)."""
    i = j = 0
    star, mark = -1, 0
    n, m = len(tests), len(act)
    while j < m:
        t = tests[i] if i < n else None
        if i < n and t is None:
            star, mark = i, j
            i += 1
        elif t is not None and t(act[j]):
            i += 1
            j += 1
        elif star >= 0:
            mark += 1
            i, j = star + 1, mark
        else:
            return False
    while i < n and tests[i] is None:
        i += 1
    return i == n


def align(
    tests: Sequence[LineTest], act: Sequence[Any], keys: Sequence[str] | None = None
) -> list[Op]:
    """The alignment with the fewest unmatched lines and, among those, the most matched
    ones (dynamic programming over lines, so many ``...`` never backtrack exponentially);
    ties resolve the same way every time. ``keys`` (the expected lines as text) let a
    huge mismatch be aligned by difflib instead, in bounded time."""
    head, tail = _common_ends(tests, act)
    n, m = len(tests) - head - tail, len(act) - head - tail
    t_mid, a_mid = tests[head : head + n], act[head : head + m]
    if n * m > MAX_CELLS:
        ops = _align_large(t_mid, a_mid, keys[head : head + n] if keys else None, head)
        return (
            [Op("match", k, k) for k in range(head)]
            + ops
            + [Op("match", head + n + k, head + m + k) for k in range(tail)]
        )
    miss = n + m + 1  # one unmatched line outweighs every match there could be
    inf = miss * miss
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0
    for i in range(n + 1):
        row = cost[i]
        t = t_mid[i - 1] if i else None
        for j in range(m + 1):
            if i == 0 and j == 0:
                continue
            best = inf
            if i and t is None:
                best = min(cost[i - 1][j], row[j - 1] if j else inf)
            elif t is not None:
                best = cost[i - 1][j] + miss
                if j:  # a changed line costs as much as a missing or an extra one
                    best = min(best, cost[i - 1][j - 1] + (-1 if t(a_mid[j - 1]) else miss))
            if j:
                best = min(best, row[j - 1] + miss)
            row[j] = best
    ops = _backtrack(cost, t_mid, a_mid, head, miss)
    return (
        [Op("match", k, k) for k in range(head)]
        + ops
        + [Op("match", head + n + k, head + m + k) for k in range(tail)]
    )


#: Past this many (expected x actual) pairs, a failed match is aligned by difflib: its
#: diff may be less tidy around ``...`` lines, but a 5000-line mismatch stays fast.
MAX_CELLS = 250_000


def _align_large(
    tests: Sequence[LineTest], act: Sequence[Any], keys: Sequence[str] | None, base: int
) -> list[Op]:
    exp_keys = [_key(k) for k in keys] if keys else [f"\0{i}" for i in range(len(tests))]
    matcher = difflib.SequenceMatcher(None, exp_keys, [_key(a) for a in act], autojunk=False)
    ops: list[Op] = []
    for _tag, i1, i2, j1, j2 in matcher.get_opcodes():
        j = j1
        for i in range(i1, i2):
            t = tests[i]
            if t is None:
                ops.append(Op("skip", base + i, None))
            elif j < j2 and t(act[j]):
                ops.append(Op("match", base + i, base + j))
                j += 1
            elif j < j2:
                ops += [Op("del", base + i, None), Op("ins", base + i, base + j)]
                j += 1
            else:
                ops.append(Op("del", base + i, None))
        if ops and ops[-1].kind == "skip":  # lines right after a '...' are its to take
            ops += [Op("skip", ops[-1].i, base + k) for k in range(j, j2)]
        else:
            ops += [Op("ins", base + i2, base + k) for k in range(j, j2)]
    return ops


def _key(item: Any) -> str:
    """A line by its shape, a JSON value as its canonical text (what difflib compares)."""
    if isinstance(item, str):
        return shape_key(item)
    return json.dumps(item, sort_keys=True, default=str)


def _common_ends(tests: Sequence[LineTest], act: Sequence[str]) -> tuple[int, int]:
    """Lines matched one to one at both ends need no search (pairing them is optimal)."""
    head = 0
    limit = min(len(tests), len(act))
    while head < limit and tests[head] is not None and tests[head](act[head]):  # type: ignore[misc]
        head += 1
    tail = 0
    while tail < limit - head and tests[-1 - tail] is not None and tests[-1 - tail](act[-1 - tail]):  # type: ignore[misc]
        tail += 1
    return head, tail


def _backtrack(
    cost: list[list[int]], tests: Sequence[LineTest], act: Sequence[str], base: int, miss: int
) -> list[Op]:
    ops: list[Op] = []
    i, j = len(tests), len(act)
    while i or j:
        t = tests[i - 1] if i else None
        here = cost[i][j]
        diag = cost[i - 1][j - 1] if i and j else None
        if t is not None and diag is not None and diag - 1 == here and t(act[j - 1]):
            ops.append(Op("match", base + i - 1, base + j - 1))
            i, j = i - 1, j - 1
        elif t is not None and diag is not None and diag + miss == here:  # a changed line
            ops += [Op("ins", base + i - 1, base + j - 1), Op("del", base + i - 1, None)]
            i, j = i - 1, j - 1
        elif i and t is None and j and cost[i][j - 1] == here:
            ops.append(Op("skip", base + i - 1, base + j - 1))
            j -= 1
        elif i and t is None and cost[i - 1][j] == here:
            ops.append(Op("skip", base + i - 1, None))  # kept, even when it took no line
            i -= 1
        elif j and cost[i][j - 1] + miss == here:
            ops.append(Op("ins", base + i, base + j - 1))
            j -= 1
        else:
            ops.append(Op("del", base + i - 1, None))
            i -= 1
    ops.reverse()
    return ops


def render_diff(
    exp: Sequence[str], act: Sequence[str], ops: Sequence[Op], index: Sequence[int]
) -> str:
    """A unified diff whose context shows real lines: expected lines that matched (by
    shape, pattern or ``...``) are shown as the actual lines they matched."""
    shown: list[str] = []
    for op in ops:
        if op.kind in ("match", "skip") and op.j is not None:
            shown.append(act[op.j])
        elif op.kind == "del":
            shown.append(exp[index[op.i]])
    return unified(shown, list(act))


def unified(expected: Sequence[str], actual: Sequence[str]) -> str:
    """``--- expected / +++ actual`` diff text, one line per line, ending in a newline."""
    lines = difflib.unified_diff(list(expected), list(actual), "expected", "actual", lineterm="")
    text = "\n".join(lines)
    return text + "\n" if text else ""


def first_bad(ops: Sequence[Op], index: Sequence[int], n_expected: int) -> int:
    """The expected line where the drift starts (``n_expected`` for extra trailing lines)."""
    for op in ops:
        if op.kind == "del":
            return index[op.i]
        if op.kind == "ins":
            return index[op.i] if op.i < len(index) else n_expected
    return n_expected


def json_pair(expected: Sequence[str], actual: str, required: bool) -> tuple[Any, Any] | None:
    """Both sides parsed, or None to compare lines. In ``json`` mode expected must parse
    (else DirectiveError) and unparseable actual output is NOT_JSON; in ``normalized``
    mode only text that looks like a JSON object or array on both sides counts."""
    text = "\n".join(expected)
    if not required and not text.lstrip().startswith(("{", "[")):
        return None
    try:
        exp = json.loads(text)
    except ValueError as exc:
        if not required:
            return None
        line = getattr(exc, "lineno", 1) - 1
        raise DirectiveError(
            f"the expected output is not JSON ({exc}); write the JSON "
            "the command prints, or drop ':match: json'",
            line=line,
        ) from None
    try:
        act = json.loads(actual)
    except ValueError:
        if not required:
            return None
        act = NOT_JSON
    return exp, act


#: The actual output of a ``json`` step that is not JSON at all.
NOT_JSON: Any = object()


@dataclass(frozen=True)
class JsonVerdict:
    """A structural comparison: ``shown`` is expected with matched parts replaced by the
    actual values (for the diff), ``kept`` is expected where it matched and actual where
    it did not (for accept mode), ``path`` leads to the first difference."""

    ok: bool
    shown: Any
    kept: Any
    path: tuple[str | int, ...] = ()


def compare_json(exp: Any, act: Any, normalize: bool = True) -> JsonVerdict:
    """Compare parsed JSON: key order ignored; strings as expected lines (volatile tokens
    by shape, ``...`` inside); ``"..."`` as a value matches anything, as an array item any
    number of items, as a key (``"...": "..."``) any other keys."""
    bad: list[tuple[str | int, ...]] = []
    ok, shown, kept = _json(exp, act, normalize, (), bad)
    return JsonVerdict(ok, shown, kept, bad[0] if bad else ())


_Path = tuple[str | int, ...]


def _json(
    exp: Any, act: Any, normalize: bool, path: _Path, bad: list[_Path]
) -> tuple[bool, Any, Any]:
    if isinstance(exp, str) and exp.strip() == ELLIPSIS:
        return True, act, exp
    if isinstance(exp, dict) and isinstance(act, dict):
        return _json_object(exp, act, normalize, path, bad)
    if isinstance(exp, list) and isinstance(act, list):
        return _json_array(exp, act, normalize, path, bad)
    ok = _json_scalar(exp, act, normalize)
    if not ok:
        bad.append(path)
    return ok, (act if ok else exp), (exp if ok else act)


def _json_scalar(exp: Any, act: Any, normalize: bool) -> bool:
    if isinstance(exp, str) and isinstance(act, str):
        test = compile_line(exp, normalize)
        return test is None or test(act)
    if isinstance(exp, bool) or isinstance(act, bool):
        return type(exp) is type(act) and exp == act
    if isinstance(exp, float) and isinstance(act, float) and exp != exp and act != act:
        return True  # NaN printed twice is the same output
    return bool(exp == act)


def _json_object(
    exp: dict[str, Any], act: dict[str, Any], normalize: bool, path: _Path, bad: list[_Path]
) -> tuple[bool, Any, Any]:
    ok = True
    shown: dict[str, Any] = {}
    kept: dict[str, Any] = {}
    for k, v in exp.items():
        if k == ELLIPSIS:
            kept[k] = v
        elif k in act and normalize and _kernel_number(k, v, act[k]):
            shown[k], kept[k] = act[k], v
        elif k in act:
            sub_ok, shown[k], kept[k] = _json(v, act[k], normalize, (*path, k), bad)
            ok = ok and sub_ok
        else:
            ok = False
            bad.append((*path, k))
            shown[k] = v
    for k, v in act.items():
        if k in exp:
            continue
        if ELLIPSIS in exp:
            shown[k] = v
        else:
            ok = False
            bad.append((*path, k))
            kept[k] = v
    return ok, shown, kept


def _kernel_number(key: str, exp: Any, act: Any) -> bool:
    """An interface index or netns id in ``ip -j`` output: any integer will do."""
    return key in VOLATILE_JSON_NUMBERS and type(exp) is int and type(act) is int


def _item_test(item: Any, normalize: bool) -> LineTest:
    """An array item as a test: ``"..."`` takes any number of items."""
    if isinstance(item, str) and item.strip() == ELLIPSIS:
        return None

    def test(other: Any) -> bool:
        return _json(item, other, normalize, (), [])[0]

    return test


def _json_array(
    exp: list[Any], act: list[Any], normalize: bool, path: _Path, bad: list[_Path]
) -> tuple[bool, Any, Any]:
    tests = [_item_test(e, normalize) for e in exp]
    ops = _pair_changes(align(tests, act, [_key(e) for e in exp]))
    ok = not any(op.kind in ("del", "ins", "change") for op in ops)
    shown: list[Any] = []
    kept: list[Any] = []
    for op in ops:
        if op.kind in ("match", "change") and op.j is not None:
            # a changed item is compared inside, so only what really differs shows
            _, s, k = _json(exp[op.i], act[op.j], normalize, (*path, op.i), bad)
            shown.append(s)
            kept.append(k)
        elif op.kind == "skip":
            if op.j is None:
                kept.append(exp[op.i])
            else:
                shown.append(act[op.j])
        elif op.kind == "del":
            bad.append((*path, op.i))
            shown.append(exp[op.i])
        elif op.j is not None:
            bad.append((*path, op.i))
            kept.append(act[op.j])
    return ok, shown, kept


def _pair_changes(ops: list[Op]) -> list[Op]:
    """A missing item right before an extra one is one changed item."""
    out: list[Op] = []
    for op in ops:
        if op.kind == "ins" and out and out[-1].kind == "del":
            out[-1] = Op("change", out[-1].i, op.j)
        else:
            out.append(op)
    return out


def dump_json(value: Any, indent: int | None = 2, sort_keys: bool = True) -> list[str]:
    """Lines of ``value`` as JSON (sorted keys by default, so two dumps diff cleanly)."""
    return json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=False).splitlines()


def _json_match(expected: Sequence[str], actual: str, exp: Any, act: Any) -> Match:
    if act is NOT_JSON:
        return Match(False, unified(expected_lines(expected), actual_lines(actual)), 0)
    verdict = compare_json(exp, act, normalize=True)
    if verdict.ok:
        return Match(True, "", None)
    diff = unified(dump_json(verdict.shown), dump_json(act))
    return Match(False, diff, locate_key(expected, verdict.path))


def locate_key(lines: Sequence[str], path: Sequence[str | int]) -> int:
    """The line (0-based) of the first difference: follow the path's keys down the
    text (JSON ``"key":`` or YAML ``key:``); the deepest key found wins."""
    line = 0
    for key in path:
        if not isinstance(key, str):
            continue
        written = re.compile(
            f"(?:{re.escape(json.dumps(key, ensure_ascii=False))}|"
            f"(?<![\\w.-]){re.escape(key)})\\s*:"
        )
        found = next((i for i in range(line, len(lines)) if written.search(lines[i])), None)
        if found is None:
            break
        line = found
    return line
