"""Expected output vs actual output: literal lines, ``...``, ``(re)``, shapes and JSON."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import DirectiveError
from ..steps.model import MatchMode
from .expect import (
    NO_EOL,
    Expected,
    compile_regex,
    escape,
    glob_regex,
    needs_escape,
    parse_expected,
    unescape,
)
from .normalize import ELLIPSIS, VOLATILE_JSON_NUMBERS, line_regex, shape_key

#: ANSI colour and cursor sequences: a page cannot show them, so they never count.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class Match:
    """The verdict on one output: ok, or a unified diff and where the drift starts."""

    ok: bool
    diff: str  # '--- expected\n+++ actual\n@@ ...' with real values ('' when ok)
    first_bad: int | None  # 0-based index into expected of the first bad line, None when ok


@dataclass(frozen=True)
class Rep:
    """A quantified expected line: takes ``low`` (0 or 1) to ``high`` (1, or None for
    any number of) output lines, each passing ``test``."""

    test: Callable[[Any], bool]
    low: int
    high: int | None


#: One expected line compiled: None for ``...``, a :class:`Rep` for a quantified line,
#: else a predicate on an actual line (which takes exactly one line).
LineTest = Callable[[Any], bool] | Rep | None


def _one(t: LineTest) -> bool:
    """Does the item take exactly one line (a predicate)?"""
    return t is not None and type(t) is not Rep


@dataclass(frozen=True)
class Op:
    """One step of an alignment of expected items with actual lines.

    ``kind`` is "match" (i matched j), "skip" (the ``...`` or quantified line at i took
    j; once with j None for every such line), "del" (expected i has no actual line),
    "ins" (actual j has no expected line; i is where it would go) or, for JSON arrays,
    "change" (i became j).
    """

    kind: str
    i: int
    j: int | None


def match_output(
    expected: Sequence[str], actual: str, mode: MatchMode | str = MatchMode.NORMALIZED
) -> Match:
    """Compare the page's ``expected`` lines with a command's ``actual`` output."""
    mode = MatchMode(mode)
    if mode is MatchMode.BYTES:
        return _match_bytes(expected, actual)
    if mode is MatchMode.JSON or mode is MatchMode.NORMALIZED:
        parsed = json_pair(expected, actual, required=mode is MatchMode.JSON)
        if parsed is not None:
            return _json_match(expected, actual, *parsed)
    exp = expected_lines(expected)
    tests = compile_lines(exp, mode)
    gapped = with_gaps(tests) if mode is MatchMode.CONTAINS else None
    m = match_tests(exp, actual_lines(actual), *(gapped or (tests,)))
    if m.ok and exp and exp[-1].endswith(NO_EOL) and actual.endswith("\n"):
        return Match(False, _eol_note(), len(exp) - 1)
    return m


def _eol_note() -> str:
    return "the page says the output ends without a newline (no-eol); it ends with one\n"


def match_tests(
    exp: Sequence[str],
    act: Sequence[str],
    tests: Sequence[LineTest],
    index: Sequence[int] | None = None,
    shown: Sequence[str] | None = None,
) -> Match:
    """Match compiled ``tests`` (``index``: the expected line of each) against lines;
    ``shown``: the actual lines as the diff shows them (default ``act``)."""
    if quick_match(tests, act):
        return Match(True, "", None)
    index = range(len(tests)) if index is None else index
    ops = align(tests, act, [ELLIPSIS if t is None else exp[index[k]] for k, t in enumerate(tests)])
    return Match(
        False,
        render_diff(exp, shown if shown is not None else act, ops, index),
        first_bad(ops, index, len(exp)),
    )


def validate_expected(expected: Sequence[str], mode: MatchMode | str) -> None:
    """Raise DirectiveError (``line`` = offset in expected) for what can never match: a
    bad ``(re)`` line, or expected output of a ``json`` step that is not JSON. Lets a
    directive report it where it was written, before any lab runs."""
    mode = MatchMode(mode)
    if mode is MatchMode.JSON:
        json_pair(expected, "null", required=True)
    elif mode is MatchMode.BYTES:
        _bytes_tests(_trim_blank(list(expected)))
    else:
        exp = expected_lines(expected)
        for i, x in enumerate(exp):
            if x.endswith(NO_EOL) and i != len(exp) - 1:
                raise DirectiveError(
                    "only the last line of a command's output can end in ' (no-eol)'", line=i
                )
        compile_lines(exp, mode)


def _trim_blank(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def expected_lines(expected: Sequence[str]) -> list[str]:
    """The page's lines with tabs expanded as for the actual output, trailing white space
    and trailing blank lines dropped."""
    return _trim_blank([x.expandtabs(8).rstrip() for x in expected])


def actual_lines(actual: str) -> list[str]:
    """What a terminal would show: CRLF as LF, a ``\\r``-overwritten line as its last
    state, tabs as spaces to the next multiple of 8 (a page never holds tabs: docutils
    expands them), no colour codes, no trailing white space, no trailing blank lines."""
    if "\x1b" not in actual and "\r" not in actual and "\t" not in actual:
        return _trim_blank([x.rstrip() for x in actual.split("\n")])
    lines = []
    for raw in _ANSI.sub("", actual).replace("\r\n", "\n").split("\n"):
        segments = [s for s in raw.split("\r") if s.strip()]
        lines.append(segments[-1].expandtabs(8).rstrip() if segments else "")
    return _trim_blank(lines)


def compile_lines(lines: Sequence[str], mode: MatchMode | str) -> list[LineTest]:
    """One test per expected line; raises DirectiveError (``line``) for a bad ``(re)``."""
    normalize = MatchMode(mode) is not MatchMode.EXACT
    return [compile_line(x, normalize, i) for i, x in enumerate(lines)]


def compile_line(line: str, normalize: bool = True, offset: int = 0) -> LineTest:
    """The test for one expected line (None for ``...``). A line is first tried as the
    literal text it is (so output that really ends in `` (re)`` matches itself)."""
    if line.strip() == ELLIPSIS:
        return None
    if line[-1:] != ")":  # the common case: no suffix
        return _Literal(line, normalize)
    e = parse_expected(line)
    test = _body_test(e, normalize, offset)
    if not e.quantified:
        return test
    return Rep(test, e.low, e.high)


def _body_test(e: Expected, normalize: bool, offset: int) -> Callable[[Any], bool]:
    if e.kind == "text":
        return _Literal(e.body, normalize)
    if e.kind == "eq":
        return _either(e.line, e.body.__eq__)
    if e.kind == "esc":
        folded = actual_lines(unescape(e.body))
        return _either(e.line, (folded[0] if folded else "").__eq__)
    source = e.body if e.kind == "re" else glob_regex(e.body, offset)
    pattern = compile_regex(source, offset, e.kind)
    return _either(e.line, lambda text: pattern.fullmatch(text) is not None)


def _either(literal: str, test: Callable[[str], bool]) -> Callable[[str], bool]:
    return lambda text: text == literal or test(text)


class _Literal:
    """A plain expected line: equal text passes at once; otherwise the line's pattern
    (shapes of volatile tokens, ``...`` inside) is built the first time it is needed."""

    __slots__ = ("line", "normalize", "pattern")

    def __init__(self, line: str, normalize: bool) -> None:
        self.line = line
        self.normalize = normalize
        self.pattern: re.Pattern[str] | bool | None = False

    def __call__(self, text: Any) -> bool:
        if text == self.line:
            return True
        if self.pattern is False:
            self.pattern = line_regex(self.line, self.normalize)
        if self.pattern is None or self.pattern is True or self.pattern is False:
            return False
        return self.pattern.fullmatch(text) is not None


# -- byte for byte ------------------------------------------------------------------------
def _match_bytes(expected: Sequence[str], actual: str) -> Match:
    exp = _trim_blank(list(expected))
    tests = _bytes_tests(exp)
    act = actual.split("\n")
    act = [x + "\n" for x in act[:-1]] + ([act[-1]] if act[-1] else [])
    return match_tests(exp, act, tests, shown=[shown_line(x) for x in act])


def _bytes_tests(exp: Sequence[str]) -> list[LineTest]:
    tests: list[LineTest] = []
    for i, line in enumerate(exp):
        if line.strip() == ELLIPSIS:
            tests.append(None)
            continue
        e = parse_expected(line)
        if e.no_eol and i != len(exp) - 1:
            raise DirectiveError(
                "only the last line of a command's output can end in ' (no-eol)'", line=i
            )
        if e.kind == "text":
            inner: Callable[[str], bool] = _Literal(e.body, False)
        elif e.kind == "eq":
            inner = e.body.__eq__
        elif e.kind == "esc":
            inner = unescape(e.body).__eq__
        else:
            source = e.body if e.kind == "re" else glob_regex(e.body, i)
            pattern = compile_regex(source, i, e.kind)
            inner = _full(pattern)
        test = _with_eol(inner, not e.no_eol)
        tests.append(Rep(test, e.low, e.high) if e.quantified else test)
    return tests


def _full(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda text: pattern.fullmatch(text) is not None


def _with_eol(inner: Callable[[str], bool], eol: bool) -> Callable[[str], bool]:
    if eol:
        return lambda t: t[-1:] == "\n" and inner(t[:-1])
    return lambda t: t[-1:] != "\n" and inner(t)


def shown_line(line: str) -> str:
    """An actual line (with its newline, if it has one) as a page would write it:
    control characters as ``(esc)``, no final newline as ``(no-eol)``."""
    body = line[:-1] if line.endswith("\n") else line
    text = escape(body) + " (esc)" if needs_escape(body) else body
    return text if line.endswith("\n") else text + NO_EOL


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
    enough because every other item takes exactly one line (worst case len*len tests).
    Quantified lines take the general way: :func:`_nfa_match`."""
    if any(type(t) is Rep for t in tests):
        return _nfa_match(tests, act)
    i = j = 0
    star, mark = -1, 0
    n, m = len(tests), len(act)
    while j < m:
        t = tests[i] if i < n else None
        if i < n and t is None:
            star, mark = i, j
            i += 1
        elif t is not None and t(act[j]):  # type: ignore[operator]
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


