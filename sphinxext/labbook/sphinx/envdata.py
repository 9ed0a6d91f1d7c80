"""What labbook keeps on the Sphinx environment, per document, and how it is purged and
merged (parallel reads build several environments and merge them).

Two shapes: a dict of docname -> data (results, plans, problems, block ids, whether its
recorded results changed) and a set of docnames (pages with a ``labbook-report``, pages
checked against a live database). Everything is plain, picklable data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

    from ..steps.model import LabPlan
    from ..verdict.results import PlanResult

RESULTS_KEY = "labbook_results"
PLANS_KEY = "labbook_plans"
PROBLEMS_KEY = "labbook_problems"
BLOCK_IDS_KEY = "labbook_block_ids"
CHANGED_KEY = "labbook_records_changed"
REPORT_DOCS_KEY = "labbook_report_docs"
SCHEMA_CHECKS_KEY = "labbook_schema_checks"
FIDELITY_KEY = "labbook_fidelity"
FIDELITY_PAGES_KEY = "labbook_fidelity_pages"

PER_DOC_KEYS = (RESULTS_KEY, PLANS_KEY, PROBLEMS_KEY, BLOCK_IDS_KEY, CHANGED_KEY, FIDELITY_KEY)
DOC_SET_KEYS = (REPORT_DOCS_KEY, SCHEMA_CHECKS_KEY, FIDELITY_PAGES_KEY)


def _kept(env: BuildEnvironment, key: str, make: type) -> Any:
    """What env keeps under ``key`` (made with ``make()`` on first use)."""
    if not hasattr(env, key):
        setattr(env, key, make())
    return getattr(env, key)


def _per_doc(env: BuildEnvironment, key: str) -> dict[str, Any]:
    return _kept(env, key, dict)  # type: ignore[no-any-return]


def _doc_set(env: BuildEnvironment, key: str) -> set[str]:
    return _kept(env, key, set)  # type: ignore[no-any-return]


def results_of(env: BuildEnvironment) -> dict[str, list[PlanResult]]:
    """docname -> results of the labs of that document (plain, picklable data)."""
    return _per_doc(env, RESULTS_KEY)


def problems_of(env: BuildEnvironment) -> dict[str, list[dict[str, Any]]]:
    """docname -> bad directives and lab specs found while reading it (each a plain dict
    with ``file``, ``line``, ``message``): labs that never ran because of bad input."""
    return _per_doc(env, PROBLEMS_KEY)


def note_problem(
    env: BuildEnvironment, file: str, line: int, message: str, kind: str = "bad-input"
) -> None:
    """Keep a problem of the document being read; ``kind`` is one of report.PROBLEM_KINDS."""
    problems_of(env).setdefault(env.docname, []).append(
        {"file": file, "line": line, "message": message, "kind": kind}
    )


def plans_of(env: BuildEnvironment) -> dict[str, list[LabPlan]]:
    """docname -> the plans its labs ran (for accept mode, which rewrites their sources)."""
    return _per_doc(env, PLANS_KEY)


def block_ids_of(env: BuildEnvironment) -> dict[str, list[list[str]]]:
    """docname -> for each lab of the document, the ids of its steps' blocks on the page
    (so the report links each row to its block)."""
    return _per_doc(env, BLOCK_IDS_KEY)


def records_changed(env: BuildEnvironment) -> dict[str, bool]:
    """docname -> True when the build changed (or, locked, would change) its recorded
    results (``labbook_results``)."""
    return _per_doc(env, CHANGED_KEY)


def report_docs(env: BuildEnvironment) -> set[str]:
    """Documents with a ``labbook-report`` (written again on every build)."""
    return _doc_set(env, REPORT_DOCS_KEY)


def schema_checks(env: BuildEnvironment) -> set[str]:
    """Documents with a live schema check (read again on every build)."""
    return _doc_set(env, SCHEMA_CHECKS_KEY)


def fidelity_of(env: BuildEnvironment) -> dict[str, list[Any]]:
    """docname -> how its blocks follow their articles (``fidelity.Entry`` each)."""
    return _per_doc(env, FIDELITY_KEY)


def fidelity_pages(env: BuildEnvironment) -> set[str]:
    """Documents with a ``labbook-fidelity`` table (written again on every build)."""
    return _doc_set(env, FIDELITY_PAGES_KEY)


def on_purge(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    for key in PER_DOC_KEYS:
        _per_doc(env, key).pop(docname, None)
    for key in DOC_SET_KEYS:
        _doc_set(env, key).discard(docname)


def on_merge(
    app: Sphinx, env: BuildEnvironment, docnames: set[str], other: BuildEnvironment
) -> None:
    for key in PER_DOC_KEYS:
        mine, theirs = _per_doc(env, key), _per_doc(other, key)
        mine.update({d: theirs[d] for d in docnames if d in theirs})
    for key in DOC_SET_KEYS:
        _doc_set(env, key).update(_doc_set(other, key) & docnames)


def setup(app: Sphinx) -> None:
    app.connect("env-purge-doc", on_purge)
    app.connect("env-merge-info", on_merge)
