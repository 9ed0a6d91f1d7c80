"""Where this user's labs are: the state root, each lab's directory and its state.json,
read as plain JSON. The lean part of :mod:`labstate`: ``labbook exec`` reads labs
through this module alone on every call, so it imports nothing but the standard
library's basics (no dataclasses, no typing).
"""

from __future__ import annotations

import json
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Where root's labs keep their state; an ordinary user's are in :func:`state_root`.
ROOT_STATE = "/run/labbook"
#: Names another state root: labs under it are a world of their own (``labbook labs``,
#: ``gc`` and ``down`` see only them), so jobs that share a machine and a user keep apart.
STATE_DIR_ENV = "LABBOOK_STATE_DIR"

_CAP_NET_ADMIN = 12
_CAP_SYS_ADMIN = 21


def privileged() -> bool:
    """True when this process is root with the rights to make namespaces itself (not root
    of a container that took them away)."""
    if os.geteuid() != 0:
        return False
    try:
        with open("/proc/self/status") as f:
            caps = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    except (OSError, StopIteration, ValueError):
        return True
    need = (1 << _CAP_SYS_ADMIN) | (1 << _CAP_NET_ADMIN)
    return caps & need == need


def state_root() -> str:
    """Where this user's labs keep their state: ``$LABBOOK_STATE_DIR`` when set; else
    /run/labbook for root (with the rights to make namespaces; root of a container without
    them counts as an ordinary user); for an ordinary user ``$XDG_RUNTIME_DIR/labbook``, or
    /tmp/labbook-UID where that is unset. Each user sees only their own labs."""
    chosen = os.environ.get(STATE_DIR_ENV)
    if chosen:
        if not os.path.isabs(chosen) or "\n" in chosen or " " in chosen:
            from ..errors import UsageError

            raise UsageError(
                f"{STATE_DIR_ENV}={chosen!r}: write an absolute path without spaces, "
                f"e.g. {STATE_DIR_ENV}=/tmp/labbook-ci-1"
            )
        return os.path.normpath(chosen)
    uid = os.geteuid()
    if privileged():
        return ROOT_STATE
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and owned_dir(runtime, uid):
        return os.path.join(runtime, "labbook")
    return f"/tmp/labbook-{uid}"


def owned_dir(path: str, uid: int) -> bool:
    """A directory (not a link) of ``uid``'s that nobody else may write in."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o022


def trusted(root: str) -> bool:
    """Whether to believe what is under ``root``: this user's own directory. Another
    user's /tmp/labbook-UID, planted before this user made one, holds no labs of this
    user's: reading it would let a stranger name processes for gc to kill."""
    return owned_dir(root, os.geteuid())


def title(kind: str, lab: str, root: str | None = None) -> str:
    """What ``ps`` shows for a process of ``lab``: ``KIND LAB ROOT``. The state root at the
    end tells apart the labs of users who share a uid (root, and root of a container
    without the rights to make namespaces). Inside a lab's user namespace, pass the root."""
    return f"{kind} {lab} {root or state_root()}"


def lab_dir(name: str, root: str | None = None) -> str:
    return os.path.join(root or state_root(), name)


def raw_state(name: str, root: str | None = None) -> dict[str, Any] | None:
    """Lab ``name``'s state.json as JSON; None when there is none, it is unreadable, or it
    is not this user's."""
    root = root or state_root()
    if not trusted(root):
        return None
    try:
        with open(os.path.join(lab_dir(name, root), "state.json"), encoding="utf-8") as f:
            if os.fstat(f.fileno()).st_uid != os.geteuid():
                return None  # not written by this user
            raw = json.load(f)
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def provider_of(name: str, root: str | None = None) -> str | None:
    """Which provider's lab ``name`` is; None when its state is missing or unreadable."""
    raw = raw_state(name, root)
    return str(raw.get("provider", "")) if raw is not None else None


def lab_names(root: str | None = None) -> list[str]:
    """Every lab directory under ``root``, of any provider, sorted."""
    root = root or state_root()
    if not trusted(root):
        return []
    try:
        return sorted(d for d in os.listdir(root) if os.path.isdir(lab_dir(d, root)))
    except FileNotFoundError:
        return []
