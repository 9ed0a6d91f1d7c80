"""``labbook check``: run the labs of documents and report drift (the labcheck builder)."""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
import re
import shutil
import sys
import tempfile
from typing import IO, Any, cast

from .. import ranges
from ..errors import LabbookError, UsageError
from ..providers.procs import temp_prefix
from ..runner.shard import binds_a_lab

SOURCE_SUFFIXES = (".rst", ".md", ".txt")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "check",
        help="run the labs of a handbook and report drift",
        description="Run every lab of the given documents (a Sphinx source directory with "
        "conf.py, or .rst/.md files) and compare each page with what really "
        "happened. Prints a line per lab and a summary; drift is shown as a "
        "diff at its file:line.\n\n"
        "cram files (FILE.t) run on one node of a lab instead: "
        "labbook check FILE.t --lab SPEC.yaml --node NODE",
        epilog="exit codes: 0 all passed, 1 drift (or a step failed, or a schema-diagram's "
        "database differs from it, or with --locked: the recorded results are out of date), "
        "2 bad input, 3 a lab could not be brought up or a schema-diagram's database could "
        "not be reached\n\n"
        "With labbook_results set in conf.py, the results of the labs that ran are "
        "recorded there (one JSON file per document); --locked only checks them.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a Sphinx source directory (with conf.py) or document files",
    )
    p.add_argument("--provider", help="run every lab on this provider (netns, ssh, vm)")
    p.add_argument(
        "--no-apply",
        action="store_true",
        help="compare the machines of an ssh inventory with the pages, changing nothing: "
        "lab-file blocks are read and compared (merged ones by their keys), lab-run "
        "blocks marked :safe: run, other steps are listed as not run",
    )
    p.add_argument("--lab", metavar="SPEC.yaml", help="cram files: the lab to run them in")
    p.add_argument("--node", help="cram files: the node of --lab whose shell runs them")
    p.add_argument(
        "--match",
        choices=("bytes", "exact", "normalized"),
        default="bytes",
        help="cram files: how output is compared (default bytes, as cram does; "
        "normalized: as a terminal shows it, volatile values by shape)",
    )
    p.add_argument("--inventory", help="inventory file for the ssh provider (or vagrant:DIR)")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--junit", metavar="FILE", help="write the report as JUnit XML")
    p.add_argument(
        "--accept", action="store_true", help="write the actual output back into drifted blocks"
    )
    p.add_argument(
        "-x",
        "--exitfirst",
        action="store_true",
        help="stop at the first failing step: the rest of its lab and the labs "
        "after it are reported as skipped",
    )
    p.add_argument(
        "--execute",
        choices=("force", "auto", "cache"),
        default="force",
        help="force (default): run every lab; auto: reuse results this machine cached "
        "of labs whose inputs did not change; cache: only show recorded (labbook_results) "
        "or cached results, never run a lab",
    )
    p.add_argument(
        "--locked",
        action="store_true",
        help="do not update the recorded results (labbook_results in conf.py): exit 1, "
        "naming the documents, when running the labs would change them (for CI)",
    )
    p.add_argument(
        "--shard",
        metavar="K/N",
        help="check only the K-th of N deterministic, duration-balanced shares "
        "of the documents (for CI matrix jobs)",
    )
    p.add_argument(
        "--durations",
        metavar="REPORT.json",
        help="a previous labcheck.json whose durations balance the shards (default: the "
        "durations in the recorded results, if any)",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=ranges.argument(ranges.whole, "-j", 1, ranges.MAX_JOBS),
        default=1,
        metavar="N",
        help=f"run the labs of N documents in parallel (1 to {ranges.MAX_JOBS}; default 1)",
    )
    p.add_argument(
        "--build-dir", help="where results and the cache are kept (default: a temporary directory)"
    )
    p.add_argument(
        "--output-dir",
        metavar="DIR",
        help="where the whole output of a command too long to show is kept (reports show "
        "its first and last 200 lines and name the file); default: labbook-output/ in "
        "the build directory, or ~/.cache/labbook/output without --build-dir",
    )
    p.set_defaults(func=run)


