"""The netns provider: every node is a set of Linux namespaces on this kernel, no VM, no daemon.

The provider itself is in ``provider``; this package's top level imports nothing, so
``labbook exec`` (``enter``, ``nsutil``) starts without the rest of it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (labbook exec)
if TYPE_CHECKING:
    from typing import Any

    from .provider import NetnsLab, NetnsProvider, node_env

__all__ = ["NetnsLab", "NetnsProvider", "node_env"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import provider

        return getattr(provider, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
