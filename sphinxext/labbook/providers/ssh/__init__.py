"""The ssh provider: run the same labs on machines that already exist (VMs, cloud, racks)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ...errors import ProviderError, UsageError
from ..base import LAB_NAME_RE, ExecResult, Lab, LabInfo
from ..stateful import StatefulProvider
from . import remote, state, topology, transport
from .inventory import inventory_digest, load_inventory
from .session import SshSession
from .state import SshState
from .transport import Target

if TYPE_CHECKING:
    from ...spec import LabSpec

__all__ = ["SshLab", "SshProvider"]

#: Options of the provider (``labbook_provider_options`` / ``--inventory``).
OPTIONS = ("inventory", "insecure", "connect_timeout")
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off", "")
#: Seconds ``put``/``get`` may take.
FILE_TIMEOUT = 120.0


class SshLab(Lab):
    """A running ssh lab: its nodes' master connections, usable from any process."""

    provider_name = "ssh"

    def __init__(self, st: SshState, spec: LabSpec) -> None:
        super().__init__(st.name, spec)
        self.state = st
        self.targets = {t.node: t for t in _targets(st)}
        #: Where the nodes differ from the spec (one line each); the runner reports it.
        self.topology_drift: list[str] = []

    def _target(self, node: str) -> Target:
        self.check_node(node)
        return self.targets[node]

    # -- commands ---------------------------------------------------------------------
    def exec(
        self,
        node: str,
        argv: list[str],
        *,
        timeout: float | None = None,
        input: bytes | None = None,
    ) -> ExecResult:
        return transport.run(
            self._target(node), argv, self.state.token, timeout=timeout, input=input
        )

    def shell_argv(self, node: str) -> list[str]:
        # -tt: a terminal for the commands, as on the netns provider; -e none: no ~ escapes.
        return [*self._target(node).client("-tt", "-e", "none"), remote.session(self.state.token)]

    def session(self, node: str) -> SshSession:
        s = self._sessions.get(node)
        if s is None or not s.alive:
            s = SshSession(self.shell_argv(node), name=f"{self.name}/{node}")
            self._sessions[node] = s
        assert isinstance(s, SshSession)
        return s

    # -- files ------------------------------------------------------------------------
    def put(
        self,
        node: str,
        path: str,
        data: bytes,
        *,
        mode: int | None = None,
        owner: str | None = None,
    ) -> None:
        p = transport.shell(
            self._target(node), remote.put(path, mode, owner), input=data, timeout=FILE_TIMEOUT
        )
        if p.returncode != 0:
            raise ProviderError(f"cannot write {path} on node '{node}': {_err(p.stderr)}")

    def get(self, node: str, path: str) -> bytes:
        p = transport.shell(self._target(node), remote.get(path), timeout=FILE_TIMEOUT)
        if p.returncode == remote.MISSING:
            raise FileNotFoundError(path)
        if p.returncode != 0:
            raise ProviderError(f"cannot read {path} on node '{node}': {_err(p.stderr)}")
        return p.stdout

    # -- lifecycle --------------------------------------------------------------------
    def check_topology(self) -> list[str]:
        """Compare every node's ``ip -j addr`` with the spec; record and return the drift."""

        def one(node: str) -> list[str]:
            spec_node = self.spec.node(node)
            if spec_node is None or not spec_node.interfaces:
                return []
            res = self.exec(node, topology.IP_ADDR, timeout=30)
            if res.rc != 0:
                return [
                    f"node {node}: '{' '.join(topology.IP_ADDR)}' failed: "
                    f"{res.stderr.strip() or res.rc}"
                ]
            return topology.drift(spec_node, self.targets[node].entry, res.stdout)

        with ThreadPoolExecutor(max_workers=8) as pool:
            found = pool.map(one, sorted(self.targets))
        self.topology_drift = [line for lines in found for line in lines]
        return self.topology_drift

    def detach(self) -> None:
        """Let the lab outlive this process: it stays until ``labbook down NAME``."""
        self.state = _replace(self.state, owner=None)
        state.write(self.state)

    def down(self) -> None:
        """Kill what the lab started on every node, close the masters, forget the lab."""
        self.close_sessions()
        _teardown(self.state, list(self.targets.values()))


def _teardown(st: SshState, targets: list[Target]) -> None:
    """Sweep the lab's processes off every reachable node, then end the connections."""

    def one(t: Target) -> None:
        if os.path.exists(t.control_path):
            # A node that went away has nothing of ours running that could be reached.
            with contextlib.suppress(ProviderError):
                transport.shell(t, remote.sweep(st.token), timeout=transport.CLEANUP_TIMEOUT)
            transport.close_master(t)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, targets))
    state.kill(state.masters(st.name))
    state.remove(st.name)


def _replace(st: SshState, **changes: Any) -> SshState:
    from dataclasses import replace

    return replace(st, **changes)


def _err(stderr: bytes) -> str:
    text = stderr.decode("utf-8", errors="replace").strip()
    return text.splitlines()[-1] if text else "the command failed"


