"""Results to the outside world: JSON, JUnit XML and terminal lines."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from .controls import NOTE, has_invisible, visible
from .outfile import write_named
from .verdict.results import PlanResult, Status, plan_result_from_dict, plan_result_to_dict

REPORT_VERSION = 1


def summary(results: Iterable[PlanResult]) -> dict[str, int]:
    out = {s.value: 0 for s in Status}
    for r in results:
        for k, v in r.counts().items():
            out[k] += v
    return {
        "passed": out["passed"],
        "drift": out["drift"],
        "errors": out["error"],
        "skipped": out["skipped"],
    }


def counted(n: int, noun: str, plural: str = "") -> str:
    """``1 lab``, ``2 labs``: ``n`` and the noun in its number."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


#: Kinds of problem (``problems`` of the JSON report) and how the summary line counts them.
PROBLEM_KINDS = {
    "bad-input": ("bad directive or spec", "bad directives or specs"),
    "schema-drift": ("schema check with drift", "schema checks with drift"),
    "unreachable": ("schema check that could not reach its database", ""),
}


def problem_counts(problems: Iterable[dict[str, Any]]) -> dict[str, int]:
    """How many problems of each kind (a problem without a kind is bad input)."""
    out = dict.fromkeys(PROBLEM_KINDS, 0)
    for p in problems:
        out[p.get("kind") or "bad-input"] += 1
    return out


def summary_line(
    results: list[PlanResult], bad_input: int = 0, problems: Iterable[dict[str, Any]] = ()
) -> str:
    """``1 lab: 5 passed, 1 drift, 0 errors, 0 skipped``, and the bad input, schema drift
    and unreachable databases if there were."""
    kinds = problem_counts(problems)
    kinds["bad-input"] += bad_input
    s = summary(results)
    line = (
        f"{counted(len(results), 'lab')}: {s['passed']} passed, {s['drift']} drift, "
        f"{counted(s['errors'], 'error')}, {s['skipped']} skipped"
    )
    for kind, (one, many) in PROBLEM_KINDS.items():
        if kinds[kind]:
            many = many or one.replace("schema check that could", "schema checks that could")
            line += f"; {counted(kinds[kind], one, many)}"
    return line


def step_rows(results: Iterable[PlanResult]) -> list[dict[str, Any]]:
    """One flat row per step: what labcheck.json lists under "steps"."""
    rows = []
    for r in results:
        for s in r.steps:
            rows.append(
                {
                    "document": r.document,
                    "file": s.file,
                    "line": s.line,
                    "lab": r.lab,
                    "spec": r.spec_path,
                    "node": s.node,
                    "kind": s.kind,
                    "status": s.status.value,
                    "duration": round(s.duration, 4),
                    "diff": s.diff,
                    "message": s.message,
                    "provider": r.provider,
                    "cached": r.cached,
                    "recorded": r.recorded,
                    "stale": s.stale,
                }
            )
    return rows


def waivers(results: Iterable[PlanResult]) -> list[dict[str, Any]]:
    """The lab-files not checked for idempotence, each with the page's reason."""
    return [
        {"file": s.file, "line": s.line, "node": s.node, "document": r.document, "why": s.waiver}
        for r in results
        for s in r.steps
        if s.waiver
    ]


def to_json(
    results: list[PlanResult], problems: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    sums = summary(results)
    sums["errors"] += len(problems or [])
    return {
        "version": REPORT_VERSION,
        "summary": sums,
        "problems": list(problems or []),
        "labs": [
            {
                "document": r.document,
                "lab": r.lab,
                "spec": r.spec_path,
                "provider": r.provider,
                "status": r.status.value,
                "duration": round(r.duration, 4),
                "started": r.started,
                "cached": r.cached,
                "recorded": r.recorded,
                "where": r.where,
                "message": r.message,
            }
            for r in results
        ],
        "steps": step_rows(results),
        "waivers": waivers(results),
        "results": [plan_result_to_dict(r) for r in results],
    }


def from_json(data: dict[str, Any]) -> list[PlanResult]:
    return [plan_result_from_dict(d) for d in data.get("results", [])]


def _xml(text: str) -> str:
    """An attribute's text as XML 1.0 can hold it (control characters as \\xNN)."""
    return visible(text)


def _xml_block(text: str | None) -> str | None:
    """A failure's text as XML 1.0 can hold it, with a note if anything was escaped."""
    if not has_invisible(text):
        return text
    return f"{visible(text or '')}\n({NOTE})\n"


def to_junit(results: list[PlanResult], problems: list[dict[str, Any]] | None = None) -> bytes:
    """JUnit XML: a testsuite per lab, a testcase per step (drift = failure); bad
    directives and specs are errors of a suite of their own."""
    sums = summary(results)
    sums["errors"] += len(problems or [])
    root = ET.Element(
        "testsuites",
        name="labbook",
        tests=str(sum(sums.values())),
        failures=str(sums["drift"]),
        errors=str(sums["errors"]),
        skipped=str(sums["skipped"]),
        time=f"{sum(r.duration for r in results):.3f}",
    )
    for r in results:
        c = r.counts()
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_xml(f"{r.document}:{r.lab}"),
            tests=str(len(r.steps)),
            failures=str(c["drift"]),
            errors=str(c["error"]),
            skipped=str(c["skipped"]),
            time=f"{r.duration:.3f}",
        )
        for s in r.steps:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=_xml(r.document or r.spec_path),
                name=_xml(f"line {s.line}: {s.kind} on {s.node}"),
                time=f"{s.duration:.3f}",
            )
            if s.status is Status.DRIFT:
                f = ET.SubElement(case, "failure", message=_xml(s.message or "drift"), type="drift")
                f.text = _xml_block(s.diff)
            elif s.status is Status.ERROR:
                e = ET.SubElement(case, "error", message=_xml(s.message or "error"), type="error")
                e.text = _xml_block(s.diff)
            elif s.status is Status.SKIPPED:
                ET.SubElement(case, "skipped", message=_xml(s.message or "not run"))
    if problems:
        suite = ET.SubElement(
            root,
            "testsuite",
            name="bad input",
            tests=str(len(problems)),
            failures="0",
            errors=str(len(problems)),
            skipped="0",
            time="0",
        )
        for p in problems:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=_xml(str(p.get("document", ""))),
                name=_xml(f"{p.get('file')}:{p.get('line')}"),
                time="0",
            )
            ET.SubElement(
                case,
                "error",
                message=_xml(str(p.get("message"))),
                type=p.get("kind") or "bad-input",
            )
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_reports(
    results: list[PlanResult],
    json_path: str | None,
    junit_path: str | None,
    problems: list[dict[str, Any]] | None = None,
) -> None:
    if json_path:
        write_named(
            json_path,
            json.dumps(to_json(results, problems), indent=1, sort_keys=True).encode() + b"\n",
        )
    if junit_path:
        write_named(junit_path, to_junit(results, problems))


def status_line(r: PlanResult) -> str:
    """``doc: lab pair (netns) passed 4, drift 1 in 2.3 s``."""
    c = r.counts()
    parts = [f"{k} {v}" for k, v in c.items() if v]
    where = f"{r.document}: " if r.document else ""
    cached = ", recorded" if r.recorded else ", cached" if r.cached else ""
    return (
        f"{where}lab {os.path.basename(r.spec_path)} ({r.provider}{cached}) "
        f"{r.status.value}: {', '.join(parts) or 'no steps'}"
        + (
            f" ({counted(sum(s.stale for s in r.steps), 'step')} changed since recorded)"
            if r.stale
            else ""
        )
        + f" in {r.duration:.1f} s"
    )