class _ProgressStream(io.TextIOBase):
    """Sphinx's status stream, filtered to labbook's own progress lines."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.buf = ""

    def write(self, s: str) -> int:
        self.buf += s
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            # on a terminal Sphinx redraws its status line with \r and escape sequences
            line = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line).rsplit("\r", 1)[-1]
            if line.startswith("labbook: ") and "the results are in" not in line:
                self.out.write(line[len("labbook: ") :] + "\n")
                self.out.flush()
        return len(s)


class _WarningStream(io.TextIOBase):
    """Sphinx's warnings, passed through; Sphinx's own errors (an unknown directive, a
    broken include) are counted as bad input. Lines of a drift diff are never counted:
    they start with '+', '-', ' ' or '@'."""

    SPHINX_ERROR = re.compile(r"^(?![+\- @])(\S+:\d*:? )?(ERROR|CRITICAL|SEVERE): ", re.M)

    def __init__(self, out: Any) -> None:
        self.out = out
        self.bad_input = 0

    def write(self, s: str) -> int:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", s)
        self.bad_input += len(self.SPHINX_ERROR.findall(plain))
        self.out.write(s)
        return len(s)


def _project(paths: list[str]) -> tuple[str, str | None, list[str]]:
    """(srcdir, confdir or None, docnames to check or [] for all)."""
    for p in paths:
        if not os.path.exists(p):
            raise UsageError(f"{p}: no such file or directory")
    if len(paths) == 1 and os.path.isdir(paths[0]):
        src = os.path.abspath(paths[0])
        return src, (src if os.path.exists(os.path.join(src, "conf.py")) else None), []
    files = [os.path.abspath(p) for p in paths]
    for f in files:
        if os.path.isdir(f) or not f.endswith(SOURCE_SUFFIXES):
            raise UsageError(f"{f}: give one source directory, or .rst/.md files")
    src = _conf_above(files) or os.path.commonpath([os.path.dirname(f) for f in files])
    docs = [os.path.splitext(os.path.relpath(f, src))[0] for f in files]
    conf = src if os.path.exists(os.path.join(src, "conf.py")) else None
    return src, conf, docs


def _conf_above(files: list[str]) -> str | None:
    d = os.path.commonpath([os.path.dirname(f) for f in files])
    while True:
        if os.path.exists(os.path.join(d, "conf.py")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _lab_docs(src: str) -> list[str]:
    """Documents of the source tree that bind a lab, also through included files."""
    docs = []
    for suffix in SOURCE_SUFFIXES:
        for path in glob.glob(os.path.join(src, "**", f"*{suffix}"), recursive=True):
            if "/_build/" in path or "/build/" in path:
                continue
            if binds_a_lab(path, src):
                docs.append(os.path.splitext(os.path.relpath(path, src))[0])
    return sorted(docs)


def _results_dir(conf: str | None) -> str:
    """``labbook_results`` of conf.py, as a path ("" when not set)."""
    if conf is None:
        return ""
    from pathlib import Path

    from sphinx.config import eval_config_file
    from sphinx.util.tags import Tags

    path = os.path.join(conf, "conf.py")
    namespace: dict[str, object] | None = None
    for arg in (Path(path), path):  # Sphinx 7.4 and later take a Path, 7.3 a str
        try:
            namespace = eval_config_file(arg, Tags())  # type: ignore[arg-type]
            break
        except Exception:  # conf.py's own errors are reported by the build itself
            continue
    if namespace is None:
        return ""
    value = namespace.get("labbook_results") or ""
    return os.path.join(conf, value) if isinstance(value, str) and value else ""


def _select_shard(args: argparse.Namespace, src: str, docs: list[str], results: str) -> list[str]:
    from ..runner.records import RecordStore
    from ..runner.shard import assign, durations_from_report, parse_shard

    k, n = parse_shard(args.shard)
    durations: dict[str, float] = RecordStore(results, src).durations() if results else {}
    if args.durations:
        try:
            with open(args.durations, encoding="utf-8") as f:
                durations = durations_from_report(json.load(f))
        except (OSError, ValueError) as exc:
            raise UsageError(f"--durations {args.durations}: cannot read a report: {exc}") from None
    candidates = docs or _lab_docs(src)
    return assign(candidates, n, durations)[k - 1]


def run(args: argparse.Namespace) -> int:
    if any(p.endswith(".t") for p in args.paths):
        from .cramcheck import check_cram

        return check_cram(args, _finish)
    if args.lab or args.node:
        raise UsageError("--lab and --node are for cram files (FILE.t); documents name their labs")
    src, conf, docs = _project(args.paths)
    results = _results_dir(conf)
    if args.locked and not results:
        raise UsageError(
            "--locked checks the recorded results: set labbook_results = 'DIR' in conf.py"
        )
    if args.locked and args.execute == "cache":
        raise UsageError("--locked runs the labs to compare: leave out --execute cache")
    whole = not docs and not args.shard
    if args.shard:
        docs = _select_shard(args, src, docs, results)
        print(f"shard {args.shard}: {len(docs)} documents", flush=True)
        if not docs:  # no build, so no summary from the labcheck builder
            from ..report import summary_line

            print(summary_line([]))
            return _finish(args, [], 0, [])
    overrides: dict[str, Any] = {
        "labbook_execute": args.execute,
        "labbook_stop_on_fail": args.exitfirst,
        "labbook_results_locked": args.locked,
    }
    if conf is None:
        overrides["extensions"] = ["sphinxext.labbook"]
    if docs:
        overrides["include_patterns"] = [f"{d}.*" for d in docs]
        overrides["root_doc"] = docs[0]
    if args.provider:
        overrides["labbook_provider_force"] = args.provider
    if args.no_apply:
        if args.provider != "ssh" or args.accept:
            raise UsageError(
                "--no-apply compares machines that exist: use it with --provider ssh "
                "--inventory FILE (and without --accept)"
            )
        overrides["labbook_no_apply"] = True
    if args.output_dir or not args.build_dir:
        from ..runner.execute import default_output_dir

        overrides["labbook_output_dir"] = os.path.abspath(args.output_dir or default_output_dir())
    if args.inventory:
        overrides["labbook_provider_options"] = {"inventory": os.path.abspath(args.inventory)}
    env_override = {
        k: os.environ.pop(k)
        for k in (
            "LABBOOK_EXECUTE",
            "LABBOOK_PROVIDER",
            "LABBOOK_STOP_ON_FAIL",
            "LABBOOK_RESULTS_LOCKED",
            "LABBOOK_NO_APPLY",
        )
        if k in os.environ
    }
    build = args.build_dir or tempfile.mkdtemp(prefix=temp_prefix("check"))
    try:
        return _build(args, src, conf, overrides, build, results if whole else "")
    finally:
        os.environ.update(env_override)
        if not args.build_dir:
            shutil.rmtree(build, ignore_errors=True)


def _build(
    args: argparse.Namespace,
    src: str,
    conf: str | None,
    overrides: dict[str, Any],
    build: str,
    whole_results: str,
) -> int:
    """Build with the labcheck builder; ``whole_results`` is the recorded results'
    directory when every document was checked (records of documents gone are stale)."""
    from sphinx.application import Sphinx
    from sphinx.errors import SphinxError
    from sphinx.util.docutils import docutils_namespace, patch_docutils

    from ..sphinx.envdata import plans_of, problems_of, records_changed, results_of

    warnings = _WarningStream(sys.stderr)
    if not sys.stderr.isatty():  # as sphinx-build: no colour codes into pipes and logs
        from sphinx.util.console import nocolor

        nocolor()
    try:
        # as sphinx-build does: docutils' global registries are restored afterwards
        with patch_docutils(conf), docutils_namespace():
            app = Sphinx(
                src,
                conf,
                os.path.join(build, "labcheck"),
                os.path.join(build, "doctrees"),
                "labcheck",
                confoverrides=overrides,
                status=cast("IO[str]", _ProgressStream(sys.stdout)),
                warning=cast("IO[str]", warnings),
                freshenv=True,
                parallel=args.jobs,
            )
            app.build()
    except SphinxError as exc:
        if isinstance(exc.__cause__, LabbookError):  # e.g. a bad inventory: say it plainly
            raise exc.__cause__ from None
        raise UsageError(f"the documents could not be read: {exc}") from None
    results = [r for _, rs in sorted(results_of(app.env).items()) for r in rs]
    plans = [p for _, ps in sorted(plans_of(app.env).items()) for p in ps]
    problems = [{"document": d, **p} for d, ps in sorted(problems_of(app.env).items()) for p in ps]
    changed = sorted(records_changed(app.env))
    if whole_results and args.execute != "cache":
        changed += _forget_records(whole_results, src, set(results_of(app.env)), args.locked)
    status = _finish(args, results, warnings.bad_input, plans, problems)
    return _say_records(args, sorted(changed), _results_dir(conf), status)


def _forget_records(directory: str, src: str, with_labs: set[str], locked: bool) -> list[str]:
    """Records of documents that have no lab any more: removed (or, locked, named)."""
    from ..runner.records import RecordStore

    store = RecordStore(directory, src)
    gone = [d for d in store.documents() if d not in with_labs]
    if not locked:
        for doc in gone:
            store.write(doc, [])
    return gone


def _say_records(args: argparse.Namespace, changed: list[str], directory: str, status: int) -> int:
    """Name the documents whose recorded results changed; with --locked, that fails."""
    if not changed:
        return status
    shown = os.path.relpath(directory) if directory else "labbook_results"
    if not args.locked:
        print(f"recorded results updated in {shown}: {', '.join(changed)}")
        return status
    print(
        f"recorded results out of date in {shown}: {', '.join(changed)} "
        "(run labbook check without --locked and commit them)",
        file=sys.stderr,
    )
    return status or 1


def _finish(
    args: argparse.Namespace,
    results: list[Any],
    bad_input: int,
    plans: list[Any],
    problems: list[dict[str, Any]] | None = None,
) -> int:
    from ..report import problem_counts, write_reports
    from ..verdict.results import Status

    write_reports(results, args.json, args.junit, problems)
    if args.accept and any(r.status is not Status.PASSED for r in results):
        from ..verdict.rewrite import apply_edits, plan_edits

        edits, notes = plan_edits(plans, results)
        for line in apply_edits(edits):
            print(line)
        for note in notes:
            print(note, file=sys.stderr)
    kinds = problem_counts(problems or [])
    if bad_input or kinds["bad-input"]:
        return 2
    if any(r.up_failed for r in results) or kinds["unreachable"]:
        return 3
    if any(r.status in (Status.DRIFT, Status.ERROR) for r in results) or kinds["schema-drift"]:
        return 1
    return 0
