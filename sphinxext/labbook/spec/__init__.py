"""Lab specs: the model, and loading it from YAML with every error located.

The names below load on first use, so a module that needs only :mod:`.yamlmarks`
(the schema snapshots do) does not import the JSON Schema validator.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .load import json_schema, load_spec, parse_spec
    from .model import Endpoint, Interface, LabSpec, Link, Loc, Network, Node, Route

_WHERE = {
    "json_schema": "load",
    "load_spec": "load",
    "parse_spec": "load",
    **dict.fromkeys(
        ("Endpoint", "Interface", "LabSpec", "Link", "Loc", "Network", "Node", "Route"), "model"
    ),
}

__all__ = [
    "Endpoint",
    "Interface",
    "LabSpec",
    "Link",
    "Loc",
    "Network",
    "Node",
    "Route",
    "json_schema",
    "load_spec",
    "parse_spec",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
