"""Run each document's labs when it is read; mark every step; keep results on env."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn

from docutils import nodes
from sphinx.util import logging

from ..controls import NOTE, has_invisible, visible
from ..location import Location
from ..report import counted
from ..runner.policy import Context, Policy, create_policy
from ..runner.records import STALE
from ..runner.signals import Terminated
from ..steps.model import LabPlan, Source
from ..verdict.results import UP_FAILED, PlanResult, Status, StepResult
from . import config as cfg
from .envdata import block_ids_of, plans_of, records_changed, results_of
from .steps import lab_marker, lab_step
from .warn import Subtype, warn

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

logger = logging.getLogger(__name__)


def collect_plans(
    doctree: nodes.document,
    docname: str,
    provider_options: dict[str, Any],
    env: dict[str, str] | None = None,
) -> list[tuple[LabPlan, lab_marker, list[lab_step]]]:
    """Group the document's steps under the lab directive above them, in order."""
    plans: list[tuple[lab_marker, list[lab_step]]] = []
    for node in doctree.findall(lambda n: isinstance(n, lab_marker | lab_step)):
        if isinstance(node, lab_marker):
            plans.append((node, []))
        elif plans:
            plans[-1][1].append(node)
    out = []
    for marker, steps in plans:
        data = marker.attributes
        options = {**provider_options, **data.get("options", {})}  # the lab's own win
        plan = LabPlan(
            spec_path=data["spec_path"],
            steps=tuple(n["step"] for n in steps),
            document=docname,
            provider=data["provider"],
            provider_options=tuple(sorted((k, str(v)) for k, v in options.items())),
            env=tuple(sorted((env or {}).items())),
            depends=tuple(data.get("depends", ())),
            source=Source(marker.source or "", marker.line or data["line"], docname),
        )
        out.append((plan, marker, steps))
    return out


def cache_dir(app: Sphinx) -> str:
    configured = cfg.value(app.config, "labbook_cache_dir")
    if configured:
        return os.path.join(app.confdir, configured)
    return os.path.join(app.doctreedir, "labbook-cache")


def results_dir(app: Sphinx) -> str:
    """Where the recorded results are (``labbook_results``, relative to conf.py), or ""."""
    configured = cfg.value(app.config, "labbook_results")
    return os.path.join(app.confdir, configured) if configured else ""


def output_dir(app: Sphinx) -> str:
    configured = cfg.value(app.config, "labbook_output_dir")
    if configured:
        return os.path.join(app.confdir, configured)
    return os.path.join(app.doctreedir, "labbook-output")


def _own_line(app: Sphinx) -> str:
    """A newline where Sphinx keeps its "reading sources... [ 50%] doc" line open on a
    terminal (ended by a carriage return, not a newline), so a progress line is not
    written into it."""
    try:
        from sphinx.util.console import terminal_supports_colour
    except ImportError:  # Sphinx before 8.0 names it color_terminal
        from sphinx.util.console import color_terminal as terminal_supports_colour

    return "\n" if app.verbosity < 1 and terminal_supports_colour() else ""


#: Labs of this build that failed, for ``labbook_stop_on_fail`` (-x) to stop at the first
#: (per process: with -j, each worker stops at its own first failure).
_FAILED: list[str] = []

#: The process that set the extension up: sphinx-build itself, not a -j worker.
_BUILD_PID = os.getpid()


def policy(app: Sphinx) -> Policy:
    """The execution policy of this build (:mod:`..runner.policy`)."""
    from ..runner.cache import ResultCache
    from ..runner.records import RecordStore

    directory = results_dir(app)

    def before_run(plan: LabPlan) -> None:
        _die_with_the_build()
        logger.info(
            f"{_own_line(app)}labbook: {plan.document}: bringing up "
            f"{os.path.basename(plan.spec_path)} "
            f"({plan.provider}, {counted(len(plan.steps), 'step')})"
        )

    ctx = Context(
        cache=ResultCache(cache_dir(app)),
        records=RecordStore(directory, str(app.confdir)) if directory else None,
        locked=bool(cfg.value(app.config, "labbook_results_locked")),
        stop_on_fail=bool(cfg.value(app.config, "labbook_stop_on_fail")),
        no_apply=bool(cfg.value(app.config, "labbook_no_apply")),
        failures=_FAILED,
        before_run=before_run,
        output_dir=output_dir(app),
    )
    return create_policy(cfg.value(app.config, "labbook_execute"), ctx)


