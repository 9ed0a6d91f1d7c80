"""What labbook keeps on the Sphinx environment is purged per document and merged from
the environments of parallel reads, in both its shapes (per-document dicts and sets)."""

from __future__ import annotations

from types import SimpleNamespace

from sphinxext.labbook.sphinx import envdata


def _env(docname: str = "") -> SimpleNamespace:
    return SimpleNamespace(docname=docname)


def test_purge_forgets_a_document_everywhere():
    env = _env()
    envdata.results_of(env).update(a=["ra"], b=["rb"])
    envdata.plans_of(env)["a"] = ["pa"]
    envdata.problems_of(env)["a"] = [{"message": "bad"}]
    envdata.report_docs(env).update({"a", "b"})
    envdata.schema_checks(env).add("a")
    envdata.on_purge(None, env, "a")  # type: ignore[arg-type]
    assert envdata.results_of(env) == {"b": ["rb"]}
    assert envdata.plans_of(env) == {} and envdata.problems_of(env) == {}
    assert envdata.report_docs(env) == {"b"} and envdata.schema_checks(env) == set()


def test_merge_takes_the_documents_the_other_read_and_nothing_else():
    mine, theirs = _env(), _env()
    envdata.results_of(mine)["a"] = ["mine"]
    envdata.results_of(theirs).update(b=["theirs"], c=["not merged"])
    envdata.schema_checks(theirs).update({"b", "c"})
    envdata.report_docs(theirs).add("b")
    envdata.on_merge(None, mine, {"b"}, theirs)  # type: ignore[arg-type]
    assert envdata.results_of(mine) == {"a": ["mine"], "b": ["theirs"]}
    assert envdata.schema_checks(mine) == {"b"} and envdata.report_docs(mine) == {"b"}
    assert envdata.plans_of(mine) == {}


def test_note_problem_files_it_under_the_current_document():
    env = _env(docname="guide")
    envdata.note_problem(env, "guide.rst", 7, "unknown node")  # type: ignore[arg-type]
    assert envdata.problems_of(env) == {
        "guide": [{"file": "guide.rst", "line": 7, "message": "unknown node"}]
    }
