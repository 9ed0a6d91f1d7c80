"""YAML alias limits: what the check costs on a real-sized spec, and how fast a hostile
file is refused, side by side in one run.

(a) A lab spec of N nodes (written out, and again with every node sharing an anchored
    interface block): spec.yamlmarks.load (compose, alias check, build with marks)
    against the same load without the alias check. Prints both times and the ratio.
(b) The "billion laughs" (ten aliases per level, L levels) and a self-containing alias:
    the time labbook takes to refuse each (PyYAML's own safe_load of the laughs builds
    shared lists and is shown for scale; walking them is what took minutes before).

    python bench/bench_yaml.py [--nodes 500] [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from timing import median_time

from sphinxext.labbook.errors import SpecError
from sphinxext.labbook.spec import yamlmarks


def spec(nodes: int, anchored: bool) -> str:
    out = ["name: big", "networks:", "  lan: {cidr: 10.0.0.0/16}", "nodes:"]
    for i in range(nodes):
        eth = ("&eth {network: lan}" if i == 0 else "*eth") if anchored else "{network: lan}"
        out.append(f"  n{i}:\n    interfaces:\n      eth0: {eth}")
    return "\n".join(out) + "\n"


def laughs(levels: int) -> str:
    names = "abcdefghijklmnop"
    out = [f"a: &a [{', '.join(['lol'] * 10)}]"]
    for i in range(1, levels + 1):
        out.append(f"{names[i]}: &{names[i]} [{', '.join(['*' + names[i - 1]] * 10)}]")
    return "\n".join(out) + "\n"


def refuse(text: str) -> float:
    t = time.perf_counter()
    try:
        yamlmarks.load(text, "hostile.yaml")
    except SpecError:
        return time.perf_counter() - t
    raise AssertionError("not refused")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    for anchored in (False, True):
        text = spec(args.nodes, anchored)
        checked, unchecked = [], []
        for _ in range(args.reps):  # alternating, so load on the machine hits both alike
            checked.append(median_time(lambda t=text: yamlmarks.load(t, "big.yaml"), 1))
            with mock.patch.object(yamlmarks, "check_aliases", lambda node, filename: None):
                unchecked.append(median_time(lambda t=text: yamlmarks.load(t, "big.yaml"), 1))
        with_check, without = statistics.median(checked), statistics.median(unchecked)
        kind = "one shared anchor" if anchored else "written out"
        print(
            f"(a) {args.nodes} nodes, {kind}: load {with_check * 1e3:.1f} ms, without the "
            f"alias check {without * 1e3:.1f} ms, ratio {with_check / without:.2f}x"
        )
    import yaml

    for levels in (5, 9, 12):
        text = laughs(levels)
        plain = median_time(lambda t=text: yaml.safe_load(t), 1)
        print(
            f"(b) laughs, 10^{levels} values: refused in {refuse(text) * 1e3:.2f} ms "
            f"(yaml.safe_load alone {plain * 1e3:.2f} ms)"
        )
    print(f"(b) a: &a [*a]: refused in {refuse('a: &a [*a]') * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
