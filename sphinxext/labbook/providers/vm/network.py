"""The network of a VM lab, in the lab's own network namespace: its bridges (with their
addresses, hairpin ports and VLANs) and a tap per NIC, over netlink. Root's holder builds
it for QEMUs that open the taps by name; an ordinary user's relay builds it and keeps the
taps open (see relay.py)."""

from __future__ import annotations

import fcntl
import os
import socket
import struct

from ..netns import netlink
from ..netns.plan import ROOT, Addr, Bridge, Dev, PortOp
from .plan import VmPlan

_TUNSETIFF = 0x400454CA
_TUNSETPERSIST = 0x400454CB
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000
_IFF_VNET_HDR = 0x4000
_IFF_UP = 0x1


def build_network(plan: VmPlan, *, keep: bool = False) -> dict[str, int]:
    """Bridges (with their addresses), and a tap per NIC on its bridge, over netlink.

    ``keep``: the taps are not persistent and are returned open (tap name -> file
    descriptor) for the relay, which reads and writes plain frames on them; otherwise
    they stay after this returns, for QEMU to open by name."""
    taps: dict[str, int] = {}
    sock = netlink.open_socket()
    try:
        first = max(index for index, _ in socket.if_nameindex()) + 1
        bridges = {b.name: Dev(ROOT, b.name, first + i, b.mtu) for i, b in enumerate(plan.bridges)}
        requests = [netlink.link_up(netlink.LOOPBACK)]
        requests += [
            netlink.bridge(Bridge(bridges[b.name], b.vlan_filtering)) for b in plan.bridges
        ]
        requests += [
            netlink.addr(Addr(ROOT, bridges[b.name].index, b.address, f"network '{b.name}'"))
            for b in plan.bridges
            if b.address is not None
        ]
        netlink.send(sock, requests)
        hairpin = {b.name for b in plan.bridges if b.hairpin}
        requests = []
        for nic in plan.nics:
            index = _tap(nic.tap, taps if keep else None)
            what = f"node '{nic.node}' interface '{nic.iface}'"
            master = bridges[nic.bridge].index if nic.bridge else None
            requests.append(_plug(index, master, nic.mtu, what))
            if nic.bridge in hairpin or nic.access_vlan:
                requests += netlink.port(
                    PortOp(index, nic.bridge in hairpin, nic.access_vlan, what)
                )
        netlink.send(sock, requests)
    except BaseException:
        for fd in taps.values():
            os.close(fd)
        raise
    finally:
        sock.close()
    return taps


def _tap(name: str, keep: dict[str, int] | None) -> int:
    """A tap device: persistent (QEMU opens it by name; it goes with the namespace), or
    kept open in ``keep`` (it goes when its file descriptor is closed)."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        if keep is None:
            flags = _IFF_TAP | _IFF_NO_PI | _IFF_VNET_HDR
            fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), flags))
            fcntl.ioctl(fd, _TUNSETPERSIST, 1)
        else:
            fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TAP | _IFF_NO_PI))
            keep[name] = fd
            fd = -1
    finally:
        if fd >= 0:
            os.close(fd)
    return socket.if_nametoindex(name)


def _plug(index: int, master: int | None, mtu: int | None, what: str) -> netlink.Request:
    """Bring a tap up, on its bridge when it has one."""
    from pyroute2.netlink import NLM_F_ACK, NLM_F_REQUEST
    from pyroute2.netlink.rtnl import RTM_NEWLINK
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    msg = ifinfmsg()
    msg["index"] = index
    msg["flags"] = msg["change"] = _IFF_UP
    attrs: list[tuple[str, object]] = []
    if master is not None:
        attrs.append(("IFLA_MASTER", master))
    if mtu:
        attrs.append(("IFLA_MTU", mtu))
    msg["attrs"] = attrs
    msg["header"]["type"] = RTM_NEWLINK
    msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK
    msg.encode()
    return netlink.Request(bytes(msg.data), f"connecting {what} to its network")
