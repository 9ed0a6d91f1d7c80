"""Writing accepted output back into the documents' sources: edits planned, then applied."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

from ..errors import LabbookError
from ..steps.model import LabPlan, RunStep
from .results import PlanResult, Status


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` (the block's content lines, starting at 1-based ``line``) by ``new``."""

    file: str
    line: int
    old: tuple[str, ...]
    new: tuple[str, ...]
    node: str


def plan_edits(plans: list[LabPlan], results: list[PlanResult]) -> tuple[list[Edit], list[str]]:
    """The edits that make drifted console blocks say what really happened, and notes on
    what cannot be accepted (exit codes, files, timeouts)."""
    from .accept import accept, rewrite_block

    edits: list[Edit] = []
    notes: list[str] = []
    for plan, result in zip(plans, results, strict=True):
        for step, sres in zip(plan.steps, result.steps, strict=True):
            if sres.status is Status.PASSED or sres.status is Status.SKIPPED:
                continue
            where = f"{step.source.file}:{sres.line}"
            if not isinstance(step, RunStep):
                notes.append(
                    f"{where}: not accepted: a file on the page is what the lab "
                    "applies; fix the step that changed it"
                )
                continue
            if sres.status is Status.ERROR:
                notes.append(f"{where}: not accepted: {sres.message}")
                continue
            by_line = {c.line: c for c in sres.commands}
            new_cmds = []
            for cmd in step.commands:
                ran = by_line.get(cmd.line)
                expected = list(cmd.expected)
                if ran is not None and ran.status is Status.DRIFT:
                    expected = accept(cmd.expected, ran.output, step.match)
                    if ran.rc != step.rc:
                        notes.append(
                            f"{step.source.file}:{cmd.line}: exit status {ran.rc} "
                            f"differs from :rc: {step.rc}; change :rc: by hand if "
                            "that is right"
                        )
                new_cmds.append(replace(cmd, expected=tuple(expected)))
            new = tuple(rewrite_block(list(step.content), new_cmds, step.source.line))
            if new != step.content:
                edits.append(Edit(step.source.file, step.source.line, step.content, new, step.node))
    return edits, notes


def apply_edits(edits: list[Edit]) -> list[str]:
    """Rewrite the files, bottom-up so earlier line numbers stay true; one line per edit."""
    by_file: dict[str, list[Edit]] = defaultdict(list)
    for e in edits:
        by_file[e.file].append(e)
    done = []
    for file, file_edits in sorted(by_file.items()):
        with open(file, encoding="utf-8") as f:
            lines = f.read().split("\n")
        for e in sorted(file_edits, key=lambda e: -e.line):
            start = e.line - 1
            region = lines[start : start + len(e.old)]
            if [x.strip() for x in region] != [x.strip() for x in e.old]:
                raise LabbookError(
                    f"{file}:{e.line}: the block changed on disk since the "
                    "check ran; run labbook check again"
                )
            indent = _indent(region, e.old)
            lines[start : start + len(e.old)] = [indent + x if x.strip() else "" for x in e.new]
            done.append(
                f"{file}:{e.line}: accepted the output of node {e.node} "
                f"({len(e.old)} -> {len(e.new)} lines)"
            )
        from ..report import write_atomic

        write_atomic(file, "\n".join(lines).encode("utf-8"))
    return sorted(done)


def _indent(region: list[str], content: tuple[str, ...]) -> str:
    for raw, stripped in zip(region, content, strict=False):
        if stripped.strip():  # content lines are the file's lines minus the indentation
            return raw[: len(raw) - len(stripped)]
    return ""
