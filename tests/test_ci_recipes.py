"""The CI doc-drift recipes users copy (GitHub Actions, Zuul) and the Read the Docs
configuration: valid against their published schemas (offline), and doing what the
handbook says they do."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sphinxext.labbook.cli.parser import build_parser

REPO = Path(__file__).parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "docs-drift.yml"


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema against a schema it ships (offline: no download)."""
    argv = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ("vendor.github-workflows", WORKFLOW),
        ("vendor.readthedocs", REPO / ".readthedocs.yaml"),
    ],
)
def test_valid_against_the_published_schema(schema, path):
    proc = check_jsonschema(schema, path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "w.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:", 1))
    proc = check_jsonschema("vendor.github-workflows", broken)
    assert proc.returncode == 1, proc.stdout


def _labbook_commands(script: str) -> list[list[str]]:
    """The labbook command lines of a shell script, joined over backslashes, as argv."""
    import shlex

    joined = script.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        m = re.search(r'(?:^|\s)(?:"[^"]*/)?labbook"?\s+(check|report)\b(.*)', line)
        if m:
            out.append([m[1], *shlex.split(m[2])])
    return out


def _parses(argv: list[str]) -> object:
    """``argv`` as labbook's own parser reads it (placeholders for shell variables)."""
    argv = [re.sub(r"\$\{\{[^}]*\}\}|\$\w+|\"", "1", a) for a in argv]
    return build_parser().parse_args(argv)


def test_workflow_shards_as_root_and_ordinary_user_locked_and_merges():
    wf = yaml.safe_load(WORKFLOW.read_text())
    labs, report = wf["jobs"]["labs"], wf["jobs"]["report"]
    matrix = labs["strategy"]["matrix"]
    assert matrix["user"] == ["root", "ordinary"]
    assert matrix["shard"] == list(range(1, int(wf["env"]["SHARDS"]) + 1))
    assert f"/{len(matrix['shard'])} as" in labs["name"]
    script = "\n".join(s.get("run", "") for s in labs["steps"])
    (check,) = _labbook_commands(script)
    args = _parses(check)
    assert args.locked and args.shard and args.json and args.junit
    uploads = [s for s in labs["steps"] if str(s.get("uses", "")).startswith("actions/upload")]
    assert uploads and uploads[0]["if"] == "always()"
    assert report["needs"] == "labs"
    merges = _labbook_commands("\n".join(s.get("run", "") for s in report["steps"]))
    assert merges and all(_parses(m).verb == "merge" and _parses(m).junit for m in merges)


def test_zuul_jobs_cover_every_shard_as_root_and_as_user():
    config = yaml.safe_load((REPO / ".zuul.yaml").read_text())
    jobs = {c["job"]["name"]: c["job"] for c in config if "job" in c}
    (project,) = [c["project"] for c in config if "project" in c]
    base = jobs["labbook-docs-drift"]
    for key in ("run", "post-run"):
        assert yaml.safe_load((REPO / base[key]).read_text())[0]["hosts"] == "all"
    variants = {n: {**base["vars"], **j.get("vars", {})} for n, j in jobs.items() if n in
                project["check"]["jobs"]}  # fmt: skip
    assert all(jobs[n]["parent"] == "labbook-docs-drift" for n in variants)
    for as_root in (True, False):
        shards = sorted(
            v["labbook_shard"] for v in variants.values() if v["labbook_as_root"] is as_root
        )
        n = len(shards)
        assert shards == [f"{k}/{n}" for k in range(1, n + 1)], shards
    run = yaml.safe_load((REPO / base["run"]).read_text())[0]["tasks"]
    (check,) = [t for t in run if "labbook" in str(t.get("ansible.builtin.command", {}))]
    argv = check["ansible.builtin.command"]["argv"]
    assert argv[1:3] == ["check", "{{ labbook_docs }}"] and "--locked" in argv
    assert check["become"] == "{{ labbook_as_root | bool }}"