def _end_by_sigterm() -> NoReturn:
    """End this process by SIGTERM itself (exit status 143 for the shell), after the
    runner has torn the lab down; Sphinx would print a traceback for the exception."""
    import signal

    logger.info("labbook: terminated; the lab was torn down")
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    os.kill(os.getpid(), signal.SIGTERM)
    os._exit(143)  # not reached: SIGTERM's default action ends the process


def _die_with_the_build() -> None:
    """In a ``-j`` worker, get SIGTERM when sphinx-build dies, so that a lab running here
    is torn down (the runner turns SIGTERM into teardown) instead of going on orphaned."""
    import ctypes
    import signal

    if os.getpid() == _BUILD_PID or not os.path.exists("/proc/self"):
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:  # the build died before the line above: stop now
        os.kill(os.getpid(), signal.SIGTERM)


def _shown(path: str) -> str:
    """``path`` relative to the working directory when it is below it (as typed in a shell)."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def warn_result(r: PlanResult, plan: LabPlan) -> None:
    """A lab that did not run, or did not come up: one warning at its ``lab`` directive
    (``labbook.not-run``, or ``labbook.error`` when this machine should have run it).
    Otherwise one warning per step that did not pass, at the line of the failing command."""
    lab = plan.source.location if plan.source else None
    if r.not_run:
        warn(f"lab {_shown(r.spec_path)} was not run: {r.not_run}", Subtype.NOT_RUN, lab)
        return
    if r.up_failed:
        why = r.message.removeprefix(f"{UP_FAILED}: ")
        warn(f"lab {_shown(r.spec_path)} could not be brought up: {why}", Subtype.ERROR, lab)
        return
    for line in r.extra.get("topology_drift", ()):  # the machines differ from the lab spec
        warn(f"topology drift: {line}", Subtype.DRIFT, lab)
    stale = [s for s in r.steps if s.stale]
    if stale:  # once per lab, at its first changed step
        day = time.strftime("%Y-%m-%d", time.gmtime(r.started))
        after = f" (and {counted(len(stale) - 1, 'step')} after it)" if len(stale) > 1 else ""
        first = stale[0].file or (plan.source.file if plan.source else r.document)
        warn(
            f"{STALE} on {r.provider}, {day}{after}: run the lab to record its results again",
            Subtype.STALE,
            Location(first, stale[0].line),
        )
    by_index = {s.index: s for s in r.steps}
    for s in sorted(by_index.values(), key=lambda s: s.index):
        if s.status not in (Status.DRIFT, Status.ERROR):
            continue
        text = s.message or s.status.value
        if s.diff:
            text += "\n" + s.diff.rstrip("\n")
        if has_invisible(text):  # an escape sequence must not act on the reader's terminal
            text = f"{visible(text)}\n({NOTE})"
        file = s.file or (plan.source.file if plan.source else r.document)
        subtype = Subtype.DRIFT if s.status is Status.DRIFT else Subtype.ERROR
        warn(text, subtype, Location(file, s.line))


def _said_once(r: PlanResult) -> bool:
    """No step of the lab ran, for one reason of the lab's own: the reason is said once, at
    the lab, and each step is only marked "not run"."""
    return (
        r.status in (Status.SKIPPED, Status.ERROR)
        and bool(r.steps)
        and bool(r.message)
        and all(s.message == r.message for s in r.steps)
    )


def _notice(r: PlanResult) -> nodes.Node:
    """Where the lab directive was: why none of its steps ran."""
    text = r.message if r.status is Status.SKIPPED else f"! not run: {r.message}"
    para = nodes.paragraph("", "", classes=["labbook-notice", f"labbook-{r.status.value}"])
    text = visible(text)
    para += nodes.inline(text, text)
    return para


def _mark(r: PlanResult, s: StepResult, brief: bool = False) -> nodes.Node:
    day = time.strftime("%Y-%m-%d", time.gmtime(r.started))
    how = " (recorded)" if r.recorded else " (cached)" if r.cached else ""
    if s.stale:
        text = f"{STALE} on {r.provider}, {day}"
        para = nodes.paragraph("", "", classes=["labbook-mark", "labbook-stale"])
        para += nodes.inline(text, text)
        return para
    words = {
        Status.PASSED: f"✓ verified on {r.provider}, {day}{how}",
        Status.DRIFT: f"✗ drift on {r.provider}, {day}{how}",
        Status.ERROR: "! not run" if brief else f"! error on {r.provider}: {s.message}",
        Status.SKIPPED: "not run" if brief else s.message or "not run",
    }
    text = visible(words[s.status])
    para = nodes.paragraph("", "", classes=["labbook-mark", f"labbook-{s.status.value}"])
    para += nodes.inline(text, text)
    return para


def block_ids(doctree: nodes.document, r: PlanResult) -> list[str]:
    """Stable ids of the blocks of ``r``'s steps on the page (``pair-1``, ``pair-2``, ...;
    a lab's second appearance on the page goes on from where the first ended), so the
    report can link to each block. Ids already on the page are skipped; the caller puts
    each block in ``doctree.ids`` before asking for the next lab's."""
    stem = nodes.make_id(os.path.splitext(os.path.basename(r.spec_path))[0]) or "lab"
    out: list[str] = []
    n = 0
    for _ in r.steps:
        n += 1
        while f"{stem}-{n}" in doctree.ids:
            n += 1
        out.append(f"{stem}-{n}")
    return out


