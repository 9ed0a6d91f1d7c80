"""How faithfully the handbook runs the articles its chapters come from.

``.. labbook-source:: TITLE`` names the article a document is based on. A ``lab-run``
block holding the article's commands says how: ``:verbatim:`` (run as the article
writes them) or ``:changed: REASON`` (run with a change the page explains); ``:source:
TITLE`` names another article for one block. ``.. lab-not-run::`` shows an article's
commands that are not run, with ``:reason:``. ``.. labbook-fidelity::`` puts the table
of it all on a page: per article, how many commands are run verbatim, how many with a
change, and how many are only shown, with the reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

from . import config as cfg
from . import envdata

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

#: Options ``lab-run`` takes for this table.
RUN_OPTIONS: dict[str, Any] = {
    "source": directives.unchanged_required,
    "verbatim": directives.flag,
    "changed": directives.unchanged_required,
}
KINDS = ("verbatim", "changed", "not-run")


@dataclass(frozen=True)
class Entry:
    article: str
    kind: str  # one of KINDS
    commands: int
    reason: str
    docname: str
    line: int


class labbook_fidelity(nodes.General, nodes.Element):
    """Placeholder, filled in once every document has been read."""


def _entries(env: BuildEnvironment) -> dict[str, list[Entry]]:
    return envdata.fidelity_of(env)


def _pages(env: BuildEnvironment) -> set[str]:
    return envdata.fidelity_pages(env)


def article_of(directive: SphinxDirective) -> str | None:
    return directive.options.get("source") or directive.env.temp_data.get("labbook_source")


def tag_error(directive: SphinxDirective) -> str | None:
    """Why the block's fidelity options are wrong, or None."""
    opts = directive.options
    if "verbatim" in opts and "changed" in opts:
        return (
            f"{directive.name}: ':verbatim:' and ':changed:' exclude each other; a block "
            "run with a change says what changed in ':changed: REASON' only"
        )
    tagged = "verbatim" in opts or "changed" in opts or directive.name == "lab-not-run"
    if tagged and article_of(directive) is None:
        return (
            f"{directive.name}: which article are these commands from? put "
            "'.. labbook-source:: TITLE' near the top of the document, or ':source: TITLE' "
            "on the block"
        )
    return None


def note(directive: SphinxDirective, kind: str, commands: int, reason: str = "") -> None:
    article = article_of(directive)
    if article is None:
        return
    _entries(directive.env).setdefault(directive.env.docname, []).append(
        Entry(article, kind, commands, reason, directive.env.docname, directive.lineno)
    )


def note_run(directive: SphinxDirective, commands: int) -> None:
    """Record a lab-run block's commands if the block says how it follows an article."""
    if "verbatim" in directive.options:
        note(directive, "verbatim", commands)
    elif "changed" in directive.options:
        note(directive, "changed", commands, directive.options["changed"])


class LabbookSourceDirective(SphinxDirective):
    """``.. labbook-source:: TITLE``: the article this document is based on."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {"url": directives.uri}

    def run(self) -> list[nodes.Node]:
        title = self.arguments[0].strip()
        self.env.temp_data["labbook_source"] = title
        para = nodes.paragraph(classes=["labbook-source"])
        para += nodes.Text("Based on the article ")
        if "url" in self.options:
            ref = nodes.reference("", "", refuri=self.options["url"])
            ref += nodes.emphasis(title, title)
            para += ref
        else:
            para += nodes.emphasis(title, title)
        para += nodes.Text(".")
        self.set_source_info(para)
        return [para]


class LabNotRunDirective(SphinxDirective):
    """``.. lab-not-run::``: an article's console session shown but not run, and why."""

    has_content = True
    option_spec: ClassVar[dict[str, Any]] = {
        "reason": directives.unchanged_required,
        "source": directives.unchanged_required,
        "prompt": directives.unchanged_required,
    }

    def run(self) -> list[nodes.Node]:
        where = (self.env.docname, self.lineno)
        reason = self.options.get("reason", "").strip()
        problem = tag_error(self)
        if not reason:
            problem = (
                "lab-not-run needs ':reason: WHY' (what keeps these commands from running in a lab)"
            )
        if not self.content:
            problem = "lab-not-run needs a console session: '$ command' lines"
        prompts = (
            [self.options["prompt"]]
            if "prompt" in self.options
            else list(cfg.value(self.config, "labbook_prompts"))
        )
        # Every line that starts with a prompt is a command (a session shown, not run,
        # may switch between the user's and root's prompt).
        commands = sum(1 for line in self.content if line.startswith(tuple(prompts)))
        if problem is None and commands == 0:
            problem = (
                f"lab-not-run: no command in the block (lines starting with "
                f"{' or '.join(repr(p) for p in prompts)})"
            )
        if problem is not None:
            from sphinx.util import logging

            logging.getLogger(__name__).warning(
                problem, location=where, type="labbook", subtype="directive"
            )
            envdata.note_problem(
                self.env, str(self.env.doc2path(self.env.docname)), self.lineno, problem
            )
            return []
        note(self, "not-run", commands, reason)
        text = "\n".join(self.content)
        block = nodes.literal_block(text, text)
        block["language"] = "console"
        block["classes"].append("labbook-console")
        self.set_source_info(block)
        mark = nodes.paragraph(classes=["labbook-mark", "labbook-not-run"])
        mark += nodes.Text(f"not run: {reason}")
        return [block, mark]


