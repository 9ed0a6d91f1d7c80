"""The processes a lab is made of: one lab holder, and below it one init process per node.

The lab holder is forked from the process that brings the lab up. It makes the lab's
root network namespace, forks each node's init (PID 1 of a new PID namespace, with its
own network, mount, UTS and IPC namespaces), configures every network over netlink
and then only reaps children until it is told to stop. A node's init dies with the
lab holder (parent-death signal) and, being PID 1, takes every process of its node
with it. So killing the lab holder removes the whole lab, and nothing of a lab
exists outside these processes: no bind mounts, nothing in the host's namespaces.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from ...errors import ProviderError
from . import nsutil, rootfs
from .nsutil import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUTS,
    is_running,
)
from .plan import ROOT, Plan
from .state import INIT_TITLE, NODE_TITLE, Proc, wait_gone

#: Signals a holder waits for (blocked, taken with sigwait) instead of dying of them.
_WAITED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
#: How long a lab holder gets to stop its nodes before it is killed outright.
STOP_GRACE = 5.0


class LabFailed(ProviderError):
    """The lab holder could not create the lab; it stops what it made and exits by itself."""


@dataclass(frozen=True)
class NodeSpec:
    name: str
    hostname: str
    shares_root: bool = False


def start(lab: str, nodes: list[NodeSpec], plan: Plan, started: list[tuple[int, int]]) -> None:
    """Fork the lab holder; append (its pid, the read end of its report pipe) to ``started``."""
    from . import netlink  # noqa: F401  (imported before the fork, never in the child)

    fork(lambda report: _lab_holder(lab, nodes, plan, report), started)


def fork(holder: Callable[[int], int], started: list[tuple[int, int]]) -> None:
    """Fork a process that runs ``holder(write end of its report pipe)`` and exits with what
    it returns; append (its pid, the read end of the pipe) to ``started``.

    Ctrl-C and SIGTERM are held back until the pid is recorded, so the caller's cleanup
    always knows what to stop.
    """
    r, w = os.pipe()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked holder (tested through the lab)
            code = 1
            try:
                os.close(r)
                code = holder(w)
            finally:
                os._exit(code)
        started.append((pid, r))
        os.close(w)
    finally:
        if not started:
            os.close(r)
            os.close(w)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def send_report(report: int, nodes: dict[str, int]) -> None:
    """From a holder: each node's process, for :func:`wait_report`; closes the pipe."""
    out = {n: [pid, nsutil.start_time(pid) or 0] for n, pid in nodes.items()}
    os.write(report, (json.dumps({"nodes": out}) + "\n").encode())
    os.close(report)


def send_error(report: int, exc: BaseException) -> None:
    """From a holder: why the lab could not be made, for :func:`wait_report`."""
    known = (ProviderError, OSError, _Stopped)
    message = str(exc) if isinstance(exc, known) else repr(exc)
    with contextlib.suppress(OSError):  # nobody may be waiting for this lab any more
        os.write(report, (json.dumps({"error": message}) + "\n").encode())


def wait_report(fd: int, pid: int, timeout: float) -> dict[str, list[int]]:
    """The lab holder's report: node -> [pid, start]; ProviderError with its reason."""
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
    finally:
        os.close(fd)
    try:
        report = json.loads(data)
    except ValueError:
        raise ProviderError(f"the lab's holder process {pid} ended before the lab was up")\
            from None
    if "error" in report:
        raise LabFailed(report["error"])
    return {k: list(v) for k, v in report["nodes"].items()}


def stop(init: Proc | None, nodes: list[Proc], child: bool) -> None:
    """Stop a lab: ask its holder, then kill whatever is left; never raises for the gone."""
    if init is not None and is_running(*init):
        _signal(init, signal.SIGTERM)
        wait_gone([init[0]], time.monotonic() + STOP_GRACE)
    left = [p for p in ([init] if init else []) + nodes if is_running(*p)]
    for p in left:
        _signal(p, signal.SIGKILL)
    wait_gone([p[0] for p in left], time.monotonic() + STOP_GRACE)
    if child and init is not None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(init[0], 0)


def _signal(proc: Proc, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc[0], sig)


# -- inside the lab holder -------------------------------------------------------------------
def _detach(keep: int) -> None:
    """Leave the caller's session, signals and files behind: the lab outlives the caller."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    _close_fds_but(keep)


def _close_fds_but(keep: int) -> None:
    os.closerange(3, keep)
    os.closerange(keep + 1, 1 << 20)


class _Stopped(BaseException):
    """SIGTERM while the lab is being created: stop the nodes made so far, then exit."""


def _stopped(signum: int, frame: object) -> None:
    raise _Stopped(f"the lab was stopped (signal {signum}) while it was being created")


def _lab_holder(lab: str, nodes: list[NodeSpec], plan: Plan, report: int) -> int:
    _detach(report)
    signal.signal(signal.SIGTERM, _stopped)
    nsutil.set_title(f"{INIT_TITLE} {lab}")
    kids: dict[str, int] = {}
    try:
        nsutil.unshare(CLONE_NEWNET)  # the lab's root namespace: bridges live here
        pipes = _spawn_nodes(lab, nodes, plan, kids)
        requests = _encode(plan, kids)
        _wait_nodes(pipes)
        _configure(plan, kids, requests)
        send_report(report, kids)
    except BaseException as exc:
        send_error(report, exc)
        _kill_nodes(kids)
        return 1
    _serve(kids)
    return 0


def _spawn_nodes(lab: str, nodes: list[NodeSpec], plan: Plan,
                 kids: dict[str, int]) -> dict[str, int]:
    """Fork each node's init into ``kids`` (node -> pid, filled as they are made, so an
    interruption knows what to stop); return node -> read end of its ready pipe."""
    own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY)
    gc.freeze()  # keep the shared pages shared: the inits never touch these objects
    pipes: dict[str, int] = {}
    me = os.getpid()
    for node in nodes:
        r, w = os.pipe()
        nsutil.unshare(CLONE_NEWPID)  # the next child is PID 1 of a new PID namespace
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the node's init
                code = 1
                try:
                    code = _node_init(lab, node, plan.hosts, w, me)
                finally:
                    os._exit(code)
            kids[node.name] = pid  # recorded before a SIGTERM can interrupt
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        nsutil.setns(own_pidns, CLONE_NEWPID)
        os.close(w)
        pipes[node.name] = r
    os.close(own_pidns)
    return pipes


def _wait_nodes(pipes: dict[str, int]) -> None:
    errors = []
    for name, fd in pipes.items():
        with os.fdopen(fd, "rb") as f:
            answer = f.read().decode(errors="replace")
        if answer != "ok":
            errors.append(answer or f"node '{name}': its init process died while starting")
    if errors:
        raise ProviderError("; ".join(errors))


def _kill_nodes(kids: dict[str, int]) -> None:
    for pid in kids.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in kids.values():
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _serve(kids: dict[str, int]) -> None:
    """Reap children until told to stop; then stop every node and return."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _WAITED)
    _reap()  # children that ended before SIGCHLD was blocked
    while signal.sigwait(_WAITED) == signal.SIGCHLD:
        _reap()
    _kill_nodes(kids)


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


