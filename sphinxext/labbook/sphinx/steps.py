"""The ``lab``, ``lab-run`` and ``lab-file`` directives: they parse, validate and record."""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING, Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from .. import ranges
from ..errors import DirectiveError, SpecErrors
from ..spec import load_spec
from ..steps.model import FileFormat, FileStep, MatchMode, RunStep, Source
from . import config as cfg
from . import fidelity
from .topology import _choice
from .warn import Subtype, directive_location, warn

if TYPE_CHECKING:
    from sphinx.application import Sphinx

logger = logging.getLogger(__name__)


class lab_marker(nodes.General, nodes.Element):
    """Where a lab starts in a document; holds the plan's lab data (removed before writing)."""


class lab_step(nodes.General, nodes.Element):
    """One step; ``node['step']`` is a RunStep or FileStep; children render the page's view."""


def _retry(arg: str) -> float:
    return ranges.seconds(arg, like=":retry: 10")


#: Numeric options and their checks (sphinxext.labbook.ranges). docutils takes them as
#: text; run() converts them, so a bad value is one warning at its own line.
NUMERIC_OPTIONS: dict[str, Any] = {
    "timeout": ranges.seconds,
    "retry": _retry,
    "rc": ranges.exit_status,
    "mode": ranges.file_mode,
}


def _idempotent(arg: str | None) -> str:
    """``:idempotent: no: WHY`` -> WHY (``yes`` -> "", the default: checked)."""
    text = (arg or "").strip()
    word, _, why = text.partition(" ")
    word = word.rstrip(":,").lower()
    if word == "yes" and not why.strip():
        return ""
    why = why.strip().lstrip(":,-— ").strip()
    if word != "no" or not why:
        raise ValueError(
            f"{text!r}: write ':idempotent: no: WHY' (why applying the file twice may "
            "change it) to waive the check, or leave the option out"
        )
    return why


def _is_myst(directive: SphinxDirective) -> bool:
    return type(directive.state_machine).__module__.startswith("myst_parser")


class _LabDirective(SphinxDirective):
    def error_node(
        self, message: str, subtype: Subtype = Subtype.DIRECTIVE, line: int | None = None
    ) -> list[nodes.Node]:
        """Warn at the directive (or ``line``) and put nothing on the page; the problem is
        kept on env so reports and ``labbook check`` count it as bad input."""
        from .envdata import note_problem

        where = directive_location(self, line)
        warn(message, subtype, where)
        note_problem(self.env, where.file, where.line or self.lineno, message)
        return []

    def bad_number(self) -> list[nodes.Node] | None:
        """Convert the numeric options in place; the warning for the first bad one."""
        for name, check in NUMERIC_OPTIONS.items():
            if name not in self.options:
                continue
            try:
                self.options[name] = check(self.options[name])
            except ValueError as exc:
                return self.error_node(f":{name}: {exc}", line=self.option_line(name))
        return None

    def option_line(self, name: str) -> int:
        """The 1-based source line of option ``:name:`` (the directive's if not found)."""
        for i, text in enumerate(self.block_text.splitlines()):
            if text.strip().startswith(f":{name}:"):
                return self.lineno + i
        return self.lineno

    def content_line(self, offset: int) -> int:
        """1-based source line of content line ``offset``."""
        if _is_myst(self):  # MyST: content_offset counts from the directive's own line
            return self.lineno + 1 + self.content_offset + offset
        # docutils takes a 1-based line here; content_offset is 0-based
        return int(
            self.state_machine.get_source_and_line(self.content_offset + offset + 1)[1]
            or self.lineno + 1 + offset
        )

    def source(self) -> Source:
        path = (
            self.state_machine.get_source_and_line(self.lineno)[0]
            if _is_myst(self)
            else self.state_machine.get_source_and_line(self.content_offset + 1)[0]
        )
        path = path or self.env.doc2path(self.env.docname)
        return Source(file=os.fspath(path), line=self.content_line(0), document=self.env.docname)

    def current_lab(self) -> dict[str, Any] | None:
        return self.env.temp_data.get("labbook_lab")  # type: ignore[no-any-return]

    def check_node(self, node: str) -> str | None:
        """None if ``node`` is in the current lab, else why not."""
        lab = self.current_lab()
        if lab is None and self.env.temp_data.get("labbook_lab_broken"):
            return (
                f"{self.name} is not run: the lab directive above it (line "
                f"{self.env.temp_data['labbook_lab_broken']}) has errors"
            )
        if lab is None:
            return (
                f"{self.name} comes before any lab; put '.. lab:: PATH.yaml' above it "
                "to say which lab it runs in"
            )
        if node not in lab["nodes"]:
            names = ", ".join(lab["nodes"]) or "(none)"
            return f"lab '{lab['name']}' has no node '{node}'; its nodes: {names}"
        return None


