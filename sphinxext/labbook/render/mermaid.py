"""Mermaid text made readable to screen readers (no Sphinx here)."""

from __future__ import annotations

import re

#: Lines before a diagram's type: front matter, directives (``%%{...}%%``), comments.
_PREAMBLE = re.compile(r"\s*(%%.*)?$")


def _header_index(lines: list[str]) -> int:
    """Index of the line that names the diagram type (``flowchart LR``, ``erDiagram``)."""
    i = 0
    if lines and lines[0].strip() == "---":  # YAML front matter up to the next ---
        i = next((j for j in range(1, len(lines)) if lines[j].strip() == "---"), len(lines) - 1)
        i += 1
    while i < len(lines) and _PREAMBLE.fullmatch(lines[i]):
        i += 1
    return i


def with_accessibility(code: str, description: str) -> str:
    """``code`` with ``accTitle`` and ``accDescr`` after its diagram type: mermaid puts them
    in the SVG's ``<title>`` and ``<desc>`` and points ``aria-labelledby`` and
    ``aria-describedby`` at them. The title is the description up to its first colon.
    Code that already has an ``accTitle`` or ``accDescr`` is returned as it is."""
    if re.search(r"^\s*acc(Title|Descr)\b", code, re.MULTILINE):
        return code
    text = " ".join(description.split())
    if not text:
        return code
    lines = code.splitlines()
    at = _header_index(lines)
    if at >= len(lines):
        return code
    title = text.split(":", 1)[0].strip() or text
    lines[at + 1 : at + 1] = [f"    accTitle: {title}", f"    accDescr: {text}"]
    return "\n".join(lines) + ("\n" if code.endswith("\n") else "")