# -- inside a node's init -------------------------------------------------------------------
def _node_init(lab: str, node: NodeSpec, hosts: tuple[tuple[str, str], ...], ready: int,
               parent: int) -> int:
    """Become the node: namespaces, filesystem, hostname; then reap orphans as PID 1."""
    nsutil.set_pdeathsig(signal.SIGKILL)  # the lab holder's death is the node's
    # getppid() is 0 in a new PID namespace; the host's /proc still shows the real parent.
    if nsutil.parent_pid() != parent:
        return 1  # the lab holder died before the parent-death signal was armed
    _close_fds_but(ready)
    # As PID 1 the kernel drops signals it has no handler for: `kill 1` or `kill -HUP 1`
    # in a step must not end the node (the lab holder ends it with SIGKILL).
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    gc.disable()
    try:
        nsutil.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                       (0 if node.shares_root else CLONE_NEWNET))
        nsutil.sethostname(node.hostname)
        rootfs.setup(node.hostname, hosts)
        nsutil.set_title(f"{NODE_TITLE} {lab}/{node.name}")
        signal.pthread_sigmask(signal.SIG_SETMASK, {signal.SIGCHLD})  # taken by sigwait
        os.write(ready, b"ok")
    except Exception as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else repr(exc)
        os.write(ready, f"node '{node.name}': {why}".encode())
        return 1
    finally:
        os.close(ready)
    while True:
        signal.sigwait({signal.SIGCHLD})
        _reap()


# -- networks -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Requests:
    """Encoded requests of a plan, by phase and namespace, in the order they must be sent."""

    create: list[Any]  # bridges and veth pairs, from the root namespace
    subifs: list[tuple[str, list[Any]]]  # (namespace of the parent, requests), in order
    configure: dict[str, list[Any]]  # per namespace: links up, addresses, routes


def _encode(plan: Plan, kids: dict[str, int]) -> _Requests:
    """Encode every request (done while the nodes are still setting up their filesystems)."""
    from . import netlink

    pids = {ROOT: os.getpid(), **kids}
    create = [netlink.bridge(b) for b in plan.bridges] + [netlink.veth(v, pids)
                                                          for v in plan.veths]
    subifs = [(ns, [netlink.subif(s, pids) for s in group])
              for ns, group in groupby(plan.subifs, key=lambda s: s.parent.ns)]
    configure = {ns: [netlink.link_up(netlink.LOOPBACK)] for ns in (ROOT, *plan.namespaces)}
    for v in plan.veths:
        if v.b.up:
            configure[v.b.ns].append(netlink.link_up(v.b))
    configure[ROOT] += [r for p in plan.ports for r in netlink.port(p)]
    for a in plan.addrs:
        configure[a.ns].append(netlink.addr(a))
    for r in plan.routes:
        configure[r.ns].append(netlink.route(r))
    return _Requests(create, subifs, configure)


def _configure(plan: Plan, kids: dict[str, int], requests: _Requests) -> None:
    """Send the requests, batched per namespace, and set the sysctls in between."""
    from . import netlink

    root_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    ns_fds = {ns: os.open(f"/proc/{kids[ns]}/ns/net", os.O_RDONLY) for ns in plan.namespaces}
    socks = {ROOT: netlink.open_socket()}
    try:
        for ns, fd in ns_fds.items():
            # a netlink socket belongs to the namespace it is made in
            nsutil.setns(fd, CLONE_NEWNET)
            socks[ns] = netlink.open_socket()
            nsutil.setns(root_fd, CLONE_NEWNET)
        netlink.send(socks[ROOT], requests.create)
        for ns, reqs in requests.subifs:
            netlink.send(socks[ns], reqs)
        for ns, items in groupby(sorted(plan.sysctls, key=lambda s: s[0]), key=lambda s: s[0]):
            if ns != ROOT:
                nsutil.setns(ns_fds[ns], CLONE_NEWNET)  # /proc/sys/net follows the caller's netns
            try:
                for _, key, value, what in items:
                    _sysctl(key, value, what)
            finally:
                nsutil.setns(root_fd, CLONE_NEWNET)
        for ns, reqs in requests.configure.items():
            netlink.send(socks[ns], reqs)
    finally:
        for sock in socks.values():
            sock.close()
        for fd in [root_fd, *ns_fds.values()]:
            os.close(fd)


def _sysctl(key: str, value: str, what: str) -> None:
    # sysctl(8)'s convention: with a '/' in the name, dots belong to names (eth0.10).
    path = "/proc/sys/" + (key if "/" in key else key.replace(".", "/"))
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        raise ProviderError(f"{what}: cannot set sysctl {key}={value}: "
                            f"{exc.strerror}") from None