class LabDirective(_LabDirective):
    """``.. lab:: PATH.yaml`` binds the following steps of the document to that lab."""

    required_arguments = 1
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {
        "provider": directives.unchanged_required,
        "topology": directives.flag,
        "direction": _choice(("LR", "TB", "RL", "BT")),
        "caption": directives.unchanged,
        "depends": directives.unchanged_required,
        "options": directives.unchanged_required,
    }

    def run(self) -> list[nodes.Node]:
        # until this lab is known good, later steps must not run in an earlier lab
        self.env.temp_data.pop("labbook_lab", None)
        self.env.temp_data["labbook_lab_broken"] = self.lineno
        from .paths import resolve_lab_path

        try:
            rel, path = resolve_lab_path(self.env, self.env.docname, self.arguments[0])
        except DirectiveError as exc:
            return self.error_node(exc.message)
        self.env.note_dependency(rel)
        try:
            spec = load_spec(path)
        except SpecErrors as exc:
            from .topology import warn_spec_errors

            warn_spec_errors(exc)
            return self.error_node(
                f"lab spec {self.arguments[0]} has errors (see above)", subtype=Subtype.SPEC
            )
        provider = (
            cfg.value(self.config, "labbook_provider_force")
            or self.options.get("provider")
            or cfg.value(self.config, "labbook_provider")
        )
        from ..providers import parse_options, provider_names

        if provider not in provider_names():
            return self.error_node(
                f"unknown provider '{provider}'; write one of: {', '.join(provider_names())}"
            )
        depends = []
        for item in self.options.get("depends", "").replace(",", " ").split():
            rel_dep, abs_dep = self.env.relfn2path(item, self.env.docname)
            if not os.path.exists(abs_dep):
                return self.error_node(
                    f":depends: {item}: no such file (paths are relative "
                    "to the document, or to the source directory with /)"
                )
            self.env.note_dependency(rel_dep)
            depends.append(os.fspath(abs_dep))
        try:
            options = parse_options(self.options.get("options", "").replace(",", " ").split())
        except ValueError as exc:
            return self.error_node(
                f":options: {exc.args[0]!r}: write KEY=VALUE pairs, like "
                ":options: accel=tcg, memory=768"
            )
        data = {
            "name": spec.name,
            "spec_path": path,
            "nodes": list(spec.node_names),
            "provider": provider,
            "line": self.lineno,
            "depends": depends,
            "options": options,
        }
        self.env.temp_data["labbook_lab"] = data
        self.env.temp_data.pop("labbook_lab_broken", None)
        marker = lab_marker(**data)
        self.set_source_info(marker)
        out: list[nodes.Node] = [marker]
        shown = self.env.temp_data.setdefault("labbook_labs_shown", set())
        assert isinstance(shown, set)
        if path not in shown:  # the first time this page names the lab
            shown.add(path)
            out.append(self.how_to_run(path, provider, options))
        if "topology" in self.options:
            from .topology import topology_node

            out.append(
                topology_node(
                    spec,
                    direction=self.options.get("direction", "LR"),
                    caption=self.options.get("caption"),
                    env=self.env,
                )
            )
        return out

    def how_to_run(self, path: str, provider: str, options: dict[str, str]) -> nodes.paragraph:
        """Under the lab: its spec's path, a link to download it, the command that brings
        it up."""
        from sphinx import addnodes

        from .paths import shown_path

        shown = shown_path(self.env, path)
        doc_dir = os.path.dirname(os.fspath(self.env.doc2path(self.env.docname)))
        download = addnodes.download_reference(
            "",
            "",
            refdoc=self.env.docname,
            refdomain="",
            refexplicit=True,
            reftype="download",
            refwarn=False,
            reftarget=os.path.relpath(path, doc_dir),
        )
        download += nodes.literal("download", "download", classes=["xref", "download"])
        words = ["labbook", "up"] + (["--provider", provider] if provider != "netns" else [])
        for key, value in options.items():
            words += ["-o", f"{key}={value}"]
        command = shlex.join([*words, shown])
        para = nodes.paragraph("", "", classes=["labbook-lab-source"])
        para += [
            nodes.Text("Lab spec "),
            nodes.literal(shown, shown),
            nodes.Text(" ("),
            download,
            nodes.Text("); bring it up yourself with "),
            nodes.literal(command, command, classes=["labbook-up"]),
            nodes.Text("."),
        ]
        self.set_source_info(para)
        return para


