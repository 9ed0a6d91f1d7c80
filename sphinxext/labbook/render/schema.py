"""Schema diagrams: a Schema drawn as DOT or mermaid ``erDiagram`` text, sorted and byte-stable."""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from ..errors import SchemaError
from ..schema.model import Column, ForeignKey, Schema, Table
from .dot import html_text
from .dot import quote as _q

COLUMN_MODES = ("all", "keys", "none")
DIRECTIONS = ("LR", "TB", "RL", "BT")
#: Mermaid refuses to draw a diagram whose text is longer than this (its ``maxTextSize``).
MERMAID_LIMIT = 50_000
#: The cluster of tables no group claims, in overviews.
OTHER = "other"

FONT = "Helvetica"
HEADER_FILL = "#dde8f3"
STUB_FILL = "#eeeeee"
CLUSTER_FILL = "#f7f7f7"


@dataclass(frozen=True)
class RenderOptions:
    """What to draw and how; the same options drive the directive and the command line."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    columns: str = "all"
    rankdir: str = "LR"
    #: explicit clusters: (name, table globs), first match wins
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    group_by_prefix: bool = False
    around: tuple[str, ...] = ()
    depth: int = 1
    title: str | None = None
    indexes: bool = False
    #: draw tables that foreign keys reach outside the selection as small grey boxes
    stubs: bool = False

    @property
    def clustered(self) -> bool:
        """Do the options say how to cluster the tables (for a split drawing)?"""
        return bool(self.groups or self.group_by_prefix)

    def __post_init__(self) -> None:
        if self.columns not in COLUMN_MODES:
            raise SchemaError(f"columns {self.columns!r}: write one of {', '.join(COLUMN_MODES)}")
        if self.rankdir not in DIRECTIONS:
            raise SchemaError(f"direction {self.rankdir!r}: write one of {', '.join(DIRECTIONS)}")
        if self.depth < 0:
            raise SchemaError(f"depth {self.depth}: write 0 or more")


class MermaidTooLarge(SchemaError):
    """The mermaid text is over :data:`MERMAID_LIMIT`; draw it with graphviz instead."""

    def __init__(self, size: int) -> None:
        super().__init__(
            f"the mermaid diagram would be {size:,} characters, over mermaid's "
            f"limit of {MERMAID_LIMIT:,}; draw it with graphviz or split it "
            "into clusters"
        )
        self.size = size


# -- options from text ------------------------------------------------------------------


def parse_list(text: str | None) -> tuple[str, ...]:
    """``"a, b*  c"`` -> ("a", "b*", "c"): commas or white space separate."""
    return tuple(p for p in re.split(r"[,\s]+", text or "") if p)


def parse_groups(text: str) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    """``"mappings = *_mappings; flavors = flavor*"`` -> explicit groups; ``"prefix"`` -> None."""
    if text.strip() == "prefix":
        return None
    groups = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        name, sep, globs = part.partition("=")
        if not sep or not name.strip() or not parse_list(globs):
            raise SchemaError(f"group {part!r}: write NAME = GLOB, GLOB; NAME = GLOB (or 'prefix')")
        groups.append((name.strip(), parse_list(globs)))
    return tuple(groups)


def groups_from_mapping(data: Mapping[str, object]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Explicit groups from a mapping of cluster name to a glob or a list of globs."""
    out = []
    for name, globs in data.items():
        items = [globs] if isinstance(globs, str) else globs
        if not isinstance(items, list) or not all(isinstance(g, str) for g in items):
            raise SchemaError(f"group {name}: write a list of table names or globs")
        out.append((str(name), tuple(items)))
    return tuple(out)


# -- selection -------------------------------------------------------------------------


def _matches(name: str, globs: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, g) for g in globs)


def _check_known(schema: Schema, names: Iterable[str], option: str) -> None:
    known = set(schema.names)
    for pattern in names:
        if not any(fnmatch.fnmatchcase(n, pattern) for n in known):
            import difflib

            close = difflib.get_close_matches(pattern, sorted(known), n=3)
            hint = (
                f"; did you mean {', '.join(close)}?"
                if close
                else f"; the tables are {', '.join(sorted(known)[:8])}"
                + (", ..." if len(known) > 8 else "")
            )
            raise SchemaError(f"{option}: no table matches {pattern!r}{hint}")


