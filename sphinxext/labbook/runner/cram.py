"""cram test files (``.t``) as lab plans: each run of indented lines is a ``lab-run`` step.

In a cram file, lines indented by two spaces are the session: ``  $ command``, ``  > ``
continuation lines, output lines, and ``  [N]`` for a non-zero exit status; every other
line is commentary. The commands run one after another in the same shell of one node.
"""

from __future__ import annotations

import os

from ..errors import DirectiveError, UsageError
from ..steps.model import Command, LabPlan, MatchMode, RunStep, Source

INDENT = "  "


def read_cram(
    path: str, node: str, spec_path: str, *, match: str = "bytes", timeout: float = 60.0
) -> LabPlan:
    """The plan that runs the cram file ``path`` on ``node`` of the lab ``spec_path``.

    Raises UsageError (``file:line``) for a session that does not start with ``$``.
    """
    from ..steps.console import command_extent, parse_console
    from ..verdict.matching import validate_expected

    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it: {exc.strerror}") from None
    steps: list[RunStep] = []
    for start, block in _sessions(lines):
        try:
            commands = parse_console(block, ("$ ",))
            for c in commands:
                try:
                    validate_expected(c.expected, match)
                except DirectiveError as exc:
                    exc.line = c.line + command_extent(c) + (exc.line or 0)
                    raise
        except DirectiveError as exc:
            raise UsageError(exc.message, file=path, line=start + (exc.line or 0)) from None
        steps.append(
            RunStep(
                node=node,
                commands=tuple(
                    Command(c.text, c.expected, start + c.line, c.prompt, c.rc) for c in commands
                ),
                source=Source(file=os.path.abspath(path), line=start, document=path),
                timeout=timeout,
                match=MatchMode(match),
                content=tuple(block),
            )
        )
    here = os.path.dirname(os.path.abspath(path))
    return LabPlan(
        spec_path=spec_path,
        steps=tuple(steps),
        document=path,
        env=(("TESTDIR", here), ("TESTFILE", os.path.basename(path))),
    )


def _sessions(lines: list[str]) -> list[tuple[int, list[str]]]:
    """(1-based first line, lines without their indent) of each run of indented lines."""
    out: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for n, line in enumerate(lines, 1):
        if line.startswith(INDENT):
            if not current:
                start = n
            current.append(line[len(INDENT) :])
            continue
        if current:
            out.append((start, current))
            current = []
    if current:
        out.append((start, current))
    return out
