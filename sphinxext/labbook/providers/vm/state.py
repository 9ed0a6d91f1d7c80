"""Running VM labs: /run/labbook/<lab>/state.json (beside the netns provider's labs), the
VMs' sockets, consoles and scratch disks in the same directory, and the processes."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..netns.nsutil import is_running
from ..netns.state import STATE_ROOT, Proc, alive, lab_dir

#: What ``ps`` shows for the process that holds a VM lab's network namespace.
HOLDER_TITLE = "labbook-holder"
_QEMU_LAB = re.compile(rb"path=" + re.escape(STATE_ROOT.encode()) + rb"/([a-z0-9][a-z0-9-]*)/")


@dataclass(frozen=True)
class VmNode:
    pid: int  # the node's QEMU process
    start: int
    hostname: str
    ctl: str  # the agent's socket
    console: str
    log: str = ""  # what QEMU printed


@dataclass(frozen=True)
class VmState:
    name: str
    spec_path: str
    spec_digest: str
    created: float
    status: str = "creating"  # creating | up
    provider: str = "vm"
    owner: Proc | None = None  # the process whose lab it is; None once detached
    holder: Proc | None = None
    kernel: str = ""
    accel: str = ""
    nodes: dict[str, VmNode] = field(default_factory=dict)

    @property
    def directory(self) -> str:
        return lab_dir(self.name)

    def with_(self, **changes: Any) -> VmState:
        return replace(self, **changes)

    def procs(self) -> list[Proc]:
        return [(n.pid, n.start) for n in self.nodes.values()]


def write(st: VmState) -> None:
    """Replace state.json atomically."""
    path = os.path.join(st.directory, "state.json")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(asdict(st), f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def read(name: str) -> VmState | None:
    """The VM lab ``name``; None when there is none, it is another provider's or unreadable."""
    try:
        with open(os.path.join(lab_dir(name), "state.json"), encoding="utf-8") as f:
            raw: dict[str, Any] = json.load(f)
        if raw.get("provider") != "vm":
            return None
        nodes = {k: VmNode(**v) for k, v in raw.pop("nodes", {}).items()}
        for key in ("owner", "holder"):
            raw[key] = tuple(raw[key]) if raw.get(key) else None
        return VmState(nodes=nodes, **raw)
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def names() -> list[str]:
    try:
        found = sorted(os.listdir(STATE_ROOT))
    except FileNotFoundError:
        return []
    return [n for n in found if read(n) is not None]


def why_stale(st: VmState, everything: bool = False) -> str:
    """Why ``gc`` should remove this lab, or "" to keep it."""
    if st.status != "up":
        return "" if alive(st.owner) else "it was half-created by a process that is gone"
    if st.owner is not None and not alive(st.owner):
        return f"its owner process {st.owner[0]} is gone"
    if not alive(st.holder) or not any(is_running(*p) for p in st.procs()):
        return "its processes are gone"
    return "--all" if everything else ""


def scan() -> dict[str, list[int]]:
    """Processes of VM labs on this machine, by lab: holders (by title) and QEMUs (by the
    lab directory their sockets are in)."""
    found: dict[str, list[int]] = {}
    holder = HOLDER_TITLE.encode() + b" "
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read()
        except OSError:
            continue
        lab = None
        if argv.startswith(holder):
            lab = argv[len(holder):].split(b"\0")[0].split()[0].decode(errors="replace")
        elif b"qemu-system" in argv.split(b"\0")[0]:
            m = _QEMU_LAB.search(argv)
            lab = m.group(1).decode() if m else None
        if lab:
            found.setdefault(lab, []).append(int(entry))
    return found
