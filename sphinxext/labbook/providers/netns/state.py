"""Running labs on this machine: /run/labbook/<lab>/state.json and the processes behind it.

Kept free of heavy imports: ``labbook exec`` reads it on every call.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .nsutil import is_running, start_time

STATE_ROOT = "/run/labbook"
#: What ``ps`` shows for the processes of a lab (tests and ``gc`` look for these).
INIT_TITLE = "labbook-init"
NODE_TITLE = "labbook-node"
#: How old a state directory without readable state must be before gc takes it for junk.
CLAIM_GRACE = 10.0
_TITLE_RE = re.compile(rb"^(labbook-init|labbook-node) ([a-z0-9][a-z0-9-]*)(?:/(\S+))?")

Proc = tuple[int, int]  # (pid, start time): one process, safe against pid reuse


@dataclass(frozen=True)
class NodeState:
    pid: int
    start: int
    hostname: str
    network_mode: str = "own"


@dataclass(frozen=True)
class LabState:
    """What a running lab is: written before anything is created, completed when it is up."""

    name: str
    spec_path: str
    spec_digest: str
    created: float
    status: str = "creating"  # creating | up
    provider: str = "netns"
    owner: Proc | None = None  # the process whose lab it is; None once detached
    init: Proc | None = None
    nodes: dict[str, NodeState] = field(default_factory=dict)

    @property
    def directory(self) -> str:
        return lab_dir(self.name)

    def with_(self, **changes: object) -> LabState:
        return replace(self, **changes)  # type: ignore[arg-type]


def lab_dir(name: str) -> str:
    return os.path.join(STATE_ROOT, name)


def claim(name: str) -> bool:
    """Create the lab's state directory; False when it already exists."""
    os.makedirs(STATE_ROOT, mode=0o755, exist_ok=True)
    try:
        os.mkdir(lab_dir(name), 0o755)
    except FileExistsError:
        return False
    return True


def write(st: LabState) -> None:
    """Replace state.json atomically (a reader never sees half a file)."""
    path = os.path.join(st.directory, "state.json")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(asdict(st), f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _raw(name: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(lab_dir(name), "state.json"), encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def provider_of(name: str) -> str | None:
    """Which provider's lab ``name`` is (labs of every provider share STATE_ROOT)."""
    raw = _raw(name)
    return str(raw.get("provider", "")) if raw is not None else None


def read(name: str) -> LabState | None:
    """The netns lab's state; None when there is none, it is unreadable or another provider's."""
    raw = _raw(name)
    if raw is None or raw.get("provider") != "netns":
        return None
    try:
        nodes = {k: NodeState(**v) for k, v in raw.pop("nodes", {}).items()}
        for key in ("owner", "init"):
            raw[key] = tuple(raw[key]) if raw.get(key) else None
        return LabState(nodes=nodes, **raw)
    except (TypeError, AttributeError, ValueError):
        return None


def remove(name: str) -> bool:
    """Remove the lab's state directory; True if there was one."""
    path = lab_dir(name)
    existed = os.path.isdir(path)
    shutil.rmtree(path, ignore_errors=True)
    return existed


def names() -> list[str]:
    """Labs of this provider with a state directory, running or not (and directories
    whose state is unreadable, which may be this provider's)."""
    try:
        dirs = sorted(d for d in os.listdir(STATE_ROOT) if os.path.isdir(lab_dir(d)))
    except FileNotFoundError:
        return []
    return [d for d in dirs if provider_of(d) in ("netns", None)]


def unreadable_since(name: str) -> float:
    """Seconds since the state directory of a lab with unreadable state last changed."""
    try:
        return time.time() - os.stat(lab_dir(name)).st_mtime
    except OSError:
        return 0.0


def me() -> Proc:
    pid = os.getpid()
    return (pid, start_time(pid) or 0)


def alive(proc: Proc | None) -> bool:
    return proc is not None and is_running(proc[0], proc[1])


def scan() -> dict[str, dict[str, list[int]]]:
    """Processes titled ``labbook-init LAB`` / ``labbook-node LAB/NODE``, by lab and kind."""
    found: dict[str, dict[str, list[int]]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                head = f.read(200)
        except OSError:
            continue
        m = _TITLE_RE.match(head)
        if m:
            lab = found.setdefault(m.group(2).decode(), {"init": [], "node": []})
            lab["init" if m.group(1) == b"labbook-init" else "node"].append(int(entry))
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
    if st.status != "up":
        return "" if alive(st.owner) else "it was half-created by a process that is gone"
    if st.owner is not None and not alive(st.owner):
        return f"its owner process {st.owner[0]} is gone"
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
