"""A step printing 1, 4 and 16 MB through a node's session, against the same bytes
through a plain pipe and to /dev/null.

All three run in this process run, alternating; the ratios are what counts. The
session's reading should be linear (16 MB within 20x the 1 MB time) and close to a pipe
(16 MB within 5x the pipe's time). Runs as root or as an ordinary user (netns provider).

    python bench/bench_output.py [--sizes 1,4,16] [--rounds 3]
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

#: The bare pty reads 4 KiB at a time (the tty layer's buffer), a pipe 64 KiB: that,
#: not the session, is most of the gap between the session and the pipe.
SPEC = "name: bench-output\nnodes:\n  n1: {}\n"


def printer(mb: int) -> str:
    """A command printing ``mb`` MB of 64-byte lines."""
    return f"yes '{'x' * 63}' | head -c {mb << 20}"


def through_session(session: object, mb: int) -> float:
    t = time.perf_counter()
    r = session.run(printer(mb), timeout=600)  # type: ignore[attr-defined]
    took = time.perf_counter() - t
    assert r.rc == 0 and (mb < 1 or r.full_output), r
    return took


def through_pipe(mb: int) -> float:
    t = time.perf_counter()
    with subprocess.Popen(["sh", "-c", printer(mb)], stdout=subprocess.PIPE) as p:
        assert p.stdout is not None
        while p.stdout.read(1 << 16):
            pass
    return time.perf_counter() - t


def through_pty(mb: int) -> float:
    """The floor of any session: the same bytes read from a bare pty, nothing else done."""
    master, slave = os.openpty()
    t = time.perf_counter()
    with subprocess.Popen(["sh", "-c", printer(mb)], stdout=slave):
        os.close(slave)
        try:
            while os.read(master, 1 << 16):
                pass
        except OSError:  # EIO: the writer is gone
            pass
    os.close(master)
    return time.perf_counter() - t


def to_devnull(mb: int) -> float:
    t = time.perf_counter()
    subprocess.run(["sh", "-c", printer(mb)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="1,4,16", help="MB printed, comma-separated")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    spec = parse_spec(SPEC, "bench-output.yaml")
    times: dict[tuple[str, int], list[float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-output-") as spill,
        get_provider("netns").up(spec, f"bench-out-{os.getpid() % 10000}") as lab,
    ):
        lab.output_dir = spill
        session = lab.session("n1")
        session.run("true")
        for _ in range(args.rounds):  # alternate, so drift of the machine hits all alike
            for mb in sizes:
                times.setdefault(("session", mb), []).append(through_session(session, mb))
                times.setdefault(("pipe", mb), []).append(through_pipe(mb))
                times.setdefault(("pty", mb), []).append(through_pty(mb))
                times.setdefault(("devnull", mb), []).append(to_devnull(mb))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"median of {args.rounds} rounds, seconds")
    print(
        f"{'MB':>4} {'session':>9} {'bare pty':>9} {'pipe':>9} {'/dev/null':>10} "
        f"{'session/pipe':>13} {'session/pty':>12}"
    )
    for mb in sizes:
        s, p, d = med[("session", mb)], med[("pipe", mb)], med[("devnull", mb)]
        y = med[("pty", mb)]
        print(f"{mb:>4} {s:9.3f} {y:9.3f} {p:9.3f} {d:10.3f} {s / p:13.2f} {s / y:12.2f}")
    first, last = sizes[0], sizes[-1]
    print(
        f"session {last} MB / {first} MB: {med[('session', last)] / med[('session', first)]:.1f}x "
        f"(bytes: {last / first:.0f}x; aim: <= 20x for 16/1)"
    )
    print(
        f"session / pipe at {last} MB: "
        f"{med[('session', last)] / med[('pipe', last)]:.2f}x (aim: <= 5x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
