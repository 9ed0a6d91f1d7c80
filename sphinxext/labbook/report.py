"""Results to the outside world: JSON, JUnit XML and terminal lines."""

from __future__ import annotations

import json
import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

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


def summary_line(results: list[PlanResult], bad_input: int = 0) -> str:
    """``1 lab: 5 passed, 1 drift, 0 errors, 0 skipped``, and the bad input if there was."""
    s = summary(results)
    line = (
        f"{counted(len(results), 'lab')}: {s['passed']} passed, {s['drift']} drift, "
        f"{counted(s['errors'], 'error')}, {s['skipped']} skipped"
    )
    if bad_input:
        line += f"; {counted(bad_input, 'bad directive or spec', 'bad directives or specs')}"
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
                }
            )
    return rows


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
                "message": r.message,
            }
            for r in results
        ],
        "steps": step_rows(results),
        "results": [plan_result_to_dict(r) for r in results],
    }


def from_json(data: dict[str, Any]) -> list[PlanResult]:
    return [plan_result_from_dict(d) for d in data.get("results", [])]


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
            name=f"{r.document}:{r.lab}",
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
                classname=r.document or r.spec_path,
                name=f"line {s.line}: {s.kind} on {s.node}",
                time=f"{s.duration:.3f}",
            )
            if s.status is Status.DRIFT:
                f = ET.SubElement(case, "failure", message=s.message or "drift", type="drift")
                f.text = s.diff
            elif s.status is Status.ERROR:
                e = ET.SubElement(case, "error", message=s.message or "error", type="error")
                e.text = s.diff
            elif s.status is Status.SKIPPED:
                ET.SubElement(case, "skipped", message=s.message or "not run")
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
                classname=str(p.get("document", "")),
                name=f"{p.get('file')}:{p.get('line')}",
                time="0",
            )
            ET.SubElement(case, "error", message=str(p.get("message")), type="bad-input")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, so a reader never sees half of it."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".labbook-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_reports(
    results: list[PlanResult],
    json_path: str | None,
    junit_path: str | None,
    problems: list[dict[str, Any]] | None = None,
) -> None:
    if json_path:
        write_atomic(
            json_path,
            json.dumps(to_json(results, problems), indent=1, sort_keys=True).encode() + b"\n",
        )
    if junit_path:
        write_atomic(junit_path, to_junit(results, problems))


def status_line(r: PlanResult) -> str:
    """``doc: lab pair (netns) passed 4, drift 1 in 2.3 s``."""
    c = r.counts()
    parts = [f"{k} {v}" for k, v in c.items() if v]
    where = f"{r.document}: " if r.document else ""
    cached = ", cached" if r.cached else ""
    return (
        f"{where}lab {os.path.basename(r.spec_path)} ({r.provider}{cached}) "
        f"{r.status.value}: {', '.join(parts) or 'no steps'} in {r.duration:.1f} s"
    )
