"""Big, odd and shell-changing output of steps, on the netns provider and the real kernel:
bounded where it is shown, whole on disk, read linearly; a shell that ends is said."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import NEEDS_USERNS

from sphinxext.labbook.providers import output
from sphinxext.labbook.providers.output import OutputBuffer, drop_job_notices
from sphinxext.labbook.report import to_json
from sphinxext.labbook.runner.execute import run_plan
from sphinxext.labbook.steps.model import Command, LabPlan, RunStep, Source
from sphinxext.labbook.verdict.results import Status

SPEC = "name: out\nnodes:\n  alpha: {}\n"
MARK = re.compile(rb"\x1eEND (\d+)\x1e")


@pytest.fixture
def spec(tmp_path: Path) -> str:
    p = tmp_path / "out.yaml"
    p.write_text(SPEC)
    return str(p)


def step(*cmds: tuple[str, list[str]], line: int = 10, **kw) -> RunStep:
    return RunStep(
        node="alpha",
        source=Source("doc.rst", line, "doc"),
        commands=tuple(Command(c, tuple(e), line + 2 * i) for i, (c, e) in enumerate(cmds)),
        **kw,
    )


def plan(spec: str, *steps: RunStep) -> LabPlan:
    return LabPlan(spec_path=spec, steps=steps, document="doc", provider="netns")


# -- the buffer alone -----------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 3, 7, 4096])
def test_the_end_marker_is_found_across_any_split(size: int, tmp_path: Path) -> None:
    data = b"".join(b"line %d\n" % i for i in range(5000)) + b"\x1eEND 7\x1etrailing"
    buf = OutputBuffer(MARK, 12, str(tmp_path / "whole.out"))
    done = False
    for i in range(0, len(data), size):
        done = buf.feed(data[i : i + size])
        if done:
            break
    assert done and buf.rc == 7
    text, whole = buf.text()
    # the whole output, marker excluded, is on disk; the text shows its head and tail
    assert Path(whole).read_bytes() == data[: data.index(b"\x1e")]
    lines = text.splitlines()
    assert lines[: output.HEAD_LINES] == [f"line {i}" for i in range(output.HEAD_LINES)]
    assert lines[-1] == "line 4999" and len(lines) == output.HEAD_LINES + output.TAIL_LINES + 1
    assert "4,600 lines" in lines[output.HEAD_LINES] and whole in lines[output.HEAD_LINES]


def test_a_short_output_is_whole_and_kept_nowhere(tmp_path: Path) -> None:
    buf = OutputBuffer(MARK, 12, str(tmp_path / "whole.out"))
    assert buf.feed(b"a\nb\n\x1eEN") is False
    assert buf.feed(b"D 0\x1e") is True
    assert buf.text() == ("a\nb\n", "")
    assert not (tmp_path / "whole.out").exists()


def test_one_huge_line_is_cut_by_bytes(tmp_path: Path) -> None:
    buf = OutputBuffer(MARK, 12, str(tmp_path / "w.out"))
    for _ in range(256):
        buf.feed(b"x" * 65536)
    buf.feed(b"\n\x1eEND 0\x1e")
    text, whole = buf.text()
    assert len(text) < output.HEAD_BYTES + output.TAIL_BYTES + 500
    assert "of this command's 16,777,217-byte output cut here" in text
    assert os.path.getsize(whole) == 16 * 2**20 + 1


def test_job_notices_are_dropped_and_nothing_else() -> None:
    text = (
        "before\n"
        "bash: line 6:  3120 Killed                  sleep 500\n"
        "bash: line 9: 31 Terminated              python3 -m http.server\n"
        "bash: line 2: cd: /nowhere: No such file or directory\n"
        "after\n"
    )
    assert drop_job_notices(text, {"3120", "31"}) == (
        "before\nbash: line 2: cd: /nowhere: No such file or directory\nafter\n"
    )


# -- through a real lab -----------------------------------------------------------------------
@NEEDS_USERNS
def test_a_16_mb_step_is_shown_bounded_and_kept_whole(spec: str, tmp_path: Path) -> None:
    outdir = tmp_path / "outputs"
    r = run_plan(
        plan(
            spec,
            step(("yes 'some output line' | head -c 16777216; echo; echo last", ["expected"])),
            step(("echo next", ["next"])),
        ),
        output_dir=str(outdir),
    )
    first = r.steps[0]
    assert first.status is Status.DRIFT and r.steps[1].status is Status.PASSED
    cmd = first.commands[0]
    assert cmd.full_output.startswith(str(outdir / r.lab))
    assert os.path.getsize(cmd.full_output) == 16 * 2**20 + len("\nlast\n")
    assert cmd.output.endswith("\nlast\n") and "output cut here" in cmd.output
    assert cmd.output.count("\n") <= output.HEAD_LINES + output.TAIL_LINES + 2
    assert len(first.diff) < 100_000
    report = json.dumps(to_json([r]))
    assert len(report) < 300_000 and cmd.full_output in report


@NEEDS_USERNS
@pytest.mark.parametrize("command", ["exit", "exit 3", "exec bash", "cd /tmp; exec bash -l"])
def test_a_step_that_ends_the_shell_is_an_error_there(spec: str, command: str) -> None:
    r = run_plan(
        plan(
            spec,
            step(("export KEPT=1; cd /etc", [])),
            step((command, []), line=20),
            step(("echo ${KEPT:-lost} $PWD", ["lost /root"]), line=30),
        )
    )
    ended = r.steps[1]
    assert ended.status is Status.ERROR and ended.line == 20
    assert f"`{command}` ended the shell of alpha" in ended.message
    assert "new shell" in ended.message
    assert r.steps[2].status is Status.PASSED  # and the next one runs, in a new shell


@NEEDS_USERNS
def test_a_killed_background_job_says_nothing_in_later_steps(spec: str) -> None:
    r = run_plan(
        plan(
            spec,
            step(("sleep 500 & echo $! > /tmp/job.pid", [])),
            step(("kill -KILL $(cat /tmp/job.pid); sleep 0.2; echo killed", ["killed"])),
            step(("sleep 300 & echo started", ["started"])),
            step(("kill -TERM %1 && sleep 0.2 && echo stopped", ["stopped"])),
            step(("echo clean", ["clean"])),
        )
    )
    assert [s.status for s in r.steps] == [Status.PASSED] * 5, [s.diff for s in r.steps]


@NEEDS_USERNS
@pytest.mark.sphinx("html", testroot="lab-flood", freshenv=True)
def test_a_flood_is_bounded_in_warnings_pages_and_doctrees(app) -> None:
    from conftest import warnings_of

    from sphinxext.labbook.sphinx.envdata import results_of

    app.build()
    (result,) = results_of(app.env)["index"]
    seq, flat = (s.commands[0] for s in result.steps)
    assert result.steps[0].status is Status.DRIFT and result.steps[1].status is Status.DRIFT
    # the whole outputs are in the doctree directory, under the lab's name
    where = Path(app.doctreedir) / "labbook-output" / result.lab
    assert Path(seq.full_output).parent == where and Path(flat.full_output).parent == where
    assert Path(seq.full_output).read_text().endswith("999999\n1000000\nthe end\n")
    assert os.path.getsize(flat.full_output) == 200_000 * len("no newline at all ")
    warnings = warnings_of(app)
    assert len(warnings) < 200_000 and seq.full_output in warnings
    html = (Path(app.outdir) / "index.html").read_text()
    assert len(html) < 600_000 and "the end" in html and "output cut here" in html
    doctrees = sum(p.stat().st_size for p in Path(app.doctreedir).rglob("*.doctree"))
    assert doctrees < 600_000


@NEEDS_USERNS
def test_a_foreground_command_killed_by_a_signal_still_says_so(spec: str) -> None:
    from sphinxext.labbook.providers import get_provider
    from sphinxext.labbook.spec import load_spec

    with get_provider("netns").up(load_spec(spec), f"fg-{os.getpid() % 100000}") as lab:
        s = lab.session("alpha")
        s.run("sleep 300 &")
        res = s.run("sh -c 'kill -KILL $$'; kill -KILL %1; sleep 0.3; echo after")
        # the command's own death is its output; the background job's notice is not
        assert re.fullmatch(
            r"bash: line \d+: +\d+ Killed +sh -c 'kill -KILL \$\$'\nafter\n", res.stdout
        ), res.stdout
        s.run("sleep 250 & echo $! > /tmp/job")
        lab.exec("alpha", ["sh", "-c", "kill -KILL $(cat /tmp/job)"])  # from outside the shell
        assert s.run("sleep 0.2; echo quiet").stdout == "quiet\n"
        assert s.run("echo still quiet").stdout == "still quiet\n"


def test_what_comes_before_the_begin_mark_is_dropped_unless_it_never_comes() -> None:
    begin = b"\x1eBEGIN\x1e"
    buf = OutputBuffer(MARK, 12, None, begin=begin)
    for piece in (b"bash: line 3: 77 Killed  sleep 9\n\x1eBE", b"GIN\x1eout\n\x1eEND 0\x1e"):
        buf.feed(piece)
    assert buf.text() == ("out\n", "")
    never = OutputBuffer(MARK, 12, None, begin=begin)
    never.feed(b"bash: line 1: syntax error near unexpected token `;'\n")
    assert never.text()[0] == "bash: line 1: syntax error near unexpected token `;'\n"


@NEEDS_USERNS
def test_a_syntax_error_ends_the_shell_and_says_why(spec: str) -> None:
    r = run_plan(plan(spec, step(("echo a; if ; fi", []), line=40)))
    (bad,) = r.steps
    assert bad.status is Status.ERROR and bad.line == 40
    assert "ended the shell of alpha (exit status 2" in bad.message
    assert "syntax error near unexpected token" in bad.diff
