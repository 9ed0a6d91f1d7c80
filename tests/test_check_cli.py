"""``labbook check``: exit codes, progress, reports, accept mode, shards (real kernel)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from conftest import NEEDS_USERNS, ROOTS

from sphinxext.labbook.cli import main

pytestmark = [NEEDS_USERNS]


def copy_root(tmp_path: Path, name: str) -> Path:
    dest = tmp_path / name
    shutil.copytree(ROOTS / f"test-{name}", dest)
    return dest


def test_check_passes_with_progress_and_reports(tmp_path, capsys):
    root = copy_root(tmp_path, "lab-pass")
    rc = main(
        ["check", str(root), "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml")]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "index: lab pair.yaml (netns) passed: passed 6" in out
    assert out.count("1 lab: 6 passed, 0 drift, 0 errors, 0 skipped\n") == 1
    assert len(re.findall(r"^\d+ labs?\b", out, re.M)) == 1  # one summary, not two
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["summary"]["passed"] == 6
    assert (tmp_path / "r.xml").read_text().startswith("<?xml")


def test_checking_one_file_says_nothing_of_links_to_the_files_left_out(tmp_path, capsys):
    root = copy_root(tmp_path, "lab-pass")
    (root / "two.rst").write_text("Two\n===\n\nNo lab.\n")
    with open(root / "index.rst", "a") as f:
        f.write("\nSee :doc:`two`, and :doc:`nowhere`.\n")
    assert main(["check", str(root / "index.rst")]) == 0
    assert "unknown document" not in capsys.readouterr().err
    assert main(["check", str(root)]) == 0  # the whole tree: a broken link is still said
    err = capsys.readouterr().err
    assert "unknown document: 'nowhere'" in err and "'two'" not in err


def test_check_drift_exit_1_and_diff_on_stderr(tmp_path, capsys):
    root = copy_root(tmp_path, "lab-drift")
    assert main(["check", str(root / "index.rst")]) == 1
    err = capsys.readouterr().err
    assert "+the lab says this" in err


def test_check_bad_input_exit_2(tmp_path, capsys):
    root = copy_root(tmp_path, "lab-bad")
    assert main(["check", str(root)]) == 2
    assert main(["check", str(tmp_path / "nope")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_check_lab_that_cannot_come_up_exit_3(tmp_path, capsys):
    root = copy_root(tmp_path, "lab-drift")
    assert main(["check", str(root), "--provider", "fake-broken"]) == 2  # unknown provider
    (root / "conf.py").write_text(
        'extensions = ["sphinxext.labbook"]\n'
        'labbook_provider = "fake"\n'
        'labbook_provider_options = {"fail_up": "yes"}\n'
        "show_warning_types = True\n"
    )
    assert main(["check", str(root)]) == 3
    err = capsys.readouterr().err
    assert "pair.yaml could not be brought up" in err
    assert err.count("[labbook.error]") == 1  # once for the lab, not once per step


def test_accept_round_trip(tmp_path, capsys):
    root = copy_root(tmp_path, "lab-accept")
    doc = root / "index.rst"
    before = doc.read_text()
    assert main(["check", str(root), "--accept"]) == 1
    out = capsys.readouterr().out
    assert "accepted the output of node alpha" in out
    after = doc.read_text()
    assert after != before
    assert "   alpha\n" in after and "wrong-name" not in after
    assert "   ...\n" in after  # the author's ellipsis survives where it still matches
    assert "   changed\n" in after and "unchanged" not in after
    assert main(["check", str(root)]) == 0, capsys.readouterr()


def test_shards_split_documents_and_reports_merge(tmp_path, capsys):
    root = copy_root(tmp_path, "lab-cache")
    reports = []
    for k in (1, 2):
        path = tmp_path / f"shard{k}.json"
        assert main(["check", str(root), "--shard", f"{k}/2", "--json", str(path)]) == 0
        assert "1 lab: 1 passed, 0 drift, 0 errors, 0 skipped" in capsys.readouterr().out
        reports.append(path)
    docs = [json.loads(p.read_text())["labs"][0]["document"] for p in reports]
    assert sorted(docs) == ["one", "two"]
    merged = tmp_path / "all.json"
    assert (
        main(
            [
                "report",
                "merge",
                *map(str, reports),
                "-o",
                str(merged),
                "--junit",
                str(tmp_path / "all.xml"),
            ]
        )
        == 0
    )
    assert (
        capsys.readouterr().out
        == "2 labs: 2 passed, 0 drift, 0 errors, 0 skipped (from 2 reports)\n"
    )
    data = json.loads(merged.read_text())
    assert data["summary"]["passed"] == 2
    assert main(["check", str(root), "--shard", "3/2"]) == 2


def test_drift_whose_output_says_error_is_still_drift(tmp_path, capsys):
    root = copy_root(tmp_path, "lab-drift")
    doc = root / "index.rst"
    doc.write_text(doc.read_text().replace("$ echo the lab says this", "$ echo 'ERROR: disk full'"))
    assert main(["check", str(root)]) == 1


def test_a_lab_that_never_ran_because_of_bad_input_is_not_green(tmp_path, capsys):
    root = copy_root(tmp_path, "lab-drift")
    doc = root / "index.rst"
    doc.write_text(
        doc.read_text().replace(".. lab:: pair.yaml", ".. lab:: pair.yaml\n   :provider: netnss")
    )
    report = tmp_path / "r.json"
    assert main(["check", str(root), "--json", str(report)]) == 2
    data = json.loads(report.read_text())
    assert data["summary"]["errors"] >= 1
    assert any("unknown provider 'netnss'" in p["message"] for p in data["problems"])


def test_shards_find_labs_in_included_files_and_long_myst_fences(tmp_path):
    from sphinxext.labbook.cli.check import _lab_docs

    (tmp_path / "a.rst").write_text("A\n=\n\n.. include:: parts/lab.inc\n")
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "lab.inc").write_text(".. lab:: pair.yaml\n")
    (tmp_path / "b.md").write_text("# B\n\n````{lab} pair.yaml\n````\n")
    (tmp_path / "c.rst").write_text("C\n=\n\nno lab here; .. lab:: in prose does not count\n")
    (tmp_path / "d.rst").write_text(".. include:: d.rst\n")  # includes itself: no loop
    assert _lab_docs(str(tmp_path)) == ["a", "b"]


def test_lab_options_reach_the_provider(tmp_path, capsys):
    root = copy_root(tmp_path, "lab-drift")
    (root / "conf.py").write_text('extensions = ["sphinxext.labbook"]\nlabbook_provider = "fake"\n')
    doc = root / "index.rst"
    doc.write_text(
        doc.read_text().replace(
            ".. lab:: pair.yaml", ".. lab:: pair.yaml\n   :options: fail_up=yes"
        )
    )
    assert main(["check", str(root)]) == 3
    assert "the fake provider was told to fail" in capsys.readouterr().err
    doc.write_text(doc.read_text().replace("fail_up=yes", "fail_up"))
    assert main(["check", str(root)]) == 2


def test_exitfirst_stops_the_whole_run(tmp_path, capsys):
    root = copy_root(tmp_path, "lab-cache")
    one = root / "one.rst"
    one.write_text(one.read_text().replace("   $ echo one\n   one", "   $ echo one\n   uno"))
    report = tmp_path / "r.json"
    assert main(["check", str(root), "-x", "--json", str(report)]) == 1
    labs = {lab["document"]: lab for lab in json.loads(report.read_text())["labs"]}
    assert labs["one"]["status"] == "drift"
    assert labs["two"]["status"] == "skipped"
    assert "stopped after the first failure" in labs["two"]["message"]


def test_a_file_that_cannot_be_written_is_said_once(tmp_path, capsys):
    root = copy_root(tmp_path, "lab-pass")
    (root / "index.rst").write_text(
        "Files\n=====\n\n.. lab:: pair.yaml\n\n.. lab-file:: /etc\n   :node: alpha\n\n   x = 1\n"
    )
    assert main(["check", str(root)]) == 1
    err = capsys.readouterr().err
    said = [x for x in err.splitlines() if "cannot write /etc" in x]
    assert len(said) == 1, err
    assert said[0].count("cannot write") == 1 and said[0].count("alpha") == 1, said[0]


CRAM = Path(__file__).parent / "data" / "cram"


def test_check_runs_a_cram_file_on_a_lab_node(tmp_path, capsys):
    lab = ROOTS / "test-lab-drift" / "pair.yaml"
    t = tmp_path / "basic.t"
    shutil.copy(CRAM / "basic.t", t)
    report = tmp_path / "r.json"
    rc = main(["check", str(t), "--lab", str(lab), "--node", "beta", "--json", str(report)])
    out, err = capsys.readouterr()
    assert rc == 1, out + err
    wrong = next(i for i, x in enumerate(t.read_text().splitlines(), 1) if "echo wrong" in x)
    assert f"{t}:{wrong}: output of `echo wrong` on beta differs from the page" in err
    assert "-right\n+wrong" in err
    assert "1 lab: 1 passed, 1 drift, 0 errors, 0 skipped" in out
    steps = json.loads(report.read_text())["steps"]
    assert [s["line"] for s in steps] == [3, wrong]  # the first command of each session
    t.write_text(t.read_text().replace("  right\n", "  wrong\n"))
    assert main(["check", str(t), "--lab", str(lab), "--node", "beta"]) == 0


def test_check_of_a_cram_file_says_what_it_needs(tmp_path, capsys):
    lab = ROOTS / "test-lab-drift" / "pair.yaml"
    t = CRAM / "basic.t"
    assert main(["check", str(t)]) == 2
    assert "add --lab SPEC.yaml --node NODE" in capsys.readouterr().err
    assert main(["check", str(t), "--lab", str(lab), "--node", "gamma"]) == 2
    assert "its nodes: alpha, beta" in capsys.readouterr().err
    bad = tmp_path / "bad.t"
    bad.write_text("Comment\n\n  output before any command\n")
    assert main(["check", str(bad), "--lab", str(lab), "--node", "alpha"]) == 2
    assert f"{bad}:3: a console block must start with a prompt" in capsys.readouterr().err
