"""Recorded results (``labbook_results``): keys by content, the files, cache mode on another
machine and path, stale steps, ``labbook check --locked``."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import IS_ROOT, NEEDS_USERNS, ROOTS, warnings_of

from sphinxext.labbook.cli import main
from sphinxext.labbook.providers.labstate import STATE_DIR_ENV
from sphinxext.labbook.runner.keys import step_keys
from sphinxext.labbook.runner.records import MAX_LINES, bounded_lines
from sphinxext.labbook.sphinx.envdata import results_of
from sphinxext.labbook.steps.model import Command, LabPlan, RunStep, Source

RECORDED = re.compile(r"✓ verified on (\w+), \d{4}-\d\d-\d\d \(recorded\)")
STALE = re.compile(r"changed since last verified on (\w+), \d{4}-\d\d-\d\d")


def copy_root(dest: Path, provider: str = "") -> Path:
    shutil.copytree(ROOTS / "test-lab-results", dest)
    if provider:
        with open(dest / "conf.py", "a") as f:
            f.write(f"labbook_provider = {provider!r}\n")
    return dest


# -- keys ----------------------------------------------------------------------------------
def _plan(where: Path, commands: list[str], python: str, first_line: int) -> LabPlan:
    where.mkdir(exist_ok=True)
    (where / "pair.yaml").write_bytes((ROOTS / "test-lab-results" / "pair.yaml").read_bytes())
    (where / "data.txt").write_text("forty-two\n")
    steps = tuple(
        RunStep(
            "alpha",
            (Command(c, ("x",), first_line + 3 * i),),
            Source(str(where / "one.rst"), first_line + 3 * i, "one"),
        )
        for i, c in enumerate(commands)
    )
    return LabPlan(
        str(where / "pair.yaml"),
        steps,
        "one",
        env=(("LABBOOK_CONFDIR", str(where)), ("LABBOOK_PYTHON", python)),
        depends=(str(where / "data.txt"),),
    )


def test_keys_are_by_content_not_path_interpreter_or_line(tmp_path):
    settings = {"provider": "netns"}
    a = _plan(tmp_path / "a", ["echo 1", "echo 2", "echo 3"], "/usr/bin/python3", 5)
    b = _plan(tmp_path / "b", ["echo 1", "echo 2", "echo 3"], "/opt/venv/bin/python", 12)
    assert step_keys(a, settings) == step_keys(b, settings)

    edited = _plan(tmp_path / "c", ["echo 1", "echo two", "echo 3"], "/usr/bin/python3", 5)
    keys, changed = step_keys(a, settings), step_keys(edited, settings)
    # a step's result depends on the steps before it, not on those after it
    assert keys[0] == changed[0] and keys[1] != changed[1] and keys[2] != changed[2]

    assert step_keys(a, {"provider": "vm"})[0] != keys[0]  # provider settings count
    (tmp_path / "a" / "data.txt").write_text("forty-three\n")  # so do :depends: bytes
    assert step_keys(a, settings)[0] != keys[0]
    (tmp_path / "b" / "pair.yaml").write_text("name: other\n")  # and the spec's bytes
    assert step_keys(b, settings)[0] != keys[0]


def test_output_kept_is_bounded_to_head_and_tail():
    assert bounded_lines("a\nb\n") == ["a", "b"]
    lines = bounded_lines("".join(f"{i}\n" for i in range(10 * MAX_LINES)))
    assert len(lines) == MAX_LINES + 1
    assert lines[0] == "0" and lines[-1] == str(10 * MAX_LINES - 1)
    assert lines[MAX_LINES // 2] == f"[... {9 * MAX_LINES} lines cut ...]"


# -- the policy, without Sphinx ------------------------------------------------------------
def _fake_plan(tmp_path: Path, **options: str) -> LabPlan:
    plan = _plan(tmp_path / "p", ["echo x"], "/usr/bin/python3", 5)
    return replace(plan, provider="fake", provider_options=tuple(sorted(options.items())))


def test_the_strategies_share_one_policy(tmp_path):
    from sphinxext.labbook.runner.cache import ResultCache
    from sphinxext.labbook.runner.policy import Context, create_policy
    from sphinxext.labbook.runner.records import RecordStore

    plan = _fake_plan(tmp_path)
    store = RecordStore(str(tmp_path / "records"), str(tmp_path / "p"))
    ctx = Context(cache=ResultCache(str(tmp_path / "cache")), records=store)
    (off,) = create_policy("off", ctx).run_document("one", [plan]).results
    assert off.status.value == "skipped" and not off.not_run
    (shown,) = create_policy("cache", ctx).run_document("one", [plan]).results
    assert shown.not_run.startswith("no recorded result")
    ran = create_policy("force", ctx).run_document("one", [plan])
    assert ran.results[0].status.value == "passed" and ran.records_changed
    (shown,) = create_policy("cache", ctx).run_document("one", [plan]).results
    assert shown.recorded and shown.status.value == "passed"
    assert shown.where["provider"] == "fake" and shown.where["labbook"]
    with pytest.raises(ValueError, match="unknown execution mode"):
        create_policy("sometimes", ctx)

    # a record a merge left conflict markers in: not shown, and the reason says which file
    path = Path(store.path("one"))
    path.write_text("<<<<<<< HEAD\n" + path.read_text())
    ctx = Context(records=store)  # no build-directory cache to fall back on
    (shown,) = create_policy("cache", ctx).run_document("one", [plan]).results
    assert not shown.recorded and f"cannot read {path}: " in shown.not_run
    # a step record edited by hand into something else: that step is stale, not a crash
    path.write_text(path.read_text().split("\n", 1)[1].replace('"passed"', '"fine"'))
    (shown,) = create_policy("cache", ctx).run_document("one", [plan]).results
    assert [s.stale for s in shown.steps] == [True]


def test_auto_mode_shows_the_record_of_a_lab_this_machine_cannot_run(tmp_path):
    from sphinxext.labbook.runner.policy import Context, create_policy
    from sphinxext.labbook.runner.records import RecordStore

    store = RecordStore(str(tmp_path / "records"), str(tmp_path / "p"))
    ctx = Context(records=store)
    elsewhere = _fake_plan(tmp_path, unavailable="it needs root here")
    (r,) = create_policy("auto", ctx).run_document("one", [elsewhere]).results
    assert r.not_run and "it needs root here" in r.not_run  # nothing recorded: not run
    # recorded where the lab runs; shown here, where it cannot, as recorded
    assert create_policy("force", ctx).run_document("one", [_fake_plan(tmp_path)]).records_changed
    (r,) = create_policy("auto", ctx).run_document("one", [elsewhere]).results
    assert r.recorded and r.status.value == "passed" and r.where["provider"] == "fake"
    # a step changed since: the record is stale, so the lab is not run, not shown as verified
    edited = _plan(tmp_path / "p", ["echo y"], "/usr/bin/python3", 5)
    edited = replace(edited, provider="fake", provider_options=(("unavailable", "no"),))
    (r,) = create_policy("auto", ctx).run_document("one", [edited]).results
    assert not r.recorded and r.not_run


def test_a_lab_that_cannot_come_up_says_so_in_a_typed_field(tmp_path):
    from sphinxext.labbook.runner.policy import Context, create_policy

    ctx = Context()
    (r,) = (
        create_policy("force", ctx).run_document("one", [_fake_plan(tmp_path, fail_up="1")]).results
    )
    assert r.up_failed and r.status.value == "error"
    (r,) = (
        create_policy("force", ctx)
        .run_document("one", [_fake_plan(tmp_path, unavailable="no")])
        .results
    )
    assert not r.up_failed and r.not_run  # cannot run here: not a failure to come up
    assert not replace(r, message="lab could not be brought up: x").up_failed  # not the words


# -- Sphinx, fake provider -----------------------------------------------------------------
def test_auto_mode_runs_labs_and_rewrites_only_records_that_changed(tmp_path, make_app):
    src = copy_root(tmp_path / "src", "fake")
    first = make_app("html", srcdir=src, freshenv=True)
    first.build()
    assert "[labbook" not in warnings_of(first)
    assert sorted(p.name for p in (src / "_results").rglob("*.json")) == ["one.json", "two.json"]
    before = (src / "_results" / "one.json").read_bytes()

    shutil.rmtree(Path(first.doctreedir) / "labbook-cache")
    two = src / "sub" / "two.rst"
    two.write_text(two.read_text().replace("echo two\n   two", "echo deux\n   deux"))
    again = make_app("html", srcdir=src, freshenv=True, confoverrides={"labbook_execute": "auto"})
    again.build()
    assert "[labbook" not in warnings_of(again)
    results = results_of(again.env)
    # a build that can run labs verifies its pages itself: recorded results are not shown
    assert [(r.recorded, r.cached) for rs in results.values() for r in rs] == [(False, False)] * 2
    assert (src / "_results" / "one.json").read_bytes() == before  # same verdicts: untouched
    record = json.loads((src / "_results" / "sub" / "two.json").read_text())
    assert record["labs"][0]["steps"][0]["commands"][0]["output"] == ["deux"]


# -- labbook check --locked ----------------------------------------------------------------
def test_check_locked_fails_naming_documents_whose_records_would_change(tmp_path, capsys):
    src = copy_root(tmp_path / "src", "fake")
    results = src / "_results"
    assert main(["check", str(src), "--locked"]) == 1  # nothing recorded yet
    assert "recorded results out of date" in capsys.readouterr().err
    assert not results.exists()

    assert main(["check", str(src)]) == 0
    assert "recorded results updated in" in capsys.readouterr().out
    recorded = {p: p.read_bytes() for p in results.rglob("*.json")}
    assert main(["check", str(src), "--locked"]) == 0  # a re-run changes nothing
    assert main(["check", str(src)]) == 0
    assert {p: p.read_bytes() for p in results.rglob("*.json")} == recorded

    two = src / "sub" / "two.rst"
    two.write_text(two.read_text().replace("echo two\n   two", "echo deux\n   deux"))
    assert main(["check", str(src), "--locked"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"recorded results out of date in \S*_results: sub/two \(", err), err
    assert {p: p.read_bytes() for p in results.rglob("*.json")} == recorded

    # shards check their own documents (which shard has which depends on their durations)
    codes = [main(["check", str(src), "--locked", "--shard", f"{k}/2"]) for k in (1, 2)]
    assert sorted(codes) == [0, 1]
    assert capsys.readouterr().err.count("_results: sub/two (") == 1

    # a document that no longer has a lab: its record is out of date too
    two.write_text("Two\n===\n\nNo lab any more.\n")
    assert main(["check", str(src), "--locked"]) == 1
    assert "_results: sub/two (" in capsys.readouterr().err
    assert main(["check", str(src)]) == 0
    assert not (results / "sub" / "two.json").exists()
    assert main(["check", str(src), "--locked"]) == 0


def test_check_locked_without_recorded_results_is_bad_input(tmp_path, capsys):
    src = copy_root(tmp_path / "src", "fake")
    conf = src / "conf.py"
    conf.write_text(conf.read_text().replace('labbook_results = "_results"', ""))
    assert main(["check", str(src), "--locked"]) == 2
    assert "set labbook_results = 'DIR' in conf.py" in capsys.readouterr().err


# -- the round trip, on the real kernel ----------------------------------------------------
def _sphinx(src: Path, out: Path, mode: str, user: str | None) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LABBOOK_EXECUTE": mode,
    }
    argv = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", str(src), str(out)]
    if mode != "cache" and os.environ.get(STATE_DIR_ENV):  # labs run: the leak check sees them
        env[STATE_DIR_ENV] = os.environ[STATE_DIR_ENV]
    if user:
        env["HOME"] = pwd.getpwnam(user).pw_dir
        argv = ["runuser", "-u", user, "--", "env", *(f"{k}={v}" for k, v in env.items()), *argv]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)


def _ordinary_user() -> str | None:
    """Who builds the published copy: an ordinary user when the tests run as root and
    one can run this interpreter (a root-only Python, as under /root, cannot be: the copy
    is then built by root, at its other path; the suite run as an ordinary user covers
    the other user)."""
    if not IS_ROOT:
        return None
    for name in ("lbuser", "labbook-ci"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        probe = subprocess.run(
            ["runuser", "-u", name, "--", sys.executable, "-c", "import sphinx"],
            capture_output=True,
            timeout=60,
        )
        if probe.returncode == 0:
            return name
    return None


@NEEDS_USERNS
@pytest.mark.slow
def test_round_trip_record_here_show_elsewhere_then_flag_an_edited_step():
    user = _ordinary_user()
    recorder = tempfile.mkdtemp(prefix="labbook-record-")
    publisher = tempfile.mkdtemp(prefix="labbook-publish-")
    try:
        src = copy_root(Path(recorder) / "handbook")
        run = _sphinx(src, Path(recorder) / "html", "force", None)
        assert run.returncode == 0, run.stderr
        assert "bringing up pair.yaml" in run.stdout
        files = sorted(p.relative_to(src / "_results") for p in (src / "_results").rglob("*"))
        assert [str(p) for p in files] == ["one.json", "sub", "sub/two.json"]
        for path in (src / "_results").rglob("*.json"):
            text = path.read_text()
            data = json.loads(text)
            assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            for machine_bound in (recorder, sys.executable, "LABBOOK_", os.uname().nodename):
                assert machine_bound not in text, (path, machine_bound)
            (lab,) = data["labs"]
            assert lab["spec"] == "pair.yaml" and lab["status"] == "passed"
            assert set(lab["where"]) == {
                "provider", "kernel", "distribution", "labbook", "date", "duration"
            }  # fmt: skip
            assert lab["where"]["provider"] == "netns"
            assert lab["where"]["kernel"] == os.uname().release  # the nodes share it
        one = json.loads((src / "_results" / "one.json").read_text())
        assert [s["kind"] for s in one["labs"][0]["steps"]] == ["run", "file", "run"]
        assert one["labs"][0]["steps"][2]["commands"][0]["output"] == ["42"]

        # another checkout, at another path, built by another user who cannot run labs here
        copy = Path(publisher) / "elsewhere" / "docs"
        shutil.copytree(src, copy)
        if user:
            os.chmod(publisher, 0o755)
            subprocess.run(["chown", "-R", user, publisher], check=True)
        shown = _sphinx(copy, Path(publisher) / "html", "cache", user)
        assert shown.returncode == 0, shown.stderr
        assert "bringing up" not in shown.stdout
        html = (Path(publisher) / "html" / "one.html").read_text()
        assert RECORDED.findall(html) == ["netns"] * 3
        assert RECORDED.findall((Path(publisher) / "html" / "sub" / "two.html").read_text()) == [
            "netns"
        ]

        # edit the last step of one.rst: it is flagged, the steps above it are still verified
        page = copy / "one.rst"
        text = page.read_text().replace('"$((6 * 7))"\n   42', '"$((6 * 8))"\n   48')
        assert text != page.read_text()
        if user:
            subprocess.run(
                ["runuser", "-u", user, "--", "tee", str(page)],
                input=text,
                text=True,
                stdout=subprocess.DEVNULL,
                check=True,
            )
        else:
            page.write_text(text)
        flagged = _sphinx(copy, Path(publisher) / "html", "cache", user)
        assert flagged.returncode == 1  # -W: a stale step fails the build
        line = text.splitlines().index('   $ echo "$((6 * 8))"') + 1
        assert re.search(
            rf"one\.rst:{line}: WARNING: changed since last verified on netns, ", flagged.stderr
        ), flagged.stderr
        assert "[labbook.stale]" in flagged.stderr
        assert "bringing up" not in flagged.stdout
        html = (Path(publisher) / "html" / "one.html").read_text()
        assert RECORDED.findall(html) == ["netns"] * 2
        assert STALE.findall(html) == ["netns"]
    finally:
        shutil.rmtree(recorder, ignore_errors=True)
        shutil.rmtree(publisher, ignore_errors=True)


def test_parallel_build_records_every_document(tmp_path, make_app):
    from sphinxext.labbook.sphinx.envdata import records_changed

    src = copy_root(tmp_path / "src", "fake")
    app = make_app("html", srcdir=src, freshenv=True, parallel=2)
    app.build()
    assert "[labbook" not in warnings_of(app)
    assert sorted(records_changed(app.env)) == ["one", "sub/two"]
    for doc in ("one", "sub/two"):
        data = json.loads((src / "_results" / f"{doc}.json").read_text())
        assert data["document"] == doc and data["labs"][0]["status"] == "passed"


def test_a_parallel_read_spreads_the_longest_labs_over_the_first_chunks(tmp_path, make_app):
    from sphinxext.labbook.sphinx.schedule import on_before_read

    src = copy_root(tmp_path / "src", "fake")
    make_app("html", srcdir=src, freshenv=True).build()  # records for one and sub/two
    for doc, seconds in (("one", 100.0), ("sub/two", 90.0)):
        path = src / "_results" / f"{doc}.json"
        data = json.loads(path.read_text())
        data["labs"][0]["where"]["duration"] = seconds
        path.write_text(json.dumps(data))
    (src / "a.rst").write_text("A\n=\n\nNo lab here.\n")
    (src / "b.rst").write_text("B\n=\n\nNo lab here.\n")
    (src / "new.rst").write_text((src / "one.rst").read_text())  # a lab, not recorded yet
    docs = ["a", "b", "index", "new", "one", "sub/two"]  # Sphinx's order: chunks of 3
    app = make_app("html", srcdir=src, freshenv=True, parallel=2)
    order = list(docs)
    on_before_read(app, app.env, order)
    assert sorted(order) == docs
    # the longest (one, 100 s) starts beside the unrecorded lab, which counts as the
    # mean of the recorded ones (95 s); sub/two (90 s) follows the shorter of the two
    assert order == ["a", "b", "one", "index", "new", "sub/two"]
    serial = make_app("html", srcdir=src, freshenv=True)
    order = list(docs)
    on_before_read(serial, serial.env, order)
    assert order == docs  # a serial read keeps Sphinx's order


def test_results_that_cannot_be_written_are_a_warning_and_the_build_goes_on(tmp_path, make_app):
    src = copy_root(tmp_path / "src", "fake")
    (src / "_results" / "one.json").mkdir(parents=True)  # in the way: no file can go there
    app = make_app("html", srcdir=src, freshenv=True)
    app.build()
    warnings = warnings_of(app)
    assert "one.rst:4: WARNING: cannot write" in warnings
    assert "one.json: Is a directory; the recorded results of this page were not updated" in (
        warnings
    )
    assert "[labbook.results]" in warnings and "Traceback" not in warnings
    assert json.loads((src / "_results" / "sub" / "two.json").read_text())["labs"]
    assert "labbook-step labbook-passed" in (app.outdir / "one.html").read_text()  # it ran
