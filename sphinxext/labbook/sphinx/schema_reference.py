"""The ``schema-reference`` directive: one section of reference per table, and lint."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import make_id

from ..errors import LabbookError
from ..render.schema import RenderOptions, _matches, parse_list, select
from ..schema.mask import mask_url
from ..schema.model import ForeignKey
from ..schema.reference import TableRef, references
from .config import add_config_value
from .schema import _source_base
from .warn import Subtype, directive_location, warn

if TYPE_CHECKING:
    from sphinx.application import Sphinx

HEADERS = ("Column", "Type", "NULL", "Default", "Keys", "Comment")


def _text(text: str | None) -> nodes.Node:
    return nodes.Text(text or "")


def _literal(text: str | None) -> nodes.Node:
    return nodes.literal(text, text) if text else nodes.Text("")


def _row(cells: list[nodes.Node]) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        entry += nodes.paragraph("", "", cell)
        row += entry
    return row


def _columns_table(ref: TableRef, hide: tuple[str, ...]) -> nodes.table:
    table = nodes.table(classes=["labbook-schema-reference"])
    group = nodes.tgroup(cols=len(HEADERS))
    table += group
    group += [nodes.colspec(colwidth=w) for w in (16, 16, 6, 14, 8, 30)]
    head = nodes.thead()
    head += _row([nodes.Text(h) for h in HEADERS])
    group += head
    body = nodes.tbody()
    for c in ref.columns:
        if hide and _matches(c.name, hide) and not c.keys:
            continue
        body += _row(
            [
                _literal(c.name),
                _literal(c.type),
                _text("NULL" if c.nullable else "NOT NULL"),
                _literal(c.default),
                _text(", ".join(c.keys)),
                _text(c.comment),
            ]
        )
    group += body
    return table


def _fk_text(table: str, fk: ForeignKey) -> str:
    text = f"{table} ({', '.join(fk.columns)}) → {fk.ref_table} ({', '.join(fk.ref_columns)})"
    return f"{text} {fk.actions}" if fk.actions else text


def _items(title: str, items: list[str]) -> list[nodes.Node]:
    if not items:
        return []
    para = nodes.paragraph("", "", nodes.strong(title, title))
    bullets = nodes.bullet_list()
    for item in items:
        bullets += nodes.list_item("", nodes.paragraph("", "", nodes.literal(item, item)))
    return [para, bullets]


class SchemaReferenceDirective(SphinxDirective):
    """``.. schema-reference:: SOURCE``: each table's columns, keys, indexes and comments."""

    required_arguments = 1
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {
        "include": directives.unchanged_required,
        "exclude": directives.unchanged_required,
        "dialect": directives.unchanged_required,
        "hide-columns": directives.unchanged_required,
        "schema": directives.unchanged_required,
        "lint": directives.flag,
        "lint-disable": directives.unchanged_required,
    }

    def warn(self, message: str, subtype: Subtype = Subtype.SCHEMA) -> list[nodes.Node]:
        warn(message, subtype, directive_location(self))
        return []

    def run(self) -> list[nodes.Node]:
        from ..schema.lint import check_rules, lint
        from ..schema.source import load_schema

        source = self.arguments[0]
        base = _source_base(self.env, source)
        try:
            schema = load_schema(source, base, name=self.options.get("schema"))
            opts = RenderOptions(
                include=parse_list(self.options.get("include")),
                exclude=parse_list(self.options.get("exclude")),
            )
            shown = select(schema, opts)
            disabled = check_rules(
                [
                    *self.config.labbook_schema_lint_disable,
                    *parse_list(self.options.get("lint-disable")),
                ]
            )
            dialect = self.options.get("dialect")
            refs = references(schema, shown.names, dialect)
        except LabbookError as exc:
            return self.warn(f"schema-reference {mask_url(source)}: {exc}")
        for path in schema.files:
            srcdir = os.fspath(self.env.srcdir)
            inside = os.path.commonpath([srcdir, path]) == srcdir
            self.env.note_dependency(os.path.relpath(path, srcdir) if inside else path)
        if "lint" in self.options:
            for finding in lint(shown, disabled):
                self.warn(f"schema lint of {mask_url(source)}: {finding}", Subtype.SCHEMA_LINT)
        hide = parse_list(self.options.get("hide-columns"))
        return [self.section(ref, hide) for ref in refs]

    def section(self, ref: TableRef, hide: tuple[str, ...]) -> nodes.Element:
        ident = make_id(self.env, self.state.document, "table", ref.name)
        container = nodes.container(classes=["labbook-schema-table"], ids=[ident])
        container += nodes.rubric(ref.name, ref.name)
        if ref.comment:
            container += nodes.paragraph(ref.comment, ref.comment)
        container += _columns_table(ref, hide)
        container += _items("Indexes", list(ref.indexes))
        container += _items("Foreign keys", [_fk_text(ref.name, fk) for fk in ref.outgoing])
        container += _items("Referenced by", [_fk_text(t, fk) for t, fk in ref.incoming])
        self.set_source_info(container)
        return container


def setup(app: Sphinx) -> None:
    add_config_value(
        app,
        "labbook_schema_lint_disable",
        [],
        (list, tuple),
        "lint rules `.. schema-reference:: :lint:` does not check (no-primary-key, "
        "fk-without-index, table-comment, column-comment)",
    )
    app.add_directive("schema-reference", SchemaReferenceDirective)
