"""Recorded results (``labbook_results = "DIR"``): one JSON file per document under DIR,
made to be committed next to the pages and read by builds that cannot run labs.

A file lists the document's labs in page order, each with where and when it ran and its
steps in page order; output is kept as lines, bounded to its head and tail. Labs and
steps are matched by content keys (:mod:`.keys`), never by paths or line numbers, so the
files are valid in any checkout of the same content on any machine.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from ..steps.model import LabPlan
from ..verdict.results import CommandResult, PlanResult, Status, StepResult

FORMAT = 1
#: Lines of output kept of a command, a file or a diff: the first and the last half.
MAX_LINES = 200
#: Characters kept of one line.
MAX_LINE = 500
#: What a step that changed since it was recorded says.
STALE = "changed since last verified"


def bounded_lines(text: str, limit: int = MAX_LINES) -> list[str]:
    """``text`` as lines, the middle cut (and said so) when there are more than ``limit``."""
    lines = [ln if len(ln) <= MAX_LINE else ln[:MAX_LINE] + " [...]" for ln in text.splitlines()]
    if len(lines) <= limit:
        return lines
    head, tail = limit // 2, limit - limit // 2
    return [*lines[:head], f"[... {len(lines) - limit} lines cut ...]", *lines[-tail:]]


def _joined(lines: Sequence[str]) -> str:
    return "".join(f"{ln}\n" for ln in lines)


def spec_name(plan: LabPlan, root: str) -> str:
    """The lab spec's path as the record names it: relative to ``root`` (conf.py's
    directory), with '/' separators."""
    return os.path.relpath(plan.spec_path, root).replace(os.sep, "/")


# -- from results to records ---------------------------------------------------------------
def _command(c: CommandResult) -> dict[str, Any]:
    return {
        "command": c.text,
        "rc": c.rc,
        "output": bounded_lines(c.output),
        "status": c.status.value,
    }


def _step(s: StepResult, key: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": key,
        "kind": s.kind,
        "node": s.node,
        "status": s.status.value,
        "message": s.message,
        "diff": bounded_lines(s.diff),
    }
    if s.kind == "file":
        out["actual"] = bounded_lines(s.actual)
    else:
        out["commands"] = [_command(c) for c in s.commands]
    return out


def lab_record(
    plan: LabPlan, result: PlanResult, root: str, lab_key: str, keys: list[str]
) -> dict[str, Any]:
    """What a run of a lab leaves in the document's record."""
    return {
        "spec": spec_name(plan, root),
        "key": lab_key,
        "status": result.status.value,
        "message": result.message,
        "up_failed": result.up_failed,
        "where": dict(result.where),
        "steps": [_step(s, k) for s, k in zip(result.steps, keys, strict=False)],
    }


def _verdict(lab: dict[str, Any]) -> Any:
    """What a record says about the page: keys and verdicts, not the output of steps
    that matched (timings and addresses differ from run to run) nor where and when."""
    steps = [{k: v for k, v in s.items() if k not in ("commands", "actual")} for s in lab["steps"]]
    return {**{k: v for k, v in lab.items() if k not in ("where", "steps")}, "steps": steps}