def _nfa_match(tests: Sequence[LineTest], act: Sequence[str]) -> bool:
    """Every way through the items at once, line by line (at most len(tests) states, so
    linear in the output). A state is ``2 * item + taken``: ``taken`` when a ``...`` or a
    repeatable line already took a line (so it may end, or take more)."""
    n = len(tests)

    def closure(states: set[int]) -> set[int]:
        todo = list(states)
        while todo:
            s = todo.pop()
            i = s >> 1
            if i < n:
                t = tests[i]
                if (s & 1 or t is None or (type(t) is Rep and t.low == 0)) and (
                    2 * (i + 1) not in states
                ):
                    states.add(2 * (i + 1))
                    todo.append(2 * (i + 1))
        return states

    states = closure({0})
    for line in act:
        nxt: set[int] = set()
        for s in states:
            i = s >> 1
            if i >= n:
                continue
            t = tests[i]
            if t is None:
                nxt.add(2 * i + 1)
            elif type(t) is Rep:
                if t.test(line):
                    nxt.add(2 * i + 1 if t.high is None else 2 * (i + 1))
            elif t(line):  # type: ignore[operator]
                nxt.add(2 * (i + 1))
        if not nxt:
            return False
        states = closure(nxt)
    return any(s >> 1 == n for s in states)


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
            elif type(t) is Rep:
                best = cost[i - 1][j] + (0 if t.low == 0 else miss)
                if j and t.test(a_mid[j - 1]):
                    best = min(best, cost[i - 1][j - 1] - 1)
                    if t.high is None and i:
                        best = min(best, row[j - 1] - 1)
            elif t is not None:
                best = cost[i - 1][j] + miss
                if j:  # a changed line costs as much as a missing or an extra one
                    hit = t(a_mid[j - 1])  # type: ignore[operator]
                    best = min(best, cost[i - 1][j - 1] + (-1 if hit else miss))
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
            elif type(t) is Rep:
                took = 0
                while j < j2 and (t.high is None or took < t.high) and t.test(act[j]):
                    ops.append(Op("skip", base + i, base + j))
                    j += 1
                    took += 1
                ops.append(Op("skip" if took >= t.low else "del", base + i, None))
            elif j < j2 and t(act[j]):  # type: ignore[operator]
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
    while head < limit and _one(tests[head]) and tests[head](act[head]):  # type: ignore[misc,operator]
        head += 1
    tail = 0
    while (
        tail < limit - head and _one(tests[-1 - tail]) and tests[-1 - tail](act[-1 - tail])  # type: ignore[misc,operator]
    ):
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
        if type(t) is Rep:
            i, j = _back_rep(cost, t, act, base, miss, i, j, ops)
            continue
        if t is not None and diag is not None and diag - 1 == here and t(act[j - 1]):  # type: ignore[operator]
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


