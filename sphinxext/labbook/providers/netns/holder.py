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
import os
import signal
import socket
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from ...errors import ProviderError
from .. import userns
from ..holder import (
    LabFailed,
    close_fds_but,
    detach,
    enter_userns,
    fork,
    reap,
    send_error,
    send_report,
    serve,
    stopped,
)
from ..procs import parent_pid
from . import nsutil, rootfs
from .nsutil import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUTS,
)
from .plan import ROOT, Plan
from .state import INIT_TITLE, NODE_TITLE, title

__all__ = ["LabFailed", "NodeSpec", "start"]

#: File descriptors one message may carry (the kernel's SCM_MAX_FD is 253).
_FDS_PER_MESSAGE = 200


@dataclass(frozen=True)
class NodeSpec:
    name: str
    hostname: str
    shares_root: bool = False


@dataclass(frozen=True)
class Layout:
    """How the lab's namespaces are arranged (decided by the process bringing it up)."""

    #: Lock the host's view under every node: each node's mounts are made, then the node
    #: moves into a user namespace below the one they were made in, so the kernel refuses
    #: to unmount or remount them from inside (a lab run by root, whose ids are the host's).
    locked: bool
    #: A private copy of /etc and of the directories of /var, /run, ... that the nodes'
    #: overlays lie on, owned by ids the lab maps (a lab run by an ordinary user, whose
    #: namespace cannot take over files that the host's root owns).
    shim: str | None
    #: Paths (relative to /) each node sees as empty: other labs' state, /run/netns.
    hidden: tuple[str, ...]
    ids: userns.IdMap
    #: The state root of the lab's user (in the processes' titles).
    root: str


def start(
    lab: str, nodes: list[NodeSpec], plan: Plan, layout: Layout, started: list[tuple[int, int]]
) -> None:
    """Fork the lab holder; append (its pid, this end of its socket) to ``started``."""
    from . import netlink  # noqa: F401  (imported before the fork, never in the child)

    fork(lambda chan: _lab_holder(lab, nodes, plan, layout, chan), started)


# -- inside the lab holder -------------------------------------------------------------------
@dataclass(frozen=True)
class _Nested:
    """The user namespace nodes move into (see :attr:`Layout.locked`), the lab's root
    network namespace and one network namespace per node, all owned by it."""

    user: int
    root_net: int
    nets: dict[str, int]


def _lab_holder(lab: str, nodes: list[NodeSpec], plan: Plan, layout: Layout, chan: int) -> int:
    detach(chan)
    signal.signal(signal.SIGTERM, stopped)
    nsutil.set_title(title(INIT_TITLE, lab, layout.root))
    nsutil.set_child_subreaper()  # each node's init is handed to it (see _spawn_nodes)
    kids: dict[str, int] = {}
    try:
        shim = rootfs.shim_plan(layout.ids) if layout.shim else []
        nested = None
        if not layout.locked:
            # An ordinary user's lab: the holder and the nodes live in a user namespace
            # of their own. Root's lab holder stays in the host's, so that each node's
            # view of the host is built with root's rights (overlays of directories with
            # mounts below them) before the node moves into the lab's namespace.
            enter_userns(chan)
        if layout.locked:
            nested = _nested(layout.ids, [n.name for n in nodes if not n.shares_root])
            nsutil.setns(nested.root_net, CLONE_NEWNET)  # the lab's root namespace
        else:
            nsutil.unshare(CLONE_NEWNET | CLONE_NEWNS)  # the lab's root namespace
        if layout.shim:
            rootfs.build_shim(layout.shim, shim)
        pipes = _spawn_nodes(lab, nodes, plan, layout, nested, kids)
        requests = _encode(plan, kids)
        _wait_nodes(pipes)
        _configure(plan, kids, requests)
        send_report(chan, kids)
    except BaseException as exc:
        send_error(chan, exc)
        _kill_nodes(kids)
        return 1
    serve(lambda: _kill_nodes(kids))
    return 0


