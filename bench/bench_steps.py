"""1,000 trivial commands in one node: labbook's persistent session vs `ip netns exec`.

Both run in this process run, side by side, on the same machine; the ratio is what
counts (machines here are noisy). Needs root.

    python bench/bench_steps.py [--commands 1000] [--baseline 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sphinxext.labbook.providers import get_provider
from sphinxext.labbook.spec import parse_spec

SPEC = "name: bench-steps\nnodes:\n  n1: {}\n"


def labbook_per_command(n: int) -> float:
    spec = parse_spec(SPEC, "bench-steps.yaml")
    with get_provider("netns").up(spec, f"bench-steps-{os.getpid() % 10000}") as lab:
        session = lab.session("n1")
        session.run("true")  # the shell is warm, as it is for every step after the first
        t = time.perf_counter()
        for _ in range(n):
            r = session.run("true")
            assert r.rc == 0
        return (time.perf_counter() - t) / n


def ip_netns_per_command(n: int) -> float:
    name = f"lbbench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        t = time.perf_counter()
        for _ in range(n):
            subprocess.run(["ip", "netns", "exec", name, "true"], check=True)
        return (time.perf_counter() - t) / n
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--commands", type=int, default=1000)
    ap.add_argument(
        "--baseline", type=int, default=200, help="commands for the (slow) ip netns exec loop"
    )
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_steps: needs root (network namespaces)", file=sys.stderr)
        return 2
    ours, base = [], []
    for _ in range(args.rounds):  # alternate, so drift of the machine hits both alike
        ours.append(labbook_per_command(args.commands))
        base.append(ip_netns_per_command(args.baseline))
    o, b = statistics.median(ours), statistics.median(base)
    print(
        f"labbook session : {o * 1e6:8.1f} us/command  ({args.commands} commands, "
        f"median of {args.rounds}) -> {o * 1000:.2f} s per 1,000"
    )
    print(
        f"ip netns exec   : {b * 1e6:8.1f} us/command  ({args.baseline} commands, "
        f"median of {args.rounds}) -> {b * 1000:.2f} s per 1,000"
    )
    print(f"ratio labbook/ip-netns-exec: {o / b:.3f}  ({b / o:.1f}x faster)")
    return 0


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        sys.exit(main())
