"""Where something was written: the one location type of labbook's messages and warnings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A file and, when known, the 1-based line and column in it."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        """``file:line:column``, as much of it as is known."""
        parts = [self.file, self.line, self.column]
        return ":".join(str(p) for p in parts if p is not None)

    def for_sphinx(self) -> str:
        """The location string Sphinx prints as it is (a string without ``:`` would be
        taken for a document name, a tuple's first item too)."""
        return str(self) if self.line else f"{self.file}:"
