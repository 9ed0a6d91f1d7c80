"""The step model: what a page asks a lab to do (commands typed, files written), in plans."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..location import Location


class MatchMode(enum.StrEnum):
    """How a step's expected output is compared with what the command printed."""

    NORMALIZED = "normalized"  # volatile tokens by shape; JSON structurally when both are
    EXACT = "exact"  # no shapes; ``...`` and ``(re)`` still work (the author wrote them)
    CONTAINS = "contains"  # the expected lines appear in this order, other lines allowed
    JSON = "json"  # both sides are JSON, compared structurally


class FileFormat(enum.StrEnum):
    """How a file's content is understood (``text`` is taken line by line)."""

    TEXT = "text"
    INI = "ini"
    YAML = "yaml"
    JSON = "json"


@dataclass(frozen=True)
class Source:
    """Where a step (or a lab) was written: the file, the 1-based line of its content, and
    the document it belongs to."""

    file: str
    line: int
    document: str = ""

    @property
    def location(self) -> Location:
        return Location(self.file, self.line)


@dataclass(frozen=True)
class Command:
    """One command of a console block and the output the page expects from it."""

    text: str  # shell input without the prompt; continuation lines joined with "\n"
    expected: tuple[str, ...]  # expected output lines ('...' and '(re)' lines included)
    #: Line of the command's first line: in a step, the 1-based line in the source file;
    #: straight from :func:`~.console.parse_console`, counted from its ``first_line``.
    line: int
    prompt: str = "$ "  # the prompt that introduced it, e.g. "$ " or "# "


@dataclass(frozen=True)
class RunStep:
    """``lab-run``: commands typed in a node's shell, each with its expected output."""

    node: str
    commands: tuple[Command, ...]
    source: Source
    timeout: float = 60.0
    rc: int = 0
    match: MatchMode = MatchMode.NORMALIZED
    retry: float = 0.0
    background: bool = False
    hide: bool = False
    content: tuple[str, ...] = ()  # the block as written, for accept mode
    kind: str = "run"

    def __post_init__(self) -> None:
        object.__setattr__(self, "match", MatchMode(self.match))


@dataclass(frozen=True)
class FileStep:
    """``lab-file``: content applied to a file of a node, read back at the end of the lab."""

    node: str
    path: str
    content: tuple[str, ...]
    source: Source
    format: FileFormat = FileFormat.TEXT
    merge: bool = False
    mode: int | None = None
    owner: str | None = None
    hide: bool = False
    kind: str = "file"

    def __post_init__(self) -> None:
        object.__setattr__(self, "format", FileFormat(self.format))


Step = RunStep | FileStep


@dataclass(frozen=True)
class LabPlan:
    """One lab of one document and the steps bound to it, in order."""

    spec_path: str
    steps: tuple[Step, ...]
    document: str = ""
    source: Source | None = None
    provider: str = "netns"
    provider_options: tuple[tuple[str, str], ...] = ()
    name: str | None = None
    #: Environment variables every session shell of the lab starts with.
    env: tuple[tuple[str, str], ...] = ()
    #: Files the lab's steps read (``:depends:``): their contents are part of the cache key.
    depends: tuple[str, ...] = ()
