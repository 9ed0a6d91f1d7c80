"""What to create for a lab, namespace by namespace: a pure function of the spec.

Every lab has a root network namespace of its own (its "underlay"): it holds the
bridges and the bridge-side ends of veth pairs, and nodes with ``network-mode: host``
live in it. Nothing is ever created in the host's own namespaces, so names cannot
collide with the host's or with another lab's.

Interface indexes are chosen here, per namespace, so that every netlink request can
name the devices it refers to (a bridge master, a macvlan's parent) without asking
the kernel first; that lets all requests of a namespace go out in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import ProviderError
from ...spec import Interface, LabSpec, Node
from ...spec.model import IFNAMSIZ, IPInterface

#: The key of the lab's root namespace in a plan (node namespaces are keyed by node name).
ROOT = ""


@dataclass(frozen=True)
class Dev:
    """One network device: where it lives, its name and its (chosen) index."""

    ns: str
    name: str
    index: int
    mtu: int | None = None
    mac: str | None = None
    up: bool = True


@dataclass(frozen=True)
class Bridge:
    dev: Dev
    vlan_filtering: bool = False


@dataclass(frozen=True)
class Veth:
    """A veth pair; ``a`` is created and ``b`` is its peer; ``master`` is a bridge index."""

    a: Dev
    b: Dev
    master: int | None = None
    what: str = ""


@dataclass(frozen=True)
class SubIf:
    """A macvlan, ipvlan or vlan device, created on ``parent`` and placed in ``dev.ns``."""

    kind: str
    dev: Dev
    parent: Dev
    mode: str | None = None
    vlan_id: int | None = None
    what: str = ""


@dataclass(frozen=True)
class Addr:
    ns: str
    index: int
    address: IPInterface
    what: str = ""


@dataclass(frozen=True)
class RouteOp:
    ns: str
    to: str
    via: str | None
    oif: int | None
    what: str = ""


@dataclass(frozen=True)
class PortOp:
    """Bridge-port settings in the root namespace: hairpin mode, access VLAN."""

    index: int
    hairpin: bool = False
    access_vlan: int | None = None
    what: str = ""


@dataclass(frozen=True)
class Plan:
    """Everything to create, in the order it must be created."""

    namespaces: tuple[str, ...]
    bridges: tuple[Bridge, ...] = ()
    veths: tuple[Veth, ...] = ()
    subifs: tuple[SubIf, ...] = ()
    ports: tuple[PortOp, ...] = ()
    addrs: tuple[Addr, ...] = ()
    routes: tuple[RouteOp, ...] = ()
    sysctls: tuple[tuple[str, str, str, str], ...] = ()  # (ns, key, value, what)
    hosts: tuple[tuple[str, str], ...] = ()  # (address, hostname) for /etc/hosts


def ns_of(node: Node) -> str:
    return ROOT if node.shares_root else node.name


def _where(iface: Interface | None, node: str, name: str) -> str:
    loc = f" ({iface.loc})" if iface is not None and iface.loc is not None else ""
    return f"node '{node}' interface '{name}'{loc}"


@dataclass
class _Builder:
    spec: LabSpec
    next_index: dict[str, int] = field(default_factory=dict)
    names: dict[str, set[str]] = field(default_factory=dict)
    reserved: set[str] = field(default_factory=set)  # root names the spec itself uses
    devs: dict[tuple[str, str], Dev] = field(default_factory=dict)  # (node, iface) -> Dev

    def take(
        self, ns: str, name: str, *, mtu: int | None = None, mac: str | None = None, up: bool = True
    ) -> Dev:
        used = self.names.setdefault(ns, {"lo"})
        if name in used:
            where = "the lab's root namespace" if ns == ROOT else f"node '{ns}'"
            raise ProviderError(
                f"two interfaces named '{name}' in {where} (bridges and "
                "the interfaces of network-mode host nodes share it); "
                "rename one of them"
            )
        used.add(name)
        index = self.next_index.get(ns, 2)  # 1 is lo in every namespace
        self.next_index[ns] = index + 1
        return Dev(ns, name, index, mtu, mac, up)

    def root_name(self, node: str, iface: str) -> str:
        """A readable name for the bridge side of node:iface, unique in the root namespace."""
        taken = self.names.setdefault(ROOT, {"lo"}) | self.reserved
        name = f"{node}-{iface}"
        n = 0
        while len(name) > IFNAMSIZ or name in taken:
            n += 1
            name = f"veth{n}"
        return name

    def node_dev(
        self, node: Node, iface: Interface | None, name: str, mtu: int | None = None
    ) -> Dev:
        dev = self.take(
            ns_of(node),
            name,
            mtu=(iface.mtu if iface is not None and iface.mtu else mtu),
            mac=iface.mac if iface is not None else None,
            up=iface.up if iface is not None else True,
        )
        self.devs[(node.name, name)] = dev
        return dev


def make_plan(spec: LabSpec) -> Plan:
    """Turn ``spec`` into the devices and settings of each namespace."""
    b = _Builder(spec)
    nodes = {n.name: n for n in spec.nodes}
    # Root names the spec fixes (bridges, host-mode nodes' interfaces) win over invented ones.
    b.reserved = {n.name for n in spec.networks}
    b.reserved |= {i.name for n in spec.nodes if n.shares_root for i in n.interfaces}
    b.reserved |= {
        ep.iface for link in spec.links for ep in (link.a, link.b) if nodes[ep.node].shares_root
    }
    bridges = []
    bridge_of: dict[str, Dev] = {}
    for net in spec.networks:
        dev = b.take(ROOT, net.name, mtu=net.mtu)
        bridge_of[net.name] = dev
        bridges.append(Bridge(dev, net.vlan_filtering))
    veths, ports = _veths(b, nodes, bridge_of)
    subifs = _subifs(b, spec)
    addrs = [
        Addr(ROOT, bridge_of[n.name].index, n.address, f"network '{n.name}'")
        for n in spec.networks
        if n.address is not None
    ]
    routes, sysctls, hosts = [], [], []
    for node in spec.nodes:
        ns = ns_of(node)
        for iface in node.interfaces:
            dev = b.devs[(node.name, iface.name)]
            addrs += [
                Addr(ns, dev.index, a, _where(iface, node.name, iface.name))
                for a in iface.addresses
            ]
        for r in node.routes:
            oif = None
            if r.dev is not None:
                if (node.name, r.dev) not in b.devs:
                    raise ProviderError(
                        f"route to {r.to} on node '{node.name}' ({r.loc}) "
                        f"uses unknown interface '{r.dev}'"
                    )
                oif = b.devs[(node.name, r.dev)].index
            routes.append(
                RouteOp(
                    ns,
                    r.to,
                    str(r.via) if r.via else None,
                    oif,
                    f"route to {r.to} on node '{node.name}' ({r.loc})",
                )
            )
        sysctls += [(ns, k, v, f"node '{node.name}' ({node.loc})") for k, v in node.sysctls]
        first = next((a for i in node.interfaces for a in i.addresses if a.version == 4), None)
        if first is not None:
            hosts.append((str(first.ip), node.hostname))
    namespaces = tuple(sorted({ns_of(n) for n in spec.nodes} - {ROOT}))
    return Plan(
        namespaces,
        tuple(bridges),
        tuple(veths),
        tuple(subifs),
        tuple(ports),
        tuple(addrs),
        tuple(routes),
        tuple(sysctls),
        tuple(hosts),
    )


def _veths(
    b: _Builder, nodes: dict[str, Node], bridge_of: dict[str, Dev]
) -> tuple[list[Veth], list[PortOp]]:
    """Veth pairs: node to bridge (networks), node to node (links), node to nothing."""
    veths: list[Veth] = []
    ports: list[PortOp] = []
    linked = {(ep.node, ep.iface) for link in b.spec.links for ep in (link.a, link.b)}
    for node in nodes.values():
        for iface in node.interfaces:
            if iface.type != "veth" or (node.name, iface.name) in linked:
                continue
            what = _where(iface, node.name, iface.name)
            net = b.spec.network(iface.network) if iface.network else None
            mtu = net.mtu if net is not None else None
            inner = b.node_dev(node, iface, iface.name, mtu)
            outer = b.take(ROOT, b.root_name(node.name, iface.name), mtu=inner.mtu)
            master = bridge_of[net.name].index if net is not None else None
            veths.append(Veth(outer, inner, master, what))
            if net is not None and (net.hairpin or iface.access_vlan):
                ports.append(PortOp(outer.index, net.hairpin, iface.access_vlan, what))
    for link in b.spec.links:
        ends = []
        for ep in (link.a, link.b):
            node = nodes[ep.node]
            ends.append(b.node_dev(node, node.interface(ep.iface), ep.iface, link.mtu))
        veths.append(Veth(ends[0], ends[1], None, f"link {link.a} -- {link.b} ({link.loc})"))
    return veths, ports


def _subifs(b: _Builder, spec: LabSpec) -> list[SubIf]:
    """Sub-interfaces, parents first (a vlan may sit on a macvlan of another node)."""
    todo = [(n, i) for n in spec.nodes for i in n.interfaces if i.parent is not None]
    out: list[SubIf] = []
    while todo:
        ready = [
            (n, i)
            for n, i in todo
            if i.parent is not None and (i.parent.node, i.parent.iface) in b.devs
        ]
        if not ready:
            n, i = todo[0]
            raise ProviderError(
                f"cannot create {_where(i, n.name, i.name)}: its parent "
                f"{i.parent} is never created (or the parents form a loop)"
            )
        for node, iface in ready:
            assert iface.parent is not None
            parent = b.devs[(iface.parent.node, iface.parent.iface)]
            dev = b.node_dev(node, iface, iface.name)
            out.append(
                SubIf(
                    iface.type,
                    dev,
                    parent,
                    iface.mode,
                    iface.vlan_id,
                    _where(iface, node.name, iface.name),
                )
            )
            todo.remove((node, iface))
    return out