class LabbookFidelityDirective(SphinxDirective):
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {}

    def run(self) -> list[nodes.Node]:
        _pages(self.env).add(self.env.docname)
        node = labbook_fidelity()
        self.set_source_info(node)
        return [node]


def summary(entries: list[Entry]) -> dict[str, dict[str, int]]:
    """Commands per article and kind, articles in title order."""
    out: dict[str, dict[str, int]] = {}
    for e in entries:
        counts = out.setdefault(e.article, dict.fromkeys(KINDS, 0))
        counts[e.kind] += e.commands
    return dict(sorted(out.items()))


def _cell(content: nodes.Node | str) -> nodes.entry:
    entry = nodes.entry()
    entry += nodes.paragraph("", content) if isinstance(content, str) else content
    return entry


def _row(cells: list[nodes.Node | str]) -> nodes.row:
    row = nodes.row()
    for c in cells:
        row += _cell(c)
    return row


def _doc_link(app: Sphinx, fromdoc: str, doc: str, line: int) -> nodes.paragraph:
    para = nodes.paragraph()
    ref = nodes.reference("", "", internal=True, refuri=app.builder.get_relative_uri(fromdoc, doc))
    ref += nodes.Text(f"{doc}:{line}")
    para += ref
    return para


def _render(app: Sphinx, fromdoc: str) -> list[nodes.Node]:
    entries = [e for docs in _entries(app.env).values() for e in docs]
    if not entries:
        return [nodes.paragraph("", "No block of this build names an article.")]
    headers = ["Article", "Run verbatim", "Run with a change", "Shown, not run"]
    table = nodes.table(classes=["labbook-fidelity"])
    group = nodes.tgroup(cols=len(headers))
    table += group
    for w in (52, 16, 16, 16):
        group += nodes.colspec(colwidth=w)
    head = nodes.thead()
    head += _row(list(headers))
    group += head
    body = nodes.tbody()
    group += body
    totals = dict.fromkeys(KINDS, 0)
    for article, counts in summary(entries).items():
        body += _row([article, *(str(counts[k]) for k in KINDS)])
        for k in KINDS:
            totals[k] += counts[k]
    body += _row(["All articles", *(str(totals[k]) for k in KINDS)])
    out: list[nodes.Node] = [table]
    explained = sorted(
        (e for e in entries if e.kind != "verbatim"), key=lambda e: (e.article, e.docname, e.line)
    )
    if explained:
        items = nodes.bullet_list()
        for e in explained:
            item = nodes.list_item()
            para = _doc_link(app, fromdoc, e.docname, e.line)
            what = "changed" if e.kind == "changed" else "not run"
            plural = "s" if e.commands != 1 else ""
            para += nodes.Text(f" ({e.article}, {e.commands} command{plural} {what}): {e.reason}")
            item += para
            items += item
        out.append(items)
    return out


def on_doctree_resolved(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    for node in list(doctree.findall(labbook_fidelity)):
        node.replace_self(_render(app, docname))


def on_updated(app: Sphinx, env: BuildEnvironment) -> list[str]:
    """The table depends on every page: write its pages again on every build."""
    return sorted(_pages(env))


def setup(app: Sphinx) -> None:
    app.add_node(labbook_fidelity)
    app.add_directive("labbook-source", LabbookSourceDirective)
    app.add_directive("lab-not-run", LabNotRunDirective)
    app.add_directive("labbook-fidelity", LabbookFidelityDirective)
    app.connect("doctree-resolved", on_doctree_resolved)
    app.connect("env-get-updated", on_updated)
