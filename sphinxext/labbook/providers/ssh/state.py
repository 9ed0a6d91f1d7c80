"""Running ssh labs on this machine: <root>/<lab>/state.json, control sockets beside it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
from dataclasses import dataclass, field
from typing import Any

from .. import labstate, procs
from ..labstate import alive, me, state_root, write
from .inventory import HostEntry

__all__ = [
    "SshState",
    "alive",
    "claim",
    "kill",
    "lab_dir",
    "master_labs",
    "masters",
    "me",
    "names",
    "read",
    "remove",
    "state_root",
    "write",
]


@dataclass(frozen=True, kw_only=True)
class SshState(labstate.State):
    """What a running ssh lab is: enough for another process to use it and take it down."""

    token: str
    provider: str = "ssh"
    insecure: bool = False
    connect_timeout: int = 10
    entries: dict[str, HostEntry] = field(default_factory=dict)

    @property
    def directory(self) -> str:
        return lab_dir(self.name)

    @property
    def control_dir(self) -> str:
        return os.path.join(self.directory, "ssh")

    def control_path(self, node: str) -> str:
        """A short socket name (sun_path has 108 bytes, and ssh adds a 17-byte suffix)."""
        short = node if len(node) <= 24 else hashlib.sha256(node.encode()).hexdigest()[:16]
        return os.path.join(self.control_dir, short)


def lab_dir(name: str) -> str:
    return labstate.lab_dir(name, state_root())


def claim(name: str) -> bool:
    """Create the lab's state directory (only its user may enter: the control sockets are
    there); False when one of that name exists."""
    return labstate.claim(name, state_root(), 0o700)


def read(name: str) -> SshState | None:
    """The ssh lab ``name``, or None (no such lab, another provider's, or unreadable)."""
    return labstate.load(name, "ssh", _build, state_root())


def _build(raw: dict[str, Any]) -> SshState:
    entries = {}
    for node, e in raw.pop("entries", {}).items():
        e["interfaces"] = tuple(tuple(p) for p in e.get("interfaces", ()))
        e["options"] = tuple(tuple(p) for p in e.get("options", ()))
        entries[node] = HostEntry(**e)
    labstate.as_procs(raw, "owner")
    return SshState(entries=entries, **raw)


def names() -> list[str]:
    """Lab directories that hold an ssh lab's state."""
    root = state_root()
    return [n for n in labstate.lab_names(root) if labstate.provider_of(n, root) == "ssh"]


def remove(name: str) -> None:
    labstate.remove(name, state_root())


# -- processes -------------------------------------------------------------------------
def masters(name: str) -> list[int]:
    """ssh master processes of lab ``name`` (their argv names the lab's control directory)."""
    needle = f"ControlPath={os.path.join(lab_dir(name), 'ssh')}/".encode()
    return [pid for pid, argv in _ssh_processes() if needle in argv and b"\0-M\0" in argv]


def master_labs() -> set[str]:
    """Names of labs that have ssh master processes on this machine."""
    prefix = f"ControlPath={state_root()}/".encode()
    found = set()
    for _, argv in _ssh_processes():
        for arg in argv.split(b"\0"):
            if arg.startswith(prefix) and b"\0-M\0" in argv:
                rest = arg[len(prefix) :].decode(errors="replace").split("/")
                if len(rest) >= 3 and rest[1] == "ssh":
                    found.add(rest[0])
    return found


def _ssh_processes() -> list[tuple[int, bytes]]:
    return [(pid, b"\0" + argv) for pid, argv in procs.cmdlines() if argv.startswith(b"ssh\0")]


def kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