def neighbours(schema: Schema, start: Iterable[str], depth: int) -> set[str]:
    """Tables within ``depth`` foreign-key hops of ``start`` (either direction)."""
    adjacent: dict[str, set[str]] = {t.name: set() for t in schema}
    for t in schema:
        for fk in t.foreign_keys:
            if fk.ref_table in adjacent:
                adjacent[t.name].add(fk.ref_table)
                adjacent[fk.ref_table].add(t.name)
    seen = set(start)
    frontier = set(start)
    for _ in range(depth):
        frontier = {n for f in frontier for n in adjacent.get(f, ())} - seen
        seen |= frontier
    return seen


def select(schema: Schema, opts: RenderOptions) -> Schema:
    """The tables ``opts`` asks for: include, exclude, then neighbourhood of ``around``."""
    _check_known(schema, opts.include, "include")
    _check_known(schema, opts.around, "around")
    names = [
        n
        for n in schema.names
        if (not opts.include or _matches(n, opts.include)) and not _matches(n, opts.exclude)
    ]
    if opts.around:
        start = {n for n in schema.names if _matches(n, opts.around)}
        near = neighbours(
            schema.only(names) if opts.include or opts.exclude else schema, start, opts.depth
        )
        names = [n for n in names if n in near]
    return schema.only(names)


def _prefix(name: str, prefixes: set[str]) -> str:
    """The cluster of ``name`` when grouping by prefix: ``flavor_projects`` -> flavor, and
    the table the others are named after joins them: ``flavors`` -> flavor."""
    if "_" in name:
        return name.split("_", 1)[0]
    if name in prefixes:
        return name
    return name[:-1] if name.endswith("s") and name[:-1] in prefixes else ""


def clusters(schema: Schema, opts: RenderOptions) -> dict[str, tuple[str, ...]]:
    """Cluster name -> its tables (sorted); tables in no cluster are under ``""``."""
    out: dict[str, list[str]] = {}
    prefixes = {n.split("_", 1)[0] for n in schema.names if "_" in n}
    for name in schema.names:
        if opts.groups:
            cluster = next((g for g, globs in opts.groups if _matches(name, globs)), "")
        elif opts.group_by_prefix:
            cluster = _prefix(name, prefixes)
        else:
            cluster = ""
        out.setdefault(cluster, []).append(name)
    if opts.group_by_prefix and not opts.groups:
        # A "cluster" of one table is noise: leave it ungrouped.
        for cluster in [c for c, names in out.items() if c and len(names) < 2]:
            out.setdefault("", []).extend(out.pop(cluster))
    return {c: tuple(sorted(out[c])) for c in sorted(out)}


def split_drawing(
    schema: Schema, opts: RenderOptions
) -> list[tuple[str | None, Schema, RenderOptions]]:
    """What a split drawing shows, in order: the overview of the clusters (``None``), then
    each cluster's own diagram, with stubs for the tables its foreign keys reach elsewhere.
    The options must be :attr:`RenderOptions.clustered`."""
    parts = [(cluster, part, with_stubs(opts)) for cluster, part in split(schema, opts)]
    return [(None, schema, opts), *parts]


def split(schema: Schema, opts: RenderOptions) -> list[tuple[str, Schema]]:
    """One schema per cluster (ungrouped tables as :data:`OTHER`), for one diagram each."""
    selected = select(schema, opts)
    parts = clusters(selected, opts)
    return [(cluster or OTHER, selected.only(names)) for cluster, names in parts.items()]


# -- what is drawn -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    column: Column
    key: str
    flags: tuple[str, ...]


@dataclass(frozen=True)
class _Box:
    table: Table
    rows: tuple[_Row, ...]
    hidden: int
    extra: tuple[str, ...] = field(default=())


