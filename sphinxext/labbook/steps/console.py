"""Console text to commands: prompts, continuation lines, heredocs and expected output."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import DirectiveError
from .model import Command

#: The secondary prompt (PS2) a console shows on continuation lines.
PS2 = "> "

#: Words that open a compound command, and the word that closes each.
_OPENERS = {
    "if": "fi",
    "case": "esac",
    "for": "done",
    "while": "done",
    "until": "done",
    "select": "done",
    "{": "}",
}
_CLOSERS = frozenset(_OPENERS.values())
#: Words after which the next word is in command position (where keywords count); so
#: are separators (``;``, ``&&``, ``|``, ``(``, ``)``, newline).
_KEYWORD_STARTS = frozenset({"{", "!", "then", "do", "else", "elif", "if", "while", "until"})
_SEPARATOR_CHARS = frozenset(";&|()\n")
#: A command ending in one of these goes on in the next line, as bash reads it.
_TRAILING_OPERATORS = ("|", "&&")
#: A '#' glued to a word (``${x#y}``, ``$#``) is not a comment; shlex would think it is.
_GLUED_HASH = re.compile(r"(?<=[^\s;&|()<>])#")


@dataclass(frozen=True)
class _Shape:
    """What the shell still waits for after reading some lines of a command."""

    heredocs: tuple[tuple[str, bool], ...]  # (terminator, strip leading tabs) in order
    open_quote: bool
    open_line: bool  # trailing backslash or operator
    open_compound: bool


def parse_console(
    content: Sequence[str] | str, prompts: Sequence[str] = ("$ ", "# "), first_line: int = 0
) -> tuple[Command, ...]:
    """Split a console block into commands, each with the output lines that follow it.

    The block's prompt is the one its first non-blank line starts with, so in a ``$``
    block a ``# comment`` line is output, and in a ``#`` block a ``$ x`` line is output.
    Lines are counted from ``first_line`` for the block's first line (the default 0 gives
    offsets in the block; a directive passes the source line of its content). Raises
    :class:`DirectiveError`, with ``line`` counted the same way, for text before the
    first prompt and for a command the shell would never see the end of.
    """
    try:
        return _parse(content, prompts, first_line)
    except DirectiveError as exc:
        exc.line = (exc.line or 0) + first_line
        raise


def _parse(
    content: Sequence[str] | str, prompts: Sequence[str], first_line: int
) -> tuple[Command, ...]:
    lines = content.splitlines() if isinstance(content, str) else list(content)
    first = next((i for i, x in enumerate(lines) if x.strip()), None)
    if first is None:
        return ()
    prompt = _prompt_of(lines[first], prompts)
    if prompt is None:
        shown = " or ".join(repr(p.rstrip()) for p in prompts)
        raise DirectiveError(
            f"a console block must start with a prompt ({shown}), then the "
            f"command; got {lines[first].strip()[:40]!r}",
            line=first,
        )
    commands: list[Command] = []
    i = first
    while i < len(lines):
        start = i
        text, i = _read_command(lines, i, prompt)
        out_start = i
        while i < len(lines) and not _is_prompt_line(lines[i], prompt):
            i += 1
        expected = lines[out_start:i]
        while expected and not expected[-1].strip():
            expected.pop()
        commands.append(Command(text, tuple(expected), first_line + start, prompt))
    return tuple(commands)


def command_extent(command: Command) -> int:
    """How many content lines the command itself (prompt line and continuations) takes."""
    return command.text.count("\n") + 1


def _prompt_of(line: str, prompts: Sequence[str]) -> str | None:
    for p in sorted(prompts, key=len, reverse=True):
        if _is_prompt_line(line, p):
            return p
    return None


def _is_prompt_line(line: str, prompt: str) -> bool:
    return line.startswith(prompt) or line.rstrip() == prompt.rstrip()


def _read_command(lines: list[str], i: int, prompt: str) -> tuple[str, int]:
    """The command starting at line ``i`` and the index of the first line after it."""
    start = i
    first = lines[i]
    code = [first[len(prompt) :] if first.startswith(prompt) else ""]
    text = list(code)
    i += 1
    ps2 = i < len(lines) and (lines[i].startswith(PS2) or lines[i] == PS2.rstrip())
    done_heredocs = 0
    while True:
        shape = _shape("\n".join(code))
        pending = shape.heredocs[done_heredocs:]
        if pending:
            for term, strip_tabs in pending:
                i = _read_heredoc(lines, i, term, strip_tabs, ps2, text, start)
            done_heredocs = len(shape.heredocs)
            continue
        if not (shape.open_quote or shape.open_line or shape.open_compound):
            return "\n".join(text), i
        if i >= len(lines):
            what = (
                "a quote is never closed"
                if shape.open_quote
                else "the last line ends in '\\' or an operator"
                if shape.open_line
                else "a compound command (if/for/while/case/{) is never closed"
            )
            raise DirectiveError(
                f"the command is incomplete at the end of the block: {what}", line=start
            )
        nxt = _unprompt(lines[i], ps2)
        code.append(nxt)
        text.append(nxt)
        i += 1


def _read_heredoc(
    lines: list[str], i: int, term: str, strip_tabs: bool, ps2: bool, text: list[str], start: int
) -> int:
    while i < len(lines):
        body = _unprompt(lines[i], ps2)
        text.append(body)
        i += 1
        candidate = body.lstrip("\t") if strip_tabs else body
        if candidate.rstrip() == term:
            return i
    raise DirectiveError(
        f"the here-document is never closed: add a line {term!r} to end it", line=start
    )


def _unprompt(line: str, ps2: bool) -> str:
    if ps2 and line.startswith(PS2):
        return line[len(PS2) :]
    if ps2 and line == PS2.rstrip():
        return ""
    return line


def _shape(code: str) -> _Shape:
    """Ask shlex what a bash reading ``code`` would still wait for."""
    if _odd_backslashes(code):  # the logical line goes on; its heredocs start after it
        return _Shape((), False, True, False)
    # A ';' opens every line so a comment (which shlex reads up to and including its
    # newline) cannot hide where the next command starts.
    lexer = shlex.shlex(
        _GLUED_HASH.sub("_", code).replace("\n", "\n;"), posix=True, punctuation_chars="();<>|&\n"
    )
    lexer.whitespace = " \t"
    lexer.commenters = "#"
    tokens: list[str] = []
    try:
        tokens.extend(lexer)
    except ValueError:  # "No closing quotation" (or escaped end of input)
        return _Shape((), True, False, False)
    heredocs = tuple(_heredocs(tokens))
    last = tokens[-1] if tokens else ""
    open_line = _is_separator(last) and last.endswith(_TRAILING_OPERATORS)
    return _Shape(heredocs, False, open_line, _compound_open(tokens))


def _heredocs(tokens: list[str]) -> list[tuple[str, bool]]:
    """``(terminator, strip tabs)`` of each ``<<WORD`` / ``<<-WORD`` (quotes already
    removed by shlex; ``<<<`` is a here-string and has no body)."""
    found = []
    for k, tok in enumerate(tokens):
        words = [w for w in tokens[k + 1 : k + 3] if not _is_separator(w)]
        if tok != "<<" or not words:
            continue
        dash = words[0].startswith("-")
        term = words[0][1:] if dash else words[0]
        if dash and not term:  # ``<<- EOF``
            term = words[1] if len(words) > 1 else ""
        if term:
            found.append((term, dash))
    return found


def _compound_open(tokens: list[str]) -> bool:
    depth = 0
    at_start = True
    for tok in tokens:
        if at_start and tok in _OPENERS:
            depth += 1
        elif at_start and tok in _CLOSERS:
            depth -= 1
        at_start = tok in _KEYWORD_STARTS or _is_separator(tok)
    return depth > 0


def _is_separator(tok: str) -> bool:
    """``;``, ``&&``, ``|``, ``(``, newline... (shlex glues adjacent ones into one token)."""
    return bool(tok) and set(tok) <= _SEPARATOR_CHARS


def _odd_backslashes(code: str) -> bool:
    """Does ``code`` end in an unescaped backslash (a line continuation)?"""
    return (len(code) - len(code.rstrip("\\"))) % 2 == 1
