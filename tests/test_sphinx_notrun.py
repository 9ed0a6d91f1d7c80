"""A lab that cannot run here is one warning at its lab directive, not one per step.

The fake provider is told it is unavailable (as the vm provider is without QEMU), so
these tests need neither root nor a machine that lacks QEMU.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOTS, warnings_of

from sphinxext.labbook.cli import main
from sphinxext.labbook.sphinx.envdata import results_of
from sphinxext.labbook.sphinx.execute import on_outdated

#: The project without the page whose lab fails to come up: only the not-run lab is left.
ONLY_NOT_RUN = {"exclude_patterns": ["broken.rst"]}
REASON = "the fake provider is not available here: it needs QEMU (Debian package qemu-system-x86)"


def lab_line(path: Path) -> int:
    return next(
        i for i, x in enumerate(path.read_text().splitlines(), 1) if x.startswith(".. lab::")
    )


def warning_lines(text: str) -> list[str]:
    return [x for x in text.splitlines() if "WARNING" in x]


@pytest.mark.sphinx("html", testroot="lab-notrun", freshenv=True)
def test_a_lab_that_cannot_run_is_one_warning_at_its_directive(app):
    app.build()
    src = Path(app.srcdir)
    index, broken = src / "index.rst", src / "broken.rst"
    warnings = warning_lines(warnings_of(app))
    assert len(warnings) == 2, warnings
    not_run = next(w for w in warnings if "[labbook.not-run]" in w)
    assert not_run.startswith(f"{index}:{lab_line(index)}: WARNING: lab "), not_run
    assert not_run.endswith(f"pair.yaml was not run: {REASON} [labbook.not-run]"), not_run
    # a lab that should run here but did not come up is an error, also once, at its lab
    error = next(w for w in warnings if "[labbook.error]" in w)
    assert error.startswith(f"{broken}:{lab_line(broken)}: WARNING: lab "), error
    assert "pair.yaml could not be brought up: " in error
    assert "the fake provider was told to fail" in error

    results = results_of(app.env)
    assert [r.not_run for r in results["index"]] == [REASON]
    assert [r.up_failed for r in results["broken"]] == [True]

    page = (Path(app.outdir) / "index.html").read_text()
    assert page.count("it needs QEMU") == 1  # the reason once, at the lab ...
    assert page.count("labbook-notice labbook-skipped") == 1
    assert page.count("labbook-mark labbook-skipped") == 3  # ... and every step marked
    page = (Path(app.outdir) / "broken.html").read_text()
    assert page.count("told to fail") == 1
    assert page.count("labbook-mark labbook-error") == 2

    # the next build reads both pages again: the machine may have got QEMU since
    assert on_outdated(app, app.env, set(), set(), set()) == ["broken", "index"]


@pytest.mark.sphinx(
    "html",
    testroot="lab-notrun",
    freshenv=True,
    confoverrides={"suppress_warnings": ["labbook.not-run"]},
)
def test_not_run_is_accepted_with_suppress_warnings_but_a_failed_up_is_not(app):
    app.build()
    text = warnings_of(app)
    assert "[labbook.not-run]" not in text
    assert len(warning_lines(text)) == 1 and "[labbook.error]" in text


def _project(builder: str, **overrides: object) -> pytest.MarkDecorator:
    return pytest.mark.sphinx(
        builder,
        testroot="lab-notrun",
        freshenv=True,
        warningiserror=builder == "html",
        keep_going=True,
        confoverrides={**ONLY_NOT_RUN, **overrides},
    )


@pytest.mark.parametrize(
    ("statuscode", "warnings"),
    [
        pytest.param(1, 1, marks=_project("html"), id="fails"),
        pytest.param(
            0, 0, marks=_project("html", suppress_warnings=["labbook.not-run"]), id="suppressed"
        ),
    ],
)
def test_a_lab_that_cannot_run_fails_a_build_with_W_unless_suppressed(app, statuscode, warnings):
    app.build()
    assert app.statuscode == statuscode
    assert len(warning_lines(warnings_of(app))) == warnings


@pytest.mark.sphinx(
    "html", testroot="lab-notrun", freshenv=True, confoverrides={"labbook_execute": "off"}
)
def test_execution_off_renders_not_run_without_a_warning(app):
    app.build()
    assert warnings_of(app) == ""  # nothing was meant to run
    page = (Path(app.outdir) / "index.html").read_text()
    assert page.count("labbook_execute is off") == 1
    assert page.count("labbook-mark labbook-skipped") == 3


@pytest.mark.parametrize(
    ("statuscode", "errors"),
    [
        pytest.param(0, 0, marks=_project("labcheck"), id="not-run"),
        pytest.param(1, 2, marks=_project("labcheck", exclude_patterns=[]), id="up-failed"),
    ],
)
def test_labcheck_counts_a_lab_that_cannot_run_as_skipped(app, statuscode, errors):
    app.build()
    assert app.statuscode == statuscode  # only the lab that did not come up fails it
    report = json.loads((Path(app.outdir) / "labcheck.json").read_text())
    assert report["summary"] == {"passed": 0, "drift": 0, "errors": errors, "skipped": 3}
    assert f"not run: {REASON}" in [lab["message"] for lab in report["labs"]]


def test_check_exit_codes_of_labs_that_did_not_run(tmp_path, capsys):
    root = tmp_path / "lab-notrun"
    shutil.copytree(ROOTS / "test-lab-notrun", root)
    assert main(["check", str(root / "index.rst")]) == 0  # not run here: not a failure
    err = capsys.readouterr().err
    assert len(warning_lines(err)) == 1 and "[labbook.not-run]" in err
    assert main(["check", str(root)]) == 3  # the other lab could not be brought up
    err = capsys.readouterr().err
    assert len(warning_lines(err)) == 2 and "[labbook.error]" in err


@pytest.mark.sphinx(
    "html",
    testroot="lab-notrun",
    freshenv=True,
    confoverrides={**ONLY_NOT_RUN, "labbook_execute": "cache"},
)
def test_cache_mode_without_a_recorded_result_is_not_run(app):
    app.build()
    (warning,) = warning_lines(warnings_of(app))
    assert warning.endswith(
        "pair.yaml was not run: no recorded result (labbook_execute is 'cache') [labbook.not-run]"
    ), warning


@pytest.mark.sphinx(
    "html",
    testroot="lab-notrun",
    freshenv=True,
    confoverrides={**ONLY_NOT_RUN, "labbook_provider_options": {}},
)
def test_cache_mode_shows_a_result_recorded_where_the_lab_could_run(app, make_app, monkeypatch):
    from sphinxext.labbook.providers.fake import FakeProvider

    app.build()  # runs the lab (on the host: it drifts, which is recorded all the same)
    (recorded,) = results_of(app.env)["index"]
    assert not recorded.not_run
    monkeypatch.setattr(FakeProvider, "unavailable", lambda self: "it needs QEMU")
    again = make_app(
        "html",
        srcdir=app.srcdir,
        freshenv=True,
        confoverrides={**ONLY_NOT_RUN, "labbook_provider_options": {}, "labbook_execute": "cache"},
    )
    again.build()
    assert "[labbook.not-run]" not in warnings_of(again)
    (shown,) = results_of(again.env)["index"]
    assert shown.cached and shown.started == recorded.started