class SshProvider(StatefulProvider[SshState]):
    """Nodes reached with the OpenSSH client, one multiplexed master connection per node.

    Nothing is created on the machines but the lab's processes: ``up`` checks that their
    interfaces and addresses are the ones the spec describes and records every difference
    in ``lab.topology_drift``; ``down`` kills whatever the lab started there.

    Options: ``inventory`` (YAML, a saved ssh config, or ``vagrant:DIR``; required),
    ``insecure`` (true: do not check host keys, for throwaway labs), ``connect_timeout``.
    """

    name = "ssh"

    def _option(self) -> tuple[str, bool, int]:
        unknown = sorted(set(self.options) - set(OPTIONS))
        if unknown:
            raise UsageError(
                f"unknown option{'s' if len(unknown) > 1 else ''} of the ssh "
                f"provider: {', '.join(unknown)}; it takes: {', '.join(OPTIONS)}"
            )
        inventory = str(self.options.get("inventory") or "")
        if not inventory:
            raise UsageError(
                "the ssh provider needs an inventory: labbook check --inventory "
                "FILE, or labbook_provider_options = {'inventory': 'FILE'}"
            )
        insecure = str(self.options.get("insecure", "")).strip().lower()
        if insecure not in TRUE + FALSE:
            raise UsageError(f"insecure={self.options['insecure']!r}: write true or false")
        timeout = str(self.options.get("connect_timeout", "10"))
        if not timeout.isdigit() or int(timeout) < 1:
            raise UsageError(f"connect_timeout={timeout!r}: write a whole number of seconds")
        return inventory, insecure in TRUE, int(timeout)

    def settings(self) -> dict[str, Any]:
        inventory = str(self.options.get("inventory") or "")
        return {
            "provider": "ssh",
            "inventory": inventory_digest(inventory),
            "insecure": str(self.options.get("insecure", "")).lower() in TRUE,
        }

    def up(self, spec: LabSpec, name: str | None = None) -> SshLab:
        name = name or spec.name
        if not LAB_NAME_RE.match(name):
            raise UsageError(
                f"bad lab name {name!r}: use 1-24 lower-case letters, digits "
                "and '-', for example 'pair2'"
            )
        inventory, insecure, timeout = self._option()
        if shutil.which("ssh") is None:
            raise ProviderError(
                "the ssh provider needs the OpenSSH client: install "
                "openssh-client (it is in bindep.txt)"
            )
        st = self._claim(name, spec, insecure, timeout)
        lab = None
        try:
            inv = load_inventory(inventory, st.directory)
            inv.check_nodes(spec.node_names)
            st = _replace(st, entries={n: inv.entry(n) for n in spec.node_names})
            os.mkdir(st.control_dir, 0o700)
            state.write(st)
            lab = SshLab(st, spec)
            transport.open_masters([lab.targets[n] for n in spec.node_names])
            lab.check_topology()
            lab.state = st = _replace(st, status="up")
            state.write(st)
        except BaseException:  # also Ctrl-C and SIGTERM: nothing may stay behind
            _teardown(st, list(lab.targets.values()) if lab else [])
            raise
        return lab

    def _claim(self, name: str, spec: LabSpec, insecure: bool, timeout: int) -> SshState:
        return self.claim(
            name,
            spec,
            SshState,
            token=secrets.token_hex(8),
            insecure=insecure,
            connect_timeout=timeout,
        )

    # -- the labs on this machine (see StatefulProvider) ------------------------------------
    parts = "master connections"
    gone = "its connections are gone"
    dir_mode = 0o700  # the control sockets are there

    def read(self, name: str) -> SshState | None:
        return state.read(name)

    def names(self) -> list[str]:
        return state.names()

    def handle(self, st: SshState) -> SshLab:
        return SshLab(st, _spec_of(st))

    def running(self, st: SshState) -> bool:
        return bool(state.masters(st.name))

    def info(self, st: SshState, status: str) -> LabInfo:
        return LabInfo(
            st.name,
            "ssh",
            st.spec_path,
            tuple(st.entries),
            st.created,
            st.owner[0] if st.owner else None,
            {"status": status, "hosts": {n: e.address for n, e in st.entries.items()}},
        )

    def orphans(self) -> dict[str, list[int]]:
        return {name: state.masters(name) for name in state.master_labs()}

    def remove(self, name: str, st: SshState | None, pids: list[int]) -> int:
        masters = sorted({*state.masters(name), *pids})
        if st is not None:
            _teardown(st, _targets(st))
        state.kill(masters)
        state.remove(name)
        return len(masters)


def _targets(st: SshState) -> list[Target]:
    return [
        Target(n, e, st.control_path(n), st.insecure, st.connect_timeout)
        for n, e in st.entries.items()
    ]


def _spec_of(st: SshState) -> LabSpec:
    """The running lab's nodes, from its state (the spec file may have changed since)."""
    from ...spec import LabSpec, Node

    return LabSpec(
        name=st.name,
        path=st.spec_path,
        digest=st.spec_digest,
        nodes=tuple(Node(n, n) for n in st.entries),
    )
