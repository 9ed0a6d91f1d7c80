"""The vm provider: every node is a QEMU virtual machine with its own kernel, on this host."""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ... import ranges
from ...errors import ProviderError, UsageError
from .. import labstate, userns
from ..base import LAB_NAME_RE, ExecResult, Lab, LabInfo
from ..holder import stop
from ..hostpath import program
from ..procs import is_running, start_time
from ..stateful import StatefulProvider
from . import images, packages, state
from .channel import Channel, VmSession, console_tail, run_exec
from .state import VmNode, VmState

if TYPE_CHECKING:
    from ...spec import LabSpec
    from .plan import VmPlan
    from .qemu import Machine

__all__ = ["VmLab", "VmProvider"]

#: Options of the provider (``labbook_provider_options``), with their defaults.
DEFAULTS = {
    "kernel": "",
    "memory": "512",
    "cpus": "1",
    "accel": "auto",
    "scratch": "1024",
    "boot_timeout": "120",
    "cache_dir": "",
}
#: Options older versions took that have no use any more, and why.
RETIRED = {
    "bridges": "every VM lab has real bridges now, an ordinary user's as well as root's",
}
#: The ranges of the numeric options (ranges.whole): MiB, CPUs, MiB, seconds.
NUMBER_RANGES = {
    "memory": (64, 1 << 20),
    "cpus": (1, 256),
    "scratch": (0, 1 << 20),
    "boot_timeout": (1, int(ranges.MAX_SECONDS)),
}
#: How long a lab may take to start its VMs (before they boot) before up() gives up.
START_TIMEOUT = 60.0
#: How long another process (``labbook exec``) waits for a running VM's agent.
ATTACH_TIMEOUT = 30.0
#: Wait for small requests (put, get, close): the agent answers at once unless it hangs.
FILE_WAIT = 120.0


@dataclass(frozen=True)
class Options:
    kernel: str
    memory: int
    cpus: int
    accel: str
    scratch: int  # MiB; 0 for none
    boot_timeout: float
    cache_dir: str


class VmLab(Lab):
    """A running VM lab: a handle on its state, usable from any process."""

    provider_name = "vm"

    def __init__(self, spec: LabSpec, st: VmState, *, child: bool = False) -> None:
        super().__init__(st.name, spec)
        self.state = st
        self._child = child  # whether this process forked the holder (and must reap it)
        self._channels: dict[str, Channel] = {}

    @property
    def kernel_release(self) -> str:
        return self.state.kernel  # the kernel the VMs boot, not this machine's

    def channel(self, node: str, deadline: float | None = None) -> Channel:
        """The connection to ``node``'s agent (made on first use)."""
        self.check_node(node)
        chan = self._channels.get(node)
        if chan is not None and chan.sock is not None:
            return chan
        info = self.state.nodes.get(node)
        if info is None or not is_running(info.pid, info.start):
            raise ProviderError(
                f"node '{node}' of lab '{self.name}' is not running (run "
                f"'labbook down {self.name}' and bring it up again)"
            )
        chan = Channel(
            info.ctl,
            f"node '{node}' of lab '{self.name}'",
            lambda: console_tail(info.console, info.log),
        )
        chan.connect(
            deadline or time.monotonic() + ATTACH_TIMEOUT, lambda: is_running(info.pid, info.start)
        )
        self._channels[node] = chan
        return chan

    def boot(self, plan: VmPlan, deadline: float) -> None:
        """Wait for every VM's agent (all at once) and give each node its configuration."""

        def one(node: str) -> None:
            chan = self.channel(node, deadline)
            chan.request("config", 60, **plan.guest(node).request())

        nodes = list(self.state.nodes)
        with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
            futures = [pool.submit(one, n) for n in nodes]
            errors = [f.exception() for f in futures]
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first

    # -- commands -----------------------------------------------------------------------
    def exec(
        self,
        node: str,
        argv: list[str],
        *,
        timeout: float | None = None,
        input: bytes | None = None,
    ) -> ExecResult:
        return run_exec(self.channel(node), argv, timeout, input)

    def shell_argv(self, node: str) -> list[str]:
        raise ProviderError(
            "a VM's shell runs inside the VM, behind its agent: use "
            "lab.session(node), or 'labbook exec LAB NODE -- COMMAND'"
        )

    def session(self, node: str) -> VmSession:  # type: ignore[override]
        old = self._sessions.get(node)
        if isinstance(old, VmSession) and old.alive:
            return old
        new = VmSession(
            self.channel(node),
            f"{self.name}/{node}",
            env=self.session_env,
            spill_dir=self.output_dir,
        )
        self._sessions[node] = new  # type: ignore[assignment]
        return new

    # -- files ----------------------------------------------------------------------------
    def put(
        self,
        node: str,
        path: str,
        data: bytes,
        *,
        mode: int | None = None,
        owner: str | None = None,
    ) -> None:
        try:
            self.channel(node).request(
                "put", FILE_WAIT, path=path, data=bytes(data), mode=mode, owner=owner
            )
        except ProviderError as exc:
            raise ProviderError(f"cannot write {path} on node '{node}': {exc.message}") from None

    def get(self, node: str, path: str) -> bytes:
        res = self.channel(node).request("get", FILE_WAIT, path=path)
        if res.get("missing"):
            raise FileNotFoundError(path)
        return bytes(res["data"])

    # -- lifecycle ------------------------------------------------------------------------
    def detach(self) -> None:
        """Let the lab outlive this process: it stays until ``labbook down NAME``."""
        self.state = self.state.with_(owner=None)
        state.write(self.state)
        self._close_channels()

    def _close_channels(self) -> None:
        for s in self._sessions.values():
            s.alive = False  # the shells go with the VMs; nothing to ask the agents
        self._sessions.clear()
        for chan in self._channels.values():
            chan.close()
        self._channels.clear()

    def down(self) -> None:
        self._close_channels()
        _stop(self.state, self._child)