def _flags(t: Table, c: Column, unique: set[tuple[str, ...]]) -> tuple[str, ...]:
    flags = []
    if c.name in t.primary_key:
        flags.append("PK")
    if c.name in t.fk_columns:
        flags.append("FK")
    if (c.name,) in unique:
        flags.append("UK")
    if not c.nullable and c.name not in t.primary_key:
        flags.append("NOT NULL")
    return tuple(flags)


def _box(t: Table, opts: RenderOptions) -> _Box:
    rows = []
    unique = {u.columns for u in t.unique_constraints}
    for i, c in enumerate(t.columns):
        keep = opts.columns == "all" or (
            opts.columns == "keys" and (c.name in t.primary_key or c.name in t.fk_columns)
        )
        if keep:
            rows.append(_Row(c, f"c{i}", _flags(t, c, unique)))
    extra: list[str] = []
    if opts.indexes:
        extra += [
            f"{'unique ' if i.unique else 'index '}{i.name or ''} ({', '.join(i.columns)})"
            for i in t.indexes
        ]
        extra += [f"unique {u.name or ''} ({', '.join(u.columns)})" for u in t.unique_constraints]
    return _Box(
        t, tuple(rows), len(t.columns) - len(rows), tuple(e.replace("  ", " ") for e in extra)
    )


def _port(box: _Box, fk: ForeignKey) -> str | None:
    first = fk.columns[0] if fk.columns else None
    return next((r.key for r in box.rows if r.column.name == first), None)


def _edges(schema: Schema, drawn: set[str]) -> Iterator[tuple[Table, ForeignKey]]:
    for t in schema:
        for fk in t.foreign_keys:
            if fk.ref_table in drawn:
                yield t, fk


def _stubs(schema: Schema, opts: RenderOptions) -> tuple[str, ...]:
    if not opts.stubs:
        return ()
    names = set(schema.names)
    return tuple(sorted({fk.ref_table for t in schema for fk in t.foreign_keys} - names))


# -- DOT -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _e(text: str) -> str:
    # names and types repeat across tables; escaping each once is a third of the work
    return html_text(text)


def _small(text: str) -> str:
    # Graphviz rejects an empty <FONT></FONT>.
    return f'<FONT POINT-SIZE="8">{_e(text)}</FONT>' if text else ""


def _table_label(box: _Box, fill: str = HEADER_FILL) -> str:
    t = box.table
    cells = [f'<TR><TD COLSPAN="3" BGCOLOR="{fill}"><B>{_e(t.name)}</B></TD></TR>']
    for r in box.rows:
        name = _e(r.column.name)
        if "PK" in r.flags:
            name = f"<U>{name}</U>"
        # the port is the outer cell, so an edge leaves the row instead of crossing it
        cells.append(
            f'<TR><TD ALIGN="LEFT">{name}</TD>'
            f'<TD ALIGN="LEFT">{_e(r.column.type)}</TD>'
            f'<TD PORT="{r.key}" ALIGN="LEFT">{_small(" ".join(r.flags))}</TD></TR>'
        )
    if box.hidden and box.rows:
        cells.append(
            f'<TR><TD COLSPAN="3" ALIGN="LEFT"><I>+ {box.hidden} more '
            f"column{'s' if box.hidden > 1 else ''}</I></TD></TR>"
        )
    cells += [f'<TR><TD COLSPAN="3" ALIGN="LEFT"><I>{_e(x)}</I></TD></TR>' for x in box.extra]
    return (
        '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">'
        + "".join(cells)
        + "</TABLE>>"
    )


def _graph_header(name: str, opts: RenderOptions) -> list[str]:
    # concentrate: edges into one table share their last stretch; without it dot's edge
    # routing takes minutes on a few hundred tables (seconds at 150, minutes at 300)
    graph = [
        f"rankdir={opts.rankdir}",
        f"fontname={_q(FONT)}",
        "nodesep=0.4",
        "ranksep=0.9",
        "concentrate=true",
    ]
    if opts.title:
        graph += [f"label={_q(opts.title)}", "labelloc=t", "fontsize=14"]
    return [
        f"digraph {_q(name)} {{",
        f"  graph [{', '.join(graph)}];",
        f"  node [shape=plain, fontname={_q(FONT)}, fontsize=10];",
        f'  edge [fontname={_q(FONT)}, fontsize=8, color="#555555", arrowsize=0.7];',
    ]


