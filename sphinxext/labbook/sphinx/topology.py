"""The ``topology`` directive: a lab spec drawn with Sphinx's graphviz or with mermaid."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.config import ENUM
from sphinx.ext.graphviz import graphviz
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinxcontrib.mermaid import mermaid

from ..errors import DirectiveError, SpecErrors
from ..location import Location
from ..render.topology import DIRECTIONS, to_dot, to_mermaid
from ..spec import LabSpec, load_spec
from .config import add_config_value
from .paths import resolve_lab_path
from .warn import Subtype, directive_location, warn

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

logger = logging.getLogger(__name__)

#: Values of ``:format:`` and of ``labbook_topology_format``.
FORMATS = ("graphviz", "mermaid")


def _choice(values: tuple[str, ...]) -> Any:
    """An option converter that accepts ``values`` in any case and returns the canonical one
    (docutils' ``choice`` lower-cases, which would turn ``LR`` into an error)."""
    canonical = {v.lower(): v for v in values}

    def convert(arg: str | None) -> str:
        value = canonical.get((arg or "").strip().lower())
        if value is None:
            raise ValueError(f"{arg!r} unknown; write one of {', '.join(values)}")
        return value

    return convert


def _alt(spec: LabSpec) -> str:
    """Text for readers who cannot see the picture: what is in the lab."""
    nodes_ = ", ".join(sorted(spec.node_names)) or "none"
    nets = ", ".join(sorted(n.name for n in spec.networks)) or "none"
    return f"Topology of lab {spec.name}: nodes {nodes_}; networks {nets}"


def topology_node(
    spec: LabSpec,
    *,
    env: BuildEnvironment,
    direction: str = "LR",
    caption: str | None = None,
    fmt: str | None = None,
    alt: str | None = None,
    align: str | None = None,
) -> nodes.Element:
    """The diagram of ``spec`` as a doctree node (a figure when there is a caption).

    ``fmt`` is ``graphviz`` or ``mermaid``; ``None`` means the project's
    ``labbook_topology_format``. The node holds only text (picklable); Sphinx's graphviz
    or sphinxcontrib-mermaid renders it, so their settings (``graphviz_output_format``,
    ``graphviz_dot``, ``mermaid_output_format``) apply and graphviz names its images by a
    hash of the DOT text. The caller notes the spec as a dependency and sets source info.
    """
    fmt = fmt or env.config.labbook_topology_format
    node: nodes.Element
    if fmt == "mermaid":
        node = mermaid(code=to_mermaid(spec, direction=direction), options={})
    else:
        node = graphviz(code=to_dot(spec, rankdir=direction), options={"docname": env.docname})
    node["alt"] = alt or _alt(spec)
    node["classes"].append("labbook-topology")
    if align:
        node["align"] = align
    return figure(node, caption, "labbook-topology-figure")


def figure(node: nodes.Element, caption: str | None, cls: str) -> nodes.Element:
    """``node`` in a figure with ``caption`` (which takes over its alignment), or ``node``
    itself when there is no caption."""
    if not caption:
        return node
    fig = nodes.figure("", node, classes=[cls])
    if "align" in node:
        fig["align"] = node.attributes.pop("align")
    fig += nodes.caption(caption, caption)
    return fig


def warn_spec_errors(exc: SpecErrors) -> None:
    """One warning per spec error, located at the spec's file:line:column."""
    for err in exc.errors:
        warn(err.message, Subtype.SPEC, Location(err.file or "", err.line, err.column))


class TopologyDirective(SphinxDirective):
    """``.. topology:: PATH.yaml`` (or a lab name): the diagram of that lab."""

    required_arguments = 1
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {
        "direction": _choice(DIRECTIONS),
        "caption": directives.unchanged,
        "format": _choice(FORMATS),
        "name": directives.unchanged,
        "align": _choice(("left", "center", "right")),
        "alt": directives.unchanged,
    }

    def warn(self, message: str, subtype: Subtype) -> list[nodes.Node]:
        warn(message, subtype, directive_location(self))
        return []

    def run(self) -> list[nodes.Node]:
        argument = self.arguments[0]
        try:
            dependency, path = resolve_lab_path(self.env, self.env.docname, argument)
        except DirectiveError as exc:
            # a missing dependency keeps the document outdated, so the warning comes back
            # on every build until the spec exists
            self.env.note_dependency(self.env.relfn2path(argument)[0])
            return self.warn(exc.message, Subtype.DIRECTIVE)
        self.env.note_dependency(dependency)
        try:
            spec = load_spec(path)
        except SpecErrors as exc:
            warn_spec_errors(exc)
            return self.warn(
                f"lab spec {argument} has errors (see above); no topology drawn", Subtype.SPEC
            )
        node = topology_node(
            spec,
            env=self.env,
            direction=self.options.get("direction", "LR"),
            caption=self.options.get("caption"),
            fmt=self.options.get("format"),
            alt=self.options.get("alt"),
            align=self.options.get("align"),
        )
        for child in node.findall(nodes.Element):
            self.set_source_info(child)
        self.add_name(node)
        return [node]


def setup(app: Sphinx) -> None:
    app.setup_extension("sphinx.ext.graphviz")
    app.setup_extension("sphinxcontrib.mermaid")
    add_config_value(
        app,
        "labbook_topology_format",
        "graphviz",
        ENUM(*FORMATS),
        "how `.. topology::` draws: graphviz (images by dot) or mermaid (drawn in the browser)",
    )
    app.add_directive("topology", TopologyDirective)