class LabRunDirective(_LabDirective):
    """``.. lab-run:: NODE``: a console session typed in NODE's shell, checked line by line."""

    required_arguments = 1
    has_content = True
    option_spec: ClassVar[dict[str, Any]] = {
        "timeout": directives.unchanged_required,
        "rc": directives.unchanged_required,
        "match": _choice(tuple(MatchMode)),
        "retry": directives.unchanged_required,
        "background": directives.flag,
        "hide": directives.flag,
        "safe": directives.flag,
        "prompt": directives.unchanged_required,
        "caption": directives.unchanged,
        **fidelity.RUN_OPTIONS,
    }

    def run(self) -> list[nodes.Node]:
        from ..steps.console import parse_console

        bad = self.bad_number()
        if bad is not None:
            return bad
        node_name = self.arguments[0]
        why = self.check_node(node_name) or fidelity.tag_error(self)
        if why:
            return self.error_node(why)
        if not self.content:
            return self.error_node(
                "lab-run needs a console session: '$ command' lines, each followed by its output"
            )
        prompts = (
            [self.options["prompt"]]
            if "prompt" in self.options
            else list(cfg.value(self.config, "labbook_prompts"))
        )
        from ..steps.console import command_extent
        from ..verdict.matching import validate_expected

        mode = MatchMode(self.options.get("match", MatchMode.NORMALIZED))
        try:
            parsed = parse_console(list(self.content), prompts, self.content_line(0))
        except DirectiveError as exc:
            return self.error_node(exc.message, line=exc.line)
        for c in parsed:  # a bad (re) line or non-JSON is reported where it was written
            if self.options.get("background") and not c.expected:
                continue
            try:
                validate_expected(c.expected, mode)
            except DirectiveError as exc:
                first = c.line + command_extent(c) + (exc.line or 0)
                return self.error_node(exc.message, line=first)
        step = RunStep(
            node=node_name,
            commands=parsed,
            source=self.source(),
            timeout=self.options.get("timeout", float(cfg.value(self.config, "labbook_timeout"))),
            rc=self.options.get("rc", 0),
            match=mode,
            retry=self.options.get("retry", 0.0),
            background="background" in self.options,
            hide="hide" in self.options,
            content=tuple(self.content),
            safe="safe" in self.options,
        )
        fidelity.note_run(self, len(step.commands))
        caption = run_caption(self.options.get("caption", ""), node_name, step.background)
        node = lab_step(step=step, kind="run", caption=caption)
        self.set_source_info(node)
        if not step.hide:
            block = nodes.literal_block("\n".join(self.content), "\n".join(self.content))
            block["language"] = "console"
            block["classes"].append("labbook-console")
            self.set_source_info(block)
            node += _captioned(block, caption)
        return [node]


