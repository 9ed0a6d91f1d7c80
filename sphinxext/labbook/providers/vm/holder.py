"""The process that holds a VM lab: its network, and the QEMU processes.

Forked from the process that brings the lab up, it detaches (the lab may outlive
that process: ``labbook up``), builds the network, starts every VM at once, reports
their pids, and then only reaps until it is told to stop. Root's holder makes the
lab's own network namespace, with its bridges and a persistent tap per NIC, and starts
the QEMUs inside it; an ordinary user's starts the lab's relay (see :mod:`.relay`),
which builds the same network in namespaces of its own and passes each NIC's frames
between its tap and its QEMU. The QEMUs and the relay die with the holder
(parent-death signal), and the namespace, with every bridge and tap, dies with the
last of them: nothing of a VM lab exists in the host's namespaces.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import struct
import subprocess

from ..holder import detach, fork, send_error, send_report, serve, stopped
from ..labstate import title
from ..netns import netlink, nsutil
from ..netns.plan import ROOT, Addr, Bridge, Dev, PortOp
from . import relay
from .plan import VmPlan
from .qemu import Machine
from .state import HOLDER_TITLE

_TUNSETIFF = 0x400454CA
_TUNSETPERSIST = 0x400454CB
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000
_IFF_VNET_HDR = 0x4000
_IFF_UP = 0x1


def start(
    lab: str,
    plan: VmPlan,
    machines: list[Machine],
    *,
    relayed: str | None,
    root: str,
    started: list[tuple[int, int]],
) -> None:
    """Fork the holder; append (its pid, this end of its socket) to ``started``.

    ``relayed``: the lab's directory, where the relay of an ordinary user's lab binds
    its sockets (None for root's lab: the QEMUs open taps in the lab's namespace);
    ``root``: the user's state root, for the holder's title."""
    fork(lambda chan: _holder(lab, plan, machines, relayed, root, chan), started)


def _holder(
    lab: str, plan: VmPlan, machines: list[Machine], relayed: str | None, root: str, chan: int
) -> int:
    # Detached as the netns provider's lab holder is, and stopped the same way.
    detach(chan)
    signal.signal(signal.SIGTERM, stopped)  # SIGTERM while the VMs start: stop them
    nsutil.set_title(title(HOLDER_TITLE, lab, root))
    vms: dict[str, subprocess.Popen[bytes]] = {}
    wire: list[int] = []
    try:
        if relayed is None:
            nsutil.unshare(nsutil.CLONE_NEWNET)  # the lab's own namespace: bridges and taps
            build_network(plan)
        else:
            wire.append(relay.start(lab, plan, relayed, root))  # sockets bound: QEMUs may start
        for m in machines:
            vms[m.node] = _start_vm(m)
        send_report(chan, {n: p.pid for n, p in vms.items()})
    except BaseException as exc:
        send_error(chan, exc)
        _kill(vms, wire)
        return 1
    serve(lambda: _kill(vms, wire))
    return 0


def _start_vm(m: Machine) -> subprocess.Popen[bytes]:
    def child() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        nsutil.set_pdeathsig(signal.SIGKILL)  # the holder's death is the VM's

    with open(m.log, "ab") as log:
        return subprocess.Popen(
            list(m.argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=child,
            close_fds=True,
        )


def _kill(vms: dict[str, subprocess.Popen[bytes]], wire: list[int]) -> None:
    for p in vms.values():
        with contextlib.suppress(ProcessLookupError):
            p.kill()
    for pid in wire:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for p in vms.values():
        with contextlib.suppress(ChildProcessError):
            p.wait()
    for pid in wire:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


# -- the network, inside the lab's namespace ----------------------------------------------------
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
