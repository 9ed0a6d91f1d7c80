"""``labbook schema`` (draw, snapshot) and ``labbook schema-diff`` (drift against a database)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from .. import ranges
from ..errors import SchemaError, UsageError
from ..outfile import write_named
from ..render.dot import run_dot
from ..render.schema import (
    COLUMN_MODES,
    DIRECTIONS,
    MermaidTooLarge,
    RenderOptions,
    overview_dot,
    overview_mermaid,
    split_drawing,
    to_dot,
    to_mermaid,
)
from ..schema.lint import RULES
from ..schema.model import Schema

FORMATS = ("dot", "svg", "png", "mermaid")
SUFFIX = {"dot": "dot", "svg": "svg", "png": "png", "mermaid": "mmd"}
SOURCES = """\
SOURCE is one of:
  package.module:Base         SQLAlchemy models (a declarative Base or a MetaData)
  schemas/nova_api.py:Base    the same, from one file imported by path
  schemas/nova.sql[:DIALECT]  DDL, or a dump (pg_dump -s, mysqldump --no-data); DIALECT
                              is sqlite, postgres or mysql (default generic)
  schemas/nova.yaml|.json     a snapshot written by 'labbook schema snapshot'
  postgresql://USER:${PASSWORD}@HOST/DB[#SCHEMA]   a live database (also sqlite:///FILE,
                              mysql+pymysql://...); ${VAR} is read from the environment"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "schema",
        help="draw a database schema, or snapshot it to a file",
        description="Draw the tables, columns, keys and foreign keys of a schema as DOT, "
        "SVG, PNG or a mermaid erDiagram; identical input gives identical output. "
        "'labbook schema snapshot SOURCE -o FILE.yaml' writes a sorted snapshot a "
        "docs build can draw without application code or a database. "
        "'labbook schema lint SOURCE' reports tables without a primary key, foreign keys "
        "without an index and missing comments.",
        epilog=SOURCES
        + "\n\nlint rules (all checked unless --disable names them):\n"
        + "\n".join(f"  {name:18} {what}" for name, (what, _) in RULES.items())
        + "\n\nexit codes: 0 done (lint: nothing found), 1 lint found something, "
        "2 bad input, 3 database unreachable",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "words",
        nargs="+",
        metavar="[snapshot|lint] SOURCE",
        help="the schema to draw; 'snapshot SOURCE' writes a snapshot instead; "
        "'lint SOURCE' checks it against the lint rules",
    )
    p.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        default="dot",
        help="output format (default: dot; svg and png need Graphviz's dot)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write here (atomically) instead of to standard output; a directory "
        "with --split; .json or .yaml for a snapshot",
    )
    add_render_options(p)
    p.add_argument(
        "--split",
        action="store_true",
        help="write an overview of the clusters plus one diagram per cluster "
        "into the directory -o names (needs --group)",
    )
    p.add_argument(
        "--schema",
        dest="schema_name",
        metavar="NAME",
        help="database schema to read from a live database",
    )
    p.add_argument(
        "--disable",
        action="append",
        default=[],
        metavar="RULES",
        help="lint: do not check these rules (comma-separated; repeatable)",
    )
    p.set_defaults(func=run)

    d = sub.add_parser(
        "schema-diff",
        help="compare a documented schema with a live database",
        description="Compare the documented schema with the live one: tables, columns, types "
        "(normalized across dialects), nullability, primary and foreign keys, "
        "indexes. Against a database, alembic's autogenerate comparison does the "
        "work. Prints one line per difference.",
        epilog=SOURCES + "\n\nexit codes: 0 no drift, 1 drift, 2 bad input, 3 database unreachable",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("documented", metavar="DOCUMENTED", help="the schema the docs describe")
    d.add_argument("live", metavar="LIVE", help="the real one, usually a database URL")
    d.add_argument(
        "--allow",
        metavar="FILE.yaml",
        help="accepted differences, each with a reason; an entry that matches "
        "nothing is reported as drift",
    )
    d.add_argument("--json", action="store_true", help="print the report as JSON")
    d.add_argument(
        "--schema",
        dest="schema_name",
        metavar="NAME",
        help="database schema to compare (default: the URL's #NAME or the default schema)",
    )
    d.set_defaults(func=run_diff)


def add_render_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOBS",
        help="only tables matching these names or globs (comma-separated; repeatable)",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOBS",
        help="leave out tables matching these",
    )
    p.add_argument(
        "--columns",
        choices=COLUMN_MODES,
        default="all",
        help="all columns (default), keys (primary and foreign) only, or none",
    )
    p.add_argument(
        "--rankdir", choices=DIRECTIONS, default="LR", help="layout direction (default LR)"
    )
    p.add_argument(
        "--group",
        metavar="SPEC",
        help="clusters: 'prefix' (by name up to the first _), "
        "'NAME = GLOB, GLOB; NAME = GLOB', or a YAML file mapping names to globs",
    )
    p.add_argument(
        "--around", metavar="TABLES", help="only these tables and their neighbours (see --depth)"
    )
    p.add_argument(
        "--depth",
        type=ranges.argument(ranges.whole, "--depth", 0, ranges.MAX_DEPTH),
        default=1,
        help=f"foreign-key hops from --around, 0 to {ranges.MAX_DEPTH} (default 1)",
    )
    p.add_argument("--title", help="title drawn above the diagram")
    p.add_argument("--indexes", action="store_true", help="list indexes and unique constraints")
    p.add_argument(
        "--hide-columns",
        action="append",
        default=[],
        metavar="GLOBS",
        help="leave out columns with these names in every table (comma-separated; "
        "repeatable), e.g. 'created_at, deleted*'; keys stay",
    )


