"""Compare machines with the page without changing them (``labbook check --no-apply``).

lab-file blocks are read from the nodes and compared (merged blocks by their keys only);
``lab-run`` blocks marked ``:safe:`` run; every other step is listed as not run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..errors import LabbookError
from ..providers import Lab
from ..steps.model import FileStep, LabPlan, RunStep
from ..verdict.results import Status, StepResult

#: The message of a step a check without applying does not run.
NOT_SAFE = "not run: --no-apply runs only lab-run blocks marked :safe:"


def compare_steps(
    lab: Lab,
    plan: LabPlan,
    run_commands: Callable[[Lab, int, RunStep], StepResult],
) -> list[StepResult]:
    """Every step of ``plan`` compared with the lab as it is (``run_commands`` runs a
    ``:safe:`` block as the runner always does)."""
    results: list[StepResult] = []
    for i, step in enumerate(plan.steps):
        t = time.monotonic()
        try:
            if isinstance(step, FileStep):
                result = _compare_file(lab, i, step)
            elif step.safe and not step.background:
                result = run_commands(lab, i, step)
            else:
                result = StepResult(
                    i, "run", step.node, Status.SKIPPED, step.source.line, message=NOT_SAFE
                )
        except LabbookError as exc:
            result = StepResult(
                i, step.kind, step.node, Status.ERROR, step.source.line, message=exc.message
            )
        result = replace(result, duration=time.monotonic() - t, file=step.source.file)
        results.append(result)
    return results


def _compare_file(lab: Lab, index: int, step: FileStep) -> StepResult:
    from ..verdict.configfiles import check_content

    try:
        data = lab.get(step.node, step.path)
    except FileNotFoundError:
        message = f"{step.path} does not exist on {step.node}; the page shows it"
        return file_result(index, step, Status.DRIFT, message=message)
    except OSError as exc:
        message = f"cannot read {step.path} from {step.node}: {exc.strerror or exc}"
        return file_result(index, step, Status.ERROR, message=message)
    m = check_content(step.content, step.format, step.merge, data)
    if not m.ok:
        what = "its keys differ from" if step.merge else "it differs from"
        message = f"{step.path} on {step.node}: {what} the page"
        return file_result(
            index, step, Status.DRIFT, message=message, diff=m.diff, actual=_text(data)
        )
    return file_result(index, step, Status.PASSED, actual=_text(data))


def file_result(index: int, step: FileStep, status: Status, **fields: Any) -> StepResult:
    """The verdict on lab-file ``step`` (``fields``: message, diff, actual)."""
    return StepResult(index, "file", step.node, status, step.source.line, **fields)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
