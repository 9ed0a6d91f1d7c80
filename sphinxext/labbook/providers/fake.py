"""A provider for tests of the runner: nodes are directories, commands run on the host.

It exists so the runner and the Sphinx front end can be tested quickly and without
root; it never stands in for testing the real providers. A node's files live under
``<root>/<node>/`` (``/etc/x`` is ``<root>/<node>/etc/x``), its shell starts there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from typing import Any

from ..errors import ProviderError
from ..spec import LabSpec
from .base import ExecResult, Lab, LabInfo, Provider

#: Labs of this process, so ``attach``/``list`` work in tests.
_RUNNING: dict[str, FakeLab] = {}


class FakeLab(Lab):
    provider_name = "fake"

    def __init__(self, name: str, spec: LabSpec, root: str) -> None:
        super().__init__(name, spec)
        self.root = root
        self.created = time.time()

    def _dir(self, node: str) -> str:
        self.check_node(node)
        return os.path.join(self.root, node)

    def _path(self, node: str, path: str) -> str:
        return os.path.join(self._dir(node), path.lstrip("/"))

    def exec(
        self,
        node: str,
        argv: list[str],
        *,
        timeout: float | None = None,
        input: bytes | None = None,
    ) -> ExecResult:
        t = time.monotonic()
        try:
            p = subprocess.run(
                argv,
                cwd=self._dir(node),
                input=input,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            return ExecResult(
                " ".join(argv),
                124,
                _s(exc.stdout),
                _s(exc.stderr),
                time.monotonic() - t,
                timed_out=True,
            )
        except FileNotFoundError as exc:
            return ExecResult(" ".join(argv), 127, "", f"{exc}\n", time.monotonic() - t)
        return ExecResult(
            " ".join(argv), p.returncode, _s(p.stdout), _s(p.stderr), time.monotonic() - t
        )

    def shell_argv(self, node: str) -> list[str]:
        d = self._dir(node)
        return [
            "bash",
            "--noprofile",
            "--norc",
            "-c",
            'cd "$1" && export LABBOOK_NODE="$2" LABBOOK_FAKE_LAB="$3" && '
            "exec bash --noprofile --norc",
            "fake-shell",
            d,
            node,
            self.name,
        ]

    def put(
        self,
        node: str,
        path: str,
        data: bytes,
        *,
        mode: int | None = None,
        owner: str | None = None,
    ) -> None:
        target = self._path(node, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(data)
        if mode is not None:
            os.chmod(target, mode)

    def get(self, node: str, path: str) -> bytes:
        with open(self._path(node, path), "rb") as f:
            return f.read()

    def down(self) -> None:
        self.close_sessions()
        self._kill_detached()
        _RUNNING.pop(self.name, None)
        shutil.rmtree(self.root, ignore_errors=True)

    def _kill_detached(self) -> None:
        """Processes a step detached (``:background:``) left the session; they carry the
        lab's name in their environment, which is how they are found and ended."""
        import signal

        marker = f"LABBOOK_FAKE_LAB={self.name}".encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if marker not in f.read().split(b"\0"):
                        continue
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                continue


class FakeProvider(Provider):
    """Options: ``fail_up`` (any true value) makes ``up`` fail, to test error paths;
    ``unavailable=REASON`` makes the provider say this machine cannot run it, as the vm
    provider does without QEMU (without needing a machine that lacks QEMU);
    ``topology_drift=TEXT`` makes the lab report that drift, as the ssh provider does when
    the machines differ from the lab spec."""

    name = "fake"

    def up(self, spec: LabSpec, name: str | None = None) -> FakeLab:
        name = name or spec.name
        if self.options.get("fail_up"):
            raise ProviderError(f"lab '{name}': the fake provider was told to fail")
        if name in _RUNNING:
            raise ProviderError(f"a lab named '{name}' is already running")
        root = tempfile.mkdtemp(prefix=f"labbook-fake-{name}-")
        for node in spec.nodes:
            os.makedirs(os.path.join(root, node.name, "etc"), exist_ok=True)
        lab = FakeLab(name, spec, root)
        if self.options.get("topology_drift"):
            lab.topology_drift = [str(self.options["topology_drift"])]
        _RUNNING[name] = lab
        return lab

    def attach(self, name: str) -> FakeLab:
        from ..errors import LabNotFound

        try:
            return _RUNNING[name]
        except KeyError:
            raise LabNotFound(f"no running fake lab named '{name}'") from None

    def labs(self) -> list[LabInfo]:
        return [
            LabInfo(lab.name, "fake", lab.spec.path, lab.spec.node_names, lab.created)
            for lab in _RUNNING.values()
        ]

    def unavailable(self) -> str | None:
        return str(self.options.get("unavailable") or "") or None

    def settings(self) -> dict[str, Any]:
        return {"provider": "fake"}


def _s(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")
