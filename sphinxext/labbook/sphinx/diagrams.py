"""Diagrams every reader can read: mermaid shipped with the site, diagrams described to
screen readers.

- Mermaid's JavaScript comes with the site (``_static/mermaid.min.js``, from the
  ``mermaidx`` package, which vendors mermaid's official browser build), loaded as a
  classic script: no page fetches anything from the network, and pages opened from disk
  (``file://``, where browsers refuse ES module imports) draw their diagrams too.
  Diagrams are drawn at their natural size (scrolling sideways when wider than the page),
  not squeezed into a fixed height.
- Every mermaid diagram with alt text gets ``accTitle``/``accDescr`` (mermaid turns them
  into the SVG's ``<title>``/``<desc>`` and ``aria-*``), and every graphviz SVG
  ``<object>`` with alt text gets ``role="img"`` and ``aria-label``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from typing import TYPE_CHECKING, Any

from docutils import nodes
from sphinx.ext.graphviz import graphviz, html_visit_graphviz
from sphinxcontrib.mermaid import mermaid

from ..render.mermaid import with_accessibility
from .warn import Subtype, warn

if TYPE_CHECKING:
    from sphinx.application import Sphinx

#: Where mermaid's browser build goes in the site.
MERMAID_JS = "mermaid.min.js"

#: mermaid settings labbook starts from: diagrams at their natural size (legible text),
#: not shrunk to the width of the page.
MERMAID_INIT: dict[str, Any] = {
    "startOnLoad": False,
    "flowchart": {"useMaxWidth": False},
    "er": {"useMaxWidth": False},
}


def mermaid_js_source() -> str | None:
    """The path of mermaid's browser build that the ``mermaidx`` package ships, if installed
    (found without importing the package)."""
    spec = importlib.util.find_spec("mermaidx")
    for base in (spec and spec.submodule_search_locations) or ():
        path = os.path.join(base, "assets", "mermaid.js")
        if os.path.isfile(path):
            return path
    return None


def _serves_mermaid(app: Sphinx) -> bool:
    """labbook ships mermaid with the site: HTML drawn in the browser ("raw"), and the
    project has not chosen where mermaid comes from itself."""
    return (
        app.builder.format == "html"
        and app.config.mermaid_output_format == "raw"
        and not getattr(app.config, "mermaid_use_local", "")  # newer releases only
        and "mermaid_version" not in app.config._raw_config
        and mermaid_js_source() is not None
    )


def on_builder_inited(app: Sphinx) -> None:
    if app.builder.format != "html" or app.config.mermaid_output_format != "raw":
        return
    if mermaid_js_source() is None:
        warn(
            "mermaid diagrams will load mermaid from the network: the mermaidx package, which "
            "ships mermaid with the site, is not installed (pip install mermaidx)",
            Subtype.MERMAID,
            None,
        )
        return
    if not _serves_mermaid(app):
        return
    # sphinxcontrib-mermaid imports mermaid as an ES module (from its CDN by default);
    # labbook loads the copy shipped with the site instead
    from sphinxcontrib.mermaid import install_js

    for listener in list(app.events.listeners.get("html-page-context", ())):
        if listener.handler is install_js:
            app.disconnect(listener.id)
    # a static directory of its own, so mermaid is copied with the other static files
    # (before an epub is zipped, for one)
    static = os.path.join(app.doctreedir, "labbook-static")
    source, target = mermaid_js_source(), os.path.join(static, MERMAID_JS)
    assert source is not None  # _serves_mermaid checked it
    if not os.path.exists(target) or os.path.getsize(target) != os.path.getsize(source):
        os.makedirs(static, exist_ok=True)
        shutil.copyfile(source, target)
    app.config.html_static_path.append(static)


def _page_script(app: Sphinx) -> str:
    user = app.config._raw_config.get("mermaid_init_config") or {}
    config = {**MERMAID_INIT, **user}
    return (
        f"mermaid.initialize({json.dumps(config, sort_keys=True)});\n"
        'window.addEventListener("load", () => mermaid.run({querySelector: ".mermaid"}));'
    )


def on_page_context(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    if doctree is None or doctree.next_node(mermaid) is None or not _serves_mermaid(app):
        return
    priority = getattr(app.config, "mermaid_js_priority", 500)
    app.add_js_file(MERMAID_JS, priority=priority)
    app.add_js_file(None, body=_page_script(app), priority=priority + 1)


def describe_mermaid(app: Sphinx, doctree: nodes.document) -> None:
    """``accTitle``/``accDescr`` in every mermaid diagram that has alt text."""
    for node in doctree.findall(mermaid):
        alt = node.get("alt")
        if alt:
            node["code"] = with_accessibility(node["code"], alt)


def _figure_caption(node: nodes.Element) -> str:
    """The caption of the figure ``node`` is drawn in, if any."""
    if isinstance(node.parent, nodes.figure):
        for caption in node.parent.findall(nodes.caption):
            return caption.astext()
    return ""


def visit_graphviz(self: Any, node: graphviz) -> None:
    """Sphinx's graphviz HTML, with ``role="img"`` and ``aria-label`` (the alt text, else the
    figure's caption) on an SVG ``<object>``: a screen reader reads neither the SVG's text
    nor the fallback inside the object."""
    start = len(self.body)
    try:
        html_visit_graphviz(self, node)
    finally:  # it ends with SkipNode
        alt = node.get("alt") or _figure_caption(node)
        if alt:
            label = f'<object role="img" aria-label="{self.attval(alt)}" data='
            for i in range(start, len(self.body)):
                self.body[i] = self.body[i].replace("<object data=", label, 1)


def setup(app: Sphinx) -> None:
    app.setup_extension("sphinx.ext.graphviz")
    app.setup_extension("sphinxcontrib.mermaid")
    app.add_node(graphviz, override=True, html=(visit_graphviz, None))
    app.connect("builder-inited", on_builder_inited)
    app.connect("html-page-context", on_page_context)
    app.connect("doctree-read", describe_mermaid)
