"""Schema diagrams: labbook against sqlalchemy_schemadisplay, side by side in one run.

A generated schema of N tables (default 300) with foreign keys, every third one
composite, held as one SQLAlchemy MetaData:

(a) time from the MetaData to DOT text: labbook (``from_metadata`` + ``to_dot``) against
    sqlalchemy_schemadisplay (``create_schema_graph`` + ``graph.to_string()``), alternating,
    medians of several repetitions; prints the ratio (labbook / schemadisplay);
(b) the share of the whole (labbook's DOT text, then ``dot -Tsvg`` on it) spent in
    Graphviz's layout;
(c) how many distinct outputs 5 renders of the same input give for each tool, each render
    in a fresh interpreter with a different PYTHONHASHSEED.

    python bench/bench_schema.py [--tables 300] [--reps 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

import sqlalchemy as sa  # noqa: E402

from sphinxext.labbook.render.schema import to_dot  # noqa: E402
from sphinxext.labbook.schema.sqla import from_metadata  # noqa: E402


def generate(n: int) -> sa.MetaData:
    """``n`` tables; each references the one before (every third by a composite key) and,
    every fifth, one further back."""
    md = sa.MetaData()
    for i in range(n):
        items: list[object] = [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("region", sa.String(64), primary_key=True),
            sa.Column("name", sa.String(255), nullable=False),
            sa.Column("created_at", sa.DateTime),
            sa.Column("parent_id", sa.Integer),
            sa.Column("parent_region", sa.String(64)),
            sa.Column("other_id", sa.Integer),
            sa.Column("other_region", sa.String(64)),
            sa.Index(f"ix_t{i:03d}_name", "name"),
        ]
        if i:
            parent = f"t{i - 1:03d}"
            if i % 3 == 0:
                items.append(
                    sa.ForeignKeyConstraint(
                        ["parent_id", "parent_region"], [f"{parent}.id", f"{parent}.region"]
                    )
                )
            else:
                items.append(sa.ForeignKeyConstraint(["parent_id"], [f"{parent}.id"]))
        if i >= 5 and i % 5 == 0:
            other = f"t{(i * 7) % i:03d}"
            items.append(
                sa.ForeignKeyConstraint(
                    ["other_id", "other_region"], [f"{other}.id", f"{other}.region"]
                )
            )
        sa.Table(f"t{i:03d}", md, *items)
    return md


def labbook_dot(md: sa.MetaData) -> str:
    return to_dot(from_metadata(md))


def schemadisplay_dot(md: sa.MetaData) -> str:
    from sqlalchemy_schemadisplay import create_schema_graph

    # tables given: it would otherwise reflect them from a database
    graph = create_schema_graph(engine=None, metadata=md, tables=list(md.tables.values()))
    return str(graph.to_string())


def alternate(fns: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    """Median seconds of each function, run in turn so that drift hits both alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def layout_seconds(dot: str, reps: int) -> float:
    exe = shutil.which("dot")
    if exe is None:
        raise SystemExit("needs Graphviz's dot (Debian package graphviz)")
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        subprocess.run([exe, "-Tsvg"], input=dot.encode(), capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


RENDER = """
import hashlib, sys
sys.path.insert(0, {root!r})
from bench.bench_schema import generate, labbook_dot, schemadisplay_dot
fn = {{"labbook": labbook_dot, "schemadisplay": schemadisplay_dot}}[sys.argv[1]]
print(hashlib.sha256(fn(generate(int(sys.argv[2]))).encode()).hexdigest())
"""


def distinct_outputs(tool: str, tables: int, runs: int = 5) -> int:
    digests = set()
    for seed in range(runs):
        env = {**os.environ, "PYTHONHASHSEED": str(seed * 7919 + 1)}
        proc = subprocess.run(
            [sys.executable, "-c", RENDER.format(root=ROOT), tool, str(tables)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        digests.add(proc.stdout.strip())
    return len(digests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()

    md = generate(args.tables)
    fks = sum(len(t.foreign_key_constraints) for t in md.tables.values())
    composite = sum(
        len(c.elements) > 1 for t in md.tables.values() for c in t.foreign_key_constraints
    )
    print(f"schema: {args.tables} tables, {fks} foreign keys ({composite} composite)")
    labbook_dot(md), schemadisplay_dot(md)  # warm up: imports, caches
    med = alternate(
        {"labbook": lambda: labbook_dot(md), "schemadisplay": lambda: schemadisplay_dot(md)},
        args.reps,
    )
    print(
        f"(a) metadata -> DOT text, median of {args.reps}: labbook "
        f"{med['labbook'] * 1e3:.1f} ms, sqlalchemy_schemadisplay "
        f"{med['schemadisplay'] * 1e3:.1f} ms, ratio {med['labbook'] / med['schemadisplay']:.2f}"
        " (aim <= 0.5)"
    )
    layout = layout_seconds(labbook_dot(md), max(3, args.reps // 2))
    share = layout / (layout + med["labbook"])
    print(
        f"(b) dot -Tsvg on labbook's DOT: {layout * 1e3:.0f} ms; Graphviz's layout is "
        f"{share:.0%} of metadata -> SVG"
    )
    for tool in ("labbook", "schemadisplay"):
        n = distinct_outputs(tool, args.tables)
        print(
            f"(c) {tool}: {n} distinct output{'s' if n != 1 else ''} from 5 renders "
            "(fresh interpreters, different PYTHONHASHSEED)"
        )


if __name__ == "__main__":
    main()
