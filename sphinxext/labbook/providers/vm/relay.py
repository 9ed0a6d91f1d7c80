"""The wire between an ordinary user's VMs and their lab's bridges.

An ordinary user's QEMUs stay in the user's own namespaces (in a user namespace of the
lab's, 9p would show the guest every file of the host's root as nobody's), so they
cannot open taps in the lab's network namespace. The relay, a child of the lab's
holder, makes that namespace instead: its own user namespace (the user's uid and gid
mapped to root, enough to administer the network namespace it makes with it), the same
bridges, addresses, hairpin ports and VLANs as root's lab, and a tap per NIC that it
keeps open. For each NIC it binds a unix datagram socket in the lab's directory (0700,
the user's alone: nobody else can reach it), and the NIC's QEMU sends its
frames there from a socket of its own beside it (``-netdev dgram``). The relay copies
each frame from a tap to its QEMU and from a QEMU to its tap, never back to where it
came from. A frame for a QEMU whose queue is full waits, and the frames behind it wait
in the tap's queue, which drops what overflows it; the relay never blocks on one NIC.
It dies with the holder (parent-death signal) and carries the lab's title.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import socket

from ...errors import ProviderError
from ..holder import close_fds_but, send_error, send_report, wait_report
from ..labstate import title
from ..netns import nsutil
from .network import build_network
from .plan import Nic, VmPlan
from .state import RELAY_TITLE

#: How long the holder waits for the relay's network and sockets.
READY_TIMEOUT = 30.0
#: Frames a datagram socket queues for its reader (the kernel's default is 10); set in
#: the relay's own network namespace, where its sockets are made.
QUEUE = 512
#: Frames passed on from one source before the others get their turn.
BURST = 64
#: Larger than any frame: a 64 KiB MTU and its Ethernet header.
FRAME = 65536 + 64


def paths(directory: str, nic: Nic) -> tuple[str, str]:
    """The sockets of ``nic``: (QEMU's own, the relay's), in the lab's directory."""
    return os.path.join(directory, f"{nic.tap}.q"), os.path.join(directory, f"{nic.tap}.r")


def start(lab: str, plan: VmPlan, directory: str, root: str) -> int:
    """Fork the relay of ``lab`` (from its holder) and return its pid once its network is
    built and every socket bound; ProviderError with its reason otherwise."""
    uid, gid, parent = os.getuid(), os.getgid(), os.getpid()
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked relay (tested through the lab)
        code = 1
        try:
            os.close(r)
            code = _relay(lab, plan, directory, root, (uid, gid, parent), w)
        finally:
            os._exit(code)
    os.close(w)
    try:
        wait_report(r, pid, READY_TIMEOUT, what="the lab's relay")
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        raise
    return pid


# -- in the relay ---------------------------------------------------------------------------------
def _relay(
    lab: str, plan: VmPlan, directory: str, root: str, ids: tuple[int, int, int], chan: int
) -> int:
    uid, gid, parent = ids
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    close_fds_but(chan)  # the holder's socket to its parent is the holder's alone
    nsutil.set_title(title(RELAY_TITLE, lab, root))
    try:
        nsutil.set_pdeathsig(signal.SIGKILL)  # the holder's death is the relay's
        if os.getppid() != parent:
            return 1  # the holder is already gone
        _enter_namespaces(uid, gid)
        _queue_length(QUEUE)
        taps = build_network(plan, keep=True)
        wires = [_wire(directory, nic, taps[nic.tap]) for nic in plan.nics]
    except BaseException as exc:
        send_error(chan, exc)
        return 1
    send_report(chan, {})
    _copy(wires)
    return 0


def _enter_namespaces(uid: int, gid: int) -> None:
    """A user namespace where this user is root, and a network namespace it owns."""
    from .. import userns

    try:
        nsutil.unshare(userns.CLONE_NEWUSER | nsutil.CLONE_NEWNET)
    except OSError as exc:
        raise ProviderError(userns.why_refused(exc)) from None
    # A process may map its own ids, and only those, into the namespace it just made.
    userns.map_ids(os.getpid(), userns.IdMap(((0, uid, 1),), ((0, gid, 1),), False))


