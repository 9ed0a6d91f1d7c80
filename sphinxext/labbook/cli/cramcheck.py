"""``labbook check FILE.t --lab SPEC --node NODE``: cram files run on a node of a lab."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from ..errors import UsageError


def check_cram(args: argparse.Namespace, finish: Callable[..., int]) -> int:
    """Run each cram file in a fresh lab; print drift as diffs at file:line."""
    from ..runner.cram import read_cram
    from ..runner.execute import run_plan
    from ..spec import load_spec
    from ..verdict.results import Status

    files = args.paths
    for f in files:
        if not f.endswith(".t"):
            raise UsageError(f"{f}: give cram files (.t) or documents, not both")
        if not os.path.isfile(f):
            raise UsageError(f"{f}: no such file")
    if not args.lab or not args.node:
        raise UsageError("a cram file runs on a node of a lab: add --lab SPEC.yaml --node NODE")
    if args.accept or args.shard:
        raise UsageError("--accept and --shard are for documents, not cram files")
    if not os.path.isfile(args.lab):
        raise UsageError(f"--lab {args.lab}: no such file")
    spec = load_spec(args.lab)
    if args.node not in spec.node_names:
        raise UsageError(
            f"--node {args.node}: lab {spec.name} has no such node; "
            f"its nodes: {', '.join(spec.node_names)}"
        )
    provider = args.provider or "netns"
    options = {"inventory": os.path.abspath(args.inventory)} if args.inventory else {}
    plans = [read_cram(f, args.node, os.path.abspath(args.lab), match=args.match) for f in files]
    results = []
    for plan in plans:
        plan = _on(plan, provider, options)
        result = run_plan(plan, stop_on_fail=args.exitfirst)
        results.append(result)
        _say(result)
        if args.exitfirst and result.status is not Status.PASSED:
            break
    from ..report import summary_line

    print(summary_line(results))
    return int(finish(args, results, 0, plans))


def _on(plan: Any, provider: str, options: dict[str, str]) -> Any:
    from dataclasses import replace

    return replace(plan, provider=provider, provider_options=tuple(options.items()))


def _say(result: Any) -> None:
    from ..verdict.results import Status

    counts = ", ".join(f"{k} {v}" for k, v in result.counts().items() if v)
    print(f"{result.document}: {result.status.value} ({counts or 'no steps'})", flush=True)
    if result.message:
        print(f"{result.document}: {result.message}", file=sys.stderr)
    for s in result.steps:
        if s.status in (Status.DRIFT, Status.ERROR):
            print(f"{s.file}:{s.line}: {s.message}", file=sys.stderr)
            if s.diff:
                print(s.diff.rstrip("\n"), file=sys.stderr)
        elif s.status is Status.SKIPPED:
            print(f"{s.file}:{s.line}: {s.message}")
