"""labbook's warnings: one function, one location type, one list of subtypes.

Every warning is ``type="labbook"`` with a subtype from :class:`Subtype`, so a handbook
can write ``suppress_warnings = ["labbook.not-run"]``.
"""

from __future__ import annotations

import enum
import os
from typing import TYPE_CHECKING

from sphinx.util import logging

from ..location import Location

if TYPE_CHECKING:
    from docutils import nodes
    from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger("sphinxext.labbook")


class Subtype(enum.StrEnum):
    """What a warning is about (``labbook.<subtype>`` in ``suppress_warnings``)."""

    DRIFT = "drift"  # a page disagrees with its lab, or a schema with its database
    ERROR = "error"  # a step or a lab could not run
    NOT_RUN = "not-run"  # a lab meant to run could not run on this machine
    STALE = "stale"  # a step changed since its recorded result (labbook_results)
    RESULTS = "results"  # the recorded results could not be written (labbook_results)
    DIRECTIVE = "directive"  # a directive or its options are wrong
    SPEC = "spec"  # a lab spec has errors
    SCHEMA = "schema"  # a schema could not be loaded, drawn or checked
    SCHEMA_LINT = "schema-lint"  # a schema breaks a lint rule (schema-reference :lint:)
    MERMAID = "mermaid"  # mermaid cannot be shipped with the site (it would load from the network)


def location_of(node: nodes.Node) -> Location:
    """Where a node of a document was written (its source file and line)."""
    from docutils.utils import get_source_line

    file, line = get_source_line(node)
    return Location(os.fspath(file or ""), line)


def directive_location(directive: SphinxDirective, line: int | None = None) -> Location:
    """Where a directive was written (or ``line`` of its document)."""
    env = directive.env
    return Location(os.fspath(env.doc2path(env.docname)), line or directive.lineno)


def warn(message: str, subtype: Subtype, where: Location | None) -> None:
    """Warn at ``where`` (a warning with no place is printed without one)."""
    logger.warning(
        message,
        location=where.for_sphinx() if where else None,
        type="labbook",
        subtype=subtype.value,
    )
