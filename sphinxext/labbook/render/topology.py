"""Lab topology diagrams: a LabSpec drawn as DOT or mermaid text, sorted and byte-stable."""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..spec.model import Interface, LabSpec, Network, Node
from .dot import html_text
from .dot import quote as _q

#: Layout directions both DOT (``rankdir``) and mermaid (``flowchart DIR``) understand.
DIRECTIONS = ("LR", "TB", "RL", "BT")

FONT = "Helvetica"
NODE_FILL = "#dde8f3"
HOST_FILL = "#f6e4bd"
NETWORK_FILL = "#e3f0dc"

#: Edge kinds, in the order they are written.
WIRE_KINDS = ("network", "link", "parent")


@dataclass(frozen=True)
class Port:
    """One interface of a box; ``key`` is a synthetic id, since a name may hold any character."""

    name: str
    key: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Box:
    """A node of the lab, its interfaces as ports."""

    name: str
    lines: tuple[str, ...]
    ports: tuple[Port, ...]
    shares_root: bool


@dataclass(frozen=True)
class Segment:
    """A network (bridge) of the lab."""

    name: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Wire:
    """An edge from interface ``a`` to interface ``b``, or to network ``b[0]`` if ``b[1]`` is None.

    ``kind`` is ``network`` (a port on a bridge), ``link`` (a veth pair) or ``parent`` (a
    macvlan/ipvlan/vlan sub-interface on its parent).
    """

    kind: str
    a: tuple[str, str]
    b: tuple[str, str | None]
    label: str = ""


@dataclass(frozen=True)
class Diagram:
    """What both renderers draw: everything sorted by name, so output never depends on order."""

    name: str
    segments: tuple[Segment, ...]
    boxes: tuple[Box, ...]
    wires: tuple[Wire, ...]

    @functools.cached_property
    def _ports(self) -> dict[tuple[str, str], Port]:
        return {(b.name, p.name): p for b in self.boxes for p in b.ports}

    def port(self, node: str, iface: str) -> Port | None:
        return self._ports.get((node, iface))


# -- the model ------------------------------------------------------------------------


def _node_interfaces(spec: LabSpec) -> dict[str, dict[str, Interface | None]]:
    """Every interface of every node, also those only a link or a parent reference declares."""
    found: dict[str, dict[str, Interface | None]] = {
        n.name: {i.name: i for i in n.interfaces} for n in spec.nodes
    }
    refs = [e for link in spec.links for e in (link.a, link.b)]
    refs += [i.parent for n in spec.nodes for i in n.interfaces if i.parent is not None]
    for ep in refs:
        if ep.node in found:
            found[ep.node].setdefault(ep.iface, None)
    return found


def _port_lines(iface: Interface | None) -> tuple[str, ...]:
    if iface is None:
        return ()
    lines = [str(a) for a in iface.addresses]
    if iface.mac:
        lines.append(f"mac {iface.mac}")
    if iface.mtu:
        lines.append(f"mtu {iface.mtu}")
    if not iface.up:
        lines.append("down")
    return tuple(lines)


def _box(node: Node, ifaces: dict[str, Interface | None]) -> Box:
    lines = []
    if node.hostname != node.name:
        lines.append(f"hostname {node.hostname}")
    if node.shares_root:
        lines.append("network-mode: host")
    ports = tuple(
        Port(name, f"p{i}", _port_lines(ifaces[name])) for i, name in enumerate(sorted(ifaces))
    )
    return Box(node.name, tuple(lines), ports, node.shares_root)


def _segment(net: Network) -> Segment:
    lines = [f"{net.kind} {net.cidr}" if net.cidr else net.kind]
    if net.address:
        lines.append(f"address {net.address}")
    if net.vlan_filtering:
        lines.append("vlan filtering")
    if net.hairpin:
        lines.append("hairpin")
    if net.mtu:
        lines.append(f"mtu {net.mtu}")
    return Segment(net.name, tuple(lines))


def _sub_label(iface: Interface) -> str:
    if iface.type == "vlan":
        return f"vlan {iface.vlan_id}"
    return f"{iface.type} {iface.mode}" if iface.mode else iface.type


