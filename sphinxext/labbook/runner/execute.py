"""Execute a :class:`LabPlan`: up, steps in order, end-of-lab file re-check, down."""

from __future__ import annotations

import os
import secrets
import shlex
import time
from dataclasses import replace
from typing import Any

from ..errors import LabbookError, ProviderError
from ..providers import Lab, get_provider
from ..providers.result import ExecResult
from ..spec import LabSpec, load_spec
from ..steps.model import Command, FileStep, LabPlan, MatchMode, RunStep, Step
from ..verdict.results import UP_FAILED, CommandResult, PlanResult, Status, StepResult
from .signals import sigterm_raises
from .where import where

#: How long a background command must stay alive to count as started.
BACKGROUND_GRACE = 0.5
#: How long the small commands that start and watch a background command may take: a
#: node's shell answers them at once, but a VM under TCG on a busy machine can take
#: seconds, and a timeout ends the node's session.
BACKGROUND_HELPER_TIMEOUT = 60.0
#: Between two tries of a ``:retry:`` step.
RETRY_INTERVAL = 0.25
#: The exit status a command uses to say "skip me" (as cram and Scrut read it): the
#: step is not run, and says so with what the command printed.
SKIP_STATUS = 80


def default_output_dir() -> str:
    """Where long outputs are kept when the caller says nothing: the user's cache."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "labbook", "output")


def lab_name_for(spec: LabSpec) -> str:
    """A unique running-lab name: the spec's name and a random suffix (max 24 chars)."""
    return f"{spec.name[:15].rstrip('-')}-{secrets.token_hex(4)}"


def run_plan(
    plan: LabPlan, *, stop_on_fail: bool = False, output_dir: str | None = None
) -> PlanResult:
    """Run every step of ``plan`` in a fresh lab; the lab is always torn down.

    Spec errors raise (bad input); a lab that cannot come up gives a result whose
    steps are all ``error``; drift never raises. The whole output of a command too long
    to show is kept in ``output_dir``/LAB-NAME/ (default: :func:`default_output_dir`).
    """
    started = time.time()
    t0 = time.monotonic()
    spec = load_spec(plan.spec_path)
    name = plan.name or lab_name_for(spec)
    provider = get_provider(plan.provider, **dict(plan.provider_options))
    results: list[StepResult] = []
    with sigterm_raises():
        try:
            lab = provider.up(spec, name)
        except ProviderError as exc:
            message = f"{UP_FAILED}: {exc.message}"
            steps = tuple(_not_run(i, s, Status.ERROR, message) for i, s in enumerate(plan.steps))
            return PlanResult(
                plan.spec_path,
                name,
                plan.document,
                plan.provider,
                Status.ERROR,
                steps,
                time.monotonic() - t0,
                started,
                message=message,
                up_failed=True,
                where=where(plan.provider, started, time.monotonic() - t0),
            )
        lab.session_env.update(dict(plan.env))
        lab.output_dir = os.path.join(output_dir or default_output_dir(), name)
        kernel = lab.kernel_release
        with lab:
            # Providers that cannot build the topology (ssh) check it at up and list drift.
            topology = [str(x) for x in lab.topology_drift]
            if plan.apply:
                results = _run_steps(lab, plan, stop_on_fail)
                results = _recheck_files(lab, plan, results)
                results = _apply_again(lab, plan, results)
            else:
                from .compare import compare_steps

                results = compare_steps(lab, plan, _run_commands)
    status = _overall(results)
    drift: dict[str, Any] = {}
    if topology:
        status = Status.ERROR if status is Status.ERROR else Status.DRIFT
        drift = {
            "message": "topology drift: " + "; ".join(topology),
            "extra": {"topology_drift": topology},
        }
    return PlanResult(
        plan.spec_path,
        name,
        plan.document,
        plan.provider,
        status,
        tuple(results),
        time.monotonic() - t0,
        started,
        where=where(plan.provider, started, time.monotonic() - t0, kernel),
        **drift,
    )


