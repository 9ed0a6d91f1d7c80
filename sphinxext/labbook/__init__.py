"""labbook: handbooks of infrastructure labs that are run, not just read.

As a Sphinx extension: ``extensions = ["sphinxext.labbook"]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sphinx.application import Sphinx

__version__ = "0.1.0"


def setup(app: Sphinx) -> dict[str, Any]:
    """Register every labbook feature with Sphinx (one ``setup_*`` per module)."""
    from .sphinx import setup_all

    return setup_all(app)
