"""The lifecycle every provider with running labs shares: claim a name, attach, list, gc.

A provider keeps each running lab's state under the user's state root (see labstate)
and names the processes the lab is made of. The loops over those, the stale checks and
the messages are the same for all of them; a provider says only what is its own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import LabNotFound, UsageError
from . import labstate
from .base import Lab, LabInfo, Provider
from .labstate import State, alive, me, owner_verdict

if TYPE_CHECKING:
    from ..spec import LabSpec

S = TypeVar("S", bound=State)

#: How old a state directory without readable state must be before gc takes it for junk
#: (a directory is briefly without state while a lab is being claimed).
CLAIM_GRACE = 10.0


class StatefulProvider(Provider, Generic[S]):
    """A provider whose labs outlive the process that made them (``labbook up``)."""

    #: What gc counts of a lab ("processes", "master connections").
    parts: str = "processes"
    #: Why a lab whose parts are gone is stale.
    gone: str = "its processes are gone"
    #: Mode of a lab's state directory.
    dir_mode: int = 0o755

    # -- what each provider says --------------------------------------------------------------
    def read(self, name: str) -> S | None:
        """The state of this provider's lab ``name``; None when there is none."""
        raise NotImplementedError

    def names(self) -> list[str]:
        """Lab directories of this provider (or of unreadable state, which may be)."""
        raise NotImplementedError

    def handle(self, st: S) -> Lab:
        """A handle on the running lab of ``st`` (for ``exec`` and ``down``)."""
        raise NotImplementedError

    def running(self, st: S) -> bool:
        """Whether the lab's parts still run."""
        raise NotImplementedError

    def info(self, st: S, status: str) -> LabInfo:
        raise NotImplementedError

    def orphans(self) -> dict[str, list[int]]:
        """Processes of this provider's labs on this machine, by lab name."""
        return {}

    def remove(self, name: str, st: S | None, pids: list[int]) -> int:
        """Stop what is left of a lab and forget it; how many of its parts still ran."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------
    def claim(self, name: str, spec: LabSpec, state: Callable[..., S], **extra: Any) -> S:
        """Take the name ``name`` for a lab of ``spec`` (its state a ``state``, with the
        provider's own fields ``extra``), owned by this process; take it over from a stale
        lab of this provider; UsageError when a live lab has it."""
        for _ in range(2):
            if labstate.claim(name, mode=self.dir_mode):
                st = state(
                    name=name,
                    spec_path=os.path.abspath(spec.path),
                    spec_digest=spec.digest,
                    created=time.time(),
                    owner=me(),
                    **extra,
                )
                try:
                    labstate.write(st)
                except BaseException:
                    labstate.remove(name)
                    raise
                return st
            other = labstate.provider_of(name)
            old = self.read(name)
            if other not in (self.name, None) or not self.why_stale(old, name=name):
                by = f" (provider {other})" if other not in (self.name, None) else ""
                raise UsageError(
                    f"a lab named '{name}' is already running{by}; bring this "
                    f"one up under another name (--name), or run "
                    f"'labbook down {name}'"
                )
            self.remove(name, old, [])
        raise UsageError(f"cannot claim the name '{name}'; run 'labbook gc'")

    def attach(self, name: str) -> Lab:
        st = self.read(name)
        if st is None or st.status != "up":
            running = ", ".join(i.name for i in self.labs()) or "none"
            raise LabNotFound(f"no running {self.name} lab named '{name}' (running: {running})")
        return self.handle(st)

    def labs(self) -> list[LabInfo]:
        out = []
        for name in self.names():
            st = self.read(name)
            if st is not None:
                out.append(self.info(st, st.status if self.running(st) else "dead"))
        return out

    def why_stale(self, st: S | None, everything: bool = False, name: str = "") -> str:
        """Why ``gc`` should remove this lab, or "" to keep it."""
        if st is None:
            return "its state file is unreadable" if _unchanged_for(name) > CLAIM_GRACE else ""
        verdict = owner_verdict(st)
        if verdict is not None:
            return verdict
        if not self.running(st):
            return self.gone
        return "--all" if everything else ""

    def gc(self, everything: bool = False, names: Iterable[str] | None = None) -> list[str]:
        only = set(names) if names is not None else None
        procs = {k: v for k, v in self.orphans().items() if only is None or k in only}
        lines = []
        for name in self.names():
            if only is not None and name not in only:
                continue
            st = self.read(name)
            found = procs.pop(name, [])
            if st is not None and st.status != "up" and alive(st.owner):
                continue  # being brought up right now
            why = self.why_stale(st, everything, name)
            if not why:
                continue
            count = self.remove(name, st, found)
            lines.append(
                f"removed {self.name} lab '{name}' ({why}): {count} {self.parts}, "
                f"{labstate.lab_dir(name)}"
            )
        for name, pids in sorted(procs.items()):
            if labstate.provider_of(name) not in (self.name, None):
                continue  # the name is another provider's lab now
            count = self.remove(name, None, pids)
            lines.append(
                f"removed {count} {self.parts} of {self.name} lab '{name}', which has no state"
            )
        return lines


def _unchanged_for(name: str) -> float:
    try:
        return time.time() - os.stat(labstate.lab_dir(name)).st_mtime
    except OSError:
        return 0.0
