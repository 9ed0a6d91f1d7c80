"""``.. labbook-report::``: a page listing every lab and step with status and duration."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, ClassVar

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from .envdata import report_docs, results_of

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment


class labbook_report(nodes.General, nodes.Element):
    """Placeholder, filled in once every document has been read."""


class LabbookReportDirective(SphinxDirective):
    has_content = False
    option_spec: ClassVar[dict[str, object]] = {}

    def run(self) -> list[nodes.Node]:
        report_docs(self.env).add(self.env.docname)
        node = labbook_report()
        self.set_source_info(node)
        return [node]


def _row(cells: list[nodes.Node], classes: list[str] | None = None) -> nodes.row:
    row = nodes.row()
    for c in cells:
        entry = nodes.entry(classes=classes or [])
        entry += (
            c
            if isinstance(c, nodes.Element) and not isinstance(c, nodes.Text)
            else nodes.paragraph("", "", c)
        )
        row += entry
    return row


def _text(s: str) -> nodes.Text:
    return nodes.Text(s)


def _table(app: Sphinx, fromdocname: str) -> nodes.table:
    headers = ["Document", "Line", "Lab", "Node", "Step", "Status", "Duration"]
    table = nodes.table(classes=["labbook-report"])
    group = nodes.tgroup(cols=len(headers))
    table += group
    for w in (30, 6, 14, 10, 8, 14, 10):
        group += nodes.colspec(colwidth=w)
    head = nodes.thead()
    head += _row([_text(h) for h in headers])
    group += head
    body = nodes.tbody()
    group += body
    for doc, results in sorted(results_of(app.env).items()):
        for r in results:
            lab = os.path.basename(r.spec_path) + (" (cached)" if r.cached else "")
            for s in r.steps:
                ref = nodes.reference(
                    "", "", internal=True, refuri=app.builder.get_relative_uri(fromdocname, doc)
                )
                ref += nodes.Text(doc)
                para = nodes.paragraph()
                para += ref
                status = nodes.paragraph("", s.status.value, classes=[f"labbook-{s.status.value}"])
                row = _row(
                    [
                        para,
                        _text(str(s.line)),
                        _text(lab),
                        _text(s.node),
                        _text(s.kind),
                        status,
                        _text(f"{s.duration:.2f} s"),
                    ]
                )
                body += row
    return table


def on_doctree_resolved(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    for node in list(doctree.findall(labbook_report)):
        if not results_of(app.env):
            node.replace_self(nodes.paragraph("", "No lab has run in this build."))
        else:
            node.replace_self(_table(app, docname))


def on_updated(app: Sphinx, env: BuildEnvironment) -> list[str]:
    """Report pages depend on every page's results: write them again on every build."""
    return sorted(report_docs(env))


def setup(app: Sphinx) -> None:
    app.add_node(labbook_report)
    app.add_directive("labbook-report", LabbookReportDirective)
    app.connect("doctree-resolved", on_doctree_resolved)
    app.connect("env-get-updated", on_updated)
