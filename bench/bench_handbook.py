"""The handbook itself, every lab executed: -j auto against -j 1, and against a baseline
commit's handbook (default: main) built with -j auto, one after the other in one run.

    python bench/bench_handbook.py [--baseline main] [--skip-serial] [--skip-baseline]

Each build is `sphinx-build -W -b html` into a fresh output directory with
LABBOOK_EXECUTE=force (no cached result is reused) and LABBOOK_RESULTS_LOCKED=1 (the
recorded results are not rewritten). Prints each time and the ratios
(-j auto / -j 1, and this tree / baseline). A failing build is reported with its exit
status, and its time is still printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def build(tree: str, jobs: str, out: str) -> tuple[float, int]:
    # Locked: the recorded results are read (they order the documents for -j) but never
    # written, so a benchmark leaves the tree as it found it.
    env = {**os.environ, "LABBOOK_EXECUTE": "force", "LABBOOK_RESULTS_LOCKED": "1"}
    env["PYTHONPATH"] = tree
    argv = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    argv += ["-j", jobs, os.path.join(tree, "doc", "source"), out]
    t = time.monotonic()
    proc = subprocess.run(argv, env=env, cwd=tree, check=False)
    return time.monotonic() - t, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default="main", help="commit whose handbook to compare with")
    ap.add_argument("--skip-serial", action="store_true", help="leave out the -j 1 build")
    ap.add_argument("--skip-baseline", action="store_true", help="leave out the baseline's build")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-handbook-") as tmp:
        base = os.path.join(tmp, "baseline")
        os.mkdir(base)
        archive = subprocess.run(
            ["git", "-C", ROOT, "archive", args.baseline], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", base], input=archive, check=True)
        runs = [("this tree, -j auto", ROOT, "auto")]
        if not args.skip_serial:
            runs.append(("this tree, -j 1", ROOT, "1"))
        if not args.skip_baseline:
            runs.append((f"{args.baseline}, -j auto", base, "auto"))
        times = {}
        for label, tree, jobs in runs:
            out = os.path.join(tmp, "out")
            shutil.rmtree(out, ignore_errors=True)
            secs, rc = build(tree, jobs, out)
            times[label] = secs
            print(
                f"{label:<24} {secs:7.1f} s" + ("" if rc == 0 else f"  (exit status {rc})"),
                flush=True,
            )
        auto = times["this tree, -j auto"]
        if "this tree, -j 1" in times:
            print(f"-j auto / -j 1: {auto / times['this tree, -j 1']:.2f}")
        if not args.skip_baseline:
            print(f"this tree / {args.baseline} (both -j auto): {auto / times[runs[-1][0]]:.2f}")


if __name__ == "__main__":
    main()
