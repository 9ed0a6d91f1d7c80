"""Volatile tokens (MACs, indexes, timings, ids, dates) matched by shape, not by value."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

#: A line that is just this matches any number of lines; inside a line, any text.
ELLIPSIS = "..."

_NUMBER = r"\d+(?:\.\d+)?"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_WEEKDAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_HEX = "[0-9a-fA-F]"


def _fixed(shape: str) -> Callable[[str], str]:
    """Any token of this shape matches."""
    return lambda token: shape


def _numbers(token: str) -> str:
    """The token's words kept, every number free: ``time=0.081 ms`` -> ``time=<n> ms``."""
    parts = re.split(f"({_NUMBER})", token)
    return "".join(_NUMBER if i % 2 else re.escape(p) for i, p in enumerate(parts))


def _digits(token: str) -> str:
    """The token's punctuation kept, every run of digits free (dates, clocks)."""
    parts = re.split(r"(\d+)", token)
    return "".join(r"\d+" if i % 2 else re.escape(p) for i, p in enumerate(parts))


@dataclass(frozen=True)
class Normalizer:
    """One kind of volatile token: how to find it on the page, what it may be in reality."""

    name: str
    pattern: str  # finds the token in an expected line
    shape: Callable[[str], str]  # the token as written -> the regex an actual token must match
    example: str  # a token of this kind, as real output shows it


_MAC = f"{_HEX}{{2}}(?::{_HEX}{{2}}){{5}}"
_DATE1 = f"{_WEEKDAY} {_MONTH} [ \\d]?\\d \\d{{2}}:\\d{{2}}:\\d{{2}}(?: [A-Z]{{2,5}})? \\d{{4}}"
_SYSLOG = f"{_MONTH} [ \\d]?\\d \\d{{2}}:\\d{{2}}:\\d{{2}}"
_LSDATE = f"{_MONTH} [ \\d]?\\d(?: \\d{{2}}:\\d{{2}}|  ?\\d{{4}})"

#: Every volatile token, in priority order (the first that matches at a position wins).
NORMALIZERS: tuple[Normalizer, ...] = (
    # Broadcast and all-zero (loopback) addresses mean something: they stay literal.
    Normalizer(
        "mac",
        rf"(?<![\w:])(?!(?i:ff(?::ff){{5}}|00(?::00){{5}})(?![\w:])){_MAC}(?![\w:])",
        _fixed(_MAC),
        "02:42:ac:50:00:02",
    ),
    # Runtimes glue uuids to words (``cni-<uuid>`` network namespaces): only hex may not.
    Normalizer(
        "uuid",
        rf"(?<![0-9a-fA-F]){_HEX}{{8}}(?:-{_HEX}{{4}}){{3}}-{_HEX}{{12}}"
        r"(?![0-9a-fA-F])",
        _fixed(rf"{_HEX}{{8}}(?:-{_HEX}{{4}}){{3}}-{_HEX}{{12}}"),
        "6e6c1b4e-2d3c-4b8a-9f0e-1a2b3c4d5e6f",
    ),
    Normalizer(
        "hex64",
        r"(?<!\w)[0-9a-f]{64}(?!\w)",
        _fixed("[0-9a-f]{64}"),
        "c719a954130f4769afeff28654800e8d7593b14442cfb36bcbd0ed0eade28b83",
    ),
    # Short container ids; a 12-digit number is a counter, not an id, so a letter is needed.
    Normalizer(
        "hex12",
        r"(?<!\w)(?=[0-9]*[a-f])(?=[a-f]*[0-9])[0-9a-f]{12}(?!\w)",
        _fixed("[0-9a-f]{12}"),
        "d1cd6bdefdb7",
    ),
    Normalizer(
        "veth", r"(?<!\w)veth[0-9a-f]{7,8}(?!\w)", _fixed("veth[0-9a-f]{7,8}"), "vethe752504"
    ),
    Normalizer("ifindex", r"^\d+(?=: [^\s:]+: <)", _fixed(r"\d+"), "22"),
    Normalizer("peer", r"@if\d+(?=[:\s]|$)", _fixed(r"@if\d+"), "@if23"),
    Normalizer("netnsid", r"link-netnsid \d+", _fixed(r"link-netnsid \d+"), "link-netnsid 0"),
    Normalizer(
        "linklocal",
        rf"(?<![\w:])(?i:fe80::(?:{_HEX}{{1,4}}:){{0,3}}{_HEX}{{1,4}})"
        r"(?![\w:])",
        _fixed(rf"(?i:fe80::(?:{_HEX}{{1,4}}:){{0,3}}{_HEX}{{1,4}})"),
        "fe80::42:acff:fe50:2",
    ),
    Normalizer("lifetime", r"(?:valid|preferred)_lft \d+sec", _numbers, "valid_lft 85773sec"),
    Normalizer("ping_time", rf"\btime=(?:{_NUMBER}) ?ms\b", _numbers, "time=0.081 ms"),
    Normalizer("ping_total", r"\btime \d+ ?ms\b", _numbers, "time 1001ms"),
    Normalizer(
        "rtt",
        rf"= {_NUMBER}/{_NUMBER}/{_NUMBER}(?:/{_NUMBER})? ms\b",
        _numbers,
        "= 0.035/0.041/0.047/0.006 ms",
    ),
    Normalizer("elapsed", r"(?<![\w.])\d+m\d+\.\d+s(?!\w)", _numbers, "0m0.003s"),
    Normalizer(
        "iso_datetime",
        r"(?<![\w.-])\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}"
        r"(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?(?![\w.])",
        _digits,
        "2026-11-21T19:31:44.123456+00:00",
    ),
    Normalizer("iso_date", r"(?<![\w.-])\d{4}-\d{2}-\d{2}(?![\w.:-])", _digits, "2026-11-21"),
    Normalizer("date", _DATE1, _fixed(_DATE1), "Sat Nov 21 19:31:44 UTC 2026"),
    Normalizer("syslog_time", _SYSLOG, _fixed(_SYSLOG), "Nov 21 19:31:44"),
    Normalizer("ls_time", rf"{_LSDATE}(?=\s|$)", _fixed(_LSDATE), "Nov 21 19:31"),
    Normalizer("clock", r"(?<![\w:.])\d{2}:\d{2}:\d{2}(?:\.\d+)?(?![\w:])", _digits, "19:31:44"),
    Normalizer("pid", r"\b(?:pid|PID)[ =]\d+\b|\bprocess \d+\b", _numbers, "pid 7219"),
    Normalizer("job", r"(?:(?<=^\[\d\] )|(?<=^\[\d\d\] ))\d+$", _fixed(r"\d+"), "12345"),
)