#: Languages of console sessions: a block in one of them that no ``lab-run`` holds is an
#: illustration, and is marked as one.
CONSOLE_LANGUAGES = ("console", "shell-session")

ILLUSTRATION = "illustration, not run"


def mark_illustrations(doctree: nodes.document) -> None:
    """Mark console blocks that are not lab steps "illustration, not run", so a reader
    knows which sessions labbook ran and which it did not."""
    for block in list(doctree.findall(nodes.literal_block)):
        if block.get("language") not in CONSOLE_LANGUAGES or "labbook-console" in block.get(
            "classes", []
        ):
            continue
        parent = block.parent
        after = parent if "literal-block-wrapper" in parent.get("classes", []) else block
        para = nodes.paragraph("", "", classes=["labbook-mark", "labbook-illustration"])
        para += nodes.inline(ILLUSTRATION, ILLUSTRATION)
        after.parent.insert(after.parent.index(after) + 1, para)


def _decorate(
    doctree: nodes.document,
    node: lab_step,
    r: PlanResult,
    s: StepResult,
    show_drift: bool,
    brief: bool,
    block_id: str,
) -> nodes.Node:
    step = node["step"]
    box = nodes.container(
        classes=["labbook-step", f"labbook-{s.status.value}", f"labbook-{step.kind}"],
        ids=[block_id],
    )
    box.source, box.line = node.source, node.line
    if getattr(step, "hide", False):
        return box
    box.extend(node.children)
    box += _mark(r, s, brief)
    if show_drift and s.status in (Status.DRIFT, Status.ERROR) and s.diff:
        title = (
            "What the lab really did (diff: page → lab)"
            if s.status is Status.DRIFT
            else "What the lab printed before the error"
        )
        if has_invisible(s.diff):
            title += f" ({NOTE})"
        shown = visible(s.diff)
        diff = nodes.literal_block(shown, shown, language="diff", classes=["labbook-diff"])
        cap = nodes.caption(title, title)
        wrapper = nodes.container(
            "", cap, diff, literal_block=True, classes=["literal-block-wrapper"]
        )
        doctree.note_implicit_target(wrapper, wrapper)  # made after Sphinx's numbering
        box += wrapper
    return box


#: Provider options that name files: relative paths are relative to conf.py.
PATH_OPTIONS = ("inventory", "known_hosts", "identity_file")


