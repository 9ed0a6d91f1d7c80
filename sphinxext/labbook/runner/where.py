"""Where and when a lab ran: what a recorded result says about its machine."""

from __future__ import annotations

import functools
import os
import platform
import time


@functools.cache
def _machine() -> dict[str, str]:
    from ..version import __version__

    try:
        distribution = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        distribution = ""
    return {
        "kernel": os.uname().release,
        "distribution": distribution or platform.system(),
        "labbook": __version__,
    }


def where(
    provider: str, started: float, duration: float, kernel: str | None = None
) -> dict[str, str | float]:
    """``{"provider", "kernel", "distribution", "labbook", "date", "duration"}``: no user,
    host name or path, so a record is the same whoever made it. ``kernel``: the release
    the lab's nodes ran (default: this machine's)."""
    return {
        **_machine(),
        **({"kernel": kernel} if kernel is not None else {}),
        "provider": provider,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration": round(duration, 1),
    }
