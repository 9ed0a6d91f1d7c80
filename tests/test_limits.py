"""Each node's writable layer has a size (``limits: {writable: ...}``): a step that fills it
is told so, at its line, and the host's memory is not what runs out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import NEEDS_USERNS

from sphinxext.labbook.errors import SpecErrors
from sphinxext.labbook.runner.execute import run_plan
from sphinxext.labbook.spec import parse_spec
from sphinxext.labbook.steps.model import Command, FileStep, LabPlan, RunStep, Source
from sphinxext.labbook.verdict.results import Status

SMALL = "name: small\nlimits:\n  writable: 8M\nnodes:\n  alpha: {}\n  beta: {}\n"


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("12X", "'12X' is not a size; write a whole number with K, M or G"),
        ("64m", "'64m' is not a size"),
        ("-1M", "'-1M' is not a size"),
        ("0M", "'0M' is not a size"),
        ("1M", "1M is too small for a node; write at least 4M"),
        ("512", "'512' is not a size"),
    ],
)
def test_a_bad_size_is_one_line_at_its_place(value: str, said: str) -> None:
    with pytest.raises(SpecErrors) as err:
        parse_spec(f"name: x\nlimits:\n  writable: {value}\nnodes:\n  a: {{}}\n", "x.yaml")
    lines = str(err.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith("x.yaml:3:") and said in lines[0]


def test_the_default_and_a_given_size() -> None:
    assert parse_spec("name: x\nnodes:\n  a: {}\n").writable == "256M"
    assert parse_spec(SMALL).writable == "8M"
    with pytest.raises(SpecErrors, match="unknown key 'memory' in 'limits'"):
        parse_spec("name: x\nlimits: {memory: 1G}\n")


@pytest.fixture
def spec(tmp_path: Path) -> str:
    p = tmp_path / "small.yaml"
    p.write_text(SMALL)
    return str(p)


def run(node: str, text: str, expected: list[str], line: int) -> RunStep:
    return RunStep(
        node=node,
        source=Source("doc.rst", line, "doc"),
        commands=(Command(text, tuple(expected), line),),
    )


@NEEDS_USERNS
def test_a_step_that_fills_the_layer_is_told_so(spec: str) -> None:
    r = run_plan(
        LabPlan(
            spec_path=spec,
            document="doc",
            provider="netns",
            steps=(
                run("alpha", "df -k /tmp | awk 'NR==2 {print $2}'", ["8192"], 10),
                run("alpha", "head -c 64M /dev/zero > /root/big; echo done", ["done"], 20),
                FileStep(
                    node="alpha",
                    path="/etc/more.conf",
                    content=("x" * 100,),
                    source=Source("doc.rst", 30, "doc"),
                ),
                run("beta", "head -c 4M /dev/zero > /tmp/fits && echo fits", ["fits"], 40),
            ),
        )
    )
    size, filled, file_step, other = r.steps
    assert size.status is Status.PASSED, size.diff
    assert filled.status is Status.DRIFT and filled.line == 20
    assert "No space left on device" in filled.diff
    assert "node alpha's writable layer is full (8M limit: set `limits: {writable: 1G}`" in (
        filled.message
    )
    assert "small.yaml" in filled.message
    assert file_step.status is Status.ERROR
    assert "writable layer is full (8M limit" in file_step.message
    assert other.status is Status.PASSED, other.diff  # each node has a layer of its own


@NEEDS_USERNS
def test_every_writable_tmpfs_of_a_node_has_the_size(spec: str) -> None:
    from sphinxext.labbook.providers import get_provider
    from sphinxext.labbook.spec import load_spec

    with get_provider("netns").up(load_spec(spec), f"small-{os.getpid() % 100000}") as lab:
        # the writable ones: the host's own (read-only in a node) keep their sizes
        res = lab.exec(
            "alpha", ["findmnt", "-b", "-rn", "-t", "tmpfs", "-O", "rw", "-o", "TARGET,SIZE"]
        )
    sizes = dict(line.split() for line in res.stdout.splitlines())
    assert {"/dev", "/tmp"} <= set(sizes) and set(sizes.values()) == {str(8 << 20)}, res.stdout
