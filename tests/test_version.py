"""One version: written once in the package, read by the packaging and the cache key."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import sphinxext.labbook
from sphinxext.labbook import version
from sphinxext.labbook.runner.cache import plan_key
from sphinxext.labbook.steps.model import LabPlan

PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"


def test_pyproject_reads_the_version_from_the_package():
    project = tomllib.loads(PYPROJECT.read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    module, _, name = attr.rpartition(".")
    assert module == version.__name__ and getattr(version, name) == version.__version__


def test_installed_metadata_and_the_package_agree():
    assert importlib.metadata.version("labbook") == sphinxext.labbook.__version__
    assert sphinxext.labbook.__version__ == version.__version__


def test_the_cache_key_changes_with_the_version(tmp_path, monkeypatch):
    spec = tmp_path / "lab.yaml"
    spec.write_text("name: one\nnodes:\n  alpha: {}\n")
    plan = LabPlan(spec_path=str(spec), steps=())
    before = plan_key(plan, {})
    assert plan_key(plan, {}) == before
    monkeypatch.setattr(version, "__version__", version.__version__ + ".post1")
    assert plan_key(plan, {}) != before
