"""``labbook graph``: draw a lab spec's topology as DOT, mermaid, SVG or PNG."""

from __future__ import annotations

import argparse

from ..outfile import write_named
from ..render.dot import run_dot
from ..render.topology import DIRECTIONS, to_dot, to_mermaid
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


def render(args: argparse.Namespace) -> bytes:
    """The bytes ``labbook graph`` writes for ``args``."""
    spec = load_spec(args.spec)
    title = spec.name if args.title is None else args.title
    if args.format == "mermaid":
        return to_mermaid(spec, direction=args.rankdir, title=title or None).encode()
    dot = to_dot(spec, rankdir=args.rankdir, title=title or None)
    return dot.encode() if args.format == "dot" else run_dot(dot, args.format)


def run(args: argparse.Namespace) -> int:
    write_named(args.output or "-", render(args))
    return 0
