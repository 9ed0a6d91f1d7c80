"""Control characters in what a lab printed, made visible.

A step's output may hold any byte: ``printf 'a\\001b'``, colour codes, a lone carriage
return. JSON keeps them (escaped by JSON itself), but XML 1.0 forbids most of them (a
junit.xml holding one cannot be parsed), HTML calls them errors, and on a terminal an
escape sequence in a warning would act instead of being read. Where output is shown, each
such character is written as ``\\xNN`` (``\\uNNNN`` above U+00FF), as ``repr`` would write
it, with :data:`NOTE` said once.
"""

from __future__ import annotations

import re

#: C0 controls but tab and newline, a carriage return not ending a line, DEL, C1
#: controls, surrogates and the two non-characters XML 1.0 forbids.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]|\r(?!\n)")
NOTE = "control characters are shown as \\xNN"


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group()[0])
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def visible(text: str) -> str:
    """``text`` with every control character written as ``\\xNN``."""
    return _INVISIBLE.sub(_escape, text)


def has_invisible(text: str | None) -> bool:
    return bool(text) and _INVISIBLE.search(text) is not None  # type: ignore[arg-type]
