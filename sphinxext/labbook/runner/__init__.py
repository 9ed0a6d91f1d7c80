"""The runner: bring a lab up, apply its files, run its commands, judge, tear down."""

from __future__ import annotations

from .model import (
    CommandResult,
    CommandSpec,
    FileStep,
    LabPlan,
    PlanResult,
    RunStep,
    Source,
    Status,
    Step,
    StepResult,
)

__all__ = [
    "CommandResult",
    "CommandSpec",
    "FileStep",
    "LabPlan",
    "PlanResult",
    "RunStep",
    "Source",
    "Status",
    "Step",
    "StepResult",
    "run_plan",
]


def __getattr__(name: str) -> object:
    if name == "run_plan":
        from .execute import run_plan

        return run_plan
    raise AttributeError(name)
