"""The ``schema-diagram`` directive: graphviz and mermaid output, drift warnings, bad input."""

from __future__ import annotations

import html
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import MERMAID

from sphinxext.labbook.schema.source import load_schema
from sphinxext.labbook.schema.sqla import to_metadata


def _page(app) -> str:
    return (Path(app.outdir) / "index.html").read_text()


@pytest.mark.sphinx("html", testroot="schema")
def test_graphviz_and_mermaid_diagrams_without_warnings(app):
    app.build()
    assert app.warning.getvalue() == ""
    page = _page(app)
    images = re.findall(
        r'<object role="img" aria-label="[^"]*" data="_images/(graphviz-[0-9a-f]{40}\.svg)"', page
    )
    assert len(images) == 1
    svg = (Path(app.outdir) / "_images" / images[0]).read_text()
    assert ">hosts</text>" in svg and ">cell_region</text>" in svg
    assert "index ix_hosts_host (host)" in svg
    assert '<figure class="labbook-schema-figure align-default" id="fig-cells">' in page
    assert "Cells and hosts" in page
    code = html.unescape(MERMAID.search(page).group("code"))
    assert 'title: "From the snapshot"' in code and "erDiagram" in code
    assert '"cells" ||--o{ "hosts" : "cell_id, cell_region"' in code


@pytest.mark.sphinx("html", testroot="schema", confoverrides={"labbook_schema_format": "mermaid"})
def test_project_default_format_is_mermaid(app):
    app.build()
    assert app.warning.getvalue() == ""
    assert "graphviz-" not in _page(app)
    assert len(MERMAID.findall(_page(app))) == 2


@pytest.mark.sphinx("html", testroot="schema")
def test_files_read_are_dependencies(app):
    app.build()
    deps = {os.path.basename(d) for d in app.env.dependencies["index"]}
    assert {"models.py", "snapshot.yaml"} <= deps


def test_changing_the_models_rereads_the_document(make_app, rootdir, tmp_path):
    srcdir = tmp_path / "schema"
    shutil.copytree(rootdir / "test-schema", srcdir)

    def build() -> list[str]:
        app = make_app("html", srcdir=srcdir)
        read: list[str] = []
        app.connect("env-before-read-docs", lambda app, env, docs: read.extend(docs))
        app.build()
        app.cleanup()
        assert app.warning.getvalue() == ""
        return read

    assert build() == ["index"]
    assert build() == []
    later = time.time() + 10  # an mtime after the last read, without waiting for the clock
    os.utime(srcdir / "models.py", (later, later))
    assert build() == ["index"]


@pytest.mark.sphinx("html", testroot="schema-bad")
def test_bad_input_warns_once_each_at_the_directive(app):
    app.build()
    warnings = app.warning.getvalue()
    doc = Path(app.srcdir) / "index.rst"
    expected = [
        (4, "schema-diagram missing.py:Base: no such file"),
        (
            6,
            "schema-diagram models.py:metadata: include: no table matches 'cell'; did you "
            "mean cells?",
        ),
        (9, "schema-diagram models.py:Nope: models.py has no attribute 'Nope'"),
        (11, f"schema-diagram broken.sql:postgres: {Path(app.srcdir) / 'broken.sql'}:"),
        (
            15,
            "postgresql://nova:*****@127.0.0.1:1/nova: the password is written in the "
            "document; write ${VARIABLE} instead",
        ),
    ]
    for line, message in expected:
        assert f"{doc}:{line}: WARNING: {message}" in warnings, message
    assert (
        f"{Path(app.srcdir) / 'notes.sql'}:2: WARNING: statement not understood, left out "
        "of the schema: CREATE VIEW v AS SELECT 1 [labbook.schema]"
    ) in warnings
    assert (
        f"{doc}:15: WARNING: schema check of models.py:metadata against "
        "postgresql://nova:*****@127.0.0.1:1/nova: cannot connect"
    ) in warnings
    assert "s3cret" not in warnings and "Traceback" not in warnings
    page = _page(app)
    assert "s3cret" not in page
    # drawn: notes.sql (with its note) and the last one (the check failed, not the drawing)
    assert len(re.findall(r'src="_images/graphviz-[0-9a-f]{40}\.png"', page)) == 2


