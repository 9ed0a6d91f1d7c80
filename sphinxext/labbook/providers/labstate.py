"""Running labs of every provider on this machine: <root>/<lab>/state.json, and who owns them.

Every provider keeps its labs side by side under one root, each lab in a directory of
its name with a ``state.json`` that names the provider; a provider reads only its own.
Kept free of heavy imports: ``labbook exec`` reads state on every call.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from .procs import Proc, alive, me  # noqa: F401  (me: what providers' state modules use)

if TYPE_CHECKING:
    from ..spec import LabSpec, Node

#: Where root's labs keep their state; an ordinary user's are in :func:`state_root`.
ROOT_STATE = "/run/labbook"
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


#: Names another state root: labs under it are a world of their own (``labbook labs``,
#: ``gc`` and ``down`` see only them), so jobs that share a machine and a user keep apart.
STATE_DIR_ENV = "LABBOOK_STATE_DIR"


def state_root() -> str:
    """Where this user's labs keep their state: ``$LABBOOK_STATE_DIR`` when set; else
    /run/labbook for root (with the rights to make namespaces; root of a container without
    them counts as an ordinary user); for an ordinary user ``$XDG_RUNTIME_DIR/labbook``, or
    /tmp/labbook-UID where that is unset. Each user sees only their own labs."""
    from .userns import privileged

    chosen = os.environ.get(STATE_DIR_ENV)
    if chosen:
        if not os.path.isabs(chosen) or "\n" in chosen or " " in chosen:
            from ..errors import UsageError

            raise UsageError(
                f"{STATE_DIR_ENV}={chosen!r}: write an absolute path without spaces, "
                f"e.g. {STATE_DIR_ENV}=/tmp/labbook-ci-1"
            )
        return os.path.normpath(chosen)
    uid = os.geteuid()
    if privileged():
        return ROOT_STATE
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and _owned_dir(runtime, uid):
        return os.path.join(runtime, "labbook")
    return f"/tmp/labbook-{uid}"


def _owned_dir(path: str, uid: int) -> bool:
    """A directory (not a link) of ``uid``'s that nobody else may write in."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o022


def _trusted(root: str) -> bool:
    """Whether to believe what is under ``root``: this user's own directory. Another
    user's /tmp/labbook-UID, planted before this user made one, holds no labs of this
    user's: reading it would let a stranger name processes for gc to kill."""
    return _owned_dir(root, os.geteuid())


def title(kind: str, lab: str, root: str | None = None) -> str:
    """What ``ps`` shows for a process of ``lab``: ``KIND LAB ROOT``. The state root at the
    end tells apart the labs of users who share a uid (root, and root of a container
    without the rights to make namespaces). Inside a lab's user namespace, pass the root."""
    return f"{kind} {lab} {root or state_root()}"


def lab_dir(name: str, root: str | None = None) -> str:
    return os.path.join(root or state_root(), name)


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
    if not _trusted(root):
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
    path = os.path.join(st.directory, "state.json")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(asdict(st), f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _raw(name: str, root: str | None) -> dict[str, Any] | None:
    root = root or state_root()
    if not _trusted(root):
        return None
    try:
        with open(os.path.join(lab_dir(name, root), "state.json"), encoding="utf-8") as f:
            if os.fstat(f.fileno()).st_uid != os.geteuid():
                return None  # not written by this user
            raw = json.load(f)
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def provider_of(name: str, root: str | None = None) -> str | None:
    """Which provider's lab ``name`` is; None when its state is missing or unreadable."""
    raw = _raw(name, root)
    return str(raw.get("provider", "")) if raw is not None else None


def load(
    name: str, provider: str, build: Callable[[dict[str, Any]], T], root: str | None = None
) -> T | None:
    """``build(raw state)`` for ``provider``'s lab ``name``; None when there is none, it is
    unreadable or another provider's."""
    raw = _raw(name, root)
    if raw is None or raw.get("provider") != provider:
        return None
    try:
        return build(raw)
    except (TypeError, AttributeError, ValueError):
        return None


def lab_names(root: str | None = None) -> list[str]:
    """Every lab directory under ``root``, of any provider, sorted."""
    root = root or state_root()
    if not _trusted(root):
        return []
    try:
        return sorted(d for d in os.listdir(root) if os.path.isdir(lab_dir(d, root)))
    except FileNotFoundError:
        return []


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
