"""Running labs on this machine: /run/labbook/<lab>/state.json and the processes behind it.

Kept free of heavy imports: ``labbook exec`` reads it on every call.
"""

from __future__ import annotations

import os
import re
import select
import time
from dataclasses import dataclass, field
from functools import partial

from .. import labstate
from ..labstate import (  # the netns lab's state as other modules and tests use it
    STATE_ROOT,
    Proc,
    alive,
    claim,
    lab_dir,
    me,
    provider_of,
    remove,
    write,
)

__all__ = ["STATE_ROOT", "LabState", "NodeState", "Proc", "age", "alive", "claim", "lab_dir",
           "me", "names", "provider_of", "read", "remove", "scan", "wait_gone", "why_stale",
           "write"]

#: What ``ps`` shows for the processes of a lab (tests and ``gc`` look for these).
INIT_TITLE = "labbook-init"
NODE_TITLE = "labbook-node"
#: How old a state directory without readable state must be before gc takes it for junk.
CLAIM_GRACE = 10.0
_TITLE_RE = re.compile(rb"^(labbook-init|labbook-node) ([a-z0-9][a-z0-9-]*)(?:/(\S+))?")


@dataclass(frozen=True)
class NodeState:
    pid: int
    start: int
    hostname: str
    network_mode: str = "own"


@dataclass(frozen=True, kw_only=True)
class LabState(labstate.State):
    """What a running lab is: written before anything is created, completed when it is up."""

    provider: str = "netns"
    init: Proc | None = None
    nodes: dict[str, NodeState] = field(default_factory=dict)


def read(name: str) -> LabState | None:
    """The netns lab's state; None when there is none, it is unreadable or another provider's."""
    return labstate.load(name, "netns", partial(labstate.from_json, LabState, NodeState,
                                                ("owner", "init")))


def names() -> list[str]:
    """Labs of this provider with a state directory, running or not (and directories
    whose state is unreadable, which may be this provider's)."""
    return [d for d in labstate.lab_names() if provider_of(d) in ("netns", None)]


def unreadable_since(name: str) -> float:
    """Seconds since the state directory of a lab with unreadable state last changed."""
    try:
        return time.time() - os.stat(lab_dir(name)).st_mtime
    except OSError:
        return 0.0


def scan() -> dict[str, dict[str, list[int]]]:
    """Processes titled ``labbook-init LAB`` / ``labbook-node LAB/NODE``, by lab and kind."""
    found: dict[str, dict[str, list[int]]] = {}
    for pid, argv in labstate.processes():
        m = _TITLE_RE.match(argv)
        if m:
            lab = found.setdefault(m.group(2).decode(), {"init": [], "node": []})
            lab["init" if m.group(1) == b"labbook-init" else "node"].append(pid)
    return found


def age(created: float) -> str:
    """``3s``, ``4m``, ``2h``, ``5d``."""
    secs = max(0, int(time.time() - created))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def why_stale(st: LabState | None, everything: bool = False, name: str = "") -> str:
    """Why ``gc`` should remove this lab, or "" to keep it."""
    if st is None:
        # A directory is briefly without state while a lab is being claimed.
        return "its state file is unreadable" if unreadable_since(name) > CLAIM_GRACE else ""
    verdict = labstate.owner_verdict(st)
    if verdict is not None:
        return verdict
    if not alive(st.init):
        return "its processes are gone"
    return "--all" if everything else ""


def wait_gone(pids: list[int], deadline: float) -> list[int]:
    """Wait until every pid has exited (or ``deadline``); return those still running."""
    left = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue  # already gone
        try:
            # A pidfd becomes readable when its process exits (zombies count as exited).
            poll = select.poll()
            poll.register(fd, select.POLLIN)
            if not poll.poll(max(0.0, deadline - time.monotonic()) * 1000):
                left.append(pid)
        finally:
            os.close(fd)
    return left
