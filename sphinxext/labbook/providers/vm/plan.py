"""What a VM lab is made of: a pure function of the spec.

Networks are bridges in the lab's own network namespace on the host; each interface
of a node that a network or a link connects is a virtio NIC of the node's VM, backed
by a tap device on that bridge (a link is a bridge with two ports). Everything else,
the interfaces' names, addresses, sub-interfaces, routes and sysctls, is configured
inside the guest by its agent (``ip -batch``), since each VM has its own kernel.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ...errors import ProviderError
from ...spec import Interface, LabSpec, Node
from ...spec.model import IPInterface

#: Sub-interface types the guest creates on one of its own NICs.
SUBIF_TYPES = ("macvlan", "ipvlan", "vlan")


@dataclass(frozen=True)
class BridgePlan:
    """A bridge in the lab's namespace: a network of the spec, or a link (two ports)."""

    name: str
    mtu: int | None = None
    vlan_filtering: bool = False
    address: IPInterface | None = None
    hairpin: bool = False


@dataclass(frozen=True)
class Nic:
    """One virtio NIC of a VM and the tap behind it on the host side."""

    node: str
    iface: str
    tap: str
    mac: str
    bridge: str | None = None
    mtu: int | None = None
    access_vlan: int | None = None


@dataclass(frozen=True)
class GuestConfig:
    """What a node's agent sets up at boot (sent as one ``config`` request)."""

    hostname: str
    files: tuple[tuple[str, str], ...]
    nics: tuple[tuple[str, str], ...]  # (MAC, interface name)
    ip: str  # an ``ip -batch`` script
    sysctls: tuple[tuple[str, str], ...]

    def request(self) -> dict[str, object]:
        return {
            "hostname": self.hostname,
            "files": [list(f) for f in self.files],
            "nics": dict(self.nics),
            "ip": self.ip,
            "sysctls": [list(s) for s in self.sysctls],
        }


@dataclass(frozen=True)
class VmPlan:
    bridges: tuple[BridgePlan, ...]
    nics: tuple[Nic, ...]
    guests: tuple[tuple[str, GuestConfig], ...]  # (node, config), in the spec's order

    def nics_of(self, node: str) -> tuple[Nic, ...]:
        return tuple(n for n in self.nics if n.node == node)

    def guest(self, node: str) -> GuestConfig:
        return dict(self.guests)[node]


def _where(iface: Interface) -> str:
    loc = f" ({iface.loc})" if iface.loc is not None else ""
    return f"node '{iface.node}' interface '{iface.name}'{loc}"


def make_plan(spec: LabSpec) -> VmPlan:
    """Turn ``spec`` into bridges, NICs and guest configurations; ProviderError for what a
    VM cannot be (naming the unsupported feature)."""
    for node in spec.nodes:
        if node.shares_root:
            loc = f" ({node.loc})" if node.loc is not None else ""
            raise ProviderError(
                f"node '{node.name}'{loc}: network-mode host is not supported "
                "by the vm provider (a VM cannot share the lab's namespace); "
                "connect the node to the networks instead, or use the netns "
                "provider"
            )
        for iface in node.interfaces:
            if iface.parent is not None and iface.parent.node != node.name:
                raise ProviderError(
                    f"{_where(iface)}: the vm provider cannot put a {iface.type} on another "
                    f"node's interface ({iface.parent}): each VM has its own kernel; give "
                    "the node its own interface on that network, or use the netns provider"
                )
    bridges = [
        BridgePlan(n.name, n.mtu, n.vlan_filtering, n.address, n.hairpin) for n in spec.networks
    ]
    taken = {b.name for b in bridges}
    link_bridge: dict[tuple[str, str], str] = {}
    for i, link in enumerate(spec.links):
        name = _free(f"link{i}", taken)
        bridges.append(BridgePlan(name, link.mtu))
        for ep in (link.a, link.b):
            link_bridge[(ep.node, ep.iface)] = name
    nics = _nics(spec, link_bridge)
    guests = tuple((node.name, _guest(spec, node, nics)) for node in spec.nodes)
    return VmPlan(tuple(bridges), tuple(nics), guests)


