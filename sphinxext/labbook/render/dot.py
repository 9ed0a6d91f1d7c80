"""DOT text shared by the topology and schema renderers."""

from __future__ import annotations

import html
import shutil
import subprocess

from ..errors import LabbookError, UsageError


def quote(text: str) -> str:
    """A DOT quoted ID: backslashes and quotes escaped, line breaks written ``\\n``, carriage
    returns dropped (Graphviz would print them as they are)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def html_text(text: str) -> str:
    """Text for an HTML-like label: escaped, each line break a ``<BR/>`` (carriage returns
    dropped with the line breaks they belong to)."""
    return "<BR/>".join(html.escape(line, quote=True) for line in text.splitlines())


def run_dot(dot: str, fmt: str) -> bytes:
    """Lay out ``dot`` with Graphviz and return the ``fmt`` (svg, png) bytes."""
    exe = shutil.which("dot")
    if exe is None:
        raise UsageError(
            f"-f {fmt} needs Graphviz's 'dot' program, which is not installed; "
            "install the Debian package graphviz (apt-get install graphviz), "
            "or use -f dot or -f mermaid"
        )
    proc = subprocess.run([exe, f"-T{fmt}"], input=dot.encode(), capture_output=True, check=False)
    if proc.returncode != 0:
        raise LabbookError(f"dot -T{fmt} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout
