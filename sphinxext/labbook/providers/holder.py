"""The process that holds a lab (netns or vm): forked, detached, in its own user namespace.

The process that brings a lab up forks the lab's holder; the two talk over one socket.
The holder of an ordinary user's netns lab first makes its user namespace and says
``U``; the parent maps the namespace's ids from outside (only a process in the parent
namespace may) and answers ``G``. (Root's holder stays in the host's namespace, its
nodes move into one of their own; VM labs run QEMU as their user.) The holder then
builds the lab and sends one JSON line: the pids of what it made, or why it could not.
After that the holder only reaps, until it is told to stop.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import time
from collections.abc import Callable

from ..errors import ProviderError
from . import userns
from .procs import Proc, is_running, start_time, wait_gone

#: Signals a holder waits for (blocked, taken with sigwait) instead of dying of them.
WAITED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
#: How long a holder gets to stop its lab before it is killed outright.
STOP_GRACE = 5.0

_UNSHARED = b"U"
_MAPPED = b"G"


class LabFailed(ProviderError):
    """The holder could not create the lab; it stops what it made and exits by itself."""


class Stopped(BaseException):
    """SIGTERM while the lab is being created: stop what was made so far, then exit."""


def stopped(signum: int, frame: object) -> None:
    raise Stopped(f"the lab was stopped (signal {signum}) while it was being created")


def fork(holder: Callable[[int], int], started: list[tuple[int, int]]) -> None:
    """Fork a process that runs ``holder(its end of the socket)`` and exits with what it
    returns; append (its pid, this end of the socket) to ``started``.

    Ctrl-C and SIGTERM are held back until the pid is recorded, so the caller's cleanup
    always knows what to stop.
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    mine, child_end = ours.detach(), theirs.detach()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked holder (tested through the lab)
            code = 1
            try:
                os.close(mine)
                code = holder(child_end)
            finally:
                os._exit(code)
        started.append((pid, mine))
        os.close(child_end)
    finally:
        if not started:
            os.close(mine)
            os.close(child_end)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


# -- in the holder ---------------------------------------------------------------------------
def detach(keep: int) -> None:
    """Leave the caller's session, signals and files behind: the lab outlives the caller."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    close_fds_but(keep)


def close_fds_but(*keep: int) -> None:
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 20)


def enter_userns(chan: int) -> None:
    """Make this process's user namespace and wait until the parent has mapped its ids."""
    from .netns import nsutil

    try:
        nsutil.unshare(userns.CLONE_NEWUSER)
    except OSError as exc:
        raise ProviderError(userns.why_refused(exc)) from None
    os.write(chan, _UNSHARED)
    if os.read(chan, 1) != _MAPPED:
        raise Stopped("the process bringing the lab up went away")


def send_report(chan: int, pids: dict[str, int]) -> None:
    """Each node's process, for :func:`wait_report`; closes the socket."""
    out = {n: [pid, start_time(pid) or 0] for n, pid in pids.items()}
    os.write(chan, (json.dumps({"nodes": out}) + "\n").encode())
    os.close(chan)


def send_error(chan: int, exc: BaseException) -> None:
    """Why the lab could not be made, for :func:`wait_report`."""
    known = (ProviderError, OSError, Stopped)
    message = str(exc) if isinstance(exc, known) else repr(exc)
    with contextlib.suppress(OSError):  # nobody may be waiting for this lab any more
        os.write(chan, (json.dumps({"error": message}) + "\n").encode())


def serve(on_stop: Callable[[], None]) -> None:
    """Reap children until told to stop (SIGTERM, SIGINT, SIGHUP); then ``on_stop()``."""
    signal.pthread_sigmask(signal.SIG_BLOCK, WAITED)
    reap()  # children that ended before SIGCHLD was blocked
    while signal.sigwait(WAITED) == signal.SIGCHLD:
        reap()
    on_stop()


def reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


# -- in the parent ---------------------------------------------------------------------------
def wait_report(
    fd: int,
    pid: int,
    timeout: float,
    ids: userns.IdMap | None = None,
    what: str = "the lab's holder",
) -> dict[str, list[int]]:
    """Map the holder's user namespace when it asks (with ``ids``, default
    :func:`userns.plan`), then return its report: node -> [pid, start]; ProviderError
    with the holder's reason. Closes ``fd``. ``what`` names the process that reports
    (a VM lab's relay reports to its holder the same way)."""
    deadline = time.monotonic() + timeout
    data = b""
    try:
        while not data.endswith(b"\n"):
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise ProviderError(f"the lab was not up after {timeout:.0f} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
            if data.startswith(_UNSHARED):
                data = data[1:]
                try:
                    userns.map_ids(pid, ids or userns.plan())
                except OSError as exc:
                    raise ProviderError(userns.why_unmapped(exc)) from None
                os.write(fd, _MAPPED)
    finally:
        os.close(fd)
    try:
        report = json.loads(data)
    except ValueError:
        raise ProviderError(f"{what} process {pid} ended before the lab was up") from None
    if "error" in report:
        raise LabFailed(report["error"])
    return {k: list(v) for k, v in report["nodes"].items()}


def stop(holder: Proc | None, procs: list[Proc], child: bool) -> None:
    """Stop a lab: ask its holder, then kill whatever is left; never raises for the gone."""
    if holder is not None and is_running(*holder):
        _signal(holder, signal.SIGTERM)
        wait_gone([holder[0]], time.monotonic() + STOP_GRACE)
    left = [p for p in ([holder] if holder else []) + procs if is_running(*p)]
    for p in left:
        _signal(p, signal.SIGKILL)
    wait_gone([p[0] for p in left], time.monotonic() + STOP_GRACE)
    if child and holder is not None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(holder[0], 0)


def _signal(proc: Proc, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(proc[0], sig)