def _wires(spec: LabSpec) -> Iterator[Wire]:
    for node in spec.nodes:
        for iface in node.interfaces:
            here = (node.name, iface.name)
            if iface.network is not None:
                label = f"access vlan {iface.access_vlan}" if iface.access_vlan else ""
                yield Wire("network", here, (iface.network, None), label)
            if iface.parent is not None:
                yield Wire(
                    "parent", here, (iface.parent.node, iface.parent.iface), _sub_label(iface)
                )
    for link in spec.links:
        yield Wire(
            "link",
            (link.a.node, link.a.iface),
            (link.b.node, link.b.iface),
            f"mtu {link.mtu}" if link.mtu else "",
        )


def _wire_key(w: Wire) -> tuple[int, str, str, str, str, str]:
    return (WIRE_KINDS.index(w.kind), *w.a, w.b[0], w.b[1] or "", w.label)


def diagram(spec: LabSpec) -> Diagram:
    """The drawable content of ``spec``, sorted; wires whose ends do not exist are left out
    (a spec that passed validation has none)."""
    ifaces = _node_interfaces(spec)
    boxes = tuple(_box(n, ifaces[n.name]) for n in sorted(spec.nodes, key=lambda n: n.name))
    segments = tuple(_segment(n) for n in sorted(spec.networks, key=lambda n: n.name))
    d = Diagram(spec.name, segments, boxes, ())
    nets = {s.name for s in segments}

    def resolves(w: Wire) -> bool:
        far = w.b[0] in nets if w.b[1] is None else d.port(w.b[0], w.b[1]) is not None
        return far and d.port(*w.a) is not None

    wires = tuple(sorted((w for w in _wires(spec) if resolves(w)), key=_wire_key))
    return Diagram(spec.name, segments, boxes, wires)


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r}: write one of {', '.join(DIRECTIONS)}")


# -- DOT --------------------------------------------------------------------------------


class _Html(str):
    """A DOT HTML-like label: written between ``<`` and ``>``, not quoted."""


def _attrs(attrs: dict[str, str]) -> str:
    parts = [f"{k}=<{v}>" if isinstance(v, _Html) else f"{k}={_q(v)}" for k, v in attrs.items()]
    return "[" + ", ".join(parts) + "]"


def _cell(lines: Iterable[str], **attrs: str) -> str:
    """One table cell: first line bold, the rest plain, every text escaped for HTML."""
    first, *rest = [html.escape(x) for x in lines]
    body = "<BR/>".join([f"<B>{first}</B>", *rest])
    attr = "".join(f' {k.upper()}="{html.escape(v)}"' for k, v in attrs.items())
    return f"<TD{attr}>{body}</TD>"


def _box_label(box: Box) -> _Html:
    fill = HOST_FILL if box.shares_root else NODE_FILL
    style = ' STYLE="dashed"' if box.shares_root else ""
    rows = [_cell((box.name, *box.lines), bgcolor=fill)]
    rows += [_cell((p.name, *p.lines), port=p.key, align="left", balign="left") for p in box.ports]
    return _Html(
        f'<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="4"{style}>'
        + "<HR/>".join(f"<TR>{r}</TR>" for r in rows)
        + "</TABLE>"
    )


def _dot_end(d: Diagram, end: tuple[str, str | None], side: str = "") -> str:
    name, iface = end
    if iface is None:
        return _q(f"net:{name}")
    port = d.port(name, iface)
    assert port is not None  # diagram() keeps only wires whose ends exist
    return f"{_q(f'node:{name}')}:{_q(port.key)}{side}"


WIRE_STYLE = {
    "network": {},
    "link": {"penwidth": "2"},
    "parent": {"style": "dashed", "color": "#555555"},
}


