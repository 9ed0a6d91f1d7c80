"""Lab specs: the model, and loading it from YAML with every error located."""

from __future__ import annotations

from .load import json_schema, load_spec, parse_spec
from .model import Endpoint, Interface, LabSpec, Link, Loc, Network, Node, Route

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
