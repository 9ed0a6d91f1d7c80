"""The execution policy, shared by the Sphinx front end and ``labbook check``: which labs
run, which results are shown from the cache or the recorded results, and what is recorded.

One small strategy per ``labbook_execute`` mode (as MyST-NB's ``create_client``):

- ``off``: render without running;
- ``force``: run every lab;
- ``auto``: reuse results this machine cached whose inputs did not change, run the others;
- ``cache``: only show recorded (or cached) results, never bring a lab up.

Every strategy that runs labs records them (``labbook_results``); only ``cache`` shows
recorded results.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import LabbookError
from ..steps.model import LabPlan
from ..verdict.results import UP_FAILED, PlanResult, Status, StepResult
from .cache import ResultCache
from .keys import lab_key, plan_key, step_keys
from .records import RecordStore, lab_record, recorded_result, same_verdict

MODES = ("auto", "cache", "force", "off")


def skipped(plan: LabPlan, message: str, not_run: str = "") -> PlanResult:
    steps = tuple(
        StepResult(
            i, s.kind, s.node, Status.SKIPPED, s.source.line, message=message, file=s.source.file
        )
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


def could_not_run(plan: LabPlan, reason: str) -> PlanResult:
    """A lab meant to run that this machine cannot run (one ``labbook.not-run`` warning)."""
    return skipped(plan, f"not run: {reason}", not_run=reason)


def failed(plan: LabPlan, message: str) -> PlanResult:
    """A lab that could not be brought up: every step an error."""
    s = skipped(plan, message)
    return replace(
        s,
        status=Status.ERROR,
        steps=tuple(replace(x, status=Status.ERROR) for x in s.steps),
        up_failed=True,
    )


@dataclass
class Context:
    """What every strategy shares: where results are kept and how to run."""

    cache: ResultCache | None = None
    records: RecordStore | None = None
    #: Do not write the recorded results; only say which documents' would change.
    locked: bool = False
    stop_on_fail: bool = False
    #: Compare machines that exist with the pages without changing them (``--no-apply``,
    #: the ssh provider only); such a check is never written to the recorded results.
    no_apply: bool = False
    #: Labs of this process that failed (``stop_on_fail`` stops at the first).
    failures: list[str] = field(default_factory=list)
    #: Called with a plan before its lab is brought up (progress, ``-j`` workers' set-up).
    before_run: Callable[[LabPlan], None] = lambda plan: None
    #: Where the whole output of commands too long to show is kept (None: the default).
    output_dir: str | None = None


@dataclass
class Outcome:
    """The results of a document's labs, and whether its recorded results changed (or,
    ``locked``, would change)."""

    results: list[PlanResult]
    records_changed: bool = False
    #: Why the recorded results could not be written ("" when they were, or need not be).
    records_error: str = ""


@dataclass
class _Lab:
    """One plan as the policy sees it: provider settings and content keys."""

    plan: LabPlan
    settings: dict[str, Any] | None = None
    provider: Any = None
    error: str = ""
    key: str = ""
    lab_key: str = ""
    step_keys: list[str] = field(default_factory=list)
    record: dict[str, Any] | None = None
    #: Why the lab is not run at all (before any provider is asked).
    not_run: str = ""


class Policy:
    """The base strategy: work out each lab's keys, ask :meth:`decide`, record."""

    mode = ""
    #: Whether labs that ran are written to the recorded results.
    records_runs = True

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def run_document(self, document: str, plans: Sequence[LabPlan]) -> Outcome:
        labs = [self._prepare(p) for p in plans]
        if self.ctx.records is not None:
            for lab, rec in zip(labs, self.ctx.records.labs_for(document, plans), strict=True):
                lab.record = rec
        results = [self._result(lab) for lab in labs]
        try:
            changed = self._record(document, labs, results) if self.records_runs else False
        except OSError as exc:  # a read-only checkout: the labs ran, the record stays
            assert self.ctx.records is not None
            where = self.ctx.records.path(document)
            why = f"cannot write {where}: {exc.strerror or exc}"
            return Outcome(results, False, why)
        return Outcome(results, changed)

    def _prepare(self, plan: LabPlan) -> _Lab:
        from ..providers import get_provider

        if self.ctx.no_apply:
            if plan.provider != "ssh":
                return _Lab(
                    plan,
                    not_run="labbook_no_apply compares machines that exist (the ssh "
                    f"provider); the {plan.provider} provider makes new ones",
                )
            plan = replace(plan, apply=False)
        lab = _Lab(plan)
        try:
            lab.provider = get_provider(plan.provider, **dict(plan.provider_options))
            lab.settings = lab.provider.settings()
        except LabbookError as exc:  # bad provider options: an error, never a silent skip
            lab.error = exc.message
            return lab
        lab.key = plan_key(plan, lab.settings)
        lab.lab_key = lab_key(plan, lab.settings)
        lab.step_keys = step_keys(plan, lab.settings)
        return lab

    def _result(self, lab: _Lab) -> PlanResult:
        if lab.not_run:
            return could_not_run(lab.plan, lab.not_run)
        if lab.error:
            return failed(lab.plan, f"{UP_FAILED}: {lab.error}")
        if not lab.plan.steps:
            return skipped(lab.plan, "the lab has no steps")
        return self.decide(lab)

    def decide(self, lab: _Lab) -> PlanResult:
        raise NotImplementedError

    # -- shown without running -----------------------------------------------------------
    def _cached(self, lab: _Lab, passed_only: bool) -> PlanResult | None:
        if self.ctx.cache is None:
            return None
        hit = self.ctx.cache.get(lab.key)
        if hit is None or (passed_only and hit.status is not Status.PASSED):
            return None
        return replace(hit, cached=True, document=lab.plan.document)

    def _recorded(self, lab: _Lab) -> PlanResult | None:
        if lab.record is None:
            return None
        return recorded_result(lab.plan, lab.record, lab.step_keys)

    # -- running -------------------------------------------------------------------------
    def _run(self, lab: _Lab) -> PlanResult:
        from .execute import run_plan

        plan = lab.plan
        why_not = lab.provider.unavailable()
        if why_not:  # this machine cannot run the provider (no QEMU, no kernel, ...)
            return could_not_run(
                plan, f"the {plan.provider} provider is not available here: {why_not}"
            )
        if self.ctx.stop_on_fail and self.ctx.failures:
            return skipped(
                plan, f"not run: stopped after the first failure ({self.ctx.failures[0]})"
            )
        self.ctx.before_run(plan)
        result = run_plan(plan, stop_on_fail=self.ctx.stop_on_fail, output_dir=self.ctx.output_dir)
        if self.ctx.cache is not None:
            self.ctx.cache.put(lab.key, result)
        if result.status in (Status.DRIFT, Status.ERROR):
            import os

            self.ctx.failures.append(f"{plan.document}: {os.path.basename(plan.spec_path)}")
        return result

    # -- recording -----------------------------------------------------------------------
    def _record(self, document: str, labs: list[_Lab], results: list[PlanResult]) -> bool:
        """Write the document's recorded results when one of its labs ran; a lab that
        did not run here keeps what was recorded for it. True when the file changed."""
        if self.ctx.no_apply:
            return False
        store = self.ctx.records
        if store is None or not any(_ran(r) for r in results):
            return False
        out = []
        for lab, result in zip(labs, results, strict=True):
            if not _ran(result) or lab.error:
                if lab.record is not None:
                    out.append(lab.record)
                continue
            new = lab_record(lab.plan, result, store.root, lab.lab_key, lab.step_keys)
            # the same verdicts on the same inputs: keep the record as it was (its output,
            # date and machine), so that a re-run leaves no diff
            out.append(lab.record if same_verdict(lab.record, new) else new)  # type: ignore[arg-type]
        if not store.would_change(document, out):
            return False
        if not self.ctx.locked:
            store.write(document, out)
        return True