def _fk_edge(t: Table, fk: ForeignKey, boxes: dict[str, _Box]) -> str:
    port = _port(boxes[t.name], fk) if t.name in boxes else None
    tail = _q(f"t:{t.name}") + (f":{port}" if port else "")
    tip = f"{t.name} ({', '.join(fk.columns)}) -> {fk.ref_table} ({', '.join(fk.ref_columns)})"
    attrs = [f"tooltip={_q(tip)}"]
    if len(fk.columns) > 1:
        # A composite key is one edge naming every column. An xlabel is placed after the
        # layout; a label would be a node of its own in every rank the edge crosses.
        attrs += [f"xlabel={_q(', '.join(fk.columns))}", "penwidth=1.6"]
    return f"  {tail} -> {_q(f't:{fk.ref_table}')} [{', '.join(attrs)}];"


def to_dot(schema: Schema, opts: RenderOptions | None = None, name: str = "schema") -> str:
    """The diagram as Graphviz DOT; identical input gives identical bytes."""
    opts = opts or RenderOptions()
    selected = select(schema, opts)
    boxes = {t.name: _box(t, opts) for t in selected}
    out = _graph_header(name, opts)
    for cluster, names in clusters(selected, opts).items():
        indent = "  "
        if cluster:
            out += [
                f"  subgraph {_q(f'cluster_{cluster}')} {{",
                f'    graph [label={_q(cluster)}, style="rounded,filled", '
                f'fillcolor={_q(CLUSTER_FILL)}, color="#bbbbbb"];',
            ]
            indent = "    "
        out += [f"{indent}{_q(f't:{n}')} [label={_table_label(boxes[n])}];" for n in names]
        if cluster:
            out.append("  }")
    stubs = _stubs(selected, opts)
    out += [
        f"  {_q(f't:{s}')} [label={_table_label(_Box(Table(s, ()), (), 0), STUB_FILL)}, "
        "style=dashed];"
        for s in stubs
    ]
    drawn = set(boxes) | set(stubs)
    out += [_fk_edge(t, fk, boxes) for t, fk in _edges(selected, drawn)]
    out.append("}")
    return "\n".join(out) + "\n"


def _overview(
    schema: Schema, opts: RenderOptions
) -> tuple[dict[str, tuple[str, ...]], list[tuple[tuple[str, str], int]]]:
    """Clusters (ungrouped tables as :data:`OTHER`) and foreign-key counts between them."""
    selected = select(schema, opts)
    found = clusters(selected, opts)
    # named clusters first, the rest last
    parts = {c or OTHER: found[c] for c in sorted(found, key=lambda c: (c == "", c))}
    home = {n: c for c, names in parts.items() for n in names}
    counts: dict[tuple[str, str], int] = {}
    for t, fk in _edges(selected, set(home)):
        a, b = home[t.name], home[fk.ref_table]
        if a != b:
            counts[(a, b)] = counts.get((a, b), 0) + 1
    return parts, sorted(counts.items())


def overview_dot(schema: Schema, opts: RenderOptions | None = None) -> str:
    """One box per cluster with its table count; edges count the foreign keys between them."""
    opts = opts or RenderOptions()
    parts, counts = _overview(schema, opts)
    out = _graph_header("overview", opts)
    for c, names in parts.items():
        label = (
            f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">'
            f'<TR><TD BGCOLOR="{HEADER_FILL}"><B>{_e(c)}</B></TD></TR>'
            f"<TR><TD>{len(names)} table{'s' if len(names) != 1 else ''}</TD></TR>"
            "</TABLE>>"
        )
        out.append(f"  {_q(f'c:{c}')} [label={label}, tooltip={_q(', '.join(names))}];")
    out += [f"  {_q(f'c:{a}')} -> {_q(f'c:{b}')} [label={_q(str(n))}];" for (a, b), n in counts]
    out.append("}")
    return "\n".join(out) + "\n"