def _stop(st: VmState, child: bool = False, extra: list[int] | None = None) -> int:
    """Stop the holder (which kills the VMs), kill what is left, remove the directory;
    return how many processes were still running."""
    procs = st.procs() + [(p, start_time(p) or 0) for p in extra or []]
    running = sum(1 for p in {*procs, *([st.holder] if st.holder else [])} if is_running(*p))
    stop(st.holder, procs, child)
    labstate.remove(st.name)
    return running


class VmProvider(StatefulProvider[VmState]):
    """Options (all strings, as in ``labbook_provider_options``): ``kernel`` (a version in
    /boot; default the newest), ``memory`` (MiB per VM, 512), ``cpus`` (1), ``accel``
    (auto, kvm or tcg), ``scratch`` (MiB of the scratch disk at /scratch, 1024; 0 for
    none), ``boot_timeout`` (seconds, 120), ``cache_dir`` (boot images)."""

    name = "vm"
    dir_mode = 0o700  # the agents' sockets and the relay's are there: the user's alone

    def _options(self) -> Options:
        for key, why in RETIRED.items():
            if key in self.options:
                raise UsageError(
                    f"{key}={self.options[key]}: the vm provider no longer takes this option "
                    f"({why}); remove it"
                )
        unknown = sorted(set(self.options) - set(DEFAULTS))
        if unknown:
            raise UsageError(
                f"unknown option{'s' if len(unknown) > 1 else ''} of the vm "
                f"provider: {', '.join(unknown)}; it takes: "
                f"{', '.join(DEFAULTS)}"
            )
        raw = {k: str(self.options.get(k, v)).strip() for k, v in DEFAULTS.items()}
        number = {}
        for key, (low, high) in NUMBER_RANGES.items():
            try:
                number[key] = ranges.whole(raw[key], key, low, high)
            except ValueError as exc:
                unit = " (MiB)" if key in ("memory", "scratch") else ""
                raise UsageError(f"{exc}{unit}") from None
        if raw["accel"] not in ("auto", "kvm", "tcg"):
            raise UsageError(f"accel={raw['accel']!r}: write auto, kvm or tcg")
        return Options(
            raw["kernel"],
            number["memory"],
            number["cpus"],
            raw["accel"],
            number["scratch"],
            float(number["boot_timeout"]),
            raw["cache_dir"] or images.default_cache_dir(),
        )

    def available(self) -> str:
        """The kernel VMs boot; ProviderError (one line, naming the Debian package) when
        QEMU, the kernel or another tool is missing on this machine."""
        opts = self._options()
        images.check_tools()
        return images.pick_kernel(opts.kernel or None)

    def unavailable(self) -> str | None:
        try:
            self.available()
        except ProviderError as exc:
            return exc.message
        return None

    def settings(self) -> dict[str, Any]:
        opts = self._options()  # bad options are an error
        # The kernel a user chose is a setting; the one found on this machine is not (a
        # result recorded on one machine stays valid on another): records say where it ran.
        return {
            "provider": "vm",
            "kernel": os.path.basename(opts.kernel) if opts.kernel else "",
            "memory": opts.memory,
            "cpus": opts.cpus,
            "scratch": opts.scratch,
        }

    def up(self, spec: LabSpec, name: str | None = None) -> VmLab:
        from .plan import make_plan

        name = name or spec.name
        if not LAB_NAME_RE.match(name):
            raise UsageError(
                f"bad lab name {name!r}: use 1-24 lower-case letters, digits "
                "and '-', for example 'pair2'"
            )
        opts = self._options()
        kver = self.available()
        plan = make_plan(spec)  # what a VM cannot do is said before anything is made
        try:
            imgs = images.ensure(opts.cache_dir, kver)
            if not userns.privileged():
                imgs = images.with_closed(imgs, opts.cache_dir)
            pkgs = {
                n.name: packages.ensure(opts.cache_dir, n.packages, f"node '{n.name}'")
                for n in spec.nodes
                if n.packages
            }
        except OSError as exc:
            raise ProviderError(
                f"cannot build the VMs' boot images in {opts.cache_dir}: {exc}"
            ) from None
        from .qemu import choose_accel

        accel = choose_accel(opts.accel, opts.cache_dir, imgs)
        st = self._claim(name, spec, kver, accel)
        return _bring_up(spec, st, plan, imgs, opts, pkgs)

    def _claim(self, name: str, spec: LabSpec, kver: str, accel: str) -> VmState:
        return self.claim(name, spec, VmState, kernel=kver, accel=accel)

    # -- the labs on this machine (see StatefulProvider) ------------------------------------
    def read(self, name: str) -> VmState | None:
        return state.read(name)

    def names(self) -> list[str]:
        return state.names()

    def handle(self, st: VmState) -> VmLab:
        return VmLab(_spec_of(st), st)

    def running(self, st: VmState) -> bool:
        return labstate.alive(st.holder) and any(is_running(*p) for p in st.procs())

    def info(self, st: VmState, status: str) -> LabInfo:
        return LabInfo(
            st.name,
            "vm",
            st.spec_path,
            tuple(st.nodes),
            st.created,
            st.owner[0] if st.owner else None,
            {"status": status, "kernel": st.kernel, "accel": st.accel},
        )

    def orphans(self) -> dict[str, list[int]]:
        return state.scan()

    def remove(self, name: str, st: VmState | None, pids: list[int]) -> int:
        if st is not None:
            return _stop(st, extra=pids)
        procs = [(p, start_time(p) or 0) for p in pids]
        running = sum(1 for p in procs if is_running(*p))
        stop(None, procs, False)
        return running


