"""``.. labbook-report::``: a page listing every lab and step with status and duration."""

from __future__ import annotations

import os
import posixpath
import time
from typing import TYPE_CHECKING, ClassVar

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from ..report import counted
from ..verdict.results import PlanResult, Status
from .envdata import block_ids_of, plans_of, report_docs, results_of

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


#: The marks' words for each status.
WORDS = {
    Status.PASSED: "verified",
    Status.DRIFT: "drift",
    Status.ERROR: "error",
    Status.SKIPPED: "not run",
}


def _row(cells: list[nodes.Node | str], classes: list[str] | None = None) -> nodes.row:
    row = nodes.row()
    for c in cells:
        entry = nodes.entry(classes=classes or [])
        if isinstance(c, str):
            c = nodes.paragraph(c, c)
        elif not isinstance(c, nodes.paragraph):
            c = nodes.paragraph("", "", c)
        entry += c
        row += entry
    return row


def _table(headers: list[str], widths: list[int], classes: list[str]) -> nodes.table:
    table = nodes.table(classes=classes)
    group = nodes.tgroup(cols=len(headers))
    table += group
    for w in widths:
        group += nodes.colspec(colwidth=w)
    head = nodes.thead()
    head += _row(list(headers))
    group += head
    group += nodes.tbody()
    return table


def _body(table: nodes.table) -> nodes.tbody:
    return next(iter(table.findall(nodes.tbody)))


