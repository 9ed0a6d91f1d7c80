"""labbook: handbooks of infrastructure labs that are run, not just read.

As a Sphinx extension: ``extensions = ["sphinxext.labbook"]``.
"""

from __future__ import annotations

from .version import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (labbook exec)
if TYPE_CHECKING:
    from typing import Any

    from sphinx.application import Sphinx

__all__ = ["__version__", "setup"]


def setup(app: Sphinx) -> dict[str, Any]:
    """Register every labbook feature with Sphinx (one ``setup_*`` per module)."""
    from .sphinx import setup_all

    return setup_all(app)