def _overall(results: list[StepResult]) -> Status:
    statuses = {r.status for r in results}
    for s in (Status.ERROR, Status.DRIFT, Status.PASSED):
        if s in statuses:
            return s
    return Status.SKIPPED


def _not_run(index: int, step: Step, status: Status, message: str) -> StepResult:
    return StepResult(
        index,
        step.kind,
        step.node,
        status,
        step.source.line,
        message=message,
        file=step.source.file,
    )


def _run_steps(lab: Lab, plan: LabPlan, stop_on_fail: bool) -> list[StepResult]:
    results: list[StepResult] = []
    failed = False
    for i, step in enumerate(plan.steps):
        if failed and stop_on_fail:
            results.append(_not_run(i, step, Status.SKIPPED, "skipped after an earlier failure"))
            continue
        t = time.monotonic()
        try:
            if isinstance(step, FileStep):
                result = _apply_file(lab, i, step)
            else:
                result = _run_commands(lab, i, step)
        except LabbookError as exc:
            result = StepResult(
                i, step.kind, step.node, Status.ERROR, step.source.line, message=exc.message
            )
        except OSError as exc:  # e.g. a lab-file whose path is a directory on the node
            where = f" {step.path}" if isinstance(step, FileStep) else ""
            result = StepResult(
                i,
                step.kind,
                step.node,
                Status.ERROR,
                step.source.line,
                message=f"on {step.node}{where}: {exc.strerror or exc}",
            )
        result = replace(result, duration=time.monotonic() - t, file=step.source.file)
        results.append(result)
        failed = failed or result.status in (Status.DRIFT, Status.ERROR)
    return results


# -- lab-run ------------------------------------------------------------------------------
def _run_commands(lab: Lab, index: int, step: RunStep) -> StepResult:
    """Every command of the block; drift does not stop the block, an error does."""
    done: list[CommandResult] = []
    for cmd in step.commands:
        if step.background:
            cr = _run_background(lab, step, cmd, len(done))
        else:
            cr = _run_one(lab, step, cmd)
        done.append(cr)
        if cr.status is Status.ERROR:
            break
        if cr.status is Status.SKIPPED:  # the rest of the block needs what it lacked
            return StepResult(
                index,
                "run",
                step.node,
                Status.SKIPPED,
                cr.line,
                diff=_printed(cr.output),
                message=cr.message,
                commands=tuple(done),
            )
    bad = [c for c in done if c.status is not Status.PASSED]
    if not bad:
        return StepResult(
            index, "run", step.node, Status.PASSED, step.source.line, commands=tuple(done)
        )
    status = Status.ERROR if any(c.status is Status.ERROR for c in bad) else Status.DRIFT
    diff = "".join(_headed(c, len(bad) > 1) for c in bad)
    message = bad[0].message + (f" (and {len(bad) - 1} more commands)" if len(bad) > 1 else "")
    return StepResult(
        index,
        "run",
        step.node,
        status,
        bad[0].line,
        diff=diff,
        message=message,
        commands=tuple(done),
    )


def _headed(c: CommandResult, many: bool) -> str:
    if not many:
        return c.diff
    return f"line {c.line}: $ {_short(c.text)}\n{c.diff}"


def _judge(step: RunStep, cmd: Command, output: str, rc: int) -> tuple[bool, str]:
    """Does ``output``/``rc`` agree with the page? Returns (ok, diff)."""
    from ..verdict.matching import match_output

    m = match_output(cmd.expected, output, step.match)
    diff = m.diff
    want = step.rc if cmd.rc is None else cmd.rc
    ok = m.ok and rc == want
    if rc != want:
        diff += f"exit status: the page expects {want}, the command returned {rc}\n"
    return ok, diff


