"""``labbook up/exec/down/ls/gc``: bring labs up by hand, run commands in them, clean up."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from ..errors import LabbookError, LabNotFound, SpecErrors, UsageError

EXIT_CODES = "exit codes: 0 success, 2 bad input or usage, 3 the lab could not be brought up"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for add in (_add_up, _add_exec, _add_down, _add_ls, _add_gc):
        add(sub)


_FMT = argparse.RawDescriptionHelpFormatter


def _add_up(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "up",
        help="bring a lab up and leave it running",
        description="Bring the lab of SPEC up and leave it running (until 'labbook down "
        "NAME'). Prints the lab's name, and nothing else, on standard output.",
        epilog=f"{EXIT_CODES}\nexample:\n  name=$(labbook up labs/pair.yaml --name pair2)\n"
        "  labbook exec $name alpha -- ping -c1 10.0.0.2",
        formatter_class=_FMT,
    )
    p.add_argument("spec", metavar="SPEC.yaml", help="the lab spec")
    p.add_argument(
        "--name",
        help="name of the running lab (default: the spec's name); "
        "two labs of one spec run side by side under two names",
    )
    p.add_argument("--provider", default=None, help="where the lab runs (default: netns)")
    p.add_argument(
        "--inventory",
        metavar="FILE",
        help="ssh provider: the inventory (YAML, a saved ssh config, or vagrant:DIR)",
    )
    p.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a provider option (repeatable), e.g. -o insecure=true",
    )
    p.set_defaults(func=cmd_up)


def _add_exec(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "exec",
        help="run a command inside a node of a running lab",
        description="Run COMMAND inside NODE of the running lab NAME. Its standard output, "
        "standard error and exit code are the command's; signals are passed on.",
        epilog="exit codes: the command's; 2 unknown lab or node\nexample:\n"
        "  labbook exec pair alpha -- ip -br addr",
        formatter_class=_FMT,
    )
    p.add_argument("name", metavar="NAME", help="the running lab")
    p.add_argument("node", metavar="NODE", help="the node to run the command in")
    p.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND [ARG...]",
        help="the command and its arguments (after '--')",
    )
    p.set_defaults(func=cmd_exec)


def _add_down(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "down",
        help="tear a running lab down",
        description="Tear the running lab NAME down: every process, namespace, interface "
        "and file it has goes. A lab that is already partly gone is removed "
        "all the same; an unknown name is an error.",
        epilog="exit codes: 0 success, 2 no lab of that name",
        formatter_class=_FMT,
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="running labs to tear down")
    p.set_defaults(func=cmd_down)


def _add_ls(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "ls",
        help="list running labs",
        description="List the labs running on this machine: name, provider, nodes, age "
        "and the spec each was made from.",
        formatter_class=_FMT,
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=cmd_ls)


def _add_gc(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "gc",
        help="remove what killed runs left behind",
        description="Remove labs whose owner process is gone (a run that was killed), "
        "half-created labs, lab processes or state without each other, the "
        "temporary files and directories of killed labbook processes, and the long "
        "outputs 'labbook check' kept (in ~/.cache/labbook/output) of labs that ended "
        f"more than {OUTPUT_DAYS} days ago. "
        "Labs brought up with 'labbook up' stay; --all removes them too, and every "
        "kept output of a lab that is not running. "
        "Prints a line per thing removed.",
        formatter_class=_FMT,
    )
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="only look at these labs (default: every lab on this machine)",
    )
    p.add_argument("--all", action="store_true", help="remove every lab, also running ones")
    p.set_defaults(func=cmd_gc)


def _provider(name: str | None, **options: str):  # type: ignore[no-untyped-def]
    from ..providers import get_provider

    return get_provider(name, **options)


def _options(args: argparse.Namespace) -> dict[str, str]:
    from ..providers import parse_options

    try:
        options = parse_options(args.option)
    except ValueError as exc:
        raise UsageError(f"-o {exc.args[0]!r}: write KEY=VALUE, like -o insecure=true") from None
    if args.inventory:
        options["inventory"] = args.inventory
    return options


def cmd_up(args: argparse.Namespace) -> int:
    from ..spec import load_spec

    try:
        spec = load_spec(args.spec)
    except SpecErrors as exc:
        # FILE:LINE:COL: message, one per line, as compilers print them (editors jump to them)
        for err in exc.errors:
            print(str(err), file=sys.stderr)
        return exc.exit_code
    provider = _provider(args.provider, **_options(args))
    lab = provider.up(spec, args.name)
    try:
        lab.detach()
    except BaseException:
        lab.down()
        raise
    if provider.name in ("netns", "vm"):
        from ..providers.userns import limits

        if limits():
            print(f"labbook: note: {limits()}", file=sys.stderr)
    print(lab.name, flush=True)
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise UsageError("no command given; write: labbook exec NAME NODE -- COMMAND [ARG...]")
    from ..providers.environ import exec_env
    from ..providers.netns import enter

    if enter.netns_lab(args.name) is not None:  # the lean path: a netns lab
        return enter.run(args.name, args.node, command, exec_env())
    lab = _attach(args.name)
    result = lab.exec(args.node, command)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.rc


def _attach(name: str):  # type: ignore[no-untyped-def]
    """The running lab ``name``, from whichever provider has it."""
    from ..providers import provider_names

    for pname in provider_names():
        try:
            provider = _provider(pname)
            if any(info.name == name for info in provider.labs()):
                return provider.attach(name)
        except (LabbookError, NotImplementedError):
            continue
    raise LabNotFound(f"no running lab named '{name}'; 'labbook ls' lists them")


def cmd_down(args: argparse.Namespace) -> int:
    for name in args.names:
        _attach(name).down()
    return 0


def _all_labs() -> list:  # type: ignore[type-arg]
    from ..providers import provider_names
    from ..providers.labstate import state_root

    state_root()  # a wrong LABBOOK_STATE_DIR is the user's to hear of, not one provider's
    labs = []
    for pname in provider_names():
        try:
            labs += _provider(pname).labs()
        except (LabbookError, NotImplementedError):
            continue
    return sorted(labs, key=lambda i: i.name)


def cmd_ls(args: argparse.Namespace) -> int:
    from ..providers.netns.state import age

    labs = _all_labs()
    if args.json:
        import json

        print(
            json.dumps(
                [
                    {
                        "name": i.name,
                        "provider": i.provider,
                        "nodes": list(i.nodes),
                        "created": i.created,
                        "spec": i.spec_path,
                        "owner_pid": i.owner_pid,
                        **i.extra,
                    }
                    for i in labs
                ],
                indent=2,
            )
        )
        return 0
    rows = [("NAME", "PROVIDER", "NODES", "AGE", "SPEC")]
    rows += [
        (i.name, i.provider, str(len(i.nodes)), age(i.created), _short(i.spec_path)) for i in labs
    ]
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + r[4])
    return 0


def _short(path: str) -> str:
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else path


def cmd_gc(args: argparse.Namespace) -> int:
    from ..providers import provider_names

    for pname in provider_names():
        try:
            provider = _provider(pname)
        except LabbookError:
            continue
        lines = provider.gc(everything=args.all, names=args.names or None)
        for line in lines:
            print(f"{pname}: {line}")
    if not args.names:
        _gc_temporary()
        _gc_outputs(0 if args.all else OUTPUT_DAYS)
    return 0


#: How long ``labbook gc`` keeps the long outputs of ended labs (``--all``: not at all).
OUTPUT_DAYS = 7


def _gc_outputs(days: int) -> None:
    """Remove the kept outputs (:func:`..runner.execute.default_output_dir`, a directory
    per lab) of labs that are not running and were last written ``days`` ago or more."""
    import shutil
    import time

    from ..providers.stateroot import lab_names
    from ..runner.execute import default_output_dir

    root = default_output_dir()
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return
    running = set(lab_names())
    for name in entries:
        path = os.path.join(root, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        age = time.time() - st.st_mtime
        if name in running or not os.path.isdir(path) or age < days * 86400:
            continue
        shutil.rmtree(path, ignore_errors=True)
        print(f"output: removed {path} (kept output of an ended lab, {int(age // 86400)} days old)")


#: What each kind of temporary file or directory belongs to, for gc's lines.
_TEMPORARY = {
    "check": "labbook check",
    "packages": "unpacking a VM node's packages",
    "initrd": "building a VM boot image",
    "closed": "building a VM boot image",
    "probe": "probing QEMU's accelerator",
}


def _gc_temporary() -> None:
    """Remove the temporary files and directories of labbook processes that are gone
    (killed before they could remove them): in the temporary directory, and the VM
    provider's half-unpacked package trees."""
    import shutil
    import tempfile

    from ..providers.procs import left_behind
    from ..providers.vm.images import default_cache_dir

    for directory in (tempfile.gettempdir(), os.path.join(default_cache_dir(), "packages")):
        for path, kind, pid in left_behind(directory):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            what = _TEMPORARY.get(kind, kind)
            print(f"{kind}: removed {path} (left by {what}, process {pid}, which is gone)")