def _free(name: str, taken: set[str]) -> str:
    n = 0
    base = name
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def _nics(spec: LabSpec, link_bridge: dict[tuple[str, str], str]) -> list[Nic]:
    nics: list[Nic] = []
    macs: set[str] = set()
    for node in spec.nodes:
        for iface in node.interfaces:
            if iface.type in SUBIF_TYPES:
                continue
            key = (node.name, iface.name)
            net = spec.network(iface.network) if iface.network else None
            bridge = link_bridge.get(key) or (net.name if net is not None else None)
            mtu = iface.mtu or (net.mtu if net is not None else None)
            for link in spec.links:
                if key in ((link.a.node, link.a.iface), (link.b.node, link.b.iface)):
                    mtu = iface.mtu or link.mtu
            mac = (iface.mac or _mac(spec.name, node.name, iface.name, macs)).lower()
            macs.add(mac)
            nics.append(
                Nic(node.name, iface.name, f"tap{len(nics)}", mac, bridge, mtu, iface.access_vlan)
            )
        # An interface a link declares (not listed under the node): a NIC on the link.
        declared = {i.name for i in node.interfaces}
        for link in spec.links:
            for ep in (link.a, link.b):
                if ep.node == node.name and ep.iface not in declared:
                    declared.add(ep.iface)
                    mac = _mac(spec.name, node.name, ep.iface, macs)
                    macs.add(mac)
                    bridge = link_bridge[(ep.node, ep.iface)]
                    nics.append(Nic(node.name, ep.iface, f"tap{len(nics)}", mac, bridge, link.mtu))
    return nics


def _mac(lab: str, node: str, iface: str, used: set[str]) -> str:
    """A stable, locally administered MAC (QEMU's 52:54:00 prefix), unique in the lab."""
    n = 0
    while True:
        h = hashlib.sha256(f"{lab}/{node}/{iface}/{n}".encode()).digest()
        mac = "52:54:00:" + ":".join(f"{b:02x}" for b in h[:3])
        if mac not in used:
            return mac
        n += 1


def _guest(spec: LabSpec, node: Node, nics: list[Nic]) -> GuestConfig:
    own = [n for n in nics if n.node == node.name]
    lines = [f"link set dev {n.iface} mtu {n.mtu}" for n in own if n.mtu]
    lines += _subifs(node)
    for iface in node.interfaces:
        for a in iface.addresses:
            lines.append(_addr(a, iface.name))
    lines += [f"link set dev {i.name} up" for i in _parents_first(node) if i.up]
    names = {i.name for i in node.interfaces}
    for r in node.routes:
        if r.dev is not None and r.dev not in names:
            raise ProviderError(
                f"route to {r.to} on node '{node.name}' ({r.loc}) uses unknown interface '{r.dev}'"
            )
        line = f"route add {r.to}" + (f" via {r.via}" if r.via else "")
        lines.append(line + (f" dev {r.dev}" if r.dev else ""))
    files = (
        ("/etc/hostname", f"{node.hostname}\n"),
        ("/etc/hosts", hosts_file(spec, node.hostname)),
    )
    return GuestConfig(
        node.hostname,
        files,
        tuple((n.mac, n.iface) for n in own),
        "".join(line + "\n" for line in lines),
        tuple(node.sysctls),
    )


def _addr(a: IPInterface, dev: str) -> str:
    if a.version == 4:
        brd = " brd +" if a.network.prefixlen < 31 else ""
        return f"address add {a.with_prefixlen}{brd} dev {dev}"
    # No duplicate address detection: it would keep the address unusable for seconds.
    return f"address add {a.with_prefixlen} dev {dev} nodad"


def _parents_first(node: Node) -> list[Interface]:
    """The node's interfaces, each sub-interface after the interface it sits on."""
    done: list[Interface] = []
    todo = list(node.interfaces)
    while todo:
        ready = [i for i in todo if i.parent is None or any(d.name == i.parent.iface for d in done)]
        if not ready:
            raise ProviderError(
                f"cannot create {_where(todo[0])}: its parent "
                f"{todo[0].parent} is never created (or the parents form a loop)"
            )
        for i in ready:
            done.append(i)
            todo.remove(i)
    return done


def _subifs(node: Node) -> list[str]:
    lines = []
    for iface in _parents_first(node):
        if iface.parent is None:
            continue
        words = [f"link add link {iface.parent.iface} name {iface.name}"]
        if iface.mac:
            words.append(f"address {iface.mac.lower()}")
        if iface.mtu:
            words.append(f"mtu {iface.mtu}")
        if iface.type == "vlan":
            words.append(f"type vlan id {iface.vlan_id}")
        else:
            default = "bridge" if iface.type == "macvlan" else "l2"
            words.append(f"type {iface.type} mode {iface.mode or default}")
        lines.append(" ".join(words))
    return lines


def hosts_file(spec: LabSpec, hostname: str) -> str:
    """/etc/hosts of a node: the usual local names, then every other node's first IPv4."""
    lines = [
        "127.0.0.1\tlocalhost",
        f"127.0.1.1\t{hostname}",
        "::1\tlocalhost ip6-localhost ip6-loopback",
    ]
    for node in spec.nodes:
        first = next((a for i in node.interfaces for a in i.addresses if a.version == 4), None)
        if first is not None and node.hostname != hostname:
            lines.append(f"{first.ip}\t{node.hostname}")
    return "\n".join(lines) + "\n"