def _run_one(lab: Lab, step: RunStep, cmd: Command) -> CommandResult:
    deadline = time.monotonic() + step.retry
    t = time.monotonic()
    while True:
        res = lab.session(step.node).run(cmd.text, timeout=step.timeout)
        if res.timed_out or res.ended:
            return _shell_lost(step, cmd, res, time.monotonic() - t)
        if res.rc == SKIP_STATUS and (step.rc if cmd.rc is None else cmd.rc) != SKIP_STATUS:
            return _skipped_by(step, cmd, res.rc, res.stdout, time.monotonic() - t)
        ok, diff = _judge(step, cmd, res.stdout, res.rc)
        if ok or time.monotonic() >= deadline:
            break
        time.sleep(min(RETRY_INTERVAL, max(0.0, deadline - time.monotonic())))
    status = Status.PASSED if ok else Status.DRIFT
    message = "" if ok else f"output of `{_short(cmd.text)}` on {step.node} differs from the page"
    if not ok and step.retry:
        message += f" (still after retrying for {step.retry:g} s)"
    if not ok and NO_SPACE in res.stdout:
        full = _full_layer(lab, step.node)
        message += f": {full}" if full else ""
    return CommandResult(
        cmd.text,
        cmd.line,
        res.rc,
        res.stdout,
        time.monotonic() - t,
        status,
        diff=diff,
        message=message,
        full_output=res.full_output,
    )


def _skipped_by(
    step: RunStep, cmd: Command, rc: int, output: str, duration: float
) -> CommandResult:
    said = " ".join(x.strip() for x in output.strip().splitlines()[-3:] if x.strip())
    message = "not run: skipped by the step" + (f": {said}" if said else "")
    return CommandResult(
        cmd.text, cmd.line, rc, output, duration, Status.SKIPPED, message=message[:300]
    )


def _shell_lost(step: RunStep, cmd: Command, res: ExecResult, took: float) -> CommandResult:
    """The error of a command after which the node's shell is gone: it timed out (and
    was killed), or it ended the shell itself."""
    if res.timed_out:
        diff = _partial(res.stdout)
        message = (
            f"timed out after {step.timeout:g} s; the command and everything it started were killed"
        )
    else:
        diff = _partial(res.stdout, "what it printed")
        message = (
            f"`{_short(cmd.text)}` ended the shell of {step.node} (exit status {res.rc}; "
            f"`exit`, `exec` or a syntax error does): later commands on {step.node} run "
            "in a new shell, in /root, without this one's variables"
        )
    return CommandResult(
        cmd.text,
        cmd.line,
        res.rc,
        res.stdout,
        took,
        Status.ERROR,
        diff=diff,
        message=message,
        full_output=res.full_output,
    )


