"""The Sphinx front end: directives, nodes, the labcheck builder, diagrams."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sphinx.application import Sphinx

#: Feature modules under this package, each with ``setup(app)``.
FEATURES = (
    "config",
    "envdata",
    "steps",
    "execute",
    "schedule",
    "labcheck",
    "topology",
    "schema",
    "schema_reference",
    "diagrams",
    "report",
    "fidelity",
)

#: Bump when the data labbook keeps on the Sphinx environment changes shape.
ENV_VERSION = 4


def setup_all(app: Sphinx) -> dict[str, Any]:
    from ..version import __version__

    for name in FEATURES:
        importlib.import_module(f".{name}", __package__).setup(app)
    return {
        "version": __version__,
        "env_version": ENV_VERSION,
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