def _queue_length(frames: int) -> None:
    """Let the relay's sockets queue ``frames`` (a per-namespace setting): a QEMU that
    sends a burst faster than the relay reads loses none of it."""
    with contextlib.suppress(OSError), open("/proc/sys/net/unix/max_dgram_qlen", "w") as f:
        f.write(str(frames))


class _Wire:
    """One NIC: its tap, the relay's socket, and where its QEMU listens.

    The socket is connected to QEMU's once QEMU has bound it: then the kernel says when
    QEMU's queue has room again, and a frame that finds it full waits (``pending``)
    while the next ones wait in the tap's own queue, which drops what overflows it, as
    a network card's queue does. Until then, frames for QEMU are dropped: it is not up."""

    def __init__(self, tap: int, sock: socket.socket, qemu: str) -> None:
        self.tap = tap
        self.sock = sock
        self.qemu = qemu
        self.connected = False
        self.pending: bytes | None = None


def _wire(directory: str, nic: Nic, tap: int) -> _Wire:
    qemu, mine = paths(directory, nic)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(mine)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    sock.bind(mine)
    sock.setblocking(False)
    os.set_blocking(tap, False)
    return _Wire(tap, sock, qemu)


def _copy(wires: list[_Wire]) -> None:
    """Pass frames until killed: tap -> its QEMU, QEMU -> its tap."""
    sel = selectors.DefaultSelector()
    for w in wires:
        sel.register(w.tap, selectors.EVENT_READ, (w, True))
        sel.register(w.sock, selectors.EVENT_READ, (w, False))
    buf = bytearray(FRAME)
    view = memoryview(buf)
    while True:
        for key, events in sel.select():
            wire, from_tap = key.data
            if from_tap:
                if _tap_to_qemu(wire, buf, view):
                    sel.unregister(wire.tap)  # QEMU's queue is full: wait for room
                    both = selectors.EVENT_READ | selectors.EVENT_WRITE
                    sel.modify(wire.sock, both, (wire, False))
                continue
            waiting = wire.pending
            if events & selectors.EVENT_WRITE and waiting is not None and _send(wire, waiting):
                wire.pending = None
                sel.modify(wire.sock, selectors.EVENT_READ, key.data)
                sel.register(wire.tap, selectors.EVENT_READ, (wire, True))
            if events & selectors.EVENT_READ:
                _qemu_to_tap(wire, buf, view)


def _send(w: _Wire, frame: bytes | memoryview) -> bool:
    """Pass ``frame`` to QEMU; False when its queue is full (the frame is to wait)."""
    try:
        if not w.connected:
            w.sock.connect(w.qemu)
            w.connected = True
        w.sock.send(frame)
    except BlockingIOError:
        return not w.connected  # not connected yet: QEMU is not up, the frame is dropped
    except (ConnectionRefusedError, FileNotFoundError, InterruptedError):
        pass  # QEMU is not up yet (or has gone): the frame is lost
    except OSError as exc:
        if exc.errno not in (errno.ENOBUFS, errno.ECONNRESET, errno.EMSGSIZE):
            raise
    return True


def _tap_to_qemu(w: _Wire, buf: bytearray, view: memoryview) -> bool:
    """Pass on what the tap has; True when a frame is left waiting for room in QEMU's queue."""
    for _ in range(BURST):
        try:
            n = os.readv(w.tap, [buf])
        except (BlockingIOError, InterruptedError):
            return False
        if not _send(w, view[:n]):
            w.pending = bytes(view[:n])
            return True
    return False


def _qemu_to_tap(w: _Wire, buf: bytearray, view: memoryview) -> None:
    for _ in range(BURST):
        try:
            n, sender = w.sock.recvfrom_into(buf)
        except (BlockingIOError, InterruptedError):
            return
        if sender != w.qemu:
            continue  # only the NIC's own QEMU speaks on this wire
        try:
            os.write(w.tap, view[:n])
        except (BlockingIOError, InterruptedError):
            pass  # the tap's queue is full: the frame is lost, as on a wire
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EIO, errno.ENOBUFS):
                raise
