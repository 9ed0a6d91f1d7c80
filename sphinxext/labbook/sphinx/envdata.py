"""What labbook keeps on the Sphinx environment, per document: results, plans, problems."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sphinx.environment import BuildEnvironment

    from ..steps.model import LabPlan
    from ..verdict.results import PlanResult

RESULTS_KEY = "labbook_results"
PLANS_KEY = "labbook_plans"
PROBLEMS_KEY = "labbook_problems"


def _per_doc(env: BuildEnvironment, key: str) -> dict[str, Any]:
    """The docname-keyed dict kept on env under ``key`` (made on first use)."""
    if not hasattr(env, key):
        setattr(env, key, {})
    return getattr(env, key)  # type: ignore[no-any-return]


def results_of(env: BuildEnvironment) -> dict[str, list[PlanResult]]:
    """docname -> results of the labs of that document (plain, picklable data)."""
    return _per_doc(env, RESULTS_KEY)


def problems_of(env: BuildEnvironment) -> dict[str, list[dict[str, Any]]]:
    """docname -> bad directives and lab specs found while reading it (each a plain dict
    with ``file``, ``line``, ``message``): labs that never ran because of bad input."""
    return _per_doc(env, PROBLEMS_KEY)


def note_problem(env: BuildEnvironment, file: str, line: int, message: str) -> None:
    problems_of(env).setdefault(env.docname, []).append(
        {"file": file, "line": line, "message": message}
    )


def plans_of(env: BuildEnvironment) -> dict[str, list[LabPlan]]:
    """docname -> the plans its labs ran (for accept mode, which rewrites their sources)."""
    return _per_doc(env, PLANS_KEY)
