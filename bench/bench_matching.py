"""Output matching: labbook's matcher against the naive ways, side by side in one run.

(a) Real `ip addr` / `ping` output of two runs (other MACs, indexes, timings), many
    blocks: match_output (normalized) against plain line equality, the floor any
    checker pays. Prints the ratio.
(b) A page with k `...` lines that does not match: match_output against one big regex
    (`...` as `(?:.*\\n)*`), the way a matcher is often first written; its backtracking
    grows exponentially with k. Prints both times per k and the ratio.

    python bench/bench_matching.py [--blocks 300] [--max-k 8]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sphinxext.labbook.verdict.matching import actual_lines, match_output

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "netns")
NAMES = ("ip_addr", "ip_br_link", "ip_link_veth", "ping", "bridge_link")


def _read(name: str) -> str:
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def _time(fn, reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_real(blocks: int) -> None:
    pairs = [(_read(f"{n}_1.out").splitlines(), _read(f"{n}_2.out")) for n in NAMES]
    work = [pairs[i % len(pairs)] for i in range(blocks)]

    def equality() -> None:
        for exp, act in work:
            _ = [x.rstrip() for x in exp] == actual_lines(act)

    def ours() -> None:
        for exp, act in work:
            assert match_output(exp, act).ok

    base, mine = _time(equality), _time(ours)
    print(
        f"(a) {blocks} real blocks: equality {base * 1e3:.1f} ms, "
        f"match_output {mine * 1e3:.1f} ms, ratio {mine / base:.1f}x"
    )


def _naive_regex(expected: list[str]) -> re.Pattern[str]:
    parts = ["(?:.*\\n)*" if x == "..." else re.escape(x) + "\\n" for x in expected]
    return re.compile("".join(parts))


def bench_ellipses(max_k: int) -> None:
    actual = "\n".join("x" if i % 3 else "y" for i in range(60)) + "\n"
    print("(b)  k   naive regex   match_output   ratio")
    for k in range(2, max_k + 1, 2):
        expected = ["...", "x"] * k + ["never there"]
        pattern = _naive_regex(expected)
        naive = _time(lambda p=pattern: p.fullmatch(actual), reps=1)
        mine = _time(lambda e=expected: match_output(e, actual), reps=3)
        print(f"    {k:2d}   {naive * 1e3:9.2f} ms   {mine * 1e3:9.2f} ms   {naive / mine:8.1f}x")
        if naive > 5:
            break


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=300)
    ap.add_argument("--max-k", type=int, default=8)
    args = ap.parse_args()
    bench_real(args.blocks)
    bench_ellipses(args.max_k)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
