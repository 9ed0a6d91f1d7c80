"""Output matching: labbook's matcher against the naive ways, side by side in one run.

(a) Real `ip addr` / `ping` output of two runs (other MACs, indexes, timings), many
    blocks: match_output (normalized) against plain line equality, the floor any
    checker pays. Prints the ratio.
(b) A page with k `...` lines that does not match: match_output against one big regex
    (`...` as `(?:.*\\n)*`), the way a matcher is often first written; its backtracking
    grows exponentially with k. Prints both times per k and the ratio.
(c) A 10,000-line output (a log with ping lines whose timings differ from the page's)
    against a page with a few `...` and `(re)` lines: time per expected line of today's
    match_output against the matcher of commit BASELINE (loaded from git into a temporary
    package), alternating, and the ratio (aim: at most 0.5).

    python bench/bench_matching.py [--blocks 300] [--max-k 8] [--lines 10000]
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from timing import median_time

from sphinxext.labbook.verdict.matching import actual_lines, match_output

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "netns")
NAMES = ("ip_addr", "ip_br_link", "ip_link_veth", "ping", "bridge_link")


def _read(name: str) -> str:
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def bench_real(blocks: int) -> None:
    pairs = [(_read(f"{n}_1.out").splitlines(), _read(f"{n}_2.out")) for n in NAMES]
    work = [pairs[i % len(pairs)] for i in range(blocks)]

    def equality() -> None:
        for exp, act in work:
            _ = [x.rstrip() for x in exp] == actual_lines(act)

    def ours() -> None:
        for exp, act in work:
            assert match_output(exp, act).ok

    base, mine = median_time(equality), median_time(ours)
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
        naive = median_time(lambda p=pattern: p.fullmatch(actual), reps=1)
        mine = median_time(lambda e=expected: match_output(e, actual), reps=3)
        print(f"    {k:2d}   {naive * 1e3:9.2f} ms   {mine * 1e3:9.2f} ms   {naive / mine:8.1f}x")
        if naive > 5:
            break


#: The matcher before quantified lines, (esc), (no-eol) and lazily built line patterns.
BASELINE = "412f5ef"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def _baseline_matcher(tmp: str):
    """``match_output`` of commit BASELINE, imported from a package made of its files."""
    pkg = os.path.join(tmp, "labbook_baseline")
    os.makedirs(pkg)
    open(os.path.join(pkg, "__init__.py"), "w").close()
    for name in ("matching", "normalize", "errors"):
        text = subprocess.run(
            ["git", "-C", ROOT, "show", f"{BASELINE}:sphinxext/labbook/{name}.py"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        with open(os.path.join(pkg, f"{name}.py"), "w") as f:
            f.write(text)
    sys.path.insert(0, tmp)
    return importlib.import_module("labbook_baseline.matching").match_output


def _long_output(n: int, seed: int) -> list[str]:
    rnd = __import__("random").Random(seed)
    out = []
    for i in range(n):
        if i % 5 == 0:
            t = rnd.uniform(0.02, 0.9)
            out.append(f"64 bytes from 10.0.0.2: icmp_seq={i} ttl=64 time={t:.3f} ms")
        else:
            out.append(f"worker {i % 7}: handled request {i} for /api/v1/items/{i * 31 % 997}")
    return out


def bench_long(n: int) -> None:
    page = _long_output(n, seed=1)
    actual = "\n".join(_long_output(n, seed=2)) + "\n"
    for k in range(5, 0, -1):  # a few `...` and `(re)` lines, from the end (lines go)
        at = k * n // 6
        page[at] = "..."
        j = at + 3 if (at + 3) % 5 else at + 4  # a worker line, not a ping line
        page[j] = r"worker \d: handled request \d+ for /api/v1/items/\d+ (re)"
        page[at - 2 : at] = []
    with tempfile.TemporaryDirectory() as tmp:
        before = _baseline_matcher(tmp)
        assert before(page, actual).ok and match_output(page, actual).ok
        old, new = [], []
        for _ in range(5):  # alternating, so both see the same machine load
            old.append(median_time(lambda: before(page, actual), reps=1))
            new.append(median_time(lambda: match_output(page, actual), reps=1))
    t_old, t_new = statistics.median(old), statistics.median(new)
    print(
        f"(c) {n} output lines, {len(page)} expected: {BASELINE} "
        f"{t_old / len(page) * 1e6:.2f} us/line, now {t_new / len(page) * 1e6:.2f} us/line, "
        f"ratio {t_new / t_old:.2f}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=300)
    ap.add_argument("--max-k", type=int, default=8)
    ap.add_argument("--lines", type=int, default=10_000)
    args = ap.parse_args()
    bench_real(args.blocks)
    bench_ellipses(args.max_k)
    bench_long(args.lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