def to_dot(spec: LabSpec, rankdir: str = "LR", title: str | None = None) -> str:
    """The topology of ``spec`` as a Graphviz ``graph``; identical specs give identical bytes."""
    _check_direction(rankdir)
    d = diagram(spec)
    graph = {"rankdir": rankdir, "fontname": FONT, "nodesep": "0.3", "ranksep": "0.8"}
    if title:
        graph |= {
            "label": _Html(html_text(title)),
            "labelloc": "t",
        }
    out = [
        f"graph {_q(spec.name)} {{",
        f"  graph {_attrs(graph)};",
        f"  node {_attrs({'fontname': FONT, 'fontsize': '10', 'shape': 'plain'})};",
        f"  edge {_attrs({'fontname': FONT, 'fontsize': '9'})};",
    ]
    for s in d.segments:
        label = _Html(
            f'<TABLE BORDER="0" CELLPADDING="2"><TR>{_cell((s.name, *s.lines))}</TR></TABLE>'
        )
        out.append(
            f"  {_q(f'net:{s.name}')} "
            + _attrs(
                {
                    "label": label,
                    "shape": "box",
                    "style": "rounded,filled",
                    "fillcolor": NETWORK_FILL,
                }
            )
            + ";"
        )
    out += [f"  {_q(f'node:{b.name}')} {_attrs({'label': _box_label(b)})};" for b in d.boxes]
    for w in d.wires:
        attrs = dict(WIRE_STYLE[w.kind])
        if w.label:
            attrs["label"] = w.label
        tail = f" {_attrs(attrs)}" if attrs else ""
        # a sub-interface on a parent of the same node: loop outside the box, not across it
        side = ":w" if w.a[0] == w.b[0] and w.b[1] is not None else ""
        out.append(f"  {_dot_end(d, w.a, side)} -- {_dot_end(d, w.b, side)}{tail};")
    out.append("}")
    return "\n".join(out) + "\n"


# -- mermaid ------------------------------------------------------------------------------


def _mid(prefix: str, name: str) -> str:
    """A mermaid id: ASCII letters and digits kept, anything else as ``_HEX_`` (so ids stay
    distinct and never collide with mermaid's syntax or keywords such as ``end``)."""
    return prefix + "".join(c if c.isascii() and c.isalnum() else f"_{ord(c):x}_" for c in name)


def _mtext(text: str) -> str:
    # mermaid's entity codes: '#' first, since the others are written with it
    for char in '#"<>&':
        text = text.replace(char, f"#{ord(char)};")
    return text


def _mlabel(lines: Iterable[str]) -> str:
    first, *rest = [_mtext(x) for x in lines]
    return '"' + "<br/>".join([f"<b>{first}</b>", *rest]) + '"'


def _mermaid_end(d: Diagram, end: tuple[str, str | None]) -> str:
    name, iface = end
    if iface is None:
        return _mid("w_", name)
    port = d.port(name, iface)
    assert port is not None  # diagram() keeps only wires whose ends exist
    return f"{_mid('n_', name)}__{port.key}"


MERMAID_LINK = {"network": "---", "link": "===", "parent": "-.-"}


def to_mermaid(spec: LabSpec, direction: str = "LR", title: str | None = None) -> str:
    """The topology of ``spec`` as a mermaid flowchart; identical specs give identical bytes."""
    _check_direction(direction)
    d = diagram(spec)
    out = ["---", f"title: {json.dumps(title)}", "---"] if title else []
    out.append(f"flowchart {direction}")
    out += [f"    {_mid('w_', s.name)}([{_mlabel((s.name, *s.lines))}])" for s in d.segments]
    hosts = []
    for b in d.boxes:
        bid = _mid("n_", b.name)
        if b.shares_root:
            hosts.append(bid)
        if not b.ports:
            out.append(f"    {bid}[{_mlabel((b.name, *b.lines))}]")
            continue
        out.append(f"    subgraph {bid} [{_mlabel((b.name, *b.lines))}]")
        out += [f"        {bid}__{p.key}[{_mlabel((p.name, *p.lines))}]" for p in b.ports]
        out.append("    end")
    for w in d.wires:
        label = f'|"{_mtext(w.label)}"|' if w.label else ""
        out.append(
            f"    {_mermaid_end(d, w.a)} {MERMAID_LINK[w.kind]}{label} {_mermaid_end(d, w.b)}"
        )
    if d.segments:
        out.append(f"    classDef network fill:{NETWORK_FILL}")
        out.append(f"    class {','.join(_mid('w_', s.name) for s in d.segments)} network")
    if hosts:
        out.append(f"    classDef hostmode fill:{HOST_FILL},stroke-dasharray:5 5")
        out.append(f"    class {','.join(hosts)} hostmode")
    return "\n".join(out) + "\n"
