"""A command's output as it streams in: bounded in memory, searched linearly for its end.

Every session kind (a local pty, ssh, a VM's agent) reads a shell's output until an end
marker shows up. :class:`OutputBuffer` looks for the marker only in the bytes just read
(plus the few before them that a marker split between two reads may start in), keeps
the first and the last bytes of the output in memory, and copies the whole output to a
file once it outgrows what memory keeps. :meth:`OutputBuffer.text` gives what reports
show: the whole output when it is short, else its first and last lines with a note of
what was cut and where the whole of it is.

Standard library only: the VM's agent imports this module too.
"""

from __future__ import annotations

import os
import re

#: Lines shown from the start and from the end of a long output.
HEAD_LINES = 200
TAIL_LINES = 200
#: Bytes kept in memory from the start and from the end (lines may be very long).
HEAD_BYTES = 32 * 1024
TAIL_BYTES = 32 * 1024

#: Bytes gathered before one write to the spill file.
SPILL_BATCH = 1 << 20

#: A job notice of a non-interactive bash ("bash: line 6:  3120 Killed   sleep 500"):
#: what the shell says of a job that a signal ended (a background job's notice comes
#: whenever the shell next looks; a foreground job's is part of its command's output).
JOB_NOTICE = re.compile(
    r"^[^\n:]*bash: line \d+: +(\d+) [A-Z][A-Za-z0-9 ]*?(?: \(core dumped\))? +[^\n]*\n?",
    re.MULTILINE,
)


class OutputBuffer:
    """The output of one command, fed chunk by chunk until ``end`` matches.

    ``end`` is a compiled bytes pattern no longer than ``end_max`` bytes. ``spill`` is
    the path the whole output is written to when it is too long to show whole (its
    directory is made then); without it, a long output is cut with no copy kept. With
    ``begin``, what comes before that mark is not the command's (the shell said it
    before the command started: notices of jobs that ended since the last command),
    unless the mark never comes (the shell could not even start the command).
    """

    def __init__(
        self,
        end: re.Pattern[bytes],
        end_max: int,
        spill: str | None = None,
        begin: bytes | None = None,
    ) -> None:
        self.begin = begin
        self.before = bytearray()  # what came before ``begin`` (its last bytes)
        self.end = end
        self.end_max = end_max
        self.spill = spill
        self.head = bytearray()  # the first HEAD_BYTES of the output
        self.tail = bytearray()  # the last bytes read (at least TAIL_BYTES + end_max)
        self.total = 0  # bytes read so far (marker included)
        self.lines = 0  # newlines read so far
        self.file: int | None = None  # the spill file, once open
        self.pending = bytearray()  # bytes not yet written to it
        self.match: re.Match[bytes] | None = None
        self.size = 0  # bytes of output before the marker, once it matched

    def feed(self, chunk: bytes) -> bool:
        """Take ``chunk``; True once the end marker has been read (later bytes are dropped)."""
        if self.match is not None or not chunk:
            return self.match is not None
        if self.begin is not None:
            chunk = self._after_begin(chunk)
            if not chunk:
                return False
        start = max(0, len(self.tail) - (self.end_max - 1))
        tail_before = self.total - len(self.tail)  # offset of tail[0] in the output
        self.tail += chunk
        m = self.end.search(self.tail, start)
        if m is not None:
            self.match = m
            self.size = tail_before + m.start()
            chunk = chunk[: max(0, len(chunk) - (len(self.tail) - m.start()))]
        self._keep(chunk)
        if m is not None:  # a marker split between two reads: its first bytes are no output
            self.total = self.size
            del self.head[self.size :]
        if m is None and len(self.tail) > 2 * (TAIL_BYTES + self.end_max):
            del self.tail[: len(self.tail) - (TAIL_BYTES + self.end_max)]
        return m is not None

    def _after_begin(self, chunk: bytes) -> bytes:
        """The part of ``chunk`` after the begin mark (b"" while it has not come)."""
        assert self.begin is not None
        seen = len(self.before)
        self.before += chunk
        at = self.before.find(self.begin, max(0, seen - len(self.begin) + 1))
        if at < 0:
            if len(self.before) > 2 * TAIL_BYTES:
                del self.before[: len(self.before) - TAIL_BYTES]
            return b""
        rest = bytes(self.before[at + len(self.begin) :])
        self.begin = None
        self.before.clear()
        return rest

    def _keep(self, data: bytes) -> None:
        """Account ``data`` (output, no marker): the head, the line count, the spill file."""
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        self.total += len(data)
        self.lines += data.count(b"\n")
        if self.file is None and self.total > HEAD_BYTES + TAIL_BYTES and self.spill:
            self._open_spill()
            # what came before ``data`` is all in head + tail while nothing was cut yet
            self.pending += self.tail[: self.total - len(data)]
        if self.file is not None:
            self.pending += data
            if len(self.pending) >= SPILL_BATCH:
                self._flush()

    def _flush(self) -> None:
        if self.file is not None and self.pending:
            _write_all(self.file, self.pending)
            self.pending.clear()

    def _open_spill(self) -> None:
        assert self.spill is not None
        os.makedirs(os.path.dirname(self.spill) or ".", exist_ok=True)
        self.file = os.open(self.spill, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)

    @property
    def rc(self) -> int | None:
        """The number the end marker carries (its first group), once it matched."""
        return None if self.match is None else int(self.match.group(1))

    def text(self) -> tuple[str, str]:
        """(what to show, path of the whole output or ""): short outputs whole; long ones
        as their first and last lines around a note of what was cut."""
        if self.begin is not None:  # the command never started: what the shell said instead
            self.begin = None
            self.feed(bytes(self.before))
        self.close()
        end = self.match.start() if self.match is not None else len(self.tail)
        kept = bytes(self.tail[:end])
        whole = len(kept) >= self.total
        if whole and self.lines <= HEAD_LINES + TAIL_LINES:
            return _decode(kept), ""
        if whole and self.spill:  # short in bytes, long in lines: keep it on disk too
            self._open_spill()
            self.pending += kept
            self.close()
        head = _decode(bytes(self.head)).splitlines(keepends=True)
        tail = _decode(kept[-TAIL_BYTES:]).splitlines(keepends=True)
        if len(tail) > 1 and (len(kept) > TAIL_BYTES or not whole):
            tail = tail[1:]  # its first line is likely partial
        head = head[:HEAD_LINES]
        tail = tail[-TAIL_LINES:]
        shown = sum(len(x.encode()) for x in head + tail)
        cut_lines = max(0, self.lines - sum(x.endswith("\n") for x in head + tail))
        where = f"; the whole output is in {self.spill}" if self.spill else ""
        note = (
            f"[labbook: {self.total - shown:,} bytes ({cut_lines:,} lines) of this command's "
            f"{self.total:,}-byte output cut here{where}]\n"
        )
        if head and not head[-1].endswith("\n"):
            head[-1] += "\n"
        return "".join(head) + note + "".join(tail), self.spill or ""

    def close(self) -> None:
        """Close the spill file (cut to the output's size: the marker is no output)."""
        if self.file is not None:
            self._flush()
            if self.match is not None:
                os.ftruncate(self.file, self.size)
            os.close(self.file)
            self.file = None


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def drop_job_notices(text: str, background: set[str] | frozenset[str]) -> str:
    """``text`` without the shell's notices of the jobs with pids in ``background``."""
    if "bash: line " not in text or not background:
        return text
    return JOB_NOTICE.sub(lambda m: "" if m.group(1) in background else m.group(0), text)