def _back_rep(
    cost: list[list[int]],
    t: Rep,
    act: Sequence[str],
    base: int,
    miss: int,
    i: int,
    j: int,
    ops: list[Op],
) -> tuple[int, int]:
    """One step back through the quantified line at ``i - 1``: the lines it took are
    "skip" ops (shown as themselves), with one "skip" of no line to keep it."""
    here = cost[i][j]
    hit = bool(j) and t.test(act[j - 1])
    if hit and t.high is None and cost[i][j - 1] - 1 == here:
        ops.append(Op("skip", base + i - 1, base + j - 1))
        return i, j - 1
    if hit and cost[i - 1][j - 1] - 1 == here:
        ops += [Op("skip", base + i - 1, base + j - 1), Op("skip", base + i - 1, None)]
        return i - 1, j - 1
    if t.low == 0 and cost[i - 1][j] == here:
        ops.append(Op("skip", base + i - 1, None))
        return i - 1, j
    if j and cost[i][j - 1] + miss == here:
        ops.append(Op("ins", base + i, base + j - 1))
        return i, j - 1
    ops.append(Op("del", base + i - 1, None))
    return i - 1, j


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
        if type(test) is Rep:  # a string value is one line: it is there once
            return test.test(act)
        return test is None or test(act)  # type: ignore[operator]
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
