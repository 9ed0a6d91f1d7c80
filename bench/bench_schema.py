"""Schema diagrams: labbook against sqlalchemy_schemadisplay, side by side in one run.

A generated schema of N tables (default 300) with foreign keys, every third one
composite, held as one SQLAlchemy MetaData:

(a) time from the MetaData to DOT text: labbook (``from_metadata`` + ``to_dot``) against
    sqlalchemy_schemadisplay (``create_schema_graph`` + ``graph.to_string()``), alternating,
    medians of several repetitions; prints the ratio (labbook / schemadisplay);
(b) the share of the whole (labbook's DOT text, then ``dot -Tsvg`` on it) spent in
    Graphviz's layout;
(c) how many distinct outputs 5 renders of the same input give for each tool, each render
    in a fresh interpreter with a different PYTHONHASHSEED;
(d) a schema of 100 tables whose columns have dialect variants and a TypeDecorator:
    render (models -> DOT) against sqlalchemy_schemadisplay, and the drift check against
    a SQLite database created from the same models (labbook's ``check_drift``) against
    alembic's ``compare_metadata`` on the same MetaData, with the differences each finds
    (both should find none).

    python bench/bench_schema.py [--tables 300] [--reps 7] [--variant-tables 100]

sqlalchemy_schemadisplay is in test-requirements.txt; without it, the comparisons that
need it are skipped with a message.
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
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also when imported as bench.*

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.dialects import mysql, postgresql  # noqa: E402
from timing import median_time  # noqa: E402

from sphinxext.labbook.render.schema import to_dot  # noqa: E402
from sphinxext.labbook.schema.sqla import from_metadata  # noqa: E402

try:
    import sqlalchemy_schemadisplay  # noqa: F401

    HAS_SCHEMADISPLAY = True
except ImportError:
    HAS_SCHEMADISPLAY = False


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


class Money(sa.types.TypeDecorator[int]):
    """NUMERIC(12, 2), an integer of cents on SQLite."""

    impl = sa.Numeric(12, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[object]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Integer())
        return dialect.type_descriptor(sa.Numeric(12, 2))


def generate_variants(n: int) -> sa.MetaData:
    """``n`` tables with variant-typed columns, each referencing the one before."""
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    md = sa.MetaData()
    for i in range(n):
        items: list[object] = [
            sa.Column("id", big, primary_key=True),
            sa.Column("body", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")),
            sa.Column("address", sa.String(43).with_variant(postgresql.INET(), "postgresql")),
            sa.Column("price", Money(), nullable=False),
            sa.Column("deleted_at", sa.DateTime),
            sa.Column("parent_id", big, index=True),
        ]
        if i:
            items.append(sa.ForeignKeyConstraint(["parent_id"], [f"v{i - 1:03d}.id"]))
        sa.Table(f"v{i:03d}", md, *items)
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
    return median_time(
        lambda: subprocess.run([exe, "-Tsvg"], input=dot.encode(), capture_output=True, check=True),
        reps,
    )


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


def variants_case(n: int, reps: int) -> None:
    """(d): render and drift times on a schema with dialect variants."""
    import tempfile

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from sphinxext.labbook.schema.diff import compare_live
    from sphinxext.labbook.schema.url import reflect_connection

    md = generate_variants(n)
    print(f"(d) schema with variants: {n} tables")

    def labbook_models_dot() -> str:
        return to_dot(from_metadata(md, variants=True))  # as the models loader reads them

    if HAS_SCHEMADISPLAY:
        labbook_models_dot(), schemadisplay_dot(md)
        med = alternate(
            {"labbook": labbook_models_dot, "schemadisplay": lambda: schemadisplay_dot(md)}, reps
        )
        print(
            f"    render, median of {reps}: labbook {med['labbook'] * 1e3:.1f} ms, "
            f"sqlalchemy_schemadisplay {med['schemadisplay'] * 1e3:.1f} ms, ratio "
            f"{med['labbook'] / med['schemadisplay']:.2f}"
        )
    else:
        print("    render: skipped, sqlalchemy_schemadisplay is not installed (test-requirements)")
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(f"sqlite:///{tmp}/v.db", poolclass=sa.pool.NullPool)
        md.create_all(engine)
        documented = from_metadata(md, variants=True)
        found: dict[str, int] = {}

        def labbook_diff() -> None:
            with engine.connect() as conn:
                live = reflect_connection(conn, None, "v.db")
                found["labbook"] = len(compare_live(documented, conn, live))

        def alembic_diff() -> None:
            with engine.connect() as conn:
                ctx = MigrationContext.configure(conn, opts={"compare_type": True})
                found["alembic"] = len(compare_metadata(ctx, md))

        labbook_diff(), alembic_diff()
        med = alternate({"labbook": labbook_diff, "alembic": alembic_diff}, reps)
        engine.dispose()
    print(
        f"    drift against SQLite, median of {reps}: labbook {med['labbook'] * 1e3:.1f} ms "
        f"({found['labbook']} differences), alembic compare_metadata "
        f"{med['alembic'] * 1e3:.1f} ms ({found['alembic']} differences), ratio "
        f"{med['labbook'] / med['alembic']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--variant-tables", type=int, default=100)
    args = parser.parse_args()
    if not HAS_SCHEMADISPLAY:
        print("(a)-(c) skipped: sqlalchemy_schemadisplay is not installed (test-requirements)")
        variants_case(args.variant_tables, args.reps)
        return

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
    variants_case(args.variant_tables, args.reps)


if __name__ == "__main__":
    main()