_BY_NAME = {n.name: n for n in NORMALIZERS}
_FINDER = re.compile("|".join(f"(?P<{n.name}>{n.pattern})" for n in NORMALIZERS))


def volatile_tokens(line: str) -> list[tuple[str, str]]:
    """``(kind, token)`` for every volatile token of ``line``, left to right."""
    return [(m.lastgroup or "", m.group()) for m in _FINDER.finditer(line)]


#: Keys of JSON objects (``ip -j``) whose integer values are kernel-assigned numbers.
VOLATILE_JSON_NUMBERS = frozenset({"ifindex", "link_index", "link_netnsid"})


def literal_regex(text: str, normalize: bool = True) -> str:
    """A regex for ``text`` taken literally, volatile tokens matched by shape.

    Spaces next to a volatile token may be any number of spaces: a column of ``ip -br``
    or ``docker ps`` is padded to the widest value, which changes with the values.
    """
    if not normalize:
        return re.escape(text)
    out: list[str] = []
    pos = 0
    for m in _FINDER.finditer(text):
        out.append(_between(text[pos : m.start()], after_token=pos > 0, before_token=True))
        out.append(_BY_NAME[m.lastgroup or ""].shape(m.group()))
        pos = m.end()
    out.append(_between(text[pos:], after_token=pos > 0, before_token=False))
    return "".join(out)


def _between(piece: str, after_token: bool, before_token: bool) -> str:
    """Literal text between tokens; its spaces touching a token become `` +``."""
    if not piece.strip(" "):  # indentation at the start of a line stays exact
        return " +" if piece and after_token else re.escape(piece)
    lead = len(piece) - len(piece.lstrip(" ")) if after_token else 0
    trail = len(piece) - len(piece.rstrip(" ")) if before_token else 0
    core = piece[lead : len(piece) - trail]
    return (" +" if lead else "") + re.escape(core) + (" +" if trail else "")


@functools.lru_cache(maxsize=4096)
def line_regex(line: str, normalize: bool = True) -> re.Pattern[str] | None:
    """The compiled pattern of an expected literal line (``...`` inside it is any text),
    or None when the line is plain text that must be equal."""
    pieces = line.split(ELLIPSIS)
    regexes = [literal_regex(p, normalize) for p in pieces]
    if len(pieces) == 1 and regexes[0] == re.escape(line):
        return None
    return re.compile(".*".join(regexes), re.DOTALL)


def shape_key(line: str) -> str:
    """``line`` with each volatile token replaced by its kind: equal for two lines that
    differ only in volatile values."""
    return _FINDER.sub(lambda m: f"\0{m.lastgroup}\0", line)


def has_volatile(line: str) -> bool:
    """Does ``line`` hold a token matched by shape?"""
    return _FINDER.search(line) is not None
