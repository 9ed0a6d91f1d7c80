"""Processes on this machine, read from /proc: who they are, who owns them, how to end them.

One process is named by (pid, start time): pids are reused, the pair is not. Kept free
of heavy imports: ``labbook exec`` reads it on every call.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import time
from collections.abc import Iterator

Proc = tuple[int, int]  # (pid, start time)


def _stat_fields(pid: int | str) -> list[str]:
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    # comm may hold spaces and parentheses: the fields start after the last ')'.
    return [raw[: raw.index(b"(")].strip().decode(), *raw[raw.rindex(b")") + 2 :].decode().split()]


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None when there is no such process."""
    try:
        return int(_stat_fields(pid)[20])
    except (OSError, ValueError, IndexError):
        return None


def parent_pid() -> int:
    """This process's parent as the mounted /proc sees it (also across PID namespaces)."""
    return int(_stat_fields("self")[2])


def is_running(pid: int | None, started: int | None) -> bool:
    """True when the process ``(pid, started)`` still exists and has not exited."""
    if not pid:
        return False
    try:
        fields = _stat_fields(pid)
    except OSError:
        return False
    return fields[1] not in ("Z", "X") and (started is None or int(fields[20]) == started)


def me() -> Proc:
    pid = os.getpid()
    return (pid, start_time(pid) or 0)


def alive(proc: Proc | None) -> bool:
    return proc is not None and is_running(proc[0], proc[1])


def pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def cmdlines() -> Iterator[tuple[int, bytes]]:
    """Every process of this user: pid and command line (NUL-separated). Another user's
    labs are never this user's business (nor an ordinary user's labs root's)."""
    mine = os.geteuid()
    for pid in pids():
        if owner(pid) != mine:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read()
        except OSError:
            continue
        yield pid, argv


def owner(pid: int) -> int | None:
    """The real uid of ``pid`` (None when it is gone). Read from its status: /proc/PID
    itself belongs to root for a process that changed namespaces or credentials."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def parents() -> dict[int, int]:
    """Every process and its parent, one read of /proc."""
    out = {}
    for pid in pids():
        try:
            out[pid] = int(_stat_fields(pid)[2])
        except (OSError, ValueError, IndexError):
            continue
    return out


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first found, grandchildren after)."""
    children: dict[int, list[int]] = {}
    for child, ppid in parents().items():
        children.setdefault(ppid, []).append(child)
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def ours(pid: int) -> bool:
    """Whether ``pid`` lives in this process's PID namespace (the processes of a
    container's labs, seen from the host, do not: its root's titles may match root's)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") == os.readlink("/proc/self/ns/pid")
    except OSError:
        return False


def parent(pid: int) -> int | None:
    try:
        return int(_stat_fields(pid)[2])
    except (OSError, ValueError, IndexError):
        return None


def in_pid_namespace(init: int) -> list[int]:
    """Host pids of the live processes in the PID namespace of ``init``, but ``init``."""
    ns = os.readlink(f"/proc/{init}/ns/pid")
    found = []
    for pid in pids():
        if pid == init:
            continue
        try:
            if os.readlink(f"/proc/{pid}/ns/pid") == ns and is_running(pid, None):
                found.append(pid)
        except OSError:
            continue
    return sorted(found)


def kill_tree(pid: int, grace: float = 1.0) -> None:
    """SIGKILL ``pid``'s descendants, then ``pid``'s process group and ``pid`` itself.

    Descendants go first, and their parents get ``grace`` seconds to reap them: a shell
    entered into a node through ``nsenter`` must be reaped by ``nsenter``. Killed
    together, the shell would be orphaned to the host's init, and the node's PID
    namespace could not finish dying until that init reaped it (late, on some machines).
    """
    victims = descendants(pid)
    for p in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while victims and time.monotonic() < deadline:
        victims = [p for p in victims if os.path.exists(f"/proc/{p}")]
        if victims:
            time.sleep(0.005)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


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


#: Temporary files and directories of labbook's processes: ``labbook-KIND-PID-XXXX`` (a
#: leading dot where they sit in a cache); ``labbook gc`` removes those whose process is
#: gone (killed before it could remove them).
_LEFT = re.compile(r"^\.?labbook-([a-z]+)-(\d+)-\w+$")


def temp_prefix(kind: str, hidden: bool = False) -> str:
    """The prefix of a temporary file or directory of this process (``tempfile``'s
    ``prefix=``), which :func:`left_behind` recognises once the process is gone."""
    return f"{'.' if hidden else ''}labbook-{kind}-{os.getpid()}-"


def left_behind(directory: str) -> list[tuple[str, str, int]]:
    """(path, kind, pid) of this user's temporary files and directories in ``directory``
    whose process is gone."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    out = []
    for name in names:
        m = _LEFT.match(name)
        if m is None:
            continue
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        pid = int(m.group(2))
        if st.st_uid == os.getuid() and not is_running(pid, None):
            out.append((path, m.group(1), pid))
    return sorted(out)