def options_from_args(args: argparse.Namespace) -> RenderOptions:
    """The render options the command line asks for."""
    from ..render.schema_options import render_options

    opts, _ = render_options(
        include=args.include,
        exclude=args.exclude,
        columns=args.columns,
        rankdir=args.rankdir,
        group=args.group,
        around=args.around,
        depth=args.depth,
        title=args.title,
        indexes=args.indexes,
        hide_columns=args.hide_columns,
        base_dir=os.getcwd(),
    )
    return opts


def load(source: str, schema_name: str | None = None) -> Schema:
    """Load ``source`` (relative to the current directory), warning about skipped parts."""
    from ..schema.source import load_schema

    schema = load_schema(source, os.getcwd(), name=schema_name)
    for note in schema.notes:
        print(f"labbook: warning: {note}", file=sys.stderr)
    return schema


def render(schema: Schema, opts: RenderOptions, fmt: str, *, overview: bool = False) -> bytes:
    if fmt == "mermaid":
        try:
            text = overview_mermaid(schema, opts) if overview else to_mermaid(schema, opts)
        except MermaidTooLarge as exc:
            raise SchemaError(f"{exc.message} (use -f svg, or --group with --split)") from None
        return text.encode()
    dot = overview_dot(schema, opts) if overview else to_dot(schema, opts)
    return dot.encode() if fmt == "dot" else run_dot(dot, fmt)


def _write(path: str | None, data: bytes) -> None:
    write_named(path or "-", data)


def _write_split(schema: Schema, opts: RenderOptions, fmt: str, directory: str | None) -> None:
    if not directory or directory == "-":
        raise UsageError("--split writes several files: name a directory with -o DIR")
    if not opts.clustered:
        raise UsageError(
            "--split draws one diagram per cluster: say how to cluster with "
            "--group prefix or --group 'NAME = GLOB; ...'"
        )
    # Render everything first, so a failure leaves no half-written set behind.
    files = {}
    for cluster, part, part_opts in split_drawing(schema, opts):
        name = "overview" if cluster is None else re.sub(r"[^\w.-]", "_", cluster)
        files[f"{name}.{SUFFIX[fmt]}"] = render(part, part_opts, fmt, overview=cluster is None)
    for name, data in sorted(files.items()):
        _write(os.path.join(directory, name), data)


def run(args: argparse.Namespace) -> int:
    words = args.words
    if words[0] == "snapshot" and len(words) == 2:
        return run_snapshot(words[1], args)
    if words[0] == "lint" and len(words) == 2:
        return run_lint(words[1], args)
    if len(words) != 1:
        raise UsageError(
            f"one SOURCE expected, got {' '.join(words)!r}; write "
            "'labbook schema SOURCE', 'labbook schema snapshot SOURCE -o FILE' or "
            "'labbook schema lint SOURCE'"
        )
    schema = load(words[0], args.schema_name)
    opts = options_from_args(args)
    if args.split:
        _write_split(schema, opts, args.format, args.output)
    else:
        _write(args.output, render(schema, opts, args.format))
    return 0


def run_snapshot(source: str, args: argparse.Namespace) -> int:
    from ..schema.snapshot import dumps

    schema = load(source, args.schema_name)
    out = args.output
    fmt = "json" if out and out.endswith(".json") else "yaml"
    if out and out != "-" and not out.endswith((".json", ".yaml", ".yml")):
        raise UsageError(f"-o {out}: a snapshot is written as .json or .yaml")
    _write(out, dumps(schema, fmt).encode())
    return 0


def run_lint(source: str, args: argparse.Namespace) -> int:
    from ..render.schema import parse_list, select
    from ..schema.lint import check_rules, lint

    disabled = check_rules(r for item in args.disable for r in parse_list(item))
    schema = load(source, args.schema_name)
    findings = lint(select(schema, options_from_args(args)), disabled)
    for finding in findings:
        print(finding)
    n = len(findings)
    print(
        f"labbook: {n} lint finding{'s' if n != 1 else ''} in {source}"
        if n
        else f"labbook: {source}: nothing found by the lint rules",
        file=sys.stderr,
    )
    return 1 if findings else 0


def run_diff(args: argparse.Namespace) -> int:
    from ..schema.allow import load_allow
    from ..schema.drift import check_drift

    allow = load_allow(args.allow) if args.allow else ()
    documented = load(args.documented)
    report = check_drift(documented, args.live, os.getcwd(), name=args.schema_name, allow=allow)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        for line in report.lines():
            print(line)
        n = len(report.differences)
        summary = (
            f"{n} difference{'s' if n != 1 else ''}" if n else "no drift"
        ) + f" between {report.documented} and {report.live}"
        if report.allowed:
            summary += f" ({len(report.allowed)} allowed by {args.allow})"
        if report.stale:
            summary += f"; {len(report.stale)} stale allow-list entr" + (
                "ies" if len(report.stale) > 1 else "y"
            )
        print(f"labbook: {summary}", file=sys.stderr)
    return 1 if report.drift else 0