def _git(directory: str, *args: str) -> str:
    import subprocess

    return subprocess.run(
        ["git", "-C", directory, *args], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()


def _git_commit(directory: str) -> str:
    """The commit checked out where conf.py is (saying so when the tree has changes), or
    "" outside git."""
    import subprocess

    try:
        head = _git(directory, "rev-parse", "--short=12", "HEAD")
        dirty = _git(directory, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{head} (with uncommitted changes)" if dirty else head


def _distribution() -> str:
    import platform

    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        return ""


def header_facts(app: Sphinx, results: list[PlanResult]) -> list[tuple[str, str]]:
    """What, where and when: the facts above the report's tables."""
    from ..version import __version__

    runs = [r for r in results if r.status is not Status.SKIPPED or r.cached]
    when = max((r.started for r in runs), default=time.time())
    facts = [
        ("Date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(when))),
        ("labbook", __version__),
    ]
    commit = _git_commit(str(app.confdir))
    if commit:
        facts.append(("Commit", commit))
    providers = sorted({r.provider for r in runs})
    facts.append(("Providers", ", ".join(providers) or "none (no lab ran)"))
    facts.append(("Kernel", f"{os.uname().sysname} {os.uname().release}"))
    distribution = _distribution()
    if distribution:
        facts.append(("Distribution", distribution))
    return facts


def _captions(app: Sphinx) -> dict[str, str]:
    """docname -> the caption of the root document's toctree that lists it."""
    from sphinx import addnodes

    toc = app.env.tocs.get(app.config.root_doc)
    out: dict[str, str] = {}
    for tree in toc.findall(addnodes.toctree) if toc is not None else ():
        for doc in tree.get("includefiles", ()):
            if tree.get("caption"):
                out.setdefault(doc, tree["caption"])
    return out


def _chapter(app: Sphinx, doc: str, captions: dict[str, str]) -> str:
    """The caption of the root toctree that lists the document; else its directory; else
    (a top-level document) its title."""
    if doc in captions:
        return captions[doc]
    directory = posixpath.dirname(doc)
    if directory:
        return directory
    title = app.env.titles.get(doc)
    return title.astext() if title is not None else doc


def _counts_table(app: Sphinx, docs: dict[str, list[PlanResult]]) -> nodes.table:
    headers = ["Chapter", "verified", "drift", "error", "not run"]
    table = _table(headers, [40, 10, 10, 10, 10], ["labbook-report", "labbook-summary"])
    body = _body(table)
    chapters: dict[str, dict[Status, int]] = {}
    captions = _captions(app)
    for doc, results in docs.items():
        counts = chapters.setdefault(_chapter(app, doc, captions), dict.fromkeys(WORDS, 0))
        for r in results:
            for step in r.steps:
                counts[step.status] += 1
    total = dict.fromkeys(WORDS, 0)
    for chapter, counts in chapters.items():
        body += _row([chapter, *(str(counts[status]) for status in WORDS)])
        for status in WORDS:
            total[status] += counts[status]
    body += _row(["All", *(str(total[status]) for status in WORDS)], classes=["labbook-total"])
    return table


def _steps_table(app: Sphinx, fromdocname: str, docs: dict[str, list[PlanResult]]) -> nodes.table:
    headers = ["Document", "Line", "Lab", "Node", "Step", "Result", "Why", "Duration"]
    table = _table(headers, [24, 6, 12, 10, 10, 10, 30, 8], ["labbook-report"])
    body = _body(table)
    ids = block_ids_of(app.env)
    plans = plans_of(app.env)
    for doc, results in docs.items():
        uri = app.builder.get_relative_uri(fromdocname, doc)
        title = app.env.titles.get(doc)
        name = title.astext() if title is not None else doc
        for k, r in enumerate(results):
            lab = os.path.basename(r.spec_path) + (" (cached)" if r.cached else "")
            lab_ids = ids.get(doc, [])[k] if k < len(ids.get(doc, [])) else []
            lab_plan = plans.get(doc, [])[k] if k < len(plans.get(doc, [])) else None
            for i, s in enumerate(r.steps):
                anchor = f"#{lab_ids[i]}" if i < len(lab_ids) else ""
                ref = nodes.reference("", "", internal=True, refuri=uri + anchor)
                ref += nodes.Text(name)
                hidden = lab_plan is not None and getattr(lab_plan.steps[i], "hide", False)
                step = s.kind + (" (hidden)" if hidden else "")
                why = (r.not_run or s.message) if s.status is not Status.PASSED else ""
                why = why.removeprefix("not run: ")  # the Result column says it
                body += _row(
                    [
                        ref,
                        str(s.line),
                        lab,
                        s.node,
                        step,
                        nodes.inline(WORDS[s.status], WORDS[s.status]),
                        why,
                        f"{s.duration:.2f} s",
                    ]
                )
                body[-1][5]["classes"].append(f"labbook-{s.status.value}")
    return table


def _hidden_steps(app: Sphinx, docs: dict[str, list[PlanResult]]) -> int:
    plans = plans_of(app.env)
    return sum(
        1
        for doc in docs
        for p in plans.get(doc, [])
        for st in p.steps
        if getattr(st, "hide", False)
    )


def report_nodes(app: Sphinx, fromdocname: str) -> list[nodes.Node]:
    docs = dict(sorted(results_of(app.env).items()))
    results = [r for rs in docs.values() for r in rs]
    facts = nodes.field_list(classes=["labbook-report-facts"])
    for name, value in header_facts(app, results):
        field = nodes.field()
        field += nodes.field_name(name, name)
        body = nodes.field_body()
        body += nodes.paragraph(value, value)
        field += body
        facts += field
    out: list[nodes.Node] = [facts, _counts_table(app, docs)]
    hidden = _hidden_steps(app, docs)
    if hidden:
        text = (
            f"These counts include {counted(hidden, 'hidden step')} (:hide:), which "
            "their pages do not show: a lab runs them, but a reader does not see them."
        )
        out.append(nodes.paragraph(text, text, classes=["labbook-hidden-note"]))
    out.append(_steps_table(app, fromdocname, docs))
    return out


def on_doctree_resolved(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    for node in list(doctree.findall(labbook_report)):
        if not results_of(app.env):
            node.replace_self(nodes.paragraph("", "No lab has run in this build."))
        else:
            node.replace_self(report_nodes(app, docname))


def on_updated(app: Sphinx, env: BuildEnvironment) -> list[str]:
    """Report pages depend on every page's results: write them again on every build."""
    return sorted(report_docs(env))


def setup(app: Sphinx) -> None:
    app.add_node(labbook_report)
    app.add_directive("labbook-report", LabbookReportDirective)
    app.connect("doctree-resolved", on_doctree_resolved)
    app.connect("env-get-updated", on_updated)
