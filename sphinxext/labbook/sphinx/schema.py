"""The ``schema-diagram`` directive: a database schema drawn, and checked against a database."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.config import ENUM
from sphinx.ext.graphviz import graphviz
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinxcontrib.mermaid import mermaid

from ..errors import LabbookError
from ..location import Location
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
from ..schema.mask import VARIABLE, mask_url, password
from ..schema.model import Schema
from .config import add_config_value
from .envdata import schema_checks
from .paths import _confdir
from .topology import FORMATS, _choice, figure
from .warn import Subtype, directive_location, location_of, warn

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

logger = logging.getLogger(__name__)


class schema_check(nodes.General, nodes.Element):
    """Where a schema is checked against a live database (removed once checked)."""


def _schema_dir(env: BuildEnvironment) -> str:
    return os.path.normpath(os.path.join(_confdir(env), env.config.labbook_schema_dir))


def _source_base(env: BuildEnvironment, source: str) -> str:
    """The directory relative paths in ``source`` start from: the document's directory if
    the file is there, else ``labbook_schema_dir`` (relative to conf.py)."""
    from ..schema.source import parse_source

    schema_dir = _schema_dir(env)
    try:
        src = parse_source(source)
    except LabbookError:
        return schema_dir
    if src.kind in ("url", "module") or os.path.isabs(src.target):
        return schema_dir
    doc_dir = os.path.dirname(env.doc2path(env.docname))
    return doc_dir if os.path.exists(src.path(doc_dir)) else schema_dir


class SchemaDiagramDirective(SphinxDirective):
    """``.. schema-diagram:: SOURCE``: the tables, keys and foreign keys of a schema."""

    required_arguments = 1
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {
        "include": directives.unchanged_required,
        "exclude": directives.unchanged_required,
        "columns": _choice(COLUMN_MODES),
        "direction": _choice(DIRECTIONS),
        "group": directives.unchanged_required,
        "around": directives.unchanged_required,
        "depth": directives.nonnegative_int,
        "title": directives.unchanged,
        "caption": directives.unchanged,
        "indexes": directives.flag,
        "overview": directives.flag,
        "format": _choice(FORMATS),
        "schema": directives.unchanged_required,
        "check-against": directives.unchanged_required,
        "allow": directives.unchanged_required,
        "name": directives.unchanged,
        "align": _choice(("left", "center", "right")),
        "alt": directives.unchanged,
    }

    def warn(self, message: str, subtype: Subtype = Subtype.SCHEMA) -> list[nodes.Node]:
        warn(message, subtype, directive_location(self))
        return []

    def warn_literal_password(self, url: str) -> None:
        secret = password(url)
        if secret and not VARIABLE.fullmatch(secret):
            # the page's source is published with it (html_copy_source)
            self.warn(
                f"{mask_url(url)}: the password is written in the document; write "
                "${VARIABLE} instead and export it before building"
            )

    def depend(self, path: str | None) -> None:
        if not path:
            return
        srcdir = os.fspath(self.env.srcdir)
        inside = os.path.commonpath([srcdir, os.path.abspath(path)]) == srcdir
        self.env.note_dependency(os.path.relpath(path, srcdir) if inside else path)

    def run(self) -> list[nodes.Node]:
        from ..render.schema_options import render_options
        from ..schema.source import load_schema

        source = self.arguments[0]
        self.warn_literal_password(source)
        base = _source_base(self.env, source)
        doc_dir = os.path.dirname(self.env.doc2path(self.env.docname))
        try:
            schema = load_schema(source, base, name=self.options.get("schema"))
            opts, groups_file = render_options(
                include=self.options.get("include"),
                exclude=self.options.get("exclude"),
                columns=self.options.get("columns", "all"),
                rankdir=self.options.get("direction", "LR"),
                group=self.options.get("group"),
                around=self.options.get("around"),
                depth=self.options.get("depth", 1),
                title=self.options.get("title"),
                indexes="indexes" in self.options,
                base_dir=doc_dir,
            )
            self.depend(groups_file)
            for path in schema.files:
                self.depend(path)
            result = self.diagrams(schema, opts, mask_url(source))
        except LabbookError as exc:
            return self.warn(f"schema-diagram {mask_url(source)}: {exc}")
        for note in schema.notes:
            where = Location(note.file, note.line) if note.file else None
            warn(note.message, Subtype.SCHEMA, where)
        check = self.check_node(source, base)
        for node in result:
            for child in node.findall(nodes.Element):
                self.set_source_info(child)
        if result:
            self.add_name(result[0])
        return result + check

    def diagrams(self, schema: Schema, opts: RenderOptions, label: str) -> list[nodes.Node]:
        fmt = self.options.get("format") or self.config.labbook_schema_format
        if "overview" not in self.options:
            return [self.figure(self.diagram(schema, opts, fmt), self.options.get("caption"))]
        if not opts.clustered:
            raise LabbookError(
                ":overview: draws one diagram per cluster; say how to "
                "cluster with :group: prefix or :group: NAME = GLOB; ..."
            )
        out = []
        for cluster, part, part_opts in split_drawing(schema, opts):
            if cluster is not None:
                out.append(self.figure(self.diagram(part, part_opts, fmt), cluster))
                continue
            over = (
                mermaid(code=overview_mermaid(part, part_opts), options={})
                if fmt == "mermaid"
                else graphviz(
                    code=overview_dot(part, part_opts), options={"docname": self.env.docname}
                )
            )
            over["alt"] = f"Overview of the clusters of {label}"
            out.append(self.figure(over, self.options.get("caption") or f"Overview of {label}"))
        return out

    def diagram(self, schema: Schema, opts: RenderOptions, fmt: str) -> nodes.Element:
        node: nodes.Element
        if fmt == "mermaid":
            try:
                node = mermaid(code=to_mermaid(schema, opts), options={})
            except MermaidTooLarge as exc:
                self.warn(f"{exc.message}; drawn with graphviz instead")
                fmt = "graphviz"
        if fmt != "mermaid":
            node = graphviz(code=to_dot(schema, opts), options={"docname": self.env.docname})
        tables = len(schema)
        node["alt"] = (
            self.options.get("alt") or f"Schema diagram: {tables} table{'s' if tables != 1 else ''}"
        )
        node["classes"].append("labbook-schema")
        if "align" in self.options:
            node["align"] = self.options["align"]
        return node

    def figure(self, node: nodes.Element, caption: str | None) -> nodes.Element:
        return figure(node, caption, "labbook-schema-figure")

    def check_node(self, source: str, base: str) -> list[nodes.Node]:
        """A placeholder for the drift check, if this diagram has a database to check."""
        url = self.options.get("check-against") or self.config.labbook_schema_check.get(source)
        if not url:
            return []
        self.warn_literal_password(url)
        allow = self.options.get("allow")
        if allow:
            allow = os.path.join(os.path.dirname(self.env.doc2path(self.env.docname)), allow)
            self.depend(allow)
        # a relative sqlite:///file is found where relative sources are
        node = schema_check(
            documented=source,
            base=base,
            url=url,
            url_base=_schema_dir(self.env),
            allow=allow or "",
            schema=self.options.get("schema") or "",
        )
        self.set_source_info(node)
        schema_checks(self.env).add(self.env.docname)
        return [node]


def check_schemas(app: Sphinx, doctree: nodes.document) -> None:
    """Compare each documented schema with its database; differences warn as labbook.drift."""
    from ..schema.allow import load_allow
    from ..schema.drift import check_drift
    from ..schema.source import load_schema

    for node in list(doctree.findall(schema_check)):
        try:
            allow = load_allow(node["allow"]) if node["allow"] else ()
            documented = load_schema(node["documented"], node["base"])
            report = check_drift(
                documented, node["url"], node["url_base"], name=node["schema"] or None, allow=allow
            )
        except LabbookError as exc:
            warn(
                f"schema check of {mask_url(node['documented'])} against "
                f"{mask_url(node['url'])}: {exc}",
                Subtype.SCHEMA,
                location_of(node),
            )
        else:
            for line in report.lines():
                warn(
                    f"schema drift against {report.live}: {line}", Subtype.DRIFT, location_of(node)
                )
        node.parent.remove(node)


def always_recheck(
    app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str], removed: set[str]
) -> list[str]:
    """Documents checked against a database are read on every build: the database may
    have changed while the documents did not."""
    return sorted(schema_checks(env) - removed)


def setup(app: Sphinx) -> None:
    app.setup_extension("sphinx.ext.graphviz")
    app.setup_extension("sphinxcontrib.mermaid")
    add_config_value(
        app,
        "labbook_schema_format",
        "graphviz",
        ENUM(*FORMATS),
        "how `.. schema-diagram::` draws: graphviz or mermaid",
    )
    add_config_value(
        app,
        "labbook_schema_check",
        {},
        (dict,),
        "schema source -> database URL to check it against (${VAR} is read from the environment)",
    )
    add_config_value(
        app,
        "labbook_schema_dir",
        ".",
        (str,),
        "where schema sources not found next to the document are looked up, relative to conf.py",
    )
    app.add_node(schema_check)
    app.add_directive("schema-diagram", SchemaDiagramDirective)
    app.connect("doctree-read", check_schemas)
    app.connect("env-get-outdated", always_recheck)