# -- mermaid ---------------------------------------------------------------------------

_WORD = re.compile(r"^[A-Za-z_*][A-Za-z0-9_\-\[\]()*]*$")


def _mword(text: str) -> str:
    """An attribute type or name mermaid's grammar accepts (a word, no spaces or commas)."""
    word = re.sub(r"[^A-Za-z0-9_\-\[\]()*]", "_", text)
    return word if re.match(r"^[A-Za-z_*]", word) else f"_{word}"


def _mname(name: str) -> str:
    return '"' + re.sub(r'["%\\\r\n]', "_", name) + '"'


def _mcomment(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def _attribute(r: _Row) -> str:
    c = r.column
    notes = [] if _WORD.match(c.type) else [c.type]
    base = c.type if not notes else c.type.split("(", 1)[0].strip()
    if not _WORD.match(c.name):
        notes.insert(0, c.name)
    if "NOT NULL" in r.flags:
        notes.append("NOT NULL")
    keys = ", ".join(f for f in r.flags if f in ("PK", "FK", "UK"))
    parts = [_mword(base), _mword(c.name)] + ([keys] if keys else [])
    if notes:
        parts.append(_mcomment(", ".join(notes)))
    return "        " + " ".join(parts)


def _relationship(t: Table, fk: ForeignKey) -> str:
    nullable = any(c.nullable for c in t.columns if c.name in fk.columns)
    parent = "|o" if nullable else "||"
    return (
        f"    {_mname(fk.ref_table)} {parent}--o{{ {_mname(t.name)} : "
        f"{_mcomment(', '.join(fk.columns))}"
    )


def to_mermaid(schema: Schema, opts: RenderOptions | None = None) -> str:
    """The diagram as a mermaid ``erDiagram``; raises :class:`MermaidTooLarge` past the limit.

    Mermaid's erDiagram has no clusters, so groups are not drawn here (use an overview).
    """
    opts = opts or RenderOptions()
    selected = select(schema, opts)
    out = ["---", f"title: {json.dumps(opts.title)}", "---"] if opts.title else []
    out += ["erDiagram", f"    direction {opts.rankdir}"]
    for t in selected:
        box = _box(t, opts)
        if not box.rows:
            out.append(f"    {_mname(t.name)}")
            continue
        out.append(f"    {_mname(t.name)} {{")
        out += [_attribute(r) for r in box.rows]
        out.append("    }")
    for s in _stubs(selected, opts):
        out.append(f"    {_mname(s)}")
    drawn = set(selected.names) | set(_stubs(selected, opts))
    out += [_relationship(t, fk) for t, fk in _edges(selected, drawn)]
    text = "\n".join(out) + "\n"
    if len(text) > MERMAID_LIMIT:
        raise MermaidTooLarge(len(text))
    return text


def overview_mermaid(schema: Schema, opts: RenderOptions | None = None) -> str:
    """The cluster overview as a mermaid flowchart."""
    opts = opts or RenderOptions()
    parts, counts = _overview(schema, opts)
    ids = {c: f"c{i}" for i, c in enumerate(parts)}
    out = ["---", f"title: {json.dumps(opts.title)}", "---"] if opts.title else []
    out.append(f"flowchart {opts.rankdir}")
    out += [f"    {ids[c]}[{_mcomment(f'{c} ({len(n)})')}]" for c, n in parts.items()]
    out += [f"    {ids[a]} -->|{n}| {ids[b]}" for (a, b), n in counts]
    return "\n".join(out) + "\n"


def with_stubs(opts: RenderOptions) -> RenderOptions:
    """``opts`` for one cluster's diagram: every table, foreign tables as stubs, no groups."""
    return replace(
        opts, include=(), exclude=(), around=(), groups=(), group_by_prefix=False, stubs=True
    )
