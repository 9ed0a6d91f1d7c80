"""The runner's logic against the fake provider (the real providers have their own tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sphinxext.labbook.errors import SpecErrors, UsageError
from sphinxext.labbook.report import from_json, summary, summary_line, to_json, to_junit
from sphinxext.labbook.runner.execute import run_plan
from sphinxext.labbook.runner.shard import assign, parse_shard, read_order
from sphinxext.labbook.steps.model import Command, FileStep, LabPlan, RunStep, Source
from sphinxext.labbook.verdict.results import Status

SPEC = """name: duo
nodes:
  alpha: {}
  beta: {}
"""


@pytest.fixture
def spec(tmp_path: Path) -> str:
    p = tmp_path / "duo.yaml"
    p.write_text(SPEC)
    return str(p)


def run(node: str, *cmds: tuple[str, list[str]], line: int = 10, **kw) -> RunStep:
    return RunStep(
        node=node,
        source=Source("doc.rst", line, "doc"),
        commands=tuple(Command(c, tuple(e), line + 2 * i) for i, (c, e) in enumerate(cmds)),
        **kw,
    )


def plan(spec: str, *steps, **kw) -> LabPlan:
    return LabPlan(spec_path=spec, steps=tuple(steps), document="doc", provider="fake", **kw)


def test_passing_steps_and_a_shell_that_persists(spec):
    r = run_plan(
        plan(
            spec,
            run("alpha", ("export X=42; cd etc", []), ("echo $X; basename $PWD", ["42", "etc"])),
            run("alpha", ("echo again $X", ["again 42"])),
        )
    )
    assert r.status is Status.PASSED
    assert [s.status for s in r.steps] == [Status.PASSED, Status.PASSED]
    assert r.steps[0].commands[1].output == "42\netc\n"


def test_drift_reports_the_command_line_and_keeps_going(spec):
    r = run_plan(
        plan(
            spec,
            run(
                "alpha",
                ("echo one", ["one"]),
                ("echo two", ["deux"]),
                ("echo three", ["trois"]),
                line=20,
            ),
            run("beta", ("echo fine", ["fine"])),
        )
    )
    first = r.steps[0]
    assert first.status is Status.DRIFT
    assert first.line == 22  # the line of `echo two`, not of the directive
    assert "-deux" in first.diff and "+two" in first.diff
    assert "-trois" in first.diff  # later commands of the block ran too
    assert r.steps[1].status is Status.PASSED
    assert r.status is Status.DRIFT


def test_stop_on_fail_skips_the_rest(spec):
    r = run_plan(
        plan(spec, run("alpha", ("echo a", ["b"])), run("beta", ("true", []))), stop_on_fail=True
    )
    assert [s.status for s in r.steps] == [Status.DRIFT, Status.SKIPPED]


def test_exit_status_is_checked(spec):
    r = run_plan(plan(spec, run("alpha", ("false", [])), run("alpha", ("false", []), rc=1)))
    assert r.steps[0].status is Status.DRIFT
    assert "the page expects 0, the command returned 1" in r.steps[0].diff
    assert r.steps[1].status is Status.PASSED


def test_timeout_is_an_error_with_partial_output(spec):
    r = run_plan(
        plan(
            spec,
            run("alpha", ("echo early; sleep 30", ["early"]), timeout=0.5),
            run("alpha", ("echo next", ["next"])),
        )
    )
    assert r.steps[0].status is Status.ERROR
    assert "timed out after 0.5 s" in r.steps[0].message
    assert "early" in r.steps[0].diff
    assert r.steps[1].status is Status.PASSED


def test_retry_polls_until_the_output_matches(spec, tmp_path):
    flag = tmp_path / "flag"
    step = run(
        "alpha",
        (f"n=$(cat {flag} 2>/dev/null || echo 0); echo $((n+1)) > {flag}; cat {flag}", ["3"]),
        retry=5,
    )
    r = run_plan(plan(spec, step))
    assert r.steps[0].status is Status.PASSED
    assert flag.read_text().strip() == "3"


def test_files_are_applied_merged_and_rechecked(spec):
    whole = FileStep("beta", "/etc/app.ini", ("[a]", "x = 1"), Source("doc.rst", 30), "ini")
    merged = FileStep(
        "beta", "/etc/app.ini", ("[a]", "y = 2"), Source("doc.rst", 40), "ini", merge=True
    )
    r = run_plan(
        plan(spec, whole, merged, run("beta", ("cat etc/app.ini", ["[a]", "x = 1", "y = 2"])))
    )
    assert [s.status for s in r.steps] == [Status.PASSED] * 3
    changed = run("beta", ("sed -i s/2/3/ etc/app.ini", []))
    r = run_plan(plan(spec, whole, merged, changed))
    assert r.steps[1].status is Status.DRIFT
    assert "was changed by a later step" in r.steps[1].message
    assert r.steps[0].status is Status.PASSED  # superseded by the merge that followed


def test_lab_that_cannot_come_up(spec):
    r = run_plan(
        LabPlan(
            spec,
            (run("alpha", ("true", [])),),
            "doc",
            provider="fake",
            provider_options=(("fail_up", "1"),),
        )
    )
    assert r.status is Status.ERROR
    assert r.message.startswith("lab could not be brought up")
    assert r.steps[0].status is Status.ERROR


def test_bad_spec_raises(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnodes: [a]\n")
    with pytest.raises(SpecErrors):
        run_plan(LabPlan(str(bad), (), "doc", provider="fake"))


def test_reports_round_trip_and_junit(spec):
    r = run_plan(plan(spec, run("alpha", ("echo a", ["b"])), run("beta", ("true", []))))
    data = json.loads(json.dumps(to_json([r])))
    assert data["summary"] == {"passed": 1, "drift": 1, "errors": 0, "skipped": 0}
    assert from_json(data) == [r]
    assert summary(from_json(data)) == data["summary"]
    xml = to_junit([r]).decode()
    assert 'tests="2"' in xml and 'failures="1"' in xml and "<failure" in xml


def test_summary_line_counts_in_the_right_number(spec):
    one = run_plan(plan(spec, run("alpha", ("echo a", ["b"])), run("beta", ("true", []))))
    assert summary_line([one]) == "1 lab: 1 passed, 1 drift, 0 errors, 0 skipped"
    broken = run_plan(
        LabPlan(
            spec,
            (run("alpha", ("true", [])),),
            "doc",
            provider="fake",
            provider_options=(("fail_up", "1"),),
        )
    )
    assert (
        summary_line([one, broken], bad_input=1)
        == "2 labs: 1 passed, 1 drift, 1 error, 0 skipped; 1 bad directive or spec"
    )
    assert (
        summary_line([], bad_input=2)
        == "0 labs: 0 passed, 0 drift, 0 errors, 0 skipped; 2 bad directives or specs"
    )


def test_shards_are_balanced_and_deterministic():
    docs = [f"d{i}" for i in range(7)]
    durations = {"d0": 10.0, "d1": 1.0, "d2": 1.0, "d3": 5.0, "d4": 5.0}
    shards = assign(docs, 2, durations)
    assert sorted(d for s in shards for d in s) == docs
    loads = [sum(durations.get(d, 4.4) for d in s) for s in shards]
    assert abs(loads[0] - loads[1]) <= 5.0
    assert assign(list(reversed(docs)), 2, durations) == shards
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/2", "3/2", "x"):
        with pytest.raises(UsageError):
            parse_shard(bad)


def test_the_longest_documents_are_read_side_by_side_in_the_first_chunks():
    # The handbook's shape: 22 documents, the ones with VM labs next to each other by
    # name; sphinx-build -j 2 cuts the sorted list into chunks of 10, 10 and 2, two at a
    # time, so in Sphinx's order the first chunk would hold 198 s of the 300 s of labs.
    docs = [f"doc{i:02}" for i in range(22)]
    weight = {"doc05": 11.0, "doc06": 16.0, "doc07": 30.0, "doc08": 60.0, "doc09": 81.0}
    weight |= {"doc10": 58.0, "doc12": 41.0, "doc13": 1.0, "doc17": 3.0}
    assert sum(weight.get(d, 0.0) for d in docs[:10]) == 198.0
    sizes = [10, 10, 2]
    order = read_order(docs, sizes, 2, weight)
    assert sorted(order) == docs
    chunks = [order[:10], order[10:20], order[20:]]
    loads = [sum(weight.get(d, 0.0) for d in c) for c in chunks]
    assert loads[2] == 0.0  # the chunk that waits for a free process has no lab
    assert abs(loads[0] - loads[1]) <= 11.0  # 300 s split about evenly
    assert read_order(list(reversed(docs)), sizes, 2, weight) == order
    assert all(c == sorted(c) for c in chunks)
    assert read_order(docs[:3], [1, 1, 1], 2, {}) == docs[:3]


def test_plan_environment_reaches_every_session(spec):
    r = run_plan(
        plan(
            spec,
            run("alpha", ("echo $LABBOOK_GREETING", ["hello"])),
            run("beta", ("echo $LABBOOK_GREETING", ["hello"])),
            env=(("LABBOOK_GREETING", "hello"),),
        )
    )
    assert r.status is Status.PASSED


def test_a_file_step_on_a_directory_is_an_error_not_a_crash(spec):
    step = FileStep("alpha", "/etc", ("x = 1",), Source("doc.rst", 5), "ini", merge=True)
    r = run_plan(plan(spec, step, run("alpha", ("echo still runs", ["still runs"]))))
    assert r.steps[0].status is Status.ERROR
    assert "/etc" in r.steps[0].message
    assert r.steps[1].status is Status.PASSED


def test_background_command_survives_a_later_timeout(spec, tmp_path):
    marker = tmp_path / "alive"
    daemon = run(
        "alpha", (f"while :; do date +%s%N > {marker}; sleep 0.1; done", []), background=True
    )
    stuck = run("alpha", ("sleep 30", []), timeout=0.5)
    check = run(
        "beta",
        (
            f"a=$(cat {marker}); sleep 0.5; b=$(cat {marker}); "
            '[ "$a" != "$b" ] && echo still running',
            ["still running"],
        ),
    )
    r = run_plan(plan(spec, daemon, stuck, check))
    assert [s.status for s in r.steps] == [Status.PASSED, Status.ERROR, Status.PASSED]


def test_a_background_command_that_fails_at_once_is_drift_with_its_output(spec):
    r = run_plan(plan(spec, run("alpha", ("echo no such option >&2; exit 3", []), background=True)))
    assert r.steps[0].status is Status.DRIFT
    assert "exited with status 3" in r.steps[0].message
    assert "no such option" in r.steps[0].diff


def test_exit_status_per_command_with_n_lines(spec):
    r = run_plan(
        plan(
            spec,
            RunStep(
                node="alpha",
                source=Source("doc.rst", 10, "doc"),
                commands=(
                    Command("false", (), 11, rc=1),
                    Command("echo ok", ("ok",), 13),
                    Command("exit_with() { return $1; }; exit_with 3", (), 15, rc=4),
                ),
            ),
        )
    )
    (step,) = r.steps
    assert step.status is Status.DRIFT
    assert step.line == 15  # the command whose status differs, not the block
    assert [c.status for c in step.commands] == [Status.PASSED, Status.PASSED, Status.DRIFT]
    assert "the page expects 4, the command returned 3" in step.diff


def test_exit_status_80_skips_the_step_with_what_it_printed(spec):
    r = run_plan(
        plan(
            spec,
            run("alpha", ("echo before", ["before"])),
            run(
                "alpha",
                ("echo 'no 8021q module here'; exit_80() { return 80; }; exit_80", ["x"]),
                ("echo never", ["never"]),
                line=20,
            ),
            run("alpha", ("echo after", ["after"]), line=30),
        )
    )
    assert [s.status for s in r.steps] == [Status.PASSED, Status.SKIPPED, Status.PASSED]
    skipped = r.steps[1]
    assert skipped.message == "not run: skipped by the step: no 8021q module here"
    assert len(skipped.commands) == 1  # the rest of the block did not run
    assert r.status is Status.PASSED


def test_exit_status_80_expected_by_the_page_is_no_skip(spec):
    r = run_plan(plan(spec, run("alpha", ("(exit 80)", []), rc=80)))
    assert r.steps[0].status is Status.PASSED


def test_a_file_that_applying_twice_changes_is_drift_at_its_line(spec):
    merged = FileStep("beta", "/etc/app.yaml", ("a: 1",), Source("doc.rst", 50), "yaml", merge=True)
    # the service rewrites the file in its own layout: the page's merge would undo it
    service = run("beta", ("printf 'a:    1\\nb: [2]\\n' > etc/app.yaml", []), line=60)
    r = run_plan(plan(spec, merged, service))
    assert r.steps[0].status is Status.DRIFT
    assert r.steps[0].line == 50
    assert r.steps[0].message.startswith("applying /etc/app.yaml twice changed it")
    assert "--- applied once" in r.steps[0].diff and "-a:    1" in r.steps[0].diff


def test_idempotent_files_pass_and_waivers_are_reported(spec):
    whole = FileStep("beta", "/etc/app.ini", ("[a]", "x = 1"), Source("doc.rst", 30), "ini")
    merged = FileStep(
        "beta", "/etc/app.ini", ("[a]", "x = 2"), Source("doc.rst", 40), "ini", merge=True
    )
    r = run_plan(plan(spec, whole, merged))
    assert [s.status for s in r.steps] == [Status.PASSED, Status.PASSED]
    waived = FileStep(
        "beta",
        "/etc/app.yaml",
        ("a: 1",),
        Source("doc.rst", 50),
        "yaml",
        merge=True,
        not_idempotent="the service rewrites it",
    )
    service = run("beta", ("printf 'a:    1\\n' > etc/app.yaml", []), line=60)
    r = run_plan(plan(spec, waived, service))
    assert r.steps[0].status is Status.PASSED
    data = to_json([r])
    assert data["waivers"] == [
        {
            "file": "doc.rst",
            "line": 50,
            "node": "beta",
            "document": "doc",
            "why": "the service rewrites it",
        }
    ]
    assert from_json(data)[0].steps[0].waiver == "the service rewrites it"


def test_provider_options_are_key_value_pairs():
    from sphinxext.labbook.providers import parse_options

    assert parse_options(["accel=tcg", "memory=768", "x=a=b", "empty="]) == {
        "accel": "tcg",
        "memory": "768",
        "x": "a=b",
        "empty": "",
    }
    for bad in ("accel", "=tcg"):
        with pytest.raises(ValueError) as info:
            parse_options(["ok=1", bad])
        assert info.value.args == (bad,)
