"""The lab directives in real Sphinx builds, on the netns provider (real kernel)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import NEEDS_USERNS, warnings_of

pytestmark = [NEEDS_USERNS]


@pytest.mark.sphinx("html", testroot="lab-pass", freshenv=True)
def test_passing_lab_has_no_warning_and_marks_every_block(app):
    app.build()
    assert warnings_of(app) == ""
    html = (Path(app.outdir) / "index.html").read_text()
    assert html.count("labbook-mark labbook-passed") == 6
    assert "verified on netns" in html
    assert "labbook-drift" not in html
    assert "rankdir=TB" in html or "graphviz" in html  # the lab's topology, drawn top-down


@pytest.mark.sphinx("html", testroot="lab-drift", freshenv=True)
def test_drift_is_a_warning_at_the_command_line_with_a_diff(app):
    app.build()
    text = warnings_of(app)
    src = Path(app.srcdir) / "index.rst"
    line = next(
        i for i, x in enumerate(src.read_text().splitlines(), 1) if "echo the lab says this" in x
    )
    assert f"{src}:{line}: WARNING:" in text
    assert "[labbook.drift]" in text
    assert "-the page says that" in text
    assert "+the lab says this" in text
    html = (Path(app.outdir) / "index.html").read_text()
    assert "labbook-mark labbook-drift" in html
    assert "What the lab really did" in html


@pytest.mark.sphinx("labcheck", testroot="lab-drift", freshenv=True)
def test_labcheck_builder_writes_reports_and_fails(app):
    app.build()
    assert app.statuscode == 1
    data = json.loads((Path(app.outdir) / "labcheck.json").read_text())
    assert data["summary"] == {"passed": 0, "drift": 1, "errors": 0, "skipped": 0}
    (step,) = data["steps"]
    assert {"document", "line", "lab", "node", "kind", "status", "duration", "diff"} <= set(step)
    assert step["status"] == "drift" and step["node"] == "alpha" and step["kind"] == "run"
    assert step["document"] == "index"
    junit = (Path(app.outdir) / "junit.xml").read_text()
    assert '<failure message="' in junit and 'failures="1"' in junit


@pytest.mark.sphinx("labcheck", testroot="lab-pass", freshenv=True)
def test_labcheck_builder_passes(app):
    app.build()
    assert app.statuscode == 0
    data = json.loads((Path(app.outdir) / "labcheck.json").read_text())
    assert data["summary"] == {"passed": 6, "drift": 0, "errors": 0, "skipped": 0}


@pytest.mark.sphinx("html", testroot="lab-timeout", freshenv=True)
def test_timeout_kills_the_command_and_keeps_partial_output(app):
    app.build()
    text = warnings_of(app)
    assert "[labbook.error]" in text
    assert "timed out after 1 s" in text
    assert "started" in text  # the partial output is shown
    # the next block ran in a fresh shell, and nothing of the sleeps survived the lab
    assert text.count("WARNING") == 1


@pytest.mark.sphinx("html", testroot="lab-background", freshenv=True)
def test_background_daemon_serves_later_steps(app):
    app.build()
    assert warnings_of(app) == ""


@pytest.mark.sphinx("html", testroot="lab-files", freshenv=True)
def test_file_merges_and_end_of_lab_recheck(app):
    app.build()
    text = warnings_of(app)
    src = Path(app.srcdir) / "index.rst"
    line = next(
        i
        for i, x in enumerate(src.read_text().splitlines(), 1)
        if x.startswith(".. lab-file:: /etc/demo.conf")
    )
    # exactly one warning: /etc/demo.conf was changed by the sed after it was applied
    assert text.count("WARNING") == 1, text
    assert "/etc/demo.conf on beta was changed by a later step" in text
    assert re.search(rf"{re.escape(str(src))}:{line + 3}: WARNING", text), text
    assert "-answer = 42" in text and "+answer = 43" in text


@pytest.mark.sphinx("html", testroot="lab-bad", freshenv=True)
def test_bad_directives_warn_at_their_line(app):
    app.build()
    text = warnings_of(app)
    src = str(Path(app.srcdir) / "index.rst")
    lines = Path(src).read_text().splitlines()

    def at(fragment: str) -> int:
        return next(i for i, x in enumerate(lines, 1) if fragment in x)

    assert f"{src}:{at('.. lab-run:: alpha')}: " in text and "comes before any lab" in text
    assert "lab 'pair' has no node 'gamma'; its nodes: alpha, beta" in text
    assert re.search(r"timeout.*soon", text)
    assert "must be absolute" in text
    assert f"{src}:{at('output before any prompt')}:" in text
    assert "missing.yaml" in text
    assert f"{src}:{at('[unclosed (re)')}:" in text
    assert "unknown provider 'nosuch'" in text
    assert "'zero' is not an exit status; write a number from 0 to 255" in text
    assert "Traceback" not in text


@pytest.mark.sphinx("labcheck", testroot="lab-bad", freshenv=True)
def test_labcheck_builder_fails_on_bad_directives(app):
    app.build()
    assert app.statuscode == 1
    data = json.loads((Path(app.outdir) / "labcheck.json").read_text())
    assert data["summary"]["errors"] >= 6
    assert all({"file", "line", "message"} <= set(p) for p in data["problems"])


@pytest.mark.sphinx("labcheck", testroot="lab-verify", freshenv=True)
def test_cram_constructs_exit_statuses_skips_and_idempotence(app):
    app.build()
    src = Path(app.srcdir) / "index.rst"
    lines = src.read_text().splitlines()

    def line_of(text: str) -> int:
        return next(i for i, x in enumerate(lines, 1) if text in x)

    data = json.loads((Path(app.outdir) / "labcheck.json").read_text())
    by_line = {s["line"]: s for s in data["steps"]}
    # byte-exact, quantified lines and [1] passed
    assert by_line[line_of("printf 'a\\tb")]["status"] == "passed"
    assert by_line[line_of("seq 1 4")]["status"] == "passed"
    # exit 80: not run, with what the step printed
    skipped = by_line[line_of("exit_with 80")]
    assert skipped["status"] == "skipped"
    assert skipped["message"] == "not run: skipped by the step: no such module"
    # applying the merged file again rewrites the service's layout: drift at the lab-file
    app_yaml = by_line[line_of("lab-file:: /etc/app.yaml") + 4]
    assert app_yaml["status"] == "drift"
    assert "applying /etc/app.yaml twice changed it" in app_yaml["message"]
    other = by_line[line_of("lab-file:: /etc/other.yaml") + 5]
    assert other["status"] == "passed"
    assert data["waivers"] == [
        {
            "file": str(src),
            "line": other["line"],
            "node": "beta",
            "document": "index",
            "why": "the service writes it in its own layout",
        }
    ]
    # [2] after `false` (which returns 1): drift at that command's line
    status = by_line[line_of("# false")]
    assert status["status"] == "drift"
    assert "the page expects 2, the command returned 1" in status["diff"]
    assert data["summary"] == {"passed": 4, "drift": 2, "errors": 0, "skipped": 1}
    status_text = re.sub(r"\x1b\[[0-9;]*m", "", app.status.getvalue())
    assert (
        f"labbook: {src}:{other['line']}: not checked for idempotence: "
        "the service writes it in its own layout"
    ) in status_text
