"""Bring a lab of N nodes on one bridge up and down: labbook's netns provider against `ip`.

The baseline is the shell script a user would write: `ip netns add`, a veth pair per
node moved into its namespace, addresses, links up, a bridge, then `ip netns del`.
Both run in this process run, alternating, and the medians are compared. labbook
does more per node (mount, UTS, IPC and PID namespaces, private /etc, /var, /run...).

Also compares the cost of one command in a node: `labbook exec LAB NODE -- true`
against `ip netns exec NS true`.

    python bench/bench_netns.py [--nodes 50] [--reps 5] [--execs 50]

Needs root. Leaves nothing behind (namespaces are prefixed lbbench-/labbook-).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sphinxext.labbook.providers.netns import NetnsProvider
from sphinxext.labbook.spec import parse_spec

PREFIX = "lbbench"


def spec_text(n: int) -> str:
    lines = ["name: bench", "networks:", "  lan: {cidr: 10.99.0.0/16}", "nodes:"]
    for i in range(1, n + 1):
        lines.append(f"  n{i}: {{interfaces: {{eth0: {{network: lan, address: {_addr(i)}/16}}}}}}")
    return "\n".join(lines) + "\n"


def _addr(i: int) -> str:
    return f"10.99.{i // 250}.{i % 250 + 1}"


def script_up(n: int) -> str:
    """What a user would write with iproute2: one `ip` per operation."""
    out = [
        "set -e",
        f"ip netns add {PREFIX}-root",
        f"ip -n {PREFIX}-root link add br0 type bridge",
        f"ip -n {PREFIX}-root link set br0 up",
    ]
    for i in range(1, n + 1):
        ns = f"{PREFIX}-n{i}"
        out += [
            f"ip netns add {ns}",
            f"ip -n {PREFIX}-root link add v{i} type veth peer name p{i}",
            f"ip -n {PREFIX}-root link set p{i} netns {ns}",
            f"ip -n {PREFIX}-root link set v{i} master br0 up",
            f"ip -n {ns} link set p{i} name eth0 up",
            f"ip -n {ns} addr add {_addr(i)}/16 dev eth0",
            f"ip -n {ns} link set lo up",
        ]
    return "\n".join(out) + "\n"


def script_down(n: int) -> str:
    return (
        "\n".join(
            [f"ip netns del {PREFIX}-n{i}" for i in range(1, n + 1)]
            + [f"ip netns del {PREFIX}-root"]
        )
        + "\n"
    )


def cleanup_script() -> None:
    """Remove whatever an interrupted baseline run left."""
    for ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split(
        "\n"
    ):
        name = ns.split(" ")[0]
        if name.startswith(f"{PREFIX}-"):
            subprocess.run(["ip", "netns", "del", name], check=False)


def run_script(text: str) -> float:
    t = time.perf_counter()
    subprocess.run(["bash", "-c", text], check=True)
    return time.perf_counter() - t


def run_labbook(provider: NetnsProvider, text: str) -> tuple[float, float]:
    spec = parse_spec(text, "bench.yaml")
    t = time.perf_counter()
    lab = provider.up(spec, f"{PREFIX}-lab")
    up = time.perf_counter() - t
    t = time.perf_counter()
    lab.down()
    return up, time.perf_counter() - t


def bench_lab(n: int, reps: int) -> None:
    provider = NetnsProvider()
    text = spec_text(n)
    lab_up, lab_down, sh_up, sh_down = [], [], [], []
    run_labbook(provider, text)  # warm-up: imports, page cache
    for _ in range(reps):
        u, d = run_labbook(provider, text)
        lab_up.append(u)
        lab_down.append(d)
        try:
            sh_up.append(run_script(script_up(n)))
            sh_down.append(run_script(script_down(n)))
        finally:
            cleanup_script()
    med = statistics.median
    lab_total = med([u + d for u, d in zip(lab_up, lab_down, strict=True)])
    sh_total = med([u + d for u, d in zip(sh_up, sh_down, strict=True)])
    print(f"{n} nodes on one bridge, median of {reps} (up / down / total):")
    print(f"  labbook netns  {med(lab_up):7.3f} s / {med(lab_down):7.3f} s / {lab_total:7.3f} s")
    print(f"  ip script      {med(sh_up):7.3f} s / {med(sh_down):7.3f} s / {sh_total:7.3f} s")
    print(
        f"  ratio labbook/script: up {med(lab_up) / med(sh_up):.2f}, "
        f"total {lab_total / sh_total:.2f}"
    )


def bench_exec(count: int) -> None:
    provider = NetnsProvider()
    lab = provider.up(parse_spec(spec_text(1), "bench.yaml"), f"{PREFIX}-exec")
    ns = f"{PREFIX}-exec"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    cmd_lb = [sys.executable, "-m", "sphinxext.labbook", "exec", lab.name, "n1", "--", "true"]
    cmd_ip = ["ip", "netns", "exec", ns, "true"]
    cmd_py = [sys.executable, "-c", "pass"]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    lb, ip, py, api = [], [], [], []
    try:
        for _ in range(count):
            for cmd, out in ((cmd_lb, lb), (cmd_ip, ip), (cmd_py, py)):
                t = time.perf_counter()
                subprocess.run(cmd, check=True, cwd=root)
                out.append(time.perf_counter() - t)
            t = time.perf_counter()
            lab.exec("n1", ["true"])
            api.append(time.perf_counter() - t)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
        lab.down()
    med = statistics.median
    print(f"one command in a node, median of {count}:")
    print(
        f"  labbook exec LAB NODE -- true   {med(lb) * 1000:7.1f} ms "
        f"(python -c pass alone: {med(py) * 1000:.1f} ms)"
    )
    print(f"  ip netns exec NS true           {med(ip) * 1000:7.1f} ms")
    print(f"  Lab.exec() from Python          {med(api) * 1000:7.1f} ms")
    print(f"  ratio labbook exec / ip netns exec: {med(lb) / med(ip):.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--execs", type=int, default=50)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_netns needs root", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory():
        bench_lab(args.nodes, args.reps)
        bench_exec(args.execs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
