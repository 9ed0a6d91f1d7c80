"""ssh provider: commands per second in a node's session, against plain ``ssh host true``.

A netns lab of two nodes each runs an sshd (as in the tests). In the same process run:
(a) N commands typed into the ssh provider's persistent session on one node, over its
multiplexed master; (b) M commands with ``lab.exec`` (a new channel on the master each);
(c) M times plain ``ssh host true`` with the same key and options and no multiplexing,
what a user's script would do. Prints the time per command of each and a/c (aim: well
under 0.2) and b/c. Needs root, sshd, socat.

    python bench/bench_ssh.py [--commands 1000] [--baseline 50]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)

from sphinxext.labbook.providers import get_provider  # noqa: E402
from sphinxext.labbook.providers.ssh.sshd import serve  # noqa: E402
from sphinxext.labbook.spec import load_spec  # noqa: E402

SPEC = os.path.join(ROOT, "tests", "roots", "test-lab-pass", "pair.yaml")


def per_command(run: object, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        run()  # type: ignore[operator]
    return (time.perf_counter() - t) / n


def plain_ssh_argv(inventory: str) -> list[str]:
    """``ssh root@alpha true`` with the inventory's key, known_hosts and proxy; no master."""
    with open(inventory, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    d, alpha = data["defaults"], data["nodes"]["alpha"]
    return [
        "ssh",
        "-i",
        d["identity_file"],
        "-o",
        f"UserKnownHostsFile={d['known_hosts']}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        f"ProxyCommand={alpha['proxy_command']}",
        f"{d['user']}@{alpha['host']}",
        "true",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--commands", type=int, default=1000)
    ap.add_argument("--baseline", type=int, default=50)
    args = ap.parse_args()
    spec = load_spec(SPEC)
    with (
        tempfile.TemporaryDirectory() as tmp,
        get_provider("netns").up(spec, f"bench-sshd-{os.getpid() % 10000}") as nodes,
    ):
        served = serve(nodes, tmp)
        plain = plain_ssh_argv(served.inventory)
        with get_provider("ssh", inventory=served.inventory).up(spec, "bench-ssh") as lab:
            session = lab.session("alpha")
            assert session.run("true").rc == 0
            a = per_command(lambda: session.run("true"), args.commands)
            b = per_command(lambda: lab.exec("alpha", ["true"]), args.baseline)
            c = per_command(
                lambda: subprocess.run(plain, check=True, stdin=subprocess.DEVNULL), args.baseline
            )
    print(f"(a) session over the master, {args.commands} commands: {a * 1000:8.2f} ms/command")
    print(f"(b) lab.exec, a channel each,  {args.baseline} commands: {b * 1000:8.2f} ms/command")
    print(f"(c) plain ssh host true,      {args.baseline} commands: {c * 1000:8.2f} ms/command")
    print(f"a/c = {a / c:.4f} (aim: well under 0.2)")
    print(f"b/c = {b / c:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
