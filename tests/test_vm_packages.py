"""Debian packages of a node (``packages:``): the spec, how the vm provider resolves and
unpacks them for its guests, and the netns provider's check that the host has them."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from sphinxext.labbook.errors import ProviderError, SpecErrors
from sphinxext.labbook.providers import hostpkgs
from sphinxext.labbook.providers.vm import packages
from sphinxext.labbook.spec import parse_spec

NEEDS_DPKG = pytest.mark.skipif(
    shutil.which("dpkg-deb") is None or shutil.which("apt-get") is None,
    reason="needs dpkg-deb and apt-get (Debian package dpkg, apt)",
)


def lab(packages_line: str) -> str:
    return textwrap.dedent(
        f"""\
        name: pkgs
        nodes:
          docker1:
            {packages_line}
        """
    )


def test_a_node_lists_its_packages_in_the_spec() -> None:
    spec = parse_spec(lab("packages: [docker.io, bridge-utils]"), "lab.yaml")
    assert spec.nodes[0].packages == ("docker.io", "bridge-utils")
    assert parse_spec(lab("hostname: docker1"), "lab.yaml").nodes[0].packages == ()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("packages: [docker.io, docker.io]", "lab.yaml:4:27: package 'docker.io' is listed twice"),
        ("packages: ['Docker IO']", "lab.yaml:4:16: node 'docker1' 'packages': 'Docker IO' has"),
        ("packages: docker.io", "lab.yaml:4:15: node 'docker1' 'packages' must be a list, not str"),
    ],
)
def test_bad_package_lists_name_the_place(line: str, message: str) -> None:
    with pytest.raises(SpecErrors) as err:
        parse_spec(lab(line), "lab.yaml")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_merge_usr_moves_top_directories_under_usr_keeping_links(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_text("x")
    (root / "lib" / "systemd" / "system").mkdir(parents=True)
    (root / "lib" / "systemd" / "system" / "a.service").write_text("y")
    os.symlink("tool", root / "bin" / "alias")
    os.symlink("system", root / "lib" / "systemd" / "units")
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "other").write_text("z")
    packages.merge_usr(str(root))
    assert sorted(os.listdir(root)) == ["usr"]
    assert (root / "usr" / "bin" / "tool").read_text() == "x"
    assert (root / "usr" / "bin" / "other").read_text() == "z"
    assert os.readlink(root / "usr" / "bin" / "alias") == "tool"
    assert os.readlink(root / "usr" / "lib" / "systemd" / "units") == "system"
    assert (root / "usr" / "lib" / "systemd" / "system" / "a.service").read_text() == "y"


def build_deb(tmp_path: Path, name: str) -> Path:
    src = tmp_path / f"{name}-src"
    (src / "DEBIAN").mkdir(parents=True)
    (src / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: lab <lab@example.org>\n"
        "Description: a test package\n"
    )
    (src / "DEBIAN" / "postinst").write_text("#!/bin/sh\ntouch /tmp/postinst-ran\n")
    os.chmod(src / "DEBIAN" / "postinst", 0o755)
    (src / "sbin").mkdir()
    (src / "sbin" / f"{name}d").write_text("#!/bin/sh\necho daemon\n")
    os.chmod(src / "sbin" / f"{name}d", 0o755)
    (src / "etc" / name).mkdir(parents=True)
    (src / "etc" / name / "conf").write_text("on\n")
    debs = tmp_path / "debs"
    debs.mkdir(exist_ok=True)
    out = debs / f"{name}_1.0_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-b", str(src), str(out)],
        check=True,
        capture_output=True,
    )
    return out


@NEEDS_DPKG
def test_unpack_lays_out_a_tree_for_the_guest_and_runs_no_maintainer_script(
    tmp_path: Path,
) -> None:
    build_deb(tmp_path, "labdemo")
    root = tmp_path / "root"
    root.mkdir()
    packages.unpack(str(tmp_path / "debs"), str(root), "node 'docker1'")
    assert (root / "usr" / "sbin" / "labdemod").read_text() == "#!/bin/sh\necho daemon\n"
    assert os.access(root / "usr" / "sbin" / "labdemod", os.X_OK)
    assert (root / "etc" / "labdemo" / "conf").read_text() == "on\n"
    assert not (root / "sbin").exists() and not (root / "DEBIAN").exists()
    assert oct(root.stat().st_mode & 0o777) == "0o755"


@NEEDS_DPKG
def test_a_broken_deb_is_one_line_naming_the_node(tmp_path: Path) -> None:
    debs = tmp_path / "debs"
    debs.mkdir()
    (debs / "broken_1.0_all.deb").write_bytes(b"not a deb")
    with pytest.raises(ProviderError, match=r"^the Debian packages of node 'x': cannot unpack "):
        packages.unpack(str(debs), str(tmp_path), "node 'x'")


@NEEDS_DPKG
def test_resolving_an_unknown_package_says_so() -> None:
    with pytest.raises(ProviderError) as err:
        packages.resolve(("labbook-no-such-package",), "node 'docker1'")
    assert "node 'docker1'" in err.value.message
    assert "labbook-no-such-package" in err.value.message
    assert "\n" not in err.value.message


@NEEDS_DPKG
def test_packages_the_host_has_resolve_to_nothing_to_fetch() -> None:
    assert packages.resolve(("dpkg",), "node 'docker1'") == []


def test_a_built_directory_is_reused_without_asking_apt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ("docker.io",)
    target = tmp_path / "packages" / packages.key(names)
    target.mkdir(parents=True)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))  # no apt-get: must not be needed
    assert packages.ensure(str(tmp_path), names, "node 'docker1'") == str(target)
    assert packages.key(names) == packages.key(("docker.io", "docker.io"))
    assert packages.key(names) != packages.key(("docker.io", "runc"))


def test_the_netns_provider_refuses_a_node_whose_packages_the_host_lacks() -> None:
    spec = parse_spec(lab("packages: [dpkg, labbook-no-such-package]"), "lab.yaml")
    assert hostpkgs.missing(("dpkg", "labbook-no-such-package")) == ["labbook-no-such-package"]
    with pytest.raises(ProviderError) as err:
        hostpkgs.check(spec, "netns")
    assert err.value.message.startswith(
        "node 'docker1' (lab.yaml:3:3) needs the Debian packages labbook-no-such-package, "
    )
    assert "vm provider" in err.value.message
    hostpkgs.check(parse_spec(lab("packages: [dpkg]"), "lab.yaml"), "netns")
