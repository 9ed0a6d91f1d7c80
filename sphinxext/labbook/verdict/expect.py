"""The syntax of one expected output line: its kind suffix, quantifier, escapes, ``(no-eol)``.

labbook's spelling is a suffix after a space: `` (re)``, `` (glob)``, `` (esc)``, `` (eq)``
and `` (no-eol)``; a quantifier after the kind (`` (re*)``, `` (glob+)``, `` (eq?)``) or
alone (`` (*)``) lets the line stand for zero or more, one or more, or at most one
lines. Scrut's long names (``regex``, ``escaped``, ``equal``, ``gl``) and cram's
`` (esc) (no-eol)`` order are read too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import DirectiveError

#: The kinds of expected lines, by every spelling accepted.
KINDS = {
    "re": "re",
    "regex": "re",
    "glob": "glob",
    "gl": "glob",
    "esc": "esc",
    "escaped": "esc",
    "eq": "eq",
    "equal": "eq",
}
_SUFFIX = re.compile(r" \((?P<kind>[a-z]+)?(?P<quant>[*+?])?\)$")
NO_EOL = " (no-eol)"


@dataclass(frozen=True)
class Expected:
    """One expected line, parsed: ``kind`` is "text" (labbook's default: shapes and
    ``...`` inside), "eq" (taken literally), "re", "glob" or "esc"; ``low``/``high`` how
    many output lines it stands for (``high`` None: any number)."""

    line: str  # as written
    body: str  # without its suffixes
    kind: str = "text"
    low: int = 1
    high: int | None = 1
    no_eol: bool = False

    @property
    def quantified(self) -> bool:
        return (self.low, self.high) != (1, 1)


_QUANT = {"": (1, 1), "?": (0, 1), "*": (0, None), "+": (1, None)}


def parse_expected(line: str) -> Expected:
    """Read the suffixes of ``line``; an unknown ``(word)`` at the end is plain text."""
    body, no_eol = line, False
    if body.endswith(NO_EOL):
        body, no_eol = body[: -len(NO_EOL)], True
    m = _SUFFIX.search(body)
    if m is None or (m.group("kind") is None and m.group("quant") is None):
        return Expected(line, body, no_eol=no_eol)
    word = m.group("kind") or "eq"
    if word == "no-eol" or word not in KINDS:
        return Expected(line, body, no_eol=no_eol)
    low, high = _QUANT[m.group("quant") or ""]
    kind = KINDS[word] if m.group("kind") else "eq"
    return Expected(line, body[: m.start()], kind, low, high, no_eol)


_ESCAPES = {
    "\\": "\\",
    "t": "\t",
    "r": "\r",
    "n": "\n",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "e": "\x1b",
    "'": "'",
    '"': '"',
    "0": "\0",
}
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[0-7]{1,3}|.)")


def unescape(text: str) -> str:
    """The text of an ``(esc)`` line: ``\\t``, ``\\r``, ``\\x1b``, ``\\033``, ``\\u00e9``
    and ``\\\\`` as the characters they stand for (Python's and cram's escapes)."""

    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code[0] in "xu" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code[0] in "01234567" and (len(code) > 1 or code != "0"):
            return chr(int(code, 8))
        return _ESCAPES.get(code, "\\" + code)

    return _ESCAPE.sub(one, text)


def escape(text: str) -> str:
    """``text`` as the body of an ``(esc)`` line (the inverse of :func:`unescape`)."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or 0xDC80 <= ord(ch) <= 0xDCFF:
            code = ord(ch) - 0xDC00 if ord(ch) >= 0xDC80 else ord(ch)
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    return "".join(out)


def needs_escape(text: str) -> bool:
    """Would the line read differently on a page than in the output (control characters,
    trailing white space)?"""
    return text != text.rstrip() or escape(text) != text.replace("\\", "\\\\")


def glob_regex(glob: str, offset: int = 0) -> str:
    """cram's and Scrut's glob: ``*`` any text, ``?`` one character, ``[...]`` a class
    (as fnmatch), a backslash takes the next character literally (``\\*``, ``\\?``)."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        ch = glob[i]
        i += 1
        if ch == "\\" and i < n:
            out.append(re.escape(glob[i]))
            i += 1
        elif ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            end = glob.find("]", i + 1 if glob[i : i + 1] in ("!", "]") else i)
            if end < 0:
                out.append(re.escape(ch))
                continue
            inner = glob[i:end].replace("\\", "\\\\")
            if inner.startswith("!"):
                inner = "^" + inner[1:]
            elif inner.startswith("^"):
                inner = "\\" + inner
            out.append(f"[{inner}]")
            i = end + 1
        else:
            out.append(re.escape(ch))
    return "".join(out)


def compile_regex(source: str, offset: int, suffix: str = "re") -> re.Pattern[str]:
    """A regex line's pattern; raises DirectiveError (``line`` = ``offset``) if bad."""
    try:
        return re.compile(source)
    except re.error as exc:
        raise DirectiveError(
            f"bad regular expression before ' ({suffix})': {exc}; escape special "
            "characters with a backslash",
            line=offset,
        ) from None
