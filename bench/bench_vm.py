"""vm provider: boot-to-first-command of a 1-VM lab against a 3-VM lab (parallel boot).

Alternating in the same process run: bring up a lab of one VM, and a lab of three VMs
on one network, and time from ``provider.up()`` until every node has answered a first
command in its session; then tear it down. Prints each round, the medians and the
3-VM/1-VM ratio (aim: at most 1.5, i.e. the VMs boot side by side), and what one
command costs in a running VM's session. Needs root, QEMU and a kernel in /boot.

    python bench/bench_vm.py [--rounds 5] [--commands 50] [--accel auto|tcg|kvm]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)

from sphinxext.labbook.providers import get_provider  # noqa: E402
from sphinxext.labbook.providers.vm import VmProvider  # noqa: E402
from sphinxext.labbook.spec import LabSpec, parse_spec  # noqa: E402


def lab_of(n: int) -> LabSpec:
    nodes = "".join(
        f"  vm{i}:\n    interfaces:\n      eth0: {{network: lan, address: 10.77.0.{i + 1}/24}}\n"
        for i in range(n)
    )
    return parse_spec(
        f"name: bench{n}\nnetworks:\n  lan: {{cidr: 10.77.0.0/24}}\nnodes:\n{nodes}",
        f"<bench {n} VMs>",
    )


def boot(provider: VmProvider, spec: LabSpec, name: str, commands: int) -> tuple[float, float, str]:
    """Seconds from up() to a first answer from every node; seconds per later command;
    the accelerator the VMs ran with."""
    t = time.perf_counter()
    lab = provider.up(spec, name)
    with lab:
        for node in spec.node_names:
            assert lab.session(node).run("true").rc == 0
        ready = time.perf_counter() - t
        session = lab.session(spec.node_names[0])
        t = time.perf_counter()
        for _ in range(commands):
            session.run("true")
        per = (time.perf_counter() - t) / max(1, commands)
        return ready, per, lab.state.accel


def vm_provider(accel: str) -> VmProvider | None:
    """The vm provider with ``accel``; None, having said why, where it cannot run."""
    provider = get_provider("vm", accel=accel)
    assert isinstance(provider, VmProvider)
    why = provider.unavailable()
    if why:
        print(f"the vm provider is not available here: {why}", file=sys.stderr)
        return None
    return provider


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--commands", type=int, default=50)
    ap.add_argument("--accel", default="auto", choices=("auto", "tcg", "kvm"))
    args = ap.parse_args()
    provider = vm_provider(args.accel)
    if provider is None:
        return 2
    one, three = lab_of(1), lab_of(3)
    boot(provider, one, f"bench-vm-warm-{os.getpid()}", 1)  # boot images, KVM probe
    times: dict[int, list[float]] = {1: [], 3: []}
    per: list[float] = []
    for r in range(args.rounds):
        for n, spec in ((1, one), (3, three)):
            ready, cost, accel = boot(provider, spec, f"bench-vm{n}-{os.getpid()}", args.commands)
            times[n].append(ready)
            per.append(cost)
            print(
                f"round {r + 1}: {n} VM{'s' if n > 1 else ' '} ready in {ready:6.2f} s "
                f"(load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    m1, m3 = statistics.median(times[1]), statistics.median(times[3])
    print(
        f"median boot to first command: 1 VM {m1:.2f} s, 3 VMs {m3:.2f} s "
        f"({os.cpu_count()} CPUs, {accel})"
    )
    print(f"3 VMs / 1 VM = {m3 / m1:.2f} (aim: at most 1.5)")
    print(f"one command in a running VM's session: {statistics.median(per) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