def same_verdict(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    return a is not None and b is not None and _verdict(a) == _verdict(b)


# -- from records to results ---------------------------------------------------------------
def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _started(where: dict[str, Any]) -> float:
    try:
        return float(calendar.timegm(time.strptime(str(where.get("date")), "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return 0.0


def _valid(step: dict[str, Any]) -> bool:
    """A step record labbook can show (a hand-edited one may not be)."""
    try:
        Status(step["status"])
        for c in step.get("commands", ()):
            Status(c.get("status", "passed"))
            str(c["command"]), int(c.get("rc", 0))
    except (KeyError, ValueError, TypeError, AttributeError):
        return False
    return True


def recorded_result(plan: LabPlan, lab: dict[str, Any], keys: list[str]) -> PlanResult:
    """``plan`` as ``lab`` recorded it: a step whose key matches shows its recorded
    verdict; one that changed (or a step before it) is ``stale``, and not run."""
    where = dict(lab.get("where") or {})
    recorded = lab.get("steps") or []
    steps = []
    for i, step in enumerate(plan.steps):
        rec = recorded[i] if i < len(recorded) else None
        if not isinstance(rec, dict) or rec.get("key") != keys[i] or not _valid(rec):
            steps.append(
                StepResult(
                    i,
                    step.kind,
                    step.node,
                    Status.SKIPPED,
                    step.source.line,
                    message=STALE,
                    file=step.source.file,
                    stale=True,
                )
            )
            continue
        commands = tuple(
            CommandResult(
                c["command"],
                spec.line,
                int(c.get("rc", 0)),
                _joined(c.get("output", ())),
                0.0,
                Status(c.get("status", "passed")),
            )
            for c, spec in zip(rec.get("commands", ()), getattr(step, "commands", ()), strict=False)
        )
        steps.append(
            StepResult(
                i,
                step.kind,
                step.node,
                Status(rec["status"]),
                step.source.line,
                diff=_joined(rec.get("diff", ())),
                message=rec.get("message", ""),
                commands=commands,
                actual=_joined(rec.get("actual", ())),
                file=step.source.file,
            )
        )
    statuses = {s.status for s in steps}
    status = next(
        (s for s in (Status.ERROR, Status.DRIFT, Status.PASSED) if s in statuses), Status.SKIPPED
    )
    return PlanResult(
        plan.spec_path,
        "",
        plan.document,
        str(where.get("provider") or plan.provider),
        status,
        tuple(steps),
        _number(where.get("duration")),
        _started(where),
        message=str(lab.get("message", "")),
        up_failed=bool(lab.get("up_failed")),
        recorded=True,
        where=where,
    )


# -- the files -----------------------------------------------------------------------------
class RecordStore:
    """``directory``/DOCNAME.json for every document with labs; ``root`` is conf.py's
    directory, which spec paths in records are relative to."""

    def __init__(self, directory: str, root: str) -> None:
        self.directory = directory
        self.root = root
        #: document -> why its record could not be read (it is then taken as missing)
        self.unreadable: dict[str, str] = {}

    def path(self, document: str) -> str:
        return os.path.join(self.directory, *document.split("/")) + ".json"

    def load(self, document: str) -> dict[str, Any] | None:
        """The document's record; None when there is none, or it cannot be read (then
        :attr:`unreadable` says why, e.g. a merge left conflict markers in it)."""
        path = self.path(document)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self.unreadable[document] = f"{path}: {exc}"
            return None
        if not isinstance(data, dict) or not isinstance(data.get("labs"), list):
            self.unreadable[document] = f"{path}: not a labbook results file"
            return None
        return data

    def labs_for(self, document: str, plans: Sequence[LabPlan]) -> list[dict[str, Any] | None]:
        """The recorded lab of each plan: the k-th lab of a spec on the page is the k-th
        record of that spec (so adding a lab of another spec changes nothing)."""
        data = self.load(document) or {"labs": []}
        by_spec: dict[str, list[dict[str, Any]]] = {}
        for lab in data["labs"]:
            if isinstance(lab, dict):
                by_spec.setdefault(str(lab.get("spec")), []).append(lab)
        out: list[dict[str, Any] | None] = []
        for plan in plans:
            queue = by_spec.get(spec_name(plan, self.root), [])
            out.append(queue.pop(0) if queue else None)
        return out

    @staticmethod
    def render(document: str, labs: list[dict[str, Any]]) -> bytes:
        data = {"document": document, "format": FORMAT, "labs": labs}
        return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()

    def would_change(self, document: str, labs: list[dict[str, Any]]) -> bool:
        try:
            with open(self.path(document), "rb") as f:
                old = f.read()
        except OSError:
            return bool(labs)
        return old != self.render(document, labs)

    def write(self, document: str, labs: list[dict[str, Any]]) -> None:
        """Write (or, with no labs left, remove) the document's record."""
        from ..outfile import write_output

        if labs:
            write_output(self.path(document), self.render(document, labs))
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(document))

    def documents(self) -> list[str]:
        """Every document with a record."""
        out = []
        for here, _dirs, files in os.walk(self.directory):
            for name in files:
                if name.endswith(".json"):
                    rel = os.path.relpath(os.path.join(here, name), self.directory)
                    out.append(rel[: -len(".json")].replace(os.sep, "/"))
        return sorted(out)

    def durations(self) -> dict[str, float]:
        """Seconds per document as recorded (to balance ``labbook check --shard``)."""
        out: dict[str, float] = {}
        for doc in self.documents():
            for lab in (self.load(doc) or {}).get("labs", []):
                where = lab.get("where") or {} if isinstance(lab, dict) else {}
                out[doc] = out.get(doc, 0.0) + float(where.get("duration") or 0.0)
        return out