def _ran(r: PlanResult) -> bool:
    """The result comes from a run on this machine (now, or cached from an earlier build)."""
    return not r.recorded and (r.status is not Status.SKIPPED or r.cached) and not r.up_failed


class Off(Policy):
    mode = "off"
    records_runs = False

    def _result(self, lab: _Lab) -> PlanResult:
        return skipped(lab.plan, "not run: labbook_execute is off")


class Force(Policy):
    mode = "force"

    def decide(self, lab: _Lab) -> PlanResult:
        return self._run(lab)


class Auto(Policy):
    """Reuses what this machine ran before (the build directory's cache), not recorded
    results: a build that can run labs verifies its pages itself. A lab this machine
    cannot run (its provider says why) shows its recorded result instead, when one is
    recorded for these very steps; else it is not run."""

    mode = "auto"

    def decide(self, lab: _Lab) -> PlanResult:
        cached = self._cached(lab, passed_only=True)
        if cached is not None:
            return cached
        if lab.provider.unavailable():
            shown = self._recorded(lab)
            if shown is not None and not shown.stale:
                return shown
        return self._run(lab)


class Cache(Policy):
    mode = "cache"
    records_runs = False

    def decide(self, lab: _Lab) -> PlanResult:
        shown = self._recorded(lab) or self._cached(lab, passed_only=False)
        if shown is not None:
            return shown
        why = "no recorded result (labbook_execute is 'cache')"
        unreadable = self.ctx.records.unreadable if self.ctx.records is not None else {}
        if lab.plan.document in unreadable:
            why += f"; cannot read {unreadable[lab.plan.document]}"
        return could_not_run(lab.plan, why)


STRATEGIES: dict[str, type[Policy]] = {p.mode: p for p in (Off, Force, Auto, Cache)}


def create_policy(mode: str, ctx: Context) -> Policy:
    """The strategy of ``mode`` (one of :data:`MODES`)."""
    try:
        return STRATEGIES[mode](ctx)
    except KeyError:
        raise ValueError(f"unknown execution mode {mode!r}: one of {', '.join(MODES)}") from None
