"""Run each document's labs when it is read; mark every step; keep results on env."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from docutils import nodes
from sphinx.util import logging

from ..errors import LabbookError
from ..location import Location
from ..report import counted
from ..steps.model import LabPlan, Source
from ..verdict.results import UP_FAILED, PlanResult, Status, StepResult
from . import config as cfg
from .envdata import plans_of, results_of
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


def _skipped(plan: LabPlan, message: str, not_run: str = "") -> PlanResult:
    steps = tuple(
        StepResult(i, s.kind, s.node, Status.SKIPPED, s.source.line, message=message)
        for i, s in enumerate(plan.steps)
    )
    return PlanResult(
        plan.spec_path,
        "",
        plan.document,
        plan.provider,
        Status.SKIPPED,
        steps,
        0.0,
        time.time(),
        message=message,
        not_run=not_run,
    )


def _could_not_run(plan: LabPlan, reason: str) -> PlanResult:
    """A lab meant to run that this machine cannot run (one ``labbook.not-run`` warning)."""
    return _skipped(plan, f"not run: {reason}", not_run=reason)


def _failed(plan: LabPlan, message: str) -> PlanResult:
    from dataclasses import replace

    skipped = _skipped(plan, message)
    return replace(
        skipped,
        status=Status.ERROR,
        steps=tuple(replace(s, status=Status.ERROR) for s in skipped.steps),
    )


def cache_dir(app: Sphinx) -> str:
    configured = cfg.value(app.config, "labbook_cache_dir")
    if configured:
        return os.path.join(app.confdir, configured)
    return os.path.join(app.doctreedir, "labbook-cache")


def execute(app: Sphinx, plan: LabPlan) -> PlanResult:
    """The result of ``plan`` under the configured execution mode (running it if needed)."""
    from dataclasses import replace

    from ..providers import get_provider
    from ..runner.cache import ResultCache, plan_key
    from ..runner.execute import run_plan

    mode = cfg.value(app.config, "labbook_execute")
    if mode == "off":
        return _skipped(plan, "not run: labbook_execute is off")
    if not plan.steps:
        return _skipped(plan, "the lab has no steps")
    try:
        provider = get_provider(plan.provider, **dict(plan.provider_options))
        settings = provider.settings()
    except LabbookError as exc:  # bad provider options: an error, never a silent skip
        return _failed(plan, f"{UP_FAILED}: {exc.message}")
    cache = ResultCache(cache_dir(app))
    key = plan_key(plan, settings)
    if mode in ("auto", "cache"):  # showing a recorded result needs no provider
        hit = cache.get(key)
        if hit is not None and (mode == "cache" or hit.status is Status.PASSED):
            return replace(hit, cached=True, document=plan.document)
        if mode == "cache":
            return _could_not_run(plan, "no recorded result (labbook_execute is 'cache')")
    why_not = provider.unavailable()
    if why_not:  # this machine cannot run the provider (no QEMU, no kernel, ...)
        return _could_not_run(
            plan, f"the {plan.provider} provider is not available here: {why_not}"
        )
    _die_with_the_build()
    stop = bool(cfg.value(app.config, "labbook_stop_on_fail"))
    if stop and _FAILED:
        return _skipped(plan, f"not run: stopped after the first failure ({_FAILED[0]})")
    logger.info(
        f"labbook: {plan.document}: bringing up {os.path.basename(plan.spec_path)} "
        f"({plan.provider}, {counted(len(plan.steps), 'step')})"
    )
    result = run_plan(plan, stop_on_fail=stop)
    cache.put(key, result)
    if result.status in (Status.DRIFT, Status.ERROR):
        _FAILED.append(f"{plan.document}: {os.path.basename(plan.spec_path)}")
    return result


#: Labs of this build that failed, for ``labbook_stop_on_fail`` (-x) to stop at the first
#: (per process: with -j, each worker stops at its own first failure).
_FAILED: list[str] = []

#: The process that set the extension up: sphinx-build itself, not a -j worker.
_BUILD_PID = os.getpid()


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
    by_index = {s.index: s for s in r.steps}
    for s in sorted(by_index.values(), key=lambda s: s.index):
        if s.status not in (Status.DRIFT, Status.ERROR):
            continue
        text = s.message or s.status.value
        if s.diff:
            text += "\n" + s.diff.rstrip("\n")
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
    para += nodes.inline(text, text)
    return para


def _mark(r: PlanResult, s: StepResult, brief: bool = False) -> nodes.Node:
    day = time.strftime("%Y-%m-%d", time.gmtime(r.started))
    words = {
        Status.PASSED: f"✓ verified on {r.provider}, {day}" + (" (cached)" if r.cached else ""),
        Status.DRIFT: f"✗ drift on {r.provider}, {day}",
        Status.ERROR: "! not run" if brief else f"! error on {r.provider}: {s.message}",
        Status.SKIPPED: "not run" if brief else s.message or "not run",
    }
    text = words[s.status]
    para = nodes.paragraph("", "", classes=["labbook-mark", f"labbook-{s.status.value}"])
    para += nodes.inline(text, text)
    return para


def _decorate(
    doctree: nodes.document,
    node: lab_step,
    r: PlanResult,
    s: StepResult,
    show_drift: bool,
    brief: bool,
) -> nodes.Node:
    step = node["step"]
    box = nodes.container(
        classes=["labbook-step", f"labbook-{s.status.value}", f"labbook-{step.kind}"]
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
        diff = nodes.literal_block(s.diff, s.diff, language="diff", classes=["labbook-diff"])
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
    results: list[PlanResult] = []
    for plan, marker, step_nodes in plans:
        result = execute(app, plan)
        results.append(result)
        if result.status is not Status.SKIPPED or result.cached:
            from ..report import status_line

            logger.info(f"labbook: {status_line(result)}")
        warn_result(result, plan)
        brief = _said_once(result)
        for i, n in enumerate(step_nodes):
            n.replace_self(_decorate(doctree, n, result, result.steps[i], show, brief))
        if brief:
            marker.replace_self(_notice(result))
    for marker in list(doctree.findall(lab_marker)):
        marker.parent.remove(marker)
    for orphan in list(doctree.findall(lab_step)):  # steps with no lab (already warned)
        orphan.parent.remove(orphan)
    if results:
        results_of(env)[docname] = results
        plans_of(env)[docname] = [p for p, _, _ in plans]
    else:
        results_of(env).pop(docname, None)
        plans_of(env).pop(docname, None)


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
            or any(r.status in (Status.DRIFT, Status.ERROR) or r.not_run for r in rs)
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
