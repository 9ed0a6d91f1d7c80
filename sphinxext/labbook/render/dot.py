"""DOT text shared by the topology and schema renderers."""

from __future__ import annotations

import html


def quote(text: str) -> str:
    """A DOT quoted ID: backslashes and quotes escaped, line breaks written ``\\n``, carriage
    returns dropped (Graphviz would print them as they are)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def html_text(text: str) -> str:
    """Text for an HTML-like label: escaped, each line break a ``<BR/>`` (carriage returns
    dropped with the line breaks they belong to)."""
    return "<BR/>".join(html.escape(line, quote=True) for line in text.splitlines())
