"""Running ssh labs on this machine: <root>/<lab>/state.json, control sockets beside it."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import signal
from dataclasses import dataclass, field
from typing import Any

from .inventory import HostEntry

Proc = tuple[int, int]  # (pid, start time): one process, safe against pid reuse


def state_root() -> str:
    """The netns provider's root, so that ``labbook ls`` and ``gc`` see every lab in one place.

    Users other than root (the ssh provider needs no privileges) use their runtime directory.
    """
    if os.geteuid() == 0:
        return "/run/labbook"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "labbook")
    return f"/tmp/labbook-{os.geteuid()}"


@dataclass(frozen=True)
class SshState:
    """What a running ssh lab is: enough for another process to use it and take it down."""

    name: str
    spec_path: str
    spec_digest: str
    created: float
    token: str
    status: str = "creating"  # creating | up
    provider: str = "ssh"
    owner: Proc | None = None
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
    return os.path.join(state_root(), name)


def claim(name: str) -> bool:
    """Create the lab's state directory; False when one of that name exists."""
    os.makedirs(state_root(), mode=0o755, exist_ok=True)
    try:
        os.mkdir(lab_dir(name), 0o700)
    except FileExistsError:
        return False
    return True


def write(st: SshState) -> None:
    """Replace state.json atomically."""
    raw = dataclasses.asdict(st)
    path = os.path.join(st.directory, "state.json")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(raw, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def read(name: str) -> SshState | None:
    """The ssh lab ``name``, or None (no such lab, another provider's, or unreadable)."""
    try:
        with open(os.path.join(lab_dir(name), "state.json"), encoding="utf-8") as f:
            raw: dict[str, Any] = json.load(f)
        if raw.get("provider") != "ssh":
            return None
        entries = {}
        for node, e in raw.pop("entries", {}).items():
            e["interfaces"] = tuple(tuple(p) for p in e.get("interfaces", ()))
            e["options"] = tuple(tuple(p) for p in e.get("options", ()))
            entries[node] = HostEntry(**e)
        raw["owner"] = tuple(raw["owner"]) if raw.get("owner") else None
        return SshState(entries=entries, **raw)
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def names() -> list[str]:
    """Lab directories that hold an ssh lab's state."""
    try:
        found = sorted(os.listdir(state_root()))
    except FileNotFoundError:
        return []
    out = []
    for name in found:
        try:
            with open(os.path.join(lab_dir(name), "state.json"), encoding="utf-8") as f:
                if json.load(f).get("provider") == "ssh":
                    out.append(name)
        except (OSError, ValueError, AttributeError):
            continue
    return out


def remove(name: str) -> None:
    shutil.rmtree(lab_dir(name), ignore_errors=True)


# -- processes -------------------------------------------------------------------------
def start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (tells a reused pid apart)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rindex(b")") + 2:].split()[19])


def me() -> Proc:
    return (os.getpid(), start_time(os.getpid()) or 0)


def alive(proc: Proc | None) -> bool:
    return proc is not None and start_time(proc[0]) == proc[1]


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
                rest = arg[len(prefix):].decode(errors="replace").split("/")
                if len(rest) >= 3 and rest[1] == "ssh":
                    found.add(rest[0])
    return found


def _ssh_processes() -> list[tuple[int, bytes]]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read()
        except OSError:
            continue
        if argv.startswith(b"ssh\0"):
            out.append((int(entry), b"\0" + argv))
    return out


def kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
