"""labbook: handbooks of infrastructure labs that are run, not just read.

As a Sphinx extension: ``extensions = ["sphinxext.labbook"]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sphinx.application import Sphinx

from .version import __version__

__all__ = ["__version__", "setup"]


def setup(app: Sphinx) -> dict[str, Any]:
    """Register every labbook feature with Sphinx (one ``setup_*`` per module)."""
    from .sphinx import setup_all

    return setup_all(app)
