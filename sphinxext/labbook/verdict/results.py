"""The verdict: how each step and each lab ended, as typed records that round-trip JSON."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
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


def plan_result_to_dict(r: PlanResult) -> dict[str, Any]:
    return asdict(r)


def plan_result_from_dict(d: dict[str, Any]) -> PlanResult:
    steps = tuple(
        StepResult(
            **{
                **s,
                "status": Status(s["status"]),
                "commands": tuple(
                    CommandResult(**{**c, "status": Status(c["status"])})
                    for c in s.get("commands", ())
                ),
            }
        )
        for s in d["steps"]
    )
    return PlanResult(**{**d, "status": Status(d["status"]), "steps": steps})
