"""``labbook graph``: draw a lab spec's topology as DOT, mermaid, SVG or PNG."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

from ..errors import LabbookError, UsageError
from ..render.topology import DIRECTIONS, to_dot, to_mermaid
from ..report import write_atomic
from ..spec import load_spec

FORMATS = ("dot", "svg", "png", "mermaid")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "graph",
        help="draw the topology of a lab spec",
        description="Draw the nodes, networks, interfaces and links of a lab spec. The "
        "same spec that runs the lab draws it; identical specs give identical "
        "output. svg and png need Graphviz's 'dot' (Debian package graphviz).",
        epilog="exit codes: 0 drawn, 2 bad spec, bad option or Graphviz missing",
    )
    p.add_argument("spec", metavar="SPEC.yaml", help="the lab spec to draw")
    p.add_argument(
        "-f", "--format", choices=FORMATS, default="dot", help="output format (default: dot)"
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write here (atomically) instead of to standard output",
    )
    p.add_argument(
        "--rankdir",
        choices=DIRECTIONS,
        default="LR",
        help="layout direction: LR left to right (default), TB top to bottom",
    )
    p.add_argument(
        "--title",
        help="title drawn above the diagram (default: the lab's name; --title '' for none)",
    )
    p.set_defaults(func=run)


def run_dot(dot: str, fmt: str) -> bytes:
    """Lay out ``dot`` with Graphviz and return the ``fmt`` (svg, png) bytes."""
    exe = shutil.which("dot")
    if exe is None:
        raise UsageError(
            f"-f {fmt} needs Graphviz's 'dot' program, which is not installed; "
            "install the Debian package graphviz (apt-get install graphviz), "
            "or use -f dot or -f mermaid"
        )
    proc = subprocess.run([exe, f"-T{fmt}"], input=dot.encode(), capture_output=True, check=False)
    if proc.returncode != 0:
        raise LabbookError(f"dot -T{fmt} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def render(args: argparse.Namespace) -> bytes:
    """The bytes ``labbook graph`` writes for ``args``."""
    spec = load_spec(args.spec)
    title = spec.name if args.title is None else args.title
    if args.format == "mermaid":
        return to_mermaid(spec, direction=args.rankdir, title=title or None).encode()
    dot = to_dot(spec, rankdir=args.rankdir, title=title or None)
    return dot.encode() if args.format == "dot" else run_dot(dot, args.format)


def run(args: argparse.Namespace) -> int:
    data = render(args)
    if args.output and args.output != "-":
        try:
            write_atomic(args.output, data)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror}") from None
        return 0
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0