def _nested(ids: userns.IdMap, nodes: list[str]) -> _Nested:
    """Make the nodes' user namespace and the network namespaces it owns (in a child:
    a process cannot map its own new namespace's ids)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the short-lived child
        code = 1
        try:
            ours.close()
            try:
                nsutil.unshare(userns.CLONE_NEWUSER)
            except OSError as exc:
                theirs.send(userns.why_refused(exc).encode())
                raise
            theirs.send(b"U")
            if theirs.recv(1) == b"G":
                fds: list[int] = []
                for _ in range(len(nodes) + 1):
                    nsutil.unshare(CLONE_NEWNET)
                    fds.append(os.open("/proc/self/ns/net", os.O_RDONLY))
                fds.append(os.open("/proc/self/ns/user", os.O_RDONLY))
                for i in range(0, len(fds), _FDS_PER_MESSAGE):
                    socket.send_fds(theirs, [b"F"], fds[i : i + _FDS_PER_MESSAGE])
                code = 0
        finally:
            os._exit(code)
    theirs.close()
    try:
        first = ours.recv(1)
        if first != b"U":
            why = (first + ours.recv(4096)).decode(errors="replace")
            raise ProviderError(why or "could not make the nodes' user namespace")
        userns.map_ids(pid, ids)  # the holder is in the host's namespace: the same ids
        ours.send(b"G")
        fds = []
        while len(fds) < len(nodes) + 2:
            _, got, _, _ = socket.recv_fds(ours, 1, _FDS_PER_MESSAGE)
            if not got:
                raise ProviderError("could not make the nodes' network namespaces")
            fds += got
    finally:
        ours.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return _Nested(fds[-1], fds[0], dict(zip(nodes, fds[1:-1], strict=True)))


def _spawn_nodes(
    lab: str,
    nodes: list[NodeSpec],
    plan: Plan,
    layout: Layout,
    nested: _Nested | None,
    kids: dict[str, int],
) -> dict[str, int]:
    """Fork each node's init into ``kids`` (node -> pid, filled as they are made, so an
    interruption knows what to stop); return node -> read end of its ready pipe.

    Each init is PID 1 of a new PID namespace, made by a short-lived child that forks
    the init and exits: the init is then handed to this process (a subreaper). A process
    cannot go back to its own PID namespace once it has made one for its children,
    unless it may enter namespaces of the host's, which a lab's user namespace may not.
    """
    gc.freeze()  # keep the shared pages shared: the inits never touch these objects
    pipes: dict[str, int] = {}
    me = os.getpid()
    for node in nodes:
        r, w = os.pipe()
        gate_r, gate_w = os.pipe()  # closed by this process once the child is reaped
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            middle = os.fork()
            if middle == 0:  # pragma: no cover - the short-lived child
                code = 1
                try:
                    os.close(r)
                    os.close(gate_w)
                    nsutil.unshare(CLONE_NEWPID)  # the next child is PID 1 of a new one
                    pid = os.fork()
                    if pid == 0:
                        try:
                            code = _node_init(lab, node, plan.hosts, layout, nested, w, gate_r, me)
                        finally:
                            os._exit(code)
                    os.write(w, f"{pid}\n".encode())
                    code = 0
                except OSError as exc:
                    os.write(w, f"error: {exc.strerror or exc}\n".encode())
                finally:
                    os._exit(code)
            os.close(gate_r)
            os.close(w)  # the init has its own: EOF here means it never came to be
            os.waitpid(middle, 0)  # once reaped, its child (the init) is this process's
            os.close(gate_w)
            line = b""
            while not line.endswith(b"\n"):
                chunk = os.read(r, 1)
                if not chunk:
                    break
                line += chunk
            if not line[:1].isdigit():
                os.close(r)
                why = line.decode(errors="replace").removeprefix("error: ").strip()
                raise ProviderError(
                    f"node '{node.name}': its init could not be started"
                    + (f": {why}" if why else "")
                )
            kids[node.name] = int(line)  # recorded before a SIGTERM can interrupt
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        pipes[node.name] = r
    if nested is not None:
        for fd in [nested.user, nested.root_net, *nested.nets.values()]:
            os.close(fd)
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


# -- inside a node's init -------------------------------------------------------------------
def _node_init(
    lab: str,
    node: NodeSpec,
    hosts: tuple[tuple[str, str], ...],
    layout: Layout,
    nested: _Nested | None,
    ready: int,
    gate: int,
    parent: int,
) -> int:
    """Become the node: namespaces, filesystem, hostname; then reap orphans as PID 1."""
    while os.read(gate, 1):  # until the lab holder has reaped the child that forked this one
        pass
    os.close(gate)
    nsutil.set_pdeathsig(signal.SIGKILL)  # the lab holder's death is the node's
    # getppid() is 0 in a new PID namespace; the host's /proc still shows the real parent.
    if parent_pid() != parent:
        return 1  # the lab holder died before the parent-death signal was armed
    keep = [ready]
    if nested is not None:
        keep += [nested.user] + ([nested.nets[node.name]] if not node.shares_root else [])
    close_fds_but(*keep)
    # As PID 1 the kernel drops signals it has no handler for: `kill 1` or `kill -HUP 1`
    # in a step must not end the node (the lab holder ends it with SIGKILL).
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    gc.disable()
    try:
        own = CLONE_NEWUTS | CLONE_NEWIPC | (0 if node.shares_root else CLONE_NEWNET)
        if nested is not None:
            if not node.shares_root:
                nsutil.setns(nested.nets[node.name], CLONE_NEWNET)
            nsutil.unshare(CLONE_NEWNS)
        else:
            nsutil.unshare(CLONE_NEWNS | own)
        rootfs.setup(node.hostname, hosts, layout.hidden, layout.shim)
        if nested is not None:
            # Below the namespace the mounts were made in: they are locked from here on.
            nsutil.setns(nested.user, userns.CLONE_NEWUSER)
            nsutil.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC)
            close_fds_but(ready)
        nsutil.sethostname(node.hostname)
        nsutil.set_title(title(NODE_TITLE, f"{lab}/{node.name}", layout.root))
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
        reap()


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
    create = [netlink.bridge(b) for b in plan.bridges] + [netlink.veth(v, pids) for v in plan.veths]
    subifs = [
        (ns, [netlink.subif(s, pids) for s in group])
        for ns, group in groupby(plan.subifs, key=lambda s: s.parent.ns)
    ]
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
        raise ProviderError(f"{what}: cannot set sysctl {key}={value}: {exc.strerror}") from None
