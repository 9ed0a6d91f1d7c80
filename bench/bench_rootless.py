"""Labs of an ordinary user against root's: a lab up and down, and commands in a node.

Run as root. Each round runs one worker process as root and one as the ordinary user
(``setpriv --reuid``), alternating, with the same work: bring a lab of N nodes on one
bridge up and down, and run ``true`` C times through a node's shell session. The
medians and the ratios user/root are printed (machines are noisy: compare ratios).

    sudo python bench/bench_rootless.py [--user NAME] [--nodes 50] [--rounds 5]
                                        [--commands 1000] [--handbook]

With --handbook, each round builds the handbook instead (sphinx-build -E with every lab
executed, LABBOOK_EXECUTE=force), as root and as the user, into directories of their
own. The user must be able to read this checkout and run this Python (a virtual
environment made with /usr/bin/python3 outside /root).

Leaves nothing behind (each worker tears its labs down; labs are named lbbench-*).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_netns import spec_text  # noqa: E402  (the same lab as the netns benchmark)


def worker(nodes: int, commands: int) -> dict[str, float]:
    """One round of the work, in this process; the timings."""
    from sphinxext.labbook.providers.netns import NetnsProvider
    from sphinxext.labbook.spec import parse_spec

    provider = NetnsProvider()
    spec = parse_spec(spec_text(nodes), "bench.yaml")
    t = time.perf_counter()
    lab = provider.up(spec, f"lbbench-{os.getpid()}")
    up = time.perf_counter() - t
    try:
        session = lab.session("n1")
        session.run("true")  # the shell is started
        t = time.perf_counter()
        for _ in range(commands):
            session.run("true")
        per_command = (time.perf_counter() - t) / commands
    finally:
        t = time.perf_counter()
        lab.__exit__(None, None, None)
        down = time.perf_counter() - t
    return {"up": up, "down": down, "command": per_command}


def handbook(out: str) -> dict[str, float]:
    """Build the handbook, every lab executed, in a new process; its time."""
    t = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-E",
            "-q",
            "-b",
            "html",
            os.path.join(ROOT, "doc", "source"),
            out,
        ],
        check=True,
        env={**os.environ, "LABBOOK_EXECUTE": "force"},
    )
    return {"build": time.perf_counter() - t}


def run_worker(
    user: pwd.struct_passwd | None, args: argparse.Namespace, runtime: str
) -> dict[str, float]:
    argv = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--nodes",
        str(args.nodes),
        "--commands",
        str(args.commands),
    ]
    if args.handbook:
        argv += [
            "--handbook",
            "--out",
            os.path.join(runtime, "root" if user is None else user.pw_name),
        ]
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if user is not None:
        argv = [
            "setpriv",
            f"--reuid={user.pw_uid}",
            f"--regid={user.pw_gid}",
            "--init-groups",
            *argv,
        ]
        env.update(HOME=user.pw_dir, USER=user.pw_name, XDG_RUNTIME_DIR=runtime)
    out = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(
            f"worker failed ({'root' if user is None else user.pw_name}): {out.stderr.strip()}"
        )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--user",
        default="",
        help="the ordinary user (default: the first user with a range in /etc/subuid)",
    )
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--commands", type=int, default=1000)
    ap.add_argument(
        "--handbook", action="store_true", help="build the handbook in each round instead"
    )
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(
            json.dumps(handbook(args.out) if args.handbook else worker(args.nodes, args.commands))
        )
        return 0
    if os.geteuid() != 0:
        print(
            "bench_rootless runs as root (it runs its ordinary user's rounds through setpriv)",
            file=sys.stderr,
        )
        return 2
    name = args.user or _first_subuid_user()
    user = pwd.getpwnam(name)
    runs: dict[str, list[dict[str, float]]] = {"root": [], name: []}
    with tempfile.TemporaryDirectory() as runtime:
        os.chown(runtime, user.pw_uid, user.pw_gid)
        os.chmod(runtime, 0o711)  # the user's runtime directory; root's output goes in too
        for _ in range(args.rounds):
            runs["root"].append(run_worker(None, args, runtime))
            runs[name].append(run_worker(user, args, runtime))
    med = {who: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for who, rs in runs.items()}
    if args.handbook:
        print(f"the handbook, every lab executed, median of {args.rounds} rounds:")
        for who, m in med.items():
            print(f"  {who:12} {m['build']:7.1f} s")
        print(f"  ratio {name}/root: {med[name]['build'] / med['root']['build']:.2f}")
        return 0
    print(
        f"{args.nodes} nodes on one bridge, {args.commands} commands through a session, "
        f"median of {args.rounds} rounds:"
    )
    for who, m in med.items():
        print(
            f"  {who:12} up {m['up']:6.3f} s  down {m['down']:6.3f} s  "
            f"up+down {m['up'] + m['down']:6.3f} s  true {m['command'] * 1e6:7.1f} us"
        )
    r, u = med["root"], med[name]
    print(
        f"  ratio {name}/root: up+down {(u['up'] + u['down']) / (r['up'] + r['down']):.2f}, "
        f"command {u['command'] / r['command']:.2f}"
    )
    return 0


def _first_subuid_user() -> str:
    with open("/etc/subuid") as f:
        for line in f:
            if line.count(":") == 2 and not line.startswith("root:"):
                return line.split(":")[0]
    raise SystemExit("no user has a range in /etc/subuid; name one with --user")


if __name__ == "__main__":
    sys.exit(main())
