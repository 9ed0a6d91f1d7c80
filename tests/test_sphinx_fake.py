"""The Sphinx front end with the fake provider: no namespaces, no root, any machine.

The netns roots test the same directives against the real kernel; these tests keep the
front end itself (marks, warnings at their lines, the labcheck reports) tested where
labs cannot run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import warnings_of


def _line(src: Path, text: str) -> int:
    return next(i for i, x in enumerate(src.read_text().splitlines(), 1) if text in x)


@pytest.mark.sphinx("html", testroot="fake-frontend", freshenv=True)
def test_steps_are_marked_and_drift_warns_at_its_command_line(app) -> None:
    app.build()
    text = warnings_of(app)
    drift = Path(app.srcdir) / "drift.rst"
    line = _line(drift, "$ printf")
    # one warning, at the drifted command, with its diff; the passing page has none
    assert text.count("WARNING:") == 1, text
    assert f"{drift}:{line}: WARNING:" in text and "[labbook.drift]" in text
    assert "-three" in text and "+two" in text
    index = (Path(app.outdir) / "index.html").read_text()
    assert index.count("labbook-mark labbook-passed") == 4
    assert "verified on fake" in index and "labbook-drift" not in index
    page = (Path(app.outdir) / "drift.html").read_text()
    assert "labbook-mark labbook-drift" in page and "What the lab really did" in page


@pytest.mark.sphinx("labcheck", testroot="fake-frontend", freshenv=True)
def test_labcheck_reports_every_step_in_page_order(app) -> None:
    app.build()
    assert app.statuscode == 1
    data = json.loads((Path(app.outdir) / "labcheck.json").read_text())
    assert data["summary"] == {"passed": 4, "drift": 1, "errors": 0, "skipped": 0}
    index = [s for s in data["steps"] if s["document"] == "index"]
    assert [(s["node"], s["kind"], s["status"]) for s in index] == [
        ("alpha", "run", "passed"),
        ("beta", "file", "passed"),
        ("beta", "run", "passed"),
        ("beta", "run", "passed"),
    ]
    assert [s["line"] for s in index] == sorted(s["line"] for s in index)
    junit = (Path(app.outdir) / "junit.xml").read_text()
    assert 'failures="1"' in junit and 'tests="5"' in junit


@pytest.mark.sphinx("html", testroot="fake-topology", freshenv=True)
def test_topology_drift_warns_at_the_lab_directive(app) -> None:
    """The lab's plan knows where its ``lab`` directive was written, so topology drift (the
    machines differ from the spec) is reported at that file and line."""
    app.build()
    text = warnings_of(app)
    index = Path(app.srcdir) / "index.rst"
    line = _line(index, ".. lab:: pair.yaml")
    assert f"{index}:{line}: WARNING: topology drift: alpha-lacks-eth1 [labbook.drift]" in text
    assert text.count("WARNING:") == 1, text
