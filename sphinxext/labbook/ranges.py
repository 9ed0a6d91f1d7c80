"""Numbers a user writes (directive options, configuration, command-line options), checked
against their ranges in one place.

Each function takes the text as written and returns the value, or raises ``ValueError``
whose message says what was wrong and what to write instead. Directives, ``conf.py``
values and command-line options all go through here, so ``inf``, ``nan``, ``1e10``,
``-1`` or ``77777777`` never reach the runner.
"""

from __future__ import annotations

import math

#: The longest ``:timeout:`` / ``:retry:`` (and ``labbook_timeout``): one day, in seconds.
MAX_SECONDS = 86400.0
#: The largest file mode, ``:mode: 7777`` (setuid, setgid, sticky and rwx for all).
MAX_MODE = 0o7777
#: The most foreign-key hops a schema diagram's ``:depth:`` / ``--depth`` follows.
MAX_DEPTH = 100
#: The most documents ``labbook check -j`` runs at once.
MAX_JOBS = 256


def seconds(text: str | float, like: str = ":timeout: 30") -> float:
    """A duration: a finite number of seconds, more than 0 and at most a day. ``like``
    is the example the message ends with."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if math.isfinite(value) and 0 < value <= MAX_SECONDS:
        return value
    what = "is not a number of seconds" if not math.isfinite(value) else "is out of range"
    raise ValueError(
        f"{str(text).strip()!r} {what}; write more than 0 and at most {MAX_SECONDS:g} "
        f"seconds (a day), like {like}"
    )


def file_mode(text: str) -> int:
    """A file mode in octal, 0 to 7777 (``0644``, ``755``, ``0o600``)."""
    digits = str(text).strip()
    digits = digits[2:] if digits[:2].lower() == "0o" else digits
    if not digits or any(c not in "01234567" for c in digits):
        raise ValueError(f"{text!r} is not an octal file mode; write it like 0644")
    value = int(digits, 8)
    if value > MAX_MODE:
        raise ValueError(f"{text!r} is more than 7777; write a file mode like 0644 or 4755")
    return value


def exit_status(text: str) -> int:
    """An exit status, 0 to 255."""
    try:
        value = int(str(text).strip())
    except (TypeError, ValueError):
        raise ValueError(
            f"{text!r} is not an exit status; write a number from 0 to 255, like :rc: 1"
        ) from None
    if not 0 <= value <= 255:
        raise ValueError(f"{value} is not an exit status; write a number from 0 to 255")
    return value


def whole(text: str, what: str, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` (``what`` names it in the message)."""
    try:
        value = int(str(text).strip())
    except (TypeError, ValueError):
        value = None
    if value is None or not low <= value <= high:
        raise ValueError(f"{what} is {text!r}; write a whole number from {low} to {high}")
    return value


def argument(check, *args):  # type: ignore[no-untyped-def]
    """``check`` as an argparse ``type=``: its message becomes argparse's one error line
    (exit code 2)."""
    import argparse

    def convert(text: str):  # type: ignore[no-untyped-def]
        try:
            return check(text, *args)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = check.__name__
    return convert