def _run_background(lab: Lab, step: RunStep, cmd: Command, n: int) -> CommandResult:
    """Start ``cmd`` detached from the session, so it keeps running until teardown even if
    a later command of the node times out (which ends the session and its processes).

    The command runs in its own session (``setsid``) under a subshell that exits at once,
    so it is no descendant of the node's shell; it sees the shell's exported variables and
    working directory. A command that daemonizes itself (its first process exits 0 while
    the daemon runs on) counts as started.
    """
    base = f"/tmp/.labbook-background-{n}-{secrets.token_hex(3)}"
    log, pidfile, rcfile = f"{base}.log", f"{base}.pid", f"{base}.rc"
    wrapped = shlex.quote(f"trap 'echo $? > {rcfile}' EXIT\n{cmd.text}")
    sess = lab.session(step.node)
    t = time.monotonic()
    started = sess.run(
        f"( setsid bash -c {wrapped} >{log} 2>&1 </dev/null & echo $! >{pidfile} )\ncat {pidfile}",
        timeout=BACKGROUND_HELPER_TIMEOUT,
    )
    pid = started.stdout.strip().splitlines()[-1] if started.stdout.strip() else ""
    if not pid.isdigit():
        return CommandResult(
            cmd.text,
            cmd.line,
            started.rc,
            started.stdout,
            time.monotonic() - t,
            Status.ERROR,
            message="could not start the command in the background",
        )
    deadline = time.monotonic() + max(BACKGROUND_GRACE, step.retry)
    while True:
        # not `kill -0`: where nothing reaps orphans, a finished daemon lingers as a zombie
        alive = (
            sess.run(
                f's=$(ps -o stat= -p {pid}); [ -n "$s" ] && [ "${{s#Z}}" = "$s" ]',
                timeout=BACKGROUND_HELPER_TIMEOUT,
            ).rc
            == 0
        )
        output = sess.run(f"cat {log}", timeout=BACKGROUND_HELPER_TIMEOUT).stdout
        rc_text = (
            ""
            if alive
            else sess.run(f"cat {rcfile} 2>/dev/null", timeout=BACKGROUND_HELPER_TIMEOUT).stdout
        )
        rc = 0 if alive else int(rc_text.strip()) if rc_text.strip().isdigit() else 255
        ok, diff = _judge(_contains(step), cmd, output, rc)
        if (
            not alive
            or (ok and time.monotonic() >= t + BACKGROUND_GRACE)
            or time.monotonic() >= deadline
        ):
            break
        time.sleep(0.05)
    if not ok:
        why = "" if alive else f"it exited with status {rc}"
        return CommandResult(
            cmd.text,
            cmd.line,
            rc,
            output,
            time.monotonic() - t,
            Status.DRIFT,
            diff=diff + _printed(output),
            message=f"background command `{_short(cmd.text)}` on {step.node} "
            f"did not start as the page says{': ' + why if why else ''}",
        )
    return CommandResult(cmd.text, cmd.line, rc, output, time.monotonic() - t, Status.PASSED)


#: What the C library says of ENOSPC.
NO_SPACE = "No space left on device"


def _full_layer(lab: Lab, node: str) -> str:
    try:
        return lab.full_layer(node)
    except LabbookError:
        return ""


def _printed(output: str) -> str:
    lines = output.splitlines()[-20:]
    return "".join(f"  {x}\n" for x in ["it printed:", *lines]) if lines else ""


def _contains(step: RunStep) -> RunStep:
    contains = step.match is MatchMode.NORMALIZED
    return replace(step, match=MatchMode.CONTAINS if contains else step.match)


def _partial(output: str, what: str = "partial output before the timeout") -> str:
    lines = output.splitlines()[-20:]
    return f"{what}:\n" + "".join(f"  {x}\n" for x in lines)


def _short(text: str, width: int = 60) -> str:
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= width else first[: width - 3] + "..."


# -- lab-file -----------------------------------------------------------------------------
def _apply_file(lab: Lab, index: int, step: FileStep) -> StepResult:
    from ..verdict.configfiles import apply_content, check_content

    existing: bytes | None = None
    if step.merge:
        try:
            existing = lab.get(step.node, step.path)
        except FileNotFoundError:
            existing = None
    data = apply_content(step.content, step.format, step.merge, existing)
    try:
        lab.put(step.node, step.path, data, mode=step.mode, owner=step.owner)
    except (OSError, LabbookError) as exc:
        # a provider's error already says what it could not write, and where
        message = (
            exc.message
            if isinstance(exc, LabbookError)
            else f"cannot write {step.path} on node '{step.node}': {exc.strerror or exc}"
        )
        full = _full_layer(lab, step.node) if NO_SPACE in message or _is_enospc(exc) else ""
        message += f": {full}" if full else ""
        return StepResult(index, "file", step.node, Status.ERROR, step.source.line, message=message)
    back = lab.get(step.node, step.path)
    m = check_content(step.content, step.format, step.merge, back)
    if not m.ok:
        return StepResult(
            index,
            "file",
            step.node,
            Status.DRIFT,
            step.source.line,
            diff=m.diff,
            message=f"{step.path} on {step.node} does not read back as written",
            actual=_text(back),
        )
    if step.mode is not None:
        got = lab.exec(step.node, ["stat", "-c", "%a", step.path]).stdout.strip()
        if got and int(got, 8) != step.mode:
            return StepResult(
                index,
                "file",
                step.node,
                Status.DRIFT,
                step.source.line,
                message=f"{step.path} on {step.node} has mode {got}, the page says {step.mode:o}",
            )
    return StepResult(index, "file", step.node, Status.PASSED, step.source.line, actual=_text(back))


