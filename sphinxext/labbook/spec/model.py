"""The lab spec model: frozen dataclasses, each element with the place it came from."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The longest interface name the kernel accepts (IFNAMSIZ - 1).
IFNAMSIZ = 15


@dataclass(frozen=True)
class Loc:
    """Where an element was written: file, 1-based line and column."""

    file: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Endpoint:
    """One interface of one node, written ``node:iface``."""

    node: str
    iface: str

    def __str__(self) -> str:
        return f"{self.node}:{self.iface}"


@dataclass(frozen=True)
class Network:
    name: str
    cidr: IPNetwork | None = None
    kind: str = "bridge"
    address: IPInterface | None = None
    hairpin: bool = False
    mtu: int | None = None
    vlan_filtering: bool = False
    loc: Loc | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Interface:
    name: str
    node: str
    type: str = "veth"
    network: str | None = None
    peer: Endpoint | None = None
    parent: Endpoint | None = None
    mode: str | None = None
    vlan_id: int | None = None
    access_vlan: int | None = None
    addresses: tuple[IPInterface, ...] = ()
    mac: str | None = None
    mtu: int | None = None
    up: bool = True
    loc: Loc | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Route:
    to: str
    via: IPAddress | None = None
    dev: str | None = None
    loc: Loc | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Node:
    name: str
    hostname: str
    network_mode: str = "own"
    interfaces: tuple[Interface, ...] = ()
    routes: tuple[Route, ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()
    packages: tuple[str, ...] = ()
    loc: Loc | None = field(default=None, compare=False)

    @property
    def shares_root(self) -> bool:
        """True for a node that lives in the lab's root namespace (``network-mode: host``)."""
        return self.network_mode == "host"

    def interface(self, name: str) -> Interface | None:
        return next((i for i in self.interfaces if i.name == name), None)


@dataclass(frozen=True)
class Link:
    a: Endpoint
    b: Endpoint
    mtu: int | None = None
    loc: Loc | None = field(default=None, compare=False)


#: The default size of each node's writable layer (a tmpfs), as the spec writes it.
DEFAULT_WRITABLE = "256M"
#: The smallest writable layer a node can work with.
MIN_WRITABLE = 4 << 20


def size_bytes(size: str) -> int:
    """``256M`` -> 268435456 (K, M, G: powers of 1024)."""
    return int(size[:-1]) << {"K": 10, "M": 20, "G": 30}[size[-1]]


@dataclass(frozen=True)
class LabSpec:
    """A whole lab, as one spec file describes it."""

    name: str
    path: str
    digest: str
    description: str = ""
    networks: tuple[Network, ...] = ()
    nodes: tuple[Node, ...] = ()
    links: tuple[Link, ...] = ()
    #: The size of each node's writable layer (``limits: {writable: ...}``).
    writable: str = DEFAULT_WRITABLE

    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)

    def network(self, name: str) -> Network | None:
        return next((n for n in self.networks if n.name == name), None)

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)
