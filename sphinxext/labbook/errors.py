"""One exception tree for labbook; every error carries its (file, line) when it has one."""

from __future__ import annotations

from collections.abc import Iterable


class LabbookError(Exception):
    """Root of every error labbook raises on purpose.

    ``exit_code`` is what the command-line front end exits with; library code never
    exits, it raises.
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column

    @property
    def location(self) -> str:
        """``file:line:col`` (as much of it as is known), or an empty string."""
        parts = [str(p) for p in (self.file, self.line, self.column) if p is not None]
        return ":".join(parts)

    def __str__(self) -> str:
        loc = self.location
        return f"{loc}: {self.message}" if loc else self.message


class UsageError(LabbookError):
    """The command line or an option is wrong (exit code 2)."""

    exit_code = 2


class SpecError(LabbookError):
    """One problem in a lab spec file."""

    exit_code = 2


class SpecErrors(LabbookError):
    """Every problem found in one lab spec file, reported at once."""

    exit_code = 2

    def __init__(self, errors: Iterable[SpecError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.file or "", e.line or 0, e.column or 0))
        first = self.errors[0] if self.errors else None
        super().__init__(
            "\n".join(str(e) for e in self.errors),
            file=first.file if first else None,
            line=first.line if first else None,
        )

    def __str__(self) -> str:
        return self.message


class DirectiveError(LabbookError):
    """A directive in a document is malformed (exit code 2)."""

    exit_code = 2


class LabNotFound(LabbookError):
    """No running lab has that name (exit code 2)."""

    exit_code = 2


class ProviderError(LabbookError):
    """A lab could not be brought up, reached or torn down (exit code 3)."""

    exit_code = 3


class NodeNotFound(LabbookError):
    """The lab has no node of that name (exit code 2)."""

    exit_code = 2


class SchemaError(LabbookError):
    """A schema source is bad: unimportable, unparseable, missing (exit code 2)."""

    exit_code = 2


class DatabaseUnreachable(LabbookError):
    """A live database could not be reached (exit code 3)."""

    exit_code = 3