def _recheck_files(lab: Lab, plan: LabPlan, results: list[StepResult]) -> list[StepResult]:
    """At the end of the lab, read every applied file back: a later change is drift too."""
    from ..verdict.configfiles import check_content

    last: dict[tuple[str, str], int] = {}
    for i, step in enumerate(plan.steps):
        if isinstance(step, FileStep) and results[i].status is Status.PASSED:
            last[(step.node, step.path)] = i
    out = list(results)
    for (node, path), i in sorted(last.items(), key=lambda kv: kv[1]):
        step = plan.steps[i]
        assert isinstance(step, FileStep)
        try:
            now = lab.get(node, path)
        except FileNotFoundError:
            out[i] = replace(
                out[i],
                status=Status.DRIFT,
                actual="",
                message=f"{path} on {node} was removed after it was applied; "
                "the page says it exists",
            )
            continue
        except OSError as exc:
            out[i] = replace(
                out[i],
                status=Status.ERROR,
                message=f"cannot read {path} back from {node}: {exc.strerror}",
            )
            continue
        m = check_content(step.content, step.format, step.merge, now)
        if not m.ok:
            out[i] = replace(
                out[i],
                status=Status.DRIFT,
                diff=m.diff,
                actual=_text(now),
                message=f"{path} on {node} was changed by a later step: the page "
                "shows what was applied, the node now has something else",
            )
    return out


def _apply_again(lab: Lab, plan: LabPlan, results: list[StepResult]) -> list[StepResult]:
    """Idempotence: after the lab's steps, every lab-file is applied again, in order; a
    file the second round leaves different from how the lab left it is drift ("applying
    PATH twice changed it") at the last step that changed it. Steps that say
    ``:idempotent: no: WHY`` are applied but not blamed, and listed as waivers."""
    from ..verdict.configfiles import apply_content
    from ..verdict.matching import unified

    out = list(results)
    by_file: dict[tuple[str, str], list[int]] = {}
    for i, step in enumerate(plan.steps):
        if isinstance(step, FileStep):
            by_file.setdefault((step.node, step.path), []).append(i)
            if step.not_idempotent:
                out[i] = replace(out[i], waiver=step.not_idempotent)
    for (node, path), indexes in by_file.items():
        if any(out[i].status is not Status.PASSED for i in indexes):
            continue  # already reported; a second round would only repeat it
        try:
            before = lab.get(node, path)
            current, changer = before, None
            for i in indexes:
                step = plan.steps[i]
                assert isinstance(step, FileStep)
                data = apply_content(step.content, step.format, step.merge, current)
                lab.put(node, path, data, mode=step.mode, owner=step.owner)
                after = lab.get(node, path)
                if after != current and not step.not_idempotent:
                    changer = i
                current = after
        except (OSError, LabbookError):
            continue  # the file went away or cannot be read: _recheck_files said so
        if current == before or changer is None:
            continue
        diff = unified(_text(before).splitlines(), _text(current).splitlines())
        out[changer] = replace(
            out[changer],
            status=Status.DRIFT,
            diff=diff.replace("--- expected\n+++ actual", "--- applied once\n+++ applied twice", 1),
            actual=_text(current),
            message=f"applying {path} twice changed it (on {node}); make the step "
            "idempotent, or waive the check with ':idempotent: no: WHY'",
        )
    return out


def _is_enospc(exc: BaseException) -> bool:
    import errno

    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
