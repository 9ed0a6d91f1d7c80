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
import os
import signal
import subprocess

from ..holder import detach, fork, send_error, send_report, serve, stopped
from ..labstate import title
from ..netns import nsutil
from . import relay
from .network import build_network
from .plan import VmPlan
from .qemu import Machine
from .state import HOLDER_TITLE


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
