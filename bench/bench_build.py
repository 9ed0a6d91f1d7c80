"""Handbook build: 8 documents whose labs each run a 2-second step.

(a) clean build with execution, (b) the same with -j 4, (c) a clean rebuild with
nothing changed (fresh environment, results from the cache), (d) the same project
with execution off, (e) a copy of the project at another path built from the results
(a) recorded (labbook_results, LABBOOK_EXECUTE=cache). Prints b/a (aim <= 0.4), c/d and
e/d (aim <= 1.2). Needs root.

    python bench/bench_build.py [--docs 8] [--step-seconds 2]
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

SPEC = """name: bench-build
networks:
  lan: {cidr: 10.77.0.0/24}
nodes:
  a:
    interfaces:
      eth0: {network: lan, address: 10.77.0.1/24}
  b:
    interfaces:
      eth0: {network: lan, address: 10.77.0.2/24}
"""

DOC = """Document {i}
===========

.. lab:: lab.yaml

.. lab-run:: a

   $ sleep {secs}; echo done {i}
   done {i}

.. lab-run:: b

   $ ping -c 1 10.77.0.1
   PING 10.77.0.1 (10.77.0.1) 56(84) bytes of data.
   ...
   1 packets transmitted, 1 received, 0% packet loss, time 0ms
   ...
"""


def make_project(path: str, docs: int, secs: float) -> None:
    os.makedirs(path)
    with open(os.path.join(path, "conf.py"), "w") as f:
        f.write(
            f"import sys\nsys.path.insert(0, {ROOT!r})\nextensions = ['sphinxext.labbook']\n"
            "labbook_results = '_results'\n"
        )
    with open(os.path.join(path, "lab.yaml"), "w") as f:
        f.write(SPEC)
    names = [f"doc{i}" for i in range(docs)]
    for i, name in enumerate(names):
        with open(os.path.join(path, f"{name}.rst"), "w") as f:
            f.write(DOC.format(i=i, secs=secs))
    with open(os.path.join(path, "index.rst"), "w") as f:
        f.write("Bench\n=====\n\n.. toctree::\n\n" + "".join(f"   {n}\n" for n in names))


def build(src: str, out: str, *extra: str, execute: str = "auto") -> float:
    env = {**os.environ, "LABBOOK_EXECUTE": execute}
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-W", "-b", "html", *extra, src, out],
        check=True,
        env=env,
    )
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--docs", type=int, default=8)
    ap.add_argument("--step-seconds", type=float, default=2.0)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_build: needs root (network namespaces)", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="labbook-bench-build-")
    try:
        src = os.path.join(work, "src")
        make_project(src, args.docs, args.step_seconds)
        out = lambda n: os.path.join(work, n)  # noqa: E731
        a = build(src, out("a"), "-E", execute="force")
        b = build(src, out("b"), "-E", "-j", "4", execute="force")
        # (c): a fresh environment over the same build dir: every result from the cache
        c = build(src, out("a"), "-E", execute="auto")
        d = build(src, out("d"), "-E", execute="off")
        elsewhere = os.path.join(work, "elsewhere", "src")
        shutil.copytree(src, elsewhere)
        e = build(elsewhere, out("e"), "-E", execute="cache")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"(a) clean build, labs executed : {a:6.2f} s")
    print(f"(b) same with -j 4             : {b:6.2f} s")
    print(f"(c) clean rebuild, from cache  : {c:6.2f} s")
    print(f"(d) execution off              : {d:6.2f} s")
    print(f"(e) elsewhere, recorded results: {e:6.2f} s")
    print(
        f"b/a = {b / a:.2f} (aim <= 0.4)   c/d = {c / d:.2f} (aim <= 1.2)   "
        f"e/d = {e / d:.2f} (aim <= 1.2)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
