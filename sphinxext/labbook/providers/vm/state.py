"""Running VM labs: <state root>/<lab>/state.json (beside the netns provider's labs), the
VMs' sockets, consoles and scratch disks in the same directory, and the processes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial

from .. import labstate
from ..labstate import Proc, state_root, write
from ..procs import cmdlines, ours

__all__ = ["HOLDER_TITLE", "RELAY_TITLE", "VmNode", "VmState", "names", "read", "scan", "write"]

#: What ``ps`` shows for the process that holds a VM lab's network namespace.
HOLDER_TITLE = "labbook-holder"
#: What ``ps`` shows for the relay of an ordinary user's VM lab (see relay.py).
RELAY_TITLE = "labbook-relay"


@dataclass(frozen=True)
class VmNode:
    pid: int  # the node's QEMU process
    start: int
    hostname: str
    ctl: str  # the agent's socket
    console: str
    log: str = ""  # what QEMU printed


@dataclass(frozen=True, kw_only=True)
class VmState(labstate.State):
    provider: str = "vm"
    holder: Proc | None = None
    kernel: str = ""
    accel: str = ""
    nodes: dict[str, VmNode] = field(default_factory=dict)

    def procs(self) -> list[Proc]:
        return [(n.pid, n.start) for n in self.nodes.values()]


def read(name: str) -> VmState | None:
    """The VM lab ``name``; None when there is none, it is another provider's or unreadable."""
    return labstate.load(
        name, "vm", partial(labstate.from_json, VmState, VmNode, ("owner", "holder"))
    )


def names() -> list[str]:
    return [n for n in labstate.lab_names() if read(n) is not None]


def scan() -> dict[str, list[int]]:
    """Processes of VM labs on this machine, by lab: holders and relays (by title) and
    QEMUs (by the lab directory their sockets are in)."""
    found: dict[str, list[int]] = {}
    titles = tuple(t.encode() + b" " for t in (HOLDER_TITLE, RELAY_TITLE))
    root = state_root()
    qemu_lab = re.compile(rb"path=" + re.escape(root.encode()) + rb"/([a-z0-9][a-z0-9-]*)/")
    for pid, argv in cmdlines():
        if not ours(pid):
            continue  # a container's labs, seen from the host
        lab = None
        if argv.startswith(titles):
            words = argv.split(b"\0")[0].decode(errors="replace").split()[1:]
            lab = words[0] if words[1:2] == [root] else None
        elif b"qemu-system" in argv.split(b"\0")[0]:
            m = qemu_lab.search(argv)
            lab = m.group(1).decode() if m else None
        if lab:
            found.setdefault(lab, []).append(pid)
    return found