def _bring_up(
    spec: LabSpec,
    st: VmState,
    plan: VmPlan,
    imgs: images.Images,
    opts: Options,
    pkgs: dict[str, str],
) -> VmLab:
    """Start the holder and its VMs, wait for every agent; on any failure (also Ctrl-C and
    SIGTERM) remove everything made so far and raise."""
    from ..holder import wait_report
    from . import holder
    from .qemu import guest_python, machine

    python = guest_python()
    # Root's QEMUs open taps in the lab's own network namespace. An ordinary user's stay
    # in the user's own namespaces (in a user namespace of the lab's, 9p would show the
    # guest every file of the host's root as nobody's) and reach the same bridges through
    # the lab's relay (see relay.py).
    relayed = not userns.privileged()
    machines = [
        machine(
            st.name,
            n.name,
            i,
            st.directory,
            imgs,
            list(plan.nics_of(n.name)),
            accel=st.accel,
            memory=opts.memory,
            cpus=opts.cpus,
            scratch=opts.scratch > 0,
            python=python,
            relayed=relayed,
            packages=pkgs.get(n.name),
        )
        for i, n in enumerate(spec.nodes)
    ]
    started: list[tuple[int, int]] = []
    lab: VmLab | None = None
    try:
        _scratch_disks(machines, opts.scratch)
        holder.start(
            st.name,
            plan,
            machines,
            relayed=st.directory if relayed else None,
            root=labstate.state_root(),
            started=started,
        )
        pid, report = started[0]
        st = st.with_(holder=(pid, start_time(pid) or 0))
        state.write(st)
        started[0] = (pid, -1)  # wait_report closes the socket, whatever happens
        got = wait_report(report, pid, START_TIMEOUT)
        st = st.with_(
            nodes={
                m.node: VmNode(
                    got[m.node][0],
                    got[m.node][1],
                    spec.node(m.node).hostname,  # type: ignore[union-attr]
                    m.ctl,
                    m.console,
                    m.log,
                )
                for m in machines
            }
        )
        state.write(st)
        lab = VmLab(spec, st, child=True)
        lab.boot(plan, time.monotonic() + opts.boot_timeout)
        lab.state = st = st.with_(status="up")
        state.write(st)
    except BaseException as exc:
        if lab is not None:
            lab._close_channels()
        for pid, fd in started:
            if fd >= 0:
                os.close(fd)
            if st.holder is None:
                st = st.with_(holder=(pid, start_time(pid) or 0))
        _stop(st, child=bool(started))
        if isinstance(exc, OSError):
            raise ProviderError(f"lab '{st.name}' could not be brought up: {exc}") from None
        raise
    return lab


def _scratch_disks(machines: list[Machine], size_mib: int) -> None:
    """A sparse, ext4-formatted disk per VM (formatting on the host is quicker than in an
    emulated guest); the guest mounts it at /scratch."""
    procs = []
    for m in machines:
        if m.scratch:
            with open(m.scratch, "wb") as f:
                f.truncate(size_mib << 20)
            procs.append(
                subprocess.Popen(
                    [
                        program("mkfs.ext4"),
                        "-q",
                        "-F",
                        "-L",
                        "scratch",
                        "-m",
                        "0",
                        "-E",
                        "lazy_itable_init=1,lazy_journal_init=1",
                        m.scratch,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise ProviderError(f"cannot format a scratch disk: {err.decode().strip()}")


def _spec_of(st: VmState) -> LabSpec:
    """The spec a running lab was made from; a sketch of it if the file changed since."""
    from ...spec import Node

    return labstate.spec_of(st, tuple(Node(n, s.hostname) for n, s in st.nodes.items()))
