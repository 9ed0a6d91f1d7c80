"""The provider interface: bring a lab up, run commands on its nodes, tear it down."""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .result import ExecResult

if TYPE_CHECKING:
    from ..spec import LabSpec
    from .session import PtySession as Session

#: Names of running labs: short, so that prefixed interface names stay under 15 chars.
LAB_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")


@dataclass(frozen=True)
class LabInfo:
    """A running lab as ``labbook ls`` shows it."""

    name: str
    provider: str
    spec_path: str
    nodes: tuple[str, ...]
    created: float
    owner_pid: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


class Lab(abc.ABC):
    """A running lab. Context-managed: leaving the ``with`` block always tears it down."""

    provider_name: str = ""

    def __init__(self, name: str, spec: LabSpec) -> None:
        self.name = name
        self.spec = spec
        self._sessions: dict[str, Session] = {}
        #: Extra environment of every session shell (set by the runner from the plan).
        self.session_env: dict[str, str] = {}

    # -- commands -----------------------------------------------------------------
    @abc.abstractmethod
    def exec(
        self,
        node: str,
        argv: list[str],
        *,
        timeout: float | None = None,
        input: bytes | None = None,
    ) -> ExecResult:
        """Run ``argv`` (no shell) in ``node``; stdout and stderr are kept apart."""

    @abc.abstractmethod
    def shell_argv(self, node: str) -> list[str]:
        """argv that starts an interactive ``bash`` inside ``node`` (for sessions)."""

    def session(self, node: str) -> Session:
        """The node's persistent shell: ``cd`` and ``export`` carry over between commands."""
        from .session import PtySession

        s = self._sessions.get(node)
        if s is None or not s.alive:
            self.check_node(node)
            s = PtySession(
                self.shell_argv(node), name=f"{self.name}/{node}", env=dict(self.session_env)
            )
            self._sessions[node] = s
        return s

    def close_sessions(self) -> None:
        for s in self._sessions.values():
            s.close()
        self._sessions.clear()

    # -- files ---------------------------------------------------------------------
    @abc.abstractmethod
    def put(
        self,
        node: str,
        path: str,
        data: bytes,
        *,
        mode: int | None = None,
        owner: str | None = None,
    ) -> None:
        """Write ``data`` to ``path`` on ``node`` (parent directories are created)."""

    @abc.abstractmethod
    def get(self, node: str, path: str) -> bytes:
        """Read ``path`` from ``node``; raise FileNotFoundError when it is absent."""

    # -- lifecycle -------------------------------------------------------------------
    @abc.abstractmethod
    def down(self) -> None:
        """Tear everything down. Idempotent; never raises for what is already gone."""

    #: How the machines differ from the spec, found at ``up`` (providers of existing
    #: machines fill it; each line is reported as drift).
    topology_drift: list[str] = []

    def detach(self) -> None:
        """Let the lab outlive this process: it stays until ``labbook down NAME``."""
        from ..errors import UsageError

        raise UsageError(
            f"the {self.provider_name} provider cannot keep a lab running after "
            "'labbook up' returns; use 'labbook check' instead"
        )

    def check_node(self, node: str) -> None:
        from ..errors import NodeNotFound

        if self.spec.node(node) is None:
            names = ", ".join(self.spec.node_names) or "(none)"
            raise NodeNotFound(f"lab '{self.name}' has no node '{node}'; its nodes: {names}")

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close_sessions()
        finally:
            self.down()


class Provider(abc.ABC):
    """Makes labs of one kind (network namespaces, ssh hosts, QEMU VMs, fakes)."""

    name: str = ""

    def __init__(self, **options: Any) -> None:
        self.options = options

    @abc.abstractmethod
    def up(self, spec: LabSpec, name: str | None = None) -> Lab:
        """Bring ``spec`` up under ``name`` (default: the spec's name) and return the lab.

        On failure, everything created so far is removed before the error is raised
        (:class:`~labbook.errors.ProviderError`, exit code 3).
        """

    def attach(self, name: str) -> Lab:
        """A handle on a lab that another process brought up (for ``exec`` and ``down``)."""
        raise NotImplementedError(f"the {self.name} provider cannot attach to running labs")

    def labs(self) -> list[LabInfo]:
        """The labs of this provider running on this machine (of this user)."""
        return []

    def gc(self, everything: bool = False, names: Iterable[str] | None = None) -> list[str]:
        """Remove what killed runs left behind (with ``everything``, every lab; ``names``
        limits the sweep to those labs); return a line per thing removed."""
        return []

    def unavailable(self) -> str | None:
        """Why this machine cannot run this provider at all (missing QEMU, kernel...), or
        None. A front end reports such labs as not run, with the reason, instead of failing."""
        return None

    def settings(self) -> dict[str, Any]:
        """What about this provider changes results (part of execution cache keys)."""
        return {"provider": self.name, **{k: str(v) for k, v in sorted(self.options.items())}}
