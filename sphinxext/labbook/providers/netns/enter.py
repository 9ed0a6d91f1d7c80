"""``labbook exec``: run a command inside a node, its exit code and signals passed through.

The lean path: no YAML, no JSON Schema, no pyroute2; the state file and a few
system calls. The calling process forks a child that joins the node's PID namespace
(from the node's user namespace where that is what grants the right, as for an
ordinary user's labs) and forks the command there; the command joins the node's
other namespaces, its user namespace first, and execs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from ...errors import LabNotFound, NodeNotFound, ProviderError
from ..procs import is_running
from ..stateroot import lab_names, raw_state
from . import nsutil

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Signals the caller receives and hands on to the command.
FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
)
CLONE_NEWUSER = 0x10000000


def netns_lab(name: str) -> dict[str, Any] | None:
    """The state of the netns lab ``name``, as plain JSON (reading it through the state
    dataclasses would cost ``labbook exec`` more than entering the node does); None when
    there is no such lab or it is another provider's."""
    raw = raw_state(name)
    return raw if raw is not None and raw.get("provider") == "netns" else None


def node_pid(lab: str, node: str) -> int:
    """The host pid of ``node``'s init; LabNotFound/NodeNotFound (exit 2) when there is none."""
    st = netns_lab(lab)
    if st is None or st.get("status") != "up":
        up = [n for n in lab_names() if (s := netns_lab(n)) and s.get("status") == "up"]
        raise LabNotFound(f"no running lab named '{lab}' (running: {', '.join(up) or 'none'})")
    nodes = st.get("nodes") or {}
    info = nodes.get(node)
    if not isinstance(info, dict):
        raise NodeNotFound(
            f"lab '{lab}' has no node '{node}'; its nodes: {', '.join(nodes) or '(none)'}"
        )
    pid, start = info.get("pid"), info.get("start")
    if not isinstance(pid, int) or not isinstance(start, int) or not is_running(pid, start):
        raise ProviderError(
            f"node '{node}' of lab '{lab}' is not running; "
            f"run 'labbook down {lab}' and bring it up again"
        )
    return pid


def run(lab: str, node: str, argv: list[str], env: dict[str, str]) -> int:
    """Run ``argv`` in the node and wait; return its exit code (128+N if killed by signal N)."""
    pid = node_pid(lab, node)
    fds: list[tuple[int, int]] = []
    try:
        fds = [
            (os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY), flag)
            for name, flag in (("user", CLONE_NEWUSER), *nsutil.NAMESPACES)
        ]
    except OSError as exc:
        for fd, _ in fds:
            os.close(fd)
        raise ProviderError(f"cannot enter node '{node}' of lab '{lab}': {exc}") from None
    child: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, f: _forward(child, s)) for sig in FORWARDED}
    try:
        child.append(os.fork())
        if child[0] == 0:  # pragma: no cover - joins the node, then waits for the command
            _join(fds, argv, env)
        for fd, _ in fds:
            os.close(fd)
        _, status = os.waitpid(child[0], 0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _join(fds: list[tuple[int, int]], argv: list[str], env: dict[str, str]) -> None:
    """In the first child, still invisible to the node (it is in the host's PID
    namespace): join every namespace of the node, then fork the command into it and pass
    its exit status and the signals this process gets on.

    The order is nsenter's: every namespace this process may join as it is, then the user
    namespace, then the rest. Root so joins the node's mount namespace before its user
    namespace; an ordinary user must join the user namespace first to be let in at all.
    A process the node could see while it still stood in the host's mount namespace would
    hand the node's root the host's / through /proc/PID/root; this one is not dumpable
    either until it execs.
    """
    code = 125
    try:
        nsutil.set_dumpable(False)
        left = []
        for fd, flag in fds:
            if flag == CLONE_NEWUSER:
                continue
            try:
                nsutil.setns(fd, flag)
            except PermissionError:
                left.append((fd, flag))
        nsutil.setns(next(fd for fd, flag in fds if flag == CLONE_NEWUSER), CLONE_NEWUSER)
        for fd, flag in left:
            nsutil.setns(fd, flag)
        command: list[int] = []
        for sig in FORWARDED:
            signal.signal(sig, lambda s, f: _forward(command, s))
        command.append(os.fork())
        if command[0] == 0:
            _exec(argv, env)
        _, status = os.waitpid(command[0], 0)
        code = os.waitstatus_to_exitcode(status)
        code = code if code >= 0 else 128 - code
    except BaseException as exc:
        sys.stderr.write(f"labbook: cannot enter the node: {exc}\n")
    finally:
        sys.stderr.flush()
        os._exit(code)


def _exec(argv: list[str], env: dict[str, str]) -> None:
    code = 127
    try:
        for sig in FORWARDED:
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.chdir(env.get("HOME", "/"))
        except OSError:
            os.chdir("/")
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        sys.stderr.write(f"labbook: {argv[0]}: command not found in the node\n")
    except OSError as exc:
        code = 126
        sys.stderr.write(f"labbook: cannot run {argv[0]} in the node: {exc.strerror}\n")
    except BaseException as exc:
        sys.stderr.write(f"labbook: cannot run {argv[0]} in the node: {exc!r}\n")
    finally:
        sys.stderr.flush()
        os._exit(code)


def _forward(child: list[int], sig: int) -> None:
    if child and child[0] > 0:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child[0], sig)
