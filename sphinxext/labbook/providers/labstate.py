"""Running labs of every provider on this machine: <root>/<lab>/state.json, and who owns them.

Every provider keeps its labs side by side under one root, each lab in a directory of
its name with a ``state.json`` that names the provider; a provider reads only its own.
What ``labbook exec`` reads on every call is in :mod:`stateroot`, which imports less.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from .procs import Proc, alive, me  # noqa: F401  (me: what providers' state modules use)
from .stateroot import (  # noqa: F401  (what providers' state modules use)
    ROOT_STATE,
    STATE_DIR_ENV,
    lab_dir,
    lab_names,
    provider_of,
    raw_state,
    state_root,
    title,
    trusted,
)

if TYPE_CHECKING:
    from ..spec import LabSpec, Node

T = TypeVar("T")
S = TypeVar("S", bound="State")


@dataclass(frozen=True, kw_only=True)
class State:
    """What every provider records of a running lab; its own dataclass adds the rest
    (and ``provider``, its name, which :func:`load` checks)."""

    name: str
    spec_path: str
    spec_digest: str
    created: float
    status: str = "creating"  # creating | up
    owner: Proc | None = None  # the process whose lab it is; None once detached

    @property
    def directory(self) -> str:
        return lab_dir(self.name)

    def with_(self: S, **changes: Any) -> S:
        return replace(self, **changes)


def ensure_root(root: str | None = None) -> str:
    """Create the state root (0700: nothing of a lab is anybody else's business); refuse
    one that is not this user's own directory (a link or a stranger's in /tmp)."""
    from ..errors import ProviderError

    root = root or state_root()
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ProviderError(
            f"cannot create the labs' state directory {root}: {exc.strerror}"
        ) from None
    if not trusted(root):
        raise ProviderError(
            f"{root} is not a directory of this user's; remove it, or set "
            f"{STATE_DIR_ENV} to a directory of yours"
        )
    return root


def claim(name: str, root: str | None = None, mode: int = 0o755) -> bool:
    """Create the lab's state directory; False when one of that name exists."""
    root = ensure_root(root)
    try:
        os.mkdir(lab_dir(name, root), mode)
    except FileExistsError:
        return False
    return True


def write(st: State) -> None:
    """Replace state.json atomically (a reader never sees half a file)."""
    from ..outfile import write_output

    blob = json.dumps(asdict(st), indent=1, sort_keys=True).encode()
    write_output(os.path.join(st.directory, "state.json"), blob)


def load(
    name: str, provider: str, build: Callable[[dict[str, Any]], T], root: str | None = None
) -> T | None:
    """``build(raw state)`` for ``provider``'s lab ``name``; None when there is none, it is
    unreadable or another provider's."""
    raw = raw_state(name, root)
    if raw is None or raw.get("provider") != provider:
        return None
    try:
        return build(raw)
    except (TypeError, AttributeError, ValueError):
        return None


def remove(name: str, root: str | None = None) -> bool:
    """Remove the lab's state directory; True if there was one."""
    path = lab_dir(name, root)
    existed = os.path.isdir(path)
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    return existed


def as_procs(raw: dict[str, Any], *keys: str) -> None:
    """Turn the JSON lists under ``keys`` back into :data:`Proc` tuples (or None)."""
    for key in keys:
        raw[key] = tuple(raw[key]) if raw.get(key) else None


def from_json(
    cls: Callable[..., T], node: Callable[..., Any], procs: tuple[str, ...], raw: dict[str, Any]
) -> T:
    """A state dataclass ``cls`` from its JSON: ``nodes`` of class ``node``, and the
    processes under the keys ``procs``."""
    nodes = {k: node(**v) for k, v in raw.pop("nodes", {}).items()}
    as_procs(raw, *procs)
    return cls(nodes=nodes, **raw)


def owner_verdict(st: State) -> str | None:
    """What ``gc`` makes of a lab from its owner alone: why to remove it, "" to keep it,
    or None when the provider must look at the lab's own processes."""
    if st.status != "up":
        return "" if alive(st.owner) else "it was half-created by a process that is gone"
    if st.owner is not None and not alive(st.owner):
        return f"its owner process {st.owner[0]} is gone"
    return None


def spec_of(st: State, sketch: tuple[Node, ...]) -> LabSpec:
    """The spec a running lab was made from; ``sketch`` of its nodes if the file changed."""
    from ..spec import LabSpec

    try:
        from ..spec import load_spec

        spec = load_spec(st.spec_path)
        if spec.digest == st.spec_digest:
            return spec
    except Exception:  # changed, moved or broken since: the state still knows the nodes
        pass
    return LabSpec(name=st.name, path=st.spec_path, digest=st.spec_digest, nodes=sketch)
