"""A node's persistent shell over ssh: the local PtySession, started once the remote is ready."""

from __future__ import annotations

import os
import select
import time

from ...errors import ProviderError
from ..session import PtySession
from . import remote

#: How long a new remote shell may take to say it is ready.
READY_TIMEOUT = 30.0


class SshSession(PtySession):
    """``ssh -tt`` running :func:`remote.session`; commands are sent only after READY.

    Until the remote terminal is raw and silent, anything sent would be echoed back
    into the first command's output, so the constructor waits for the READY mark.
    """

    def __init__(
        self, argv: list[str], *, name: str = "", columns: int = 160, spill_dir: str | None = None
    ) -> None:
        super().__init__(argv, name=name, columns=columns, spill_dir=spill_dir)
        try:
            self._await_ready()
        except BaseException:
            self.close()
            raise

    def _await_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        seen = bytearray()
        mark = remote.READY.encode()
        while mark not in seen:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise ProviderError(
                    f"the shell of {self.name} did not start within {READY_TIMEOUT:g} s"
                )
            ready, _, _ = select.select([self.fd], [], [], wait)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 4096)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                said = seen.decode("utf-8", "replace").strip().splitlines()
                raise ProviderError(
                    f"the shell of {self.name} ended before it was ready"
                    + (f": {said[-1]}" if said else "")
                )
            seen += chunk
