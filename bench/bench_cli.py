"""How fast the ``labbook`` command starts, against a bare Python start.

Each round runs, alternating: ``python -c pass`` (the baseline: an interpreter with
site-packages, as the ``labbook`` script has), ``labbook --help``, ``labbook ls`` and
``labbook exec LAB NODE -- true`` on a two-node lab brought up for the benchmark, then
``python -X importtime`` tells which modules the snapshot-drawing command imports. The
medians and the ratios to the baseline are printed (machines are noisy: compare ratios).

    python bench/bench_cli.py [--rounds 20] [--no-lab]

Works as root or as an ordinary user (the lab is a netns lab); leaves nothing behind.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PAIR = os.path.join(ROOT, "tests", "labs", "pair.yaml")
SNAPSHOT = os.path.join(ROOT, "schemas", "keystone.snapshot.json")
#: Modules a command that only reads a snapshot must not need.
HEAVY = ("sqlalchemy", "sqlglot", "sphinx", "pyroute2", "jsonschema")


def labbook() -> list[str]:
    """The installed ``labbook`` script next to this interpreter, as a user runs it."""
    script = os.path.join(os.path.dirname(sys.executable), "labbook")
    if not os.path.exists(script):
        sys.exit(f"no labbook script next to {sys.executable}: pip install -e {ROOT}")
    return [script]


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``argv``. On a busy machine
    the CPU time is the steadier figure: it does not count waiting for a core."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed with exit code {p.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def imported(argv: list[str]) -> set[str]:
    """Top-level packages a ``labbook`` command imports."""
    code = (
        f"import sys; sys.argv = {argv!r}\n"
        "from sphinxext.labbook.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    names = set()
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--no-lab", action="store_true", help="skip `labbook exec`")
    args = ap.parse_args()
    cli = labbook()
    # As an installed package is: compiled (an editable checkout run with
    # PYTHONDONTWRITEBYTECODE would compile every module on every start).
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "sphinxext")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "labbook --help": [*cli, "--help"],
        "labbook ls": [*cli, "ls"],
    }
    lab = f"lbbench-cli-{os.getpid()}"
    if not args.no_lab:
        subprocess.run([*cli, "up", PAIR, "--name", lab], check=True, stdout=subprocess.DEVNULL)
        cases["labbook exec LAB NODE -- true"] = [*cli, "exec", lab, "alpha", "--", "true"]
    try:
        wall: dict[str, list[float]] = {k: [] for k in cases}
        cpu: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.rounds):
            for name, argv in cases.items():
                w, c = timed(argv)
                wall[name].append(w)
                cpu[name].append(c)
    finally:
        if not args.no_lab:
            subprocess.run([*cli, "down", lab], check=True, stdout=subprocess.DEVNULL)
    base_wall = statistics.median(wall["python -c pass"])
    base_cpu = statistics.median(cpu["python -c pass"])
    print(f"{'command':32} {'wall':>9} {'ratio':>6} {'cpu':>9} {'ratio':>6}")
    for name in cases:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(
            f"{name:32} {w * 1000:6.1f} ms {w / base_wall:6.2f} "
            f"{c * 1000:6.1f} ms {c / base_cpu:6.2f}"
        )
    drawn = imported(["labbook", "schema", SNAPSHOT, "--format", "mermaid", "-o", os.devnull])
    heavy = sorted(m for m in HEAVY if m in drawn)
    print(f"drawing from a snapshot imports: {', '.join(heavy) or 'none of ' + ', '.join(HEAVY)}")


if __name__ == "__main__":
    main()
