"""vm provider, an ordinary user's lab: the wire between two VMs, relay against a hub.

An ordinary user's VMs reach their lab's bridges through the lab's relay (unix datagram
sockets to a process that owns a tap per NIC). Before the relay, they met on a multicast
hub on the loopback device (``-netdev socket,mcast=...``), which this benchmark rebuilds
for comparison by rewriting the QEMU command lines. Alternating in one run, it brings up
a lab of two VMs each way and measures, from one to the other: the round trip of 20 pings 0.2 s
apart, and the time to send 10 MB over TCP (Python sockets in the guests) until the
receiver has counted every byte. Prints each round, the medians, and relay/hub ratios.
Run it as an ordinary user (root's VMs use taps, neither of these).

    python bench/bench_vm_wire.py [--rounds 1] [--megabytes 10] [--accel auto|tcg|kvm]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import os
import re
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)

from bench_vm import lab_of, vm_provider  # noqa: E402

from sphinxext.labbook.providers import userns  # noqa: E402
from sphinxext.labbook.providers.vm import VmLab, qemu  # noqa: E402

#: vm1 counts what vm0 sends until it closes, then answers with the count.
RECEIVE = (
    "import socket; s = socket.create_server(('', 5001)); print('ready', flush=True); "
    "c, _ = s.accept(); n = 0\n"
    "while True:\n"
    "    d = c.recv(1 << 16)\n"
    "    if not d: break\n"
    "    n += len(d)\n"
    "c.sendall(str(n).encode()); c.close()"
)
#: vm0 sends N bytes, closes its side, waits for vm1's count; prints seconds and the count.
SEND = (
    "import socket, sys, time; n = int(sys.argv[1]); block = bytes(1 << 16); "
    "t = time.monotonic(); c = socket.create_connection(('10.77.0.2', 5001)); left = n\n"
    "while left > 0:\n"
    "    left -= c.send(block[: min(left, len(block))])\n"
    "c.shutdown(socket.SHUT_WR); got = c.recv(64); "
    "print(time.monotonic() - t, got.decode())"
)


@contextlib.contextmanager
def hubs() -> Iterator[None]:
    """Labs brought up inside meet on multicast hubs: each NIC's QEMU joins a group and
    port of its network on the loopback device (what ordinary users' labs did before the
    relay), instead of the relay's sockets."""
    original = qemu.machine

    def machine(lab: str, node: str, *args: Any, **kwargs: Any) -> qemu.Machine:
        m = original(lab, node, *args, **kwargs)
        nics = args[3]
        argv = list(m.argv)
        for i, a in enumerate(argv):
            found = re.match(r"dgram,id=n(\d+),", a)
            if found:
                net = nics[int(found.group(1))].bridge
                h = hashlib.sha256(f"{os.geteuid()}:{lab}:{net}".encode()).digest()
                group = f"239.255.{h[0]}.{h[1] or 1}:{20000 + int.from_bytes(h[2:4]) % 40000}"
                argv[i] = f"socket,id=n{found.group(1)},mcast={group},localaddr=127.0.0.1"
        return dataclasses.replace(m, argv=tuple(argv))

    qemu.machine = machine  # type: ignore[assignment]
    try:
        yield
    finally:
        qemu.machine = original  # type: ignore[assignment]


def measure(lab: VmLab, megabytes: int) -> tuple[float, float]:
    """(average ping round trip in ms, MB/s of the transfer) from vm0 to vm1."""
    ping = lab.exec("vm0", ["ping", "-c", "20", "-i", "0.2", "-W", "5", "10.77.0.2"], timeout=120)
    rtt = re.search(r"rtt min/avg/max/mdev = [\d.]+/([\d.]+)/", ping.output)
    if ping.rc != 0 or rtt is None:
        raise SystemExit(f"ping failed: {ping.output}")
    b = lab.session("vm1")
    b.run(f'python3 -c "{RECEIVE}" >/tmp/receive.out 2>&1 </dev/null &')
    b.run("until grep -q ready /tmp/receive.out; do sleep 0.1; done", timeout=60)
    size = megabytes * 1_000_000
    sent = lab.exec("vm0", ["python3", "-c", SEND, str(size)], timeout=600)
    seconds, count = sent.output.split()
    if sent.rc != 0 or int(count) != size:
        raise SystemExit(f"the transfer failed: {sent.output}")
    return float(rtt.group(1)), megabytes / float(seconds)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--megabytes", type=int, default=10)
    ap.add_argument("--accel", default="auto", choices=("auto", "tcg", "kvm"))
    args = ap.parse_args()
    if userns.privileged():
        print("run this as an ordinary user: root's VMs use taps", file=sys.stderr)
        return 2
    provider = vm_provider(args.accel)
    if provider is None:
        return 2
    spec = lab_of(2)
    results: dict[str, list[tuple[float, float]]] = {"relay": [], "hub": []}
    for r in range(args.rounds):
        for way in ("relay", "hub"):
            with hubs() if way == "hub" else contextlib.nullcontext():
                lab = provider.up(spec, f"wire-{way}-{os.getpid()}")
            with lab:
                t = time.perf_counter()
                rtt, rate = measure(lab, args.megabytes)
                results[way].append((rtt, rate))
                print(
                    f"round {r + 1}: {way:5}  ping {rtt:7.3f} ms  {args.megabytes} MB at "
                    f"{rate:6.2f} MB/s  ({time.perf_counter() - t:.0f} s, load average "
                    f"{os.getloadavg()[0]:.1f}, {lab.state.accel})",
                    flush=True,
                )
    med = {w: [statistics.median(x[i] for x in v) for i in (0, 1)] for w, v in results.items()}
    print(
        f"median ping: relay {med['relay'][0]:.3f} ms, hub {med['hub'][0]:.3f} ms, "
        f"relay/hub = {med['relay'][0] / med['hub'][0]:.2f}"
    )
    print(
        f"median transfer: relay {med['relay'][1]:.2f} MB/s, hub {med['hub'][1]:.2f} MB/s, "
        f"relay/hub = {med['relay'][1] / med['hub'][1]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
