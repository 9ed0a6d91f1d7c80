"""Running netns labs of this user: <state root>/<lab>/state.json and the processes behind them.

Kept free of heavy imports: ``labbook exec`` reads it on every call.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import partial

from .. import labstate
from ..labstate import (  # the netns lab's state as other modules and tests use it
    Proc,
    alive,
    claim,
    lab_dir,
    me,
    provider_of,
    remove,
    state_root,
    title,
    write,
)
from ..procs import cmdlines, ours, parent, wait_gone

__all__ = [
    "LabState",
    "NodeState",
    "Proc",
    "age",
    "alive",
    "claim",
    "lab_dir",
    "me",
    "names",
    "provider_of",
    "read",
    "remove",
    "scan",
    "state_root",
    "title",
    "wait_gone",
    "write",
]

#: What ``ps`` shows for the processes of a lab (tests and ``gc`` look for these).
INIT_TITLE = "labbook-init"
NODE_TITLE = "labbook-node"
#: The titles end with the state root of the lab's user: one user's ``gc`` never takes
#: another's labs (and root's never those of root in a container: see scan).
_TITLE_RE = re.compile(
    rb"^(labbook-init|labbook-node) ([a-z0-9][a-z0-9-]*)(?:/([^\s\0]+))? "
    rb"(/[^\s\0]*)"
)


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
    return labstate.load(
        name, "netns", partial(labstate.from_json, LabState, NodeState, ("owner", "init"))
    )


def names() -> list[str]:
    """Labs of this provider with a state directory, running or not (and directories
    whose state is unreadable, which may be this provider's)."""
    return [d for d in labstate.lab_names() if provider_of(d) in ("netns", None)]


def scan() -> dict[str, dict[str, list[int]]]:
    """Processes titled ``labbook-init LAB`` / ``labbook-node LAB/NODE``, by lab and kind."""
    found: dict[str, dict[str, list[int]]] = {}
    root = state_root()
    matches = []
    for pid, argv in cmdlines():
        m = _TITLE_RE.match(argv)
        if m and m.group(4).decode(errors="replace") == root:
            matches.append((pid, m.group(1) == b"labbook-init", m.group(2).decode()))
    # A holder is this user's when it runs beside this process; a node's init, when such
    # a holder is its parent (it is handed to its holder when it is made).
    holders = {pid for pid, init, _ in matches if init and ours(pid)}
    for pid, init, name in matches:
        if pid in holders or (not init and parent(pid) in holders):
            lab = found.setdefault(name, {"init": [], "node": []})
            lab["init" if init else "node"].append(pid)
    return found


def age(created: float) -> str:
    """``3s``, ``4m``, ``2h``, ``5d``."""
    secs = max(0, int(time.time() - created))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"
