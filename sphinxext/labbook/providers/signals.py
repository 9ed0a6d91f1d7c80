"""Signals while a lab is up: SIGTERM becomes an exception (so that ``with lab:`` tears it
down), and a teardown runs to its end through a second Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so ``except Exception``
    blocks do not swallow it and every ``finally`` and ``__exit__`` still runs."""


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


#: What the first signal during teardown says (on stderr).
STILL_TEARING_DOWN = (
    "labbook: still tearing down, please wait (press Ctrl-C twice more to stop at once, "
    "leaving the lab for 'labbook gc')\n"
)
#: SIGINTs during teardown that stop it at once.
FORCE_AFTER = 3


@contextlib.contextmanager
def teardown_shielded() -> Iterator[None]:
    """Within the block (a teardown), SIGINT and SIGTERM wait: a second Ctrl-C must not
    stop it halfway and leave namespaces and state behind. The first one says to wait;
    the third SIGINT counted from the one that started the teardown forces it
    (KeyboardInterrupt). A signal that waited is raised when the block ends, unless an
    exception already leaves it (the teardown that signal asked for is then done)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []

    def wait_please(signum: int, frame: FrameType | None) -> None:
        got.append(signum)
        if got.count(signal.SIGINT) >= FORCE_AFTER - 1:
            raise KeyboardInterrupt
        if len(got) == 1:
            os.write(2, STILL_TEARING_DOWN.encode())

    previous = {s: signal.signal(s, wait_please) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if signal.SIGINT in got:
        raise KeyboardInterrupt
    if got:
        raise Terminated()