def provider_options(app: Sphinx) -> dict[str, Any]:
    options = dict(cfg.value(app.config, "labbook_provider_options") or {})
    for key in PATH_OPTIONS:
        value = options.get(key)
        if isinstance(value, str) and value and not value.startswith(("/", "vagrant:")):
            options[key] = os.path.join(app.confdir, value)
        elif (
            isinstance(value, str)
            and value.startswith("vagrant:")
            and not value[len("vagrant:") :].startswith("/")
        ):
            options[key] = "vagrant:" + os.path.join(app.confdir, value[len("vagrant:") :])
    return options


def session_env(app: Sphinx) -> dict[str, str]:
    """What every node's shell knows about the build: the Python that runs labbook (nodes
    of the netns and vm providers see the host's files read-only, so it runs there too)
    and the directory of conf.py."""
    import sys

    return {"LABBOOK_PYTHON": sys.executable, "LABBOOK_CONFDIR": str(app.confdir)}


def on_doctree_read(app: Sphinx, doctree: nodes.document) -> None:
    env = app.env
    docname = env.docname
    show = bool(cfg.value(app.config, "labbook_show_drift"))
    options = provider_options(app)
    plans = collect_plans(doctree, docname, options, session_env(app))
    try:
        outcome = policy(app).run_document(docname, [p for p, _, _ in plans])
    except Terminated:  # the lab is torn down: end as SIGTERM would have, no traceback
        _end_by_sigterm()
    results = outcome.results
    if outcome.records_error:
        first = plans[0][0].source  # the page's first lab
        warn(
            f"{outcome.records_error}; the recorded results of this page were not updated "
            "(to leave them alone: LABBOOK_RESULTS_LOCKED=1 for sphinx-build, "
            "labbook check --locked)",
            Subtype.RESULTS,
            Location(first.file, first.line)
            if first is not None
            else Location(os.fspath(env.doc2path(docname))),
        )
    if outcome.records_changed:
        records_changed(env)[docname] = True
    else:
        records_changed(env).pop(docname, None)
    noticed: set[str] = set()  # reasons already said on this page
    page_ids: list[list[str]] = []
    for (plan, marker, step_nodes), result in zip(plans, results, strict=True):
        if result.status is not Status.SKIPPED or result.cached or result.recorded:
            from ..report import status_line

            logger.info(f"labbook: {status_line(result)}")
        warn_result(result, plan)
        brief = _said_once(result)
        ids = block_ids(doctree, result)
        for i, n in enumerate(step_nodes):
            box = _decorate(doctree, n, result, result.steps[i], show, brief, ids[i])
            n.replace_self(box)
            doctree.ids[ids[i]] = box
        page_ids.append(ids)
        if brief and result.message not in noticed:  # once a page, at its first lab
            noticed.add(result.message)
            marker.replace_self(_notice(result))
    mark_illustrations(doctree)
    for marker in list(doctree.findall(lab_marker)):
        marker.parent.remove(marker)
    for orphan in list(doctree.findall(lab_step)):  # steps with no lab (already warned)
        orphan.parent.remove(orphan)
    if results:
        results_of(env)[docname] = results
        plans_of(env)[docname] = [p for p, _, _ in plans]
        block_ids_of(env)[docname] = page_ids
    else:
        for get in (results_of, plans_of, block_ids_of):
            get(env).pop(docname, None)


def on_outdated(
    app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str], removed: set[str]
) -> list[str]:
    """Re-read documents whose labs did not pass or could not run, so their drift (or that
    they did not run) is reported again, and with ``force`` every document that has a lab."""
    mode = cfg.value(app.config, "labbook_execute")
    if mode == "off":
        return []
    return sorted(
        d
        for d, rs in results_of(env).items()
        if d not in changed
        and d not in removed
        and (
            mode == "force"
            or any(r.status in (Status.DRIFT, Status.ERROR) or r.not_run or r.stale for r in rs)
        )
    )


def _add_static(app: Sphinx) -> None:
    if app.builder.format == "html":
        static = os.path.join(os.path.dirname(__file__), "static")
        app.config.html_static_path.append(static)
        app.add_css_file("labbook.css")


def setup(app: Sphinx) -> None:
    global _BUILD_PID
    _BUILD_PID = os.getpid()
    _FAILED.clear()
    app.connect("doctree-read", on_doctree_read)
    app.connect("env-get-outdated", on_outdated)
    app.connect("builder-inited", _add_static)
