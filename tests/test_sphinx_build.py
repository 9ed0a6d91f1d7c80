"""Handbook builds: execution cache, parallel reads, MyST, execution modes, report page."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import NEEDS_USERNS, warnings_of

from sphinxext.labbook.sphinx.envdata import results_of

pytestmark = [NEEDS_USERNS]


def cached_by_doc(app) -> dict[str, bool]:
    return {doc: all(r.cached for r in rs) for doc, rs in results_of(app.env).items()}


@pytest.mark.sphinx("html", testroot="lab-cache", freshenv=True)
def test_cache_clean_rebuild_runs_no_lab_and_a_changed_step_reruns_one(app, make_app):
    app.build()
    assert warnings_of(app) == ""
    assert cached_by_doc(app) == {"one": False, "two": False}
    report = (Path(app.outdir) / "report.html").read_text()
    assert report.count("labbook-passed") == 2

    again = make_app("html", srcdir=app.srcdir, freshenv=True)
    again.build()
    assert cached_by_doc(again) == {"one": True, "two": True}
    assert "(cached)" in (Path(again.outdir) / "one.html").read_text()

    two = Path(app.srcdir) / "two.rst"
    two.write_text(two.read_text().replace("echo two\n   two", "echo deux\n   deux"))
    third = make_app("html", srcdir=app.srcdir, freshenv=True)
    third.build()
    assert cached_by_doc(third) == {"one": True, "two": False}

    # a file the lab reads (:depends:) is part of the key: touching it re-runs that lab
    (Path(app.srcdir) / "data.txt").write_text("one\n\n")
    fourth = make_app("html", srcdir=app.srcdir, freshenv=True)
    fourth.build()
    assert cached_by_doc(fourth) == {"one": False, "two": True}


@pytest.mark.sphinx(
    "html",
    testroot="lab-cache",
    freshenv=True,
    parallel=2,
    confoverrides={"labbook_execute": "force"},
)
def test_parallel_build_runs_labs_of_documents_side_by_side(app):
    app.build()
    assert warnings_of(app) == ""
    results = results_of(app.env)
    assert sorted(results) == ["one", "two"]
    names = [r.lab for rs in results.values() for r in rs]
    assert len(set(names)) == 2 and all(n.startswith("pair-") for n in names)


@pytest.mark.sphinx("html", testroot="lab-myst", freshenv=True)
def test_myst_directives_with_the_same_locations(app):
    app.build()
    text = warnings_of(app)
    src = Path(app.srcdir) / "index.md"
    line = next(i for i, x in enumerate(src.read_text().splitlines(), 1) if x == "$ echo drifted")
    assert f"{src}:{line}: WARNING" in text, text
    assert text.count("WARNING") == 1
    assert "+drifted" in text
    html = (Path(app.outdir) / "index.html").read_text()
    assert html.count("labbook-mark labbook-passed") == 2


# as tox -e docs builds: -W --keep-going (Sphinx 8.1 and later keep going anyway)
@pytest.mark.sphinx(
    "html", testroot="lab-drift", freshenv=True, warningiserror=True, keep_going=True
)
def test_drift_fails_a_build_with_W(app):
    app.build()
    assert app.statuscode == 1
    assert "[labbook.drift]" in warnings_of(app)


@pytest.mark.sphinx(
    "html",
    testroot="lab-drift",
    freshenv=True,
    confoverrides={"suppress_warnings": ["labbook.drift"]},
)
def test_drift_warnings_can_be_suppressed_by_type(app):
    app.build()
    assert "[labbook.drift]" not in warnings_of(app)


@pytest.mark.sphinx(
    "html", testroot="lab-cache", freshenv=True, confoverrides={"labbook_execute": "off"}
)
def test_environment_override_is_seen_by_the_next_incremental_build(app, make_app, monkeypatch):
    app.build()
    assert all(r.status.value == "skipped" for rs in results_of(app.env).values() for r in rs)
    monkeypatch.setenv("LABBOOK_EXECUTE", "force")
    again = make_app("html", srcdir=app.srcdir)  # not fresh: the same environment
    again.build()
    results = results_of(again.env)
    assert sorted(results) == ["one", "two"]
    assert all(r.status.value == "passed" and not r.cached for rs in results.values() for r in rs)
    third = make_app("html", srcdir=app.srcdir)  # force: runs again, although unchanged
    third.build()
    assert all(not r.cached for rs in results_of(third.env).values() for r in rs)
    assert min(r.started for rs in results_of(third.env).values() for r in rs) > max(
        r.started for rs in results.values() for r in rs
    )