@pytest.fixture
def drift_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rootdir: Path) -> str:
    """A SQLite database made from the drift root's snapshot, named by LABBOOK_TEST_SCHEMA_DB."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    snapshot = load_schema("snapshot.yaml", str(rootdir / "test-schema-drift"))
    engine = sa.create_engine(url)
    to_metadata(snapshot).create_all(engine)
    engine.dispose()
    monkeypatch.setenv("LABBOOK_TEST_SCHEMA_DB", url)
    return url


def _alter(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for s in statements:
            conn.execute(sa.text(s))
    engine.dispose()


def _drift(warnings: str) -> list[str]:
    plain = re.sub(r"\x1b\[[0-9;]*m", "", warnings)
    return [ln for ln in plain.splitlines() if ln.endswith("[labbook.drift]")]


def test_no_drift_no_warning_then_drift_warns_at_each_directive(
    make_app, rootdir, drift_db, tmp_path
):
    srcdir = tmp_path / "src"
    shutil.copytree(rootdir / "test-schema-drift", srcdir)
    # the allow-list entry must match something, or it is stale drift itself
    _alter(drift_db, "CREATE TABLE shadow_hosts (id INTEGER PRIMARY KEY)")
    app = make_app("html", srcdir=srcdir)
    app.build()
    assert app.warning.getvalue() == ""
    app.cleanup()

    _alter(drift_db, "ALTER TABLE hosts ADD COLUMN extra VARCHAR(10)")
    app = make_app("html", srcdir=srcdir)
    read: list[str] = []
    app.connect("env-before-read-docs", lambda app, env, docs: read.extend(docs))
    app.build()
    app.cleanup()
    assert read == ["index"]  # documents with a live check are read on every build
    doc = srcdir / "index.rst"
    message = (
        "WARNING: schema drift against sqlite:///{}: table hosts: column extra: "
        "live VARCHAR(10), not documented [labbook.drift]"
    ).format(tmp_path / "live.db")
    assert _drift(app.warning.getvalue()) == [f"{doc}:4: {message}", f"{doc}:8: {message}"]


def test_stale_allow_entry_warns_as_drift(make_app, rootdir, drift_db, tmp_path):
    srcdir = tmp_path / "src"
    shutil.copytree(rootdir / "test-schema-drift", srcdir)
    app = make_app("html", srcdir=srcdir)
    app.build()
    message = (
        f"WARNING: schema drift against sqlite:///{tmp_path / 'live.db'}: "
        f"{srcdir / 'allow.yaml'}:1: allow-list entry (table shadow_*) matches no "
        "difference any more; remove it [labbook.drift]"
    )
    doc = srcdir / "index.rst"
    assert _drift(app.warning.getvalue()) == [f"{doc}:4: {message}", f"{doc}:8: {message}"]


def test_drift_fails_a_build_with_warnings_as_errors(make_app, rootdir, drift_db, tmp_path):
    srcdir = tmp_path / "src"
    shutil.copytree(rootdir / "test-schema-drift", srcdir)
    _alter(
        drift_db,
        "CREATE TABLE shadow_hosts (id INTEGER PRIMARY KEY)",
        "ALTER TABLE cells ADD COLUMN extra INTEGER",
    )
    # as tox -e docs builds: -W --keep-going (Sphinx 8.1 and later keep going anyway)
    app = make_app("html", srcdir=srcdir, warningiserror=True, keep_going=True)
    app.build()
    assert app.statuscode == 1
    assert len(_drift(app.warning.getvalue())) >= 1


def test_drift_warnings_can_be_suppressed(make_app, rootdir, drift_db, tmp_path):
    srcdir = tmp_path / "src"
    shutil.copytree(rootdir / "test-schema-drift", srcdir)
    _alter(drift_db, "ALTER TABLE cells ADD COLUMN extra INTEGER")
    app = make_app("html", srcdir=srcdir, confoverrides={"suppress_warnings": ["labbook.drift"]})
    app.build()
    assert app.warning.getvalue() == ""


def test_unset_variable_in_check_url_is_a_schema_warning(make_app, rootdir, tmp_path, monkeypatch):
    monkeypatch.delenv("LABBOOK_TEST_SCHEMA_DB", raising=False)
    srcdir = tmp_path / "src"
    shutil.copytree(rootdir / "test-schema-drift", srcdir)
    app = make_app("html", srcdir=srcdir)
    app.build()
    warnings = app.warning.getvalue()
    assert warnings.count("${LABBOOK_TEST_SCHEMA_DB}, which is not set") == 2
    assert warnings.count("[labbook.schema]") == 2


@pytest.mark.sphinx("html", testroot="schema-large")
def test_large_schema_falls_back_from_mermaid_and_splits_into_clusters(app):
    app.build()
    warnings = app.warning.getvalue()
    doc = Path(app.srcdir) / "index.rst"
    assert re.search(
        rf"{re.escape(str(doc))}:4: WARNING: the mermaid diagram would be "
        r"[\d,]+ characters, over mermaid's limit of 50,000; draw it with "
        r"graphviz .*; drawn with graphviz instead \[labbook.schema\]",
        warnings,
    )
    assert warnings.count("WARNING") == 1
    page = _page(app)
    assert 'class="mermaid"' not in page
    # the fallback, an overview and one diagram per family of tables
    assert (
        len(re.findall(r'<object role="img" aria-label="[^"]*" data="_images/graphviz-', page))
        == 1 + 1 + 4
    )
    for caption in ("Overview of big.py:metadata", "compute", "identity", "network", "storage"):
        assert f'<span class="caption-text">{caption}</span>' in page
