"""Numbers out of range (directive options, conf.py, command line): one line at file:line
that says what to write, exit code 2, and nothing reaches the runner."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOTS

from sphinxext.labbook import ranges
from sphinxext.labbook.cli import main


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "1e10", "86401", "-1", "0", "1e-400", ""])
def test_seconds_out_of_range(text):
    with pytest.raises(ValueError, match=r"write more than 0 and at most 86400 seconds"):
        ranges.seconds(text)


@pytest.mark.parametrize(("text", "value"), [("30", 30.0), ("0.5", 0.5), ("86400", 86400.0)])
def test_seconds_in_range(text, value):
    assert ranges.seconds(text) == value


@pytest.mark.parametrize("text", ["77777777", "10000", "-1", "8", "0x1ff", "rw-r--r--", ""])
def test_file_mode_out_of_range(text):
    with pytest.raises(ValueError, match=r"write (a file mode|it) like 0644"):
        ranges.file_mode(text)


@pytest.mark.parametrize(("text", "value"), [("0644", 0o644), ("0o755", 0o755), ("7777", 0o7777)])
def test_file_mode_in_range(text, value):
    assert ranges.file_mode(text) == value


@pytest.mark.parametrize("text", ["-1", "256", "1e3", "zero"])
def test_exit_status_out_of_range(text):
    with pytest.raises(ValueError, match=r"write a number from 0 to 255"):
        ranges.exit_status(text)


def test_each_bad_number_is_one_warning_at_its_option_line(tmp_path: Path, capsys):
    root = tmp_path / "numbers"
    shutil.copytree(ROOTS / "test-lab-numbers", root)
    report = tmp_path / "r.json"
    assert main(["check", str(root), "--json", str(report)]) == 2
    out, err = capsys.readouterr()
    src = root / "index.rst"
    lines = src.read_text().splitlines()
    expected = {
        ":timeout: inf": "not a number of seconds",
        ":timeout: 1e10": "out of range",
        ":timeout: nan": "not a number of seconds",
        ":timeout: -1": "out of range",
        ":retry: inf": "like :retry: 10",
        ":rc: 256": "write a number from 0 to 255",
        ":mode: 77777777": "write a file mode like 0644",
        ":mode: -1": "write it like 0644",
    }
    for option, says in expected.items():
        line = next(i for i, x in enumerate(lines, 1) if x.strip() == option)
        found = [x for x in err.splitlines() if x.startswith(f"{src}:{line}: WARNING: ")]
        assert len(found) == 1, (option, err)
        assert says in found[0], found[0]
    assert "Traceback" not in err and "Extension error" not in err
    # the bad steps never ran; the good one did
    assert "1 lab: 1 passed, 0 drift, 0 errors, 0 skipped; 8 bad directives or specs" in out
    assert '"line": ' in report.read_text()


def test_a_bad_default_timeout_in_conf_py(tmp_path: Path, capsys):
    root = tmp_path / "numbers"
    shutil.copytree(ROOTS / "test-lab-numbers", root)
    with open(root / "conf.py", "a") as f:
        f.write('labbook_timeout = float("nan")\n')
    assert main(["check", str(root)]) == 2
    err = capsys.readouterr().err
    assert "labbook_timeout in conf.py: 'nan' is not a number of seconds" in err
    assert "bringing up" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["check", ".", "-j", "0"], "-j is '0'; write a whole number from 1 to 256"),
        (["check", ".", "-j", "-3"], "-j is '-3'; write a whole number from 1 to 256"),
        (["check", ".", "-j", "1e9"], "-j is '1e9'; write a whole number from 1 to 256"),
        (["schema", "x.sql", "--around", "t", "--depth", "-1"], "write a whole number from 0"),
    ],
)
def test_command_line_numbers(argv, says, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert says in err
    assert re.search(r"^labbook \w+: error: ", err, re.M)


@pytest.mark.parametrize("shard", ["0/4", "5/4", "1/99999999999", "1/4/2", "1/0"])
def test_shard_out_of_range_is_refused_before_anything_is_made(shard, capsys):
    assert main(["check", ".", "--shard", shard]) == 2
    err = capsys.readouterr().err
    assert f"--shard '{shard}': write K/N with 1 <= K <= N <= 1000" in err
