"""What the runner runs (plans of steps) and what it returns (typed results)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

#: How the message of a lab that could not be brought up begins (``labbook check`` exit 3).
UP_FAILED = "lab could not be brought up"


class Status(enum.StrEnum):
    """How a step (or a whole lab) ended."""

    PASSED = "passed"
    DRIFT = "drift"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Source:
    """Where a step was written: the document file and the 1-based line of its content."""

    file: str
    line: int
    document: str = ""


@dataclass(frozen=True)
class CommandSpec:
    """One command of a console block, as the page shows it."""

    text: str
    expected: tuple[str, ...]
    line: int  # 1-based line in the source file
    prompt: str = "$ "
    rc: int | None = None  # ``[N]`` after the output; None: the step's ``:rc:``


@dataclass(frozen=True)
class RunStep:
    """``lab-run``: commands typed in a node's shell, each with its expected output."""

    node: str
    commands: tuple[CommandSpec, ...]
    source: Source
    timeout: float = 60.0
    rc: int = 0
    match: str = "normalized"
    retry: float = 0.0
    background: bool = False
    hide: bool = False
    content: tuple[str, ...] = ()  # the block as written, for accept mode
    kind: str = "run"
    #: Read-only commands (``:safe:``): run even when a check must change nothing.
    safe: bool = False


@dataclass(frozen=True)
class FileStep:
    """``lab-file``: content applied to a file of a node, read back at the end of the lab."""

    node: str
    path: str
    content: tuple[str, ...]
    source: Source
    format: str = "text"
    merge: bool = False
    mode: int | None = None
    owner: str | None = None
    hide: bool = False
    kind: str = "file"
    #: Why applying the file twice may change it (``:idempotent: no: WHY``); "" = checked.
    not_idempotent: str = ""


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
    #: False: compare the machines with the page without changing them (``--no-apply``):
    #: files are read and compared, only ``:safe:`` steps run, the rest are not run.
    apply: bool = True


@dataclass(frozen=True)
class CommandResult:
    """What one command really did."""

    text: str
    line: int
    rc: int
    output: str
    duration: float
    status: Status
    diff: str = ""
    message: str = ""


@dataclass(frozen=True)
class StepResult:
    """The verdict on one step: status, where, how long, and the diff when it drifted."""

    index: int
    kind: str
    node: str
    status: Status
    line: int
    duration: float = 0.0
    diff: str = ""
    message: str = ""
    commands: tuple[CommandResult, ...] = ()
    actual: str = ""  # for file steps: the file as read back
    file: str = ""  # the source file the step was written in (``line`` is in it)
    waiver: str = ""  # a file step not checked for idempotence, and why


@dataclass(frozen=True)
class PlanResult:
    """Every step of one lab, plus the lab's own fate (it may not have come up)."""

    spec_path: str
    lab: str
    document: str
    provider: str
    status: Status
    steps: tuple[StepResult, ...]
    duration: float
    started: float
    message: str = ""
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    #: Why a lab meant to run could not run on this machine (its provider is unavailable
    #: here, or there is no recorded result to show); "" when it ran, or was not meant to.
    not_run: str = ""

    @property
    def up_failed(self) -> bool:
        """The lab should have run here, but could not be brought up."""
        return self.status is Status.ERROR and self.message.startswith(UP_FAILED)

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Status}
        for r in self.steps:
            out[r.status.value] += 1
        return out
