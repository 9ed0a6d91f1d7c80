"""Providers make labs: the registry, by name, from the ``labbook.providers`` entry points."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from ..errors import UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (labbook exec)
if TYPE_CHECKING:
    from typing import Any

    from .base import ExecResult, Lab, LabInfo, Provider

#: What this package hands on from ``base`` (on first use: ``labbook exec`` needs none).
_FROM_BASE = ("ExecResult", "Lab", "LabInfo", "Provider")


def __getattr__(name: str) -> Any:
    if name in _FROM_BASE:
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BUILTIN",
    "ExecResult",
    "Lab",
    "LabInfo",
    "Provider",
    "get_provider",
    "parse_options",
    "provider_names",
]

#: Providers shipped with labbook (also reachable when the package is not installed).
BUILTIN = {
    "netns": "sphinxext.labbook.providers.netns:NetnsProvider",
    "ssh": "sphinxext.labbook.providers.ssh:SshProvider",
    "vm": "sphinxext.labbook.providers.vm:VmProvider",
    "fake": "sphinxext.labbook.providers.fake:FakeProvider",
}

DEFAULT = "netns"


def _targets() -> dict[str, str]:
    from importlib.metadata import entry_points  # slow to import; not needed for builtins

    found = dict(BUILTIN)
    for ep in entry_points(group="labbook.providers"):
        found[ep.name] = ep.value
    return found


def provider_names() -> list[str]:
    return sorted(_targets())


def get_provider(name: str | None = None, **options: Any) -> Provider:
    """Instantiate the provider called ``name`` with ``options``."""
    name = name or DEFAULT
    targets = BUILTIN if name in BUILTIN else _targets()
    if name not in targets:
        raise UsageError(f"unknown provider '{name}'; choose one of: {', '.join(sorted(targets))}")
    module, _, attr = targets[name].partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"provider '{name}' is not available: {exc}") from None
    provider: Provider = cls(**options)
    return provider


def parse_options(items: Iterable[str]) -> dict[str, str]:
    """Provider options written ``KEY=VALUE`` (the value may be empty, or hold ``=``).

    Raises ``ValueError`` whose argument is the first item that is not ``KEY=VALUE``; the
    front end says how to write it in its own terms (``-o`` or ``:options:``)."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(item)
        options[key] = value
    return options
