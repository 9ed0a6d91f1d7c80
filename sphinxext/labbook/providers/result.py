"""What one command run on a node did (``Lab.exec`` and a session's ``run`` both say it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExecResult:
    """What one command did: its exit code, its output, how long it took."""

    command: str
    rc: int
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    timed_out: bool = False

    @property
    def output(self) -> str:
        """Standard output and error together (for a session, already interleaved in stdout)."""
        return self.stdout + self.stderr