def run_caption(caption: str, node: str, background: bool) -> str:
    """What a console block says above it: which node's shell it is typed in."""
    where = f"on {node}" + (", in the background" if background else "")
    return f"{caption} ({where})" if caption else where[0].upper() + where[1:]


def _captioned(block: nodes.literal_block, caption: str) -> nodes.container:
    cap = nodes.caption(caption, caption)
    return nodes.container("", cap, block, literal_block=True, classes=["literal-block-wrapper"])


class LabFileDirective(_LabDirective):
    """``.. lab-file:: PATH``: content applied to PATH on a node, read back at the end."""

    required_arguments = 1
    has_content = True
    option_spec: ClassVar[dict[str, Any]] = {
        "node": directives.unchanged_required,
        "format": _choice(tuple(FileFormat)),
        "merge": directives.flag,
        "mode": directives.unchanged_required,
        "owner": directives.unchanged_required,
        "hide": directives.flag,
        "caption": directives.unchanged,
        "idempotent": _idempotent,
    }

    def run(self) -> list[nodes.Node]:
        from ..verdict.configfiles import apply_content

        bad = self.bad_number()
        if bad is not None:
            return bad
        path = self.arguments[0]
        if not path.startswith("/"):
            return self.error_node(
                f"lab-file path {path!r} must be absolute, like /etc/nova/nova.conf"
            )
        if "node" not in self.options:
            return self.error_node("lab-file needs ':node: NAME' (the node the file goes to)")
        node_name = self.options["node"]
        why = self.check_node(node_name)
        if why:
            return self.error_node(why)
        merge = "merge" in self.options
        fmt = FileFormat(self.options.get("format") or guess_format(path, merge))
        if merge and fmt == "text":
            return self.error_node(
                ":merge: needs a structured file; add ':format: ini' (or yaml, json)"
            )
        try:  # validate now so bad content is reported at its line, before any lab runs
            apply_content(list(self.content), fmt, merge, None)
        except DirectiveError as exc:
            return self.error_node(exc.message, line=self.content_line(exc.line or 0))
        step = FileStep(
            node=node_name,
            path=path,
            content=tuple(self.content),
            source=self.source(),
            format=fmt,
            merge=merge,
            mode=self.options.get("mode"),
            owner=self.options.get("owner"),
            hide="hide" in self.options,
            not_idempotent=self.options.get("idempotent", ""),
        )
        caption = self.options.get("caption") or f"{path} on {node_name}"
        node = lab_step(step=step, kind="file", caption=caption)
        self.set_source_info(node)
        if not step.hide:
            text = "\n".join(self.content)
            block = nodes.literal_block(text, text)
            block["language"] = {"ini": "ini", "yaml": "yaml", "json": "json"}.get(fmt, "text")
            block["classes"].append("labbook-file")
            self.set_source_info(block)
            node += _captioned(block, caption)
        return [node]


def guess_format(path: str, merge: bool) -> FileFormat:
    ext = os.path.splitext(path)[1].lower()
    if ext in (".yaml", ".yml"):
        return FileFormat.YAML
    if ext == ".json":
        return FileFormat.JSON
    if merge and ext in (".conf", ".ini", ".cfg"):
        return FileFormat.INI
    return FileFormat.TEXT


def setup(app: Sphinx) -> None:
    app.add_node(lab_marker)
    app.add_node(lab_step)
    app.add_directive("lab", LabDirective)
    app.add_directive("lab-run", LabRunDirective)
    app.add_directive("lab-file", LabFileDirective)
