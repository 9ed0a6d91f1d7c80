"""The netns provider: its labs (NetnsLab) and the provider (NetnsProvider)."""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import subprocess
import time
from typing import TYPE_CHECKING

from ...errors import ProviderError, UsageError
from .. import hostpkgs, labstate, procs, userns
from ..base import LAB_NAME_RE, ExecResult, Lab, LabInfo
from ..environ import node_env
from ..holder import stop
from ..procs import descendants, is_running, kill_tree, start_time
from ..stateful import StatefulProvider
from . import nsutil, state
from .state import LabState, NodeState

if TYPE_CHECKING:
    from ...spec import LabSpec
    from . import holder

__all__ = ["NetnsLab", "NetnsProvider", "node_env"]

#: Seconds a lab may take to come up, plus this much per node, before up() gives up.
UP_TIMEOUT = 60.0
UP_TIMEOUT_PER_NODE = 0.5


class NetnsLab(Lab):
    """A running netns lab: a handle on its state, usable from any process."""

    provider_name = "netns"

    def __init__(self, name: str, spec: LabSpec, st: LabState, *, child: bool = False) -> None:
        super().__init__(name, spec)
        self.state = st
        self._child = child  # whether this process forked the lab holder (and must reap it)

    # -- nodes ------------------------------------------------------------------------------
    def init_pid(self, node: str) -> int:
        """The pid (as seen from the host) of ``node``'s init process."""
        self.check_node(node)
        info = self.state.nodes.get(node)
        if info is None or not is_running(info.pid, info.start):
            raise ProviderError(
                f"node '{node}' of lab '{self.name}' is not running "
                f"(run 'labbook down {self.name}' and bring it up again)"
            )
        return info.pid

    def processes(self, node: str) -> list[int]:
        """Host pids of the live processes in ``node`` but its init (e.g. started in background)."""
        return procs.in_pid_namespace(self.init_pid(node))

    def shell_argv(self, node: str) -> list[str]:
        return [*self._enter(node), "bash", "--noprofile", "--norc"]

    def _enter(self, node: str) -> list[str]:
        # -U: the node's user namespace, where its root is root (nsenter enters it first
        # when that is what gives the rights to enter the others, as for ordinary users).
        # No --wd: nsenter opens that directory before it enters the node, and a relative
        # path would then lead to the host's own /root. Entering the mount namespace puts
        # the command at the node's /; env -C takes it to the node's /root.
        return [
            "nsenter",
            "-t",
            str(self.init_pid(node)),
            "-U",
            "-m",
            "-u",
            "-i",
            "-n",
            "-p",
            "--",
            "env",
            "-C",
            "/root",
            "--",
        ]

    def full_layer(self, node: str) -> str:
        """The node's writable layer (one tmpfs under its overlays) is full, or nearly."""
        from ...spec.model import size_bytes

        res = self.exec(node, ["stat", "-f", "-c", "%a %S", "/tmp"], timeout=10)
        try:
            free_blocks, block = (int(x) for x in res.stdout.split())
        except ValueError:
            return ""
        limit = self.spec.writable
        if free_blocks * block > max(1 << 20, size_bytes(limit) // 50):
            return ""
        where = os.path.basename(self.spec.path) or "the lab's spec"
        return (
            f"node {node}'s writable layer is full ({limit} limit: set "
            f"`limits: {{writable: 1G}}` or more in {where})"
        )

    def exec(
        self,
        node: str,
        argv: list[str],
        *,
        timeout: float | None = None,
        input: bytes | None = None,
    ) -> ExecResult:
        command = shlex.join(argv)
        start = time.monotonic()
        proc = subprocess.Popen(
            self._enter(node) + list(argv),
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=node_env(),
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            victims = [proc.pid, *descendants(proc.pid)]
            kill_tree(proc.pid)
            state.wait_gone(victims, time.monotonic() + 5)
            try:
                out, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # a process that left the tree holds the pipes
                proc.kill()
                out, err = b"", b""
            return ExecResult(
                command, 124, _text(out), _text(err), time.monotonic() - start, timed_out=True
            )
        rc = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        return ExecResult(command, rc, _text(out), _text(err), time.monotonic() - start)

    # -- files ------------------------------------------------------------------------------
    def _root(self, node: str) -> int:
        return os.open(f"/proc/{self.init_pid(node)}/root", os.O_PATH | os.O_DIRECTORY)

    def put(
        self,
        node: str,
        path: str,
        data: bytes,
        *,
        mode: int | None = None,
        owner: str | None = None,
    ) -> None:
        root = self._root(node)
        try:
            _makedirs(root, os.path.dirname(path))
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            fd = nsutil.open_in_root(root, path, flags, 0o644 if mode is None else mode)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                if mode is not None:
                    os.fchmod(fd, mode)
                if owner:
                    ids = _ids(root, owner)
        except OSError as exc:
            raise ProviderError(f"cannot write {path} on node '{node}': {exc.strerror}") from None
        finally:
            os.close(root)
        if owner:
            # Inside the node: its ids are not this process's (an ordinary user's lab maps
            # them to a subordinate range only the node's root may hand out).
            res = self.exec(node, ["chown", f"{ids[0]}:{ids[1]}", "--", path], timeout=30)
            if res.rc != 0:
                raise ProviderError(
                    f"cannot give {path} on node '{node}' to {owner}: "
                    f"{res.output.strip() or f'chown exit status {res.rc}'}"
                )

    def get(self, node: str, path: str) -> bytes:
        root = self._root(node)
        try:
            fd = nsutil.open_in_root(root, path, os.O_RDONLY)
        except FileNotFoundError:
            raise
        except PermissionError:
            # A file of one of the node's own users, which this process is not (a lab of
            # an ordinary user): the node's root reads it, byte for byte.
            proc = subprocess.run(
                [*self._enter(node), "cat", "--", path],
                capture_output=True,
                env=node_env(),
                timeout=30,
                check=False,
            )
            if proc.returncode == 0:
                return proc.stdout
            raise ProviderError(
                f"cannot read {path} on node '{node}': {_text(proc.stderr).strip()}"
            ) from None
        except OSError as exc:
            raise ProviderError(f"cannot read {path} on node '{node}': {exc.strerror}") from None
        finally:
            os.close(root)
        with os.fdopen(fd, "rb") as f:
            return f.read()

    # -- lifecycle --------------------------------------------------------------------------
    def detach(self) -> None:
        """Let the lab outlive this process: it stays until ``labbook down NAME``."""
        self.state = self.state.with_(owner=None)
        state.write(self.state)

    def down(self) -> None:
        self.close_sessions()
        nodes = [(n.pid, n.start) for n in self.state.nodes.values()]
        stop(self.state.init, nodes, self._child)
        state.remove(self.name)


class NetnsProvider(StatefulProvider[LabState]):
    """Options: none yet. Runs as root or as an ordinary user (in user namespaces)."""

    name = "netns"

    def up(self, spec: LabSpec, name: str | None = None) -> NetnsLab:
        name = name or spec.name
        if not LAB_NAME_RE.match(name):
            raise UsageError(
                f"bad lab name {name!r}: use 1-24 lower-case letters, digits "
                "and '-', for example 'pair2'"
            )
        try:
            from . import holder
            from .plan import make_plan
        except ImportError as exc:
            raise ProviderError(f"the netns provider needs pyroute2: {exc}") from None
        from ..holder import wait_report

        plan = make_plan(spec)  # plan errors come before anything is created
        hostpkgs.check(spec, self.name)
        nodes = [holder.NodeSpec(n.name, n.hostname, n.shares_root) for n in spec.nodes]
        ids = userns.plan()
        claimed = False
        started: list[tuple[int, int]] = []
        try:
            st = self._claim(name, spec)
            claimed = True
            holder.start(name, nodes, plan, _layout(st, ids, spec.writable), started)
            pid, report = started[0]
            st = st.with_(init=(pid, start_time(pid) or 0))
            state.write(st)
            started[0] = (pid, -1)  # wait_report closes it, whatever happens
            got = wait_report(report, pid, UP_TIMEOUT + UP_TIMEOUT_PER_NODE * len(nodes), ids)
            st = st.with_(
                status="up",
                nodes={
                    n.name: NodeState(got[n.name][0], got[n.name][1], n.hostname, n.network_mode)
                    for n in spec.nodes
                },
            )
            state.write(st)
        except BaseException as exc:  # also Ctrl-C and SIGTERM: nothing may stay behind
            for pid, report in started:
                if report >= 0:
                    _close(report)
                # A holder that reported an error is already stopping its nodes; any other
                # is told to (and stops them before it exits). Either way: wait for it.
                if not isinstance(exc, holder.LabFailed):
                    stop((pid, start_time(pid) or 0), [], child=True)
                _reap(pid)
            if claimed:
                state.remove(name)
            if isinstance(exc, OSError):
                raise ProviderError(f"lab '{name}' could not be brought up: {exc}") from None
            raise
        return NetnsLab(name, spec, st, child=True)

    def _claim(self, name: str, spec: LabSpec) -> LabState:
        return self.claim(name, spec, LabState)

    # -- the labs on this machine (see StatefulProvider) ------------------------------------
    def read(self, name: str) -> LabState | None:
        return state.read(name)

    def names(self) -> list[str]:
        return state.names()

    def handle(self, st: LabState) -> NetnsLab:
        return NetnsLab(st.name, _spec_of(st), st)

    def running(self, st: LabState) -> bool:
        return state.alive(st.init)

    def info(self, st: LabState, status: str) -> LabInfo:
        return LabInfo(
            st.name,
            "netns",
            st.spec_path,
            tuple(st.nodes),
            st.created,
            st.owner[0] if st.owner else None,
            {"status": status},
        )

    def orphans(self) -> dict[str, list[int]]:
        return {lab: found["init"] + found["node"] for lab, found in state.scan().items()}

    def remove(self, name: str, st: LabState | None, pids: list[int]) -> int:
        found = [(p, start_time(p) or 0) for p in pids]
        if st is not None:
            found += [(n.pid, n.start) for n in st.nodes.values()]
        init = st.init if st is not None else None
        alive = sum(1 for p in {*found, *([init] if init else [])} if is_running(*p))
        inits = [p for p in found if _is_init(p[0])]
        stop(init or (inits[0] if inits else None), found, child=False)
        state.remove(name)
        return alive


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):  # wait_report closed it already
        os.close(fd)


def _is_init(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().startswith(state.INIT_TITLE.encode())
    except OSError:
        return False


def _layout(st: LabState, ids: userns.IdMap, writable: str) -> holder.Layout:
    """Root's labs lock the host's view under their nodes; an ordinary user's labs lie on
    a private copy of what the user's namespace cannot take over (see Layout)."""
    hidden = []
    root = labstate.state_root()
    if root != labstate.ROOT_STATE:  # an ordinary user's labs, maybe under /tmp
        hidden.append(root.lstrip("/"))
    from .holder import Layout

    return Layout(
        locked=ids.privileged,
        shim=None if ids.privileged else st.directory,
        hidden=tuple(hidden),
        ids=ids,
        root=root,
        writable=writable,
    )


def _spec_of(st: LabState) -> LabSpec:
    """The spec a running lab was made from; a sketch of it if the file changed since."""
    from ...spec import Node

    return labstate.spec_of(
        st, tuple(Node(n, s.hostname, s.network_mode) for n, s in st.nodes.items())
    )


def _makedirs(root: int, path: str) -> None:
    """mkdir -p ``path`` inside the node (through its root, symlinks resolved inside it)."""
    parts = [p for p in path.split("/") if p]
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        try:
            os.close(nsutil.open_in_root(root, sub, os.O_PATH | os.O_DIRECTORY))
        except FileNotFoundError:
            parent = nsutil.open_in_root(root, "/".join(parts[: i - 1]), os.O_PATH | os.O_DIRECTORY)
            try:
                os.mkdir(parts[i - 1], 0o755, dir_fd=parent)
            except FileExistsError:
                pass
            finally:
                os.close(parent)


def _ids(root: int, owner: str) -> tuple[int, int]:
    """uid and gid of ``user[:group]`` from the node's own /etc/passwd and /etc/group."""
    user, _, group = owner.partition(":")
    users = _table(root, "/etc/passwd")
    groups = _table(root, "/etc/group")
    if user not in users and not user.isdigit():
        raise OSError(errno.EINVAL, f"no user '{user}' in the node's /etc/passwd")
    uid = int(user) if user.isdigit() else int(users[user][1])
    if not group:
        return uid, (int(users[user][2]) if user in users else uid)
    if group not in groups and not group.isdigit():
        raise OSError(errno.EINVAL, f"no group '{group}' in the node's /etc/group")
    return uid, int(group) if group.isdigit() else int(groups[group][1])


def _table(root: int, path: str) -> dict[str, list[str]]:
    try:
        fd = nsutil.open_in_root(root, path, os.O_RDONLY)
    except FileNotFoundError:
        return {}
    with os.fdopen(fd, encoding="utf-8", errors="replace") as f:
        rows = [line.rstrip("\n").split(":") for line in f if ":" in line]
    return {r[0]: r[1:] for r in rows}


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")
