"""Console blocks to commands: prompts, continuations, heredocs, quotes and errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sphinxext.labbook.errors import DirectiveError
from sphinxext.labbook.steps.console import command_extent, parse_console
from sphinxext.labbook.steps.model import Command, FileFormat, FileStep, MatchMode, RunStep, Source


def test_commands_and_their_output():
    block = [
        "$ ip -br link show lo",
        "lo               UNKNOWN        00:00:00:00:00:00 <LOOPBACK,UP,LOWER_UP>",
        "$ echo done",
        "done",
    ]
    assert parse_console(block) == (
        Command(
            "ip -br link show lo",
            ("lo               UNKNOWN        00:00:00:00:00:00 <LOOPBACK,UP,LOWER_UP>",),
            0,
            "$ ",
        ),
        Command("echo done", ("done",), 2, "$ "),
    )


def test_a_string_is_split_into_lines():
    assert parse_console("$ true\n$ echo x\nx\n") == (
        Command("true", (), 0, "$ "),
        Command("echo x", ("x",), 1, "$ "),
    )


def test_an_empty_block_has_no_commands():
    assert parse_console([]) == ()
    assert parse_console(["", "   "]) == ()


def test_trailing_blank_lines_of_output_are_dropped_inner_ones_kept():
    cmds = parse_console(["$ printf 'a\\n\\nb\\n'", "a", "", "b", "", "", "$ true"])
    assert cmds[0].expected == ("a", "", "b")
    assert cmds[1].line == 6


def test_a_bare_prompt_is_an_empty_command():
    cmds = parse_console(["$ echo x", "x", "$", "$ true"])
    assert [c.text for c in cmds] == ["echo x", "", "true"]
    assert cmds[1].line == 2 and cmds[1].expected == ()


def test_in_a_dollar_block_hash_lines_are_output():
    # the cat of a config file with comments: its '# ' lines are not root commands
    block = [
        "$ cat /etc/keystone/keystone.conf",
        "[identity]",
        "# Entry point for the identity backend driver in the `keystone.identity`",
        "driver = sql",
    ]
    (cmd,) = parse_console(block)
    assert cmd.expected == tuple(block[1:])
    assert cmd.prompt == "$ "


def test_in_a_hash_block_dollar_lines_are_output():
    block = ["# service nova-network restart", "$ not a command here", "# swapoff -a  && swapon -a"]
    cmds = parse_console(block)
    assert [(c.text, c.prompt) for c in cmds] == [
        ("service nova-network restart", "# "),
        ("swapoff -a  && swapon -a", "# "),
    ]
    assert cmds[0].expected == ("$ not a command here",)


def test_the_first_non_blank_line_decides_and_the_longest_prompt_wins():
    cmds = parse_console(["", "(venv) $ pip list", "$ x"], prompts=("$ ", "(venv) $ "))
    assert cmds[0].prompt == "(venv) $ "
    assert cmds[0].expected == ("$ x",)
    assert cmds[0].line == 1


def test_text_before_the_first_prompt_is_an_error_at_its_offset():
    with pytest.raises(DirectiveError) as err:
        parse_console(["", "", "PING 10.0.2.3", "$ ping 10.0.2.3"])
    assert err.value.line == 2
    assert "must start with a prompt" in err.value.message
    assert "'$'" in err.value.message and "'#'" in err.value.message


@pytest.mark.parametrize("ps2", ["> ", ""])
def test_backslash_continuation_with_or_without_ps2(ps2):
    block = [
        "$ nova-manage --config-file /etc/nova/nova-cells.conf \\",
        f"{ps2}  cell create --name=region \\",
        f"{ps2}  --cell_type=parent",
        "created",
        "$ true",
    ]
    cmds = parse_console(block)
    assert cmds[0].text == (
        "nova-manage --config-file /etc/nova/nova-cells.conf \\\n"
        "  cell create --name=region \\\n  --cell_type=parent"
    )
    assert cmds[0].expected == ("created",)
    assert command_extent(cmds[0]) == 3
    assert cmds[1].line == 4


def test_an_escaped_backslash_does_not_continue():
    cmds = parse_console(["$ echo a\\\\", "a\\"])
    assert cmds[0].text == "echo a\\\\"
    assert cmds[0].expected == ("a\\",)


@pytest.mark.parametrize("op", ["<<EOF", "<<'EOF'", '<<"EOF"', "<< EOF"])
def test_heredoc_runs_to_its_terminator(op):
    block = [
        f"$ cat > /etc/nova/nova.conf {op}",
        "> [DEFAULT]",
        "> # keep it's quote",
        "> $ not a prompt",
        "> EOF",
        "$ wc -l < /etc/nova/nova.conf",
        "3",
    ]
    cmds = parse_console(block)
    assert cmds[0].text == (
        f"cat > /etc/nova/nova.conf {op}\n[DEFAULT]\n# keep it's quote\n$ not a prompt\nEOF"
    )
    assert cmds[0].expected == ()
    assert cmds[1] == Command("wc -l < /etc/nova/nova.conf", ("3",), 5, "$ ")


def test_heredoc_without_ps2_keeps_lines_as_typed():
    block = ["$ cat <<EOF", "> quoted mail line", "EOF", "> quoted mail line"]
    (cmd,) = parse_console(block)
    # the first continuation line decides: it shows PS2, so '> ' is stripped
    assert cmd.text == "cat <<EOF\nquoted mail line\nEOF"
    block = ["$ cat <<EOF", "plain", "> quoted", "EOF", "plain", "> quoted"]
    (cmd,) = parse_console(block)
    assert cmd.text == "cat <<EOF\nplain\n> quoted\nEOF"
    assert cmd.expected == ("plain", "> quoted")


def test_dash_heredoc_strips_tabs_from_the_terminator():
    (cmd,) = parse_console(["$ cat <<-END | wc -l", "\tone", "\tEND", "1"])
    assert cmd.text == "cat <<-END | wc -l\n\tone\n\tEND"
    assert cmd.expected == ("1",)


def test_two_heredocs_on_one_line_are_read_in_order():
    block = ["$ paste /dev/fd/3 3<<A /dev/fd/4 4<<B", "1", "A", "2", "B", "1\t2"]
    (cmd,) = parse_console(block)
    assert cmd.text.splitlines() == [block[0][2:], *block[1:5]]
    assert cmd.expected == ("1\t2",)


def test_here_string_and_quoted_operators_have_no_body():
    cmds = parse_console(["$ cat <<<'x'", "x", "$ echo '<<EOF'", "<<EOF"])
    assert [c.expected for c in cmds] == [("x",), ("<<EOF",)]


def test_unclosed_quote_continues_the_command():
    block = ["$ echo 'first", "> second'", "first", "second"]
    (cmd,) = parse_console(block)
    assert cmd.text == "echo 'first\nsecond'"
    assert cmd.expected == ("first", "second")


def test_quotes_and_hashes_inside_words_and_comments():
    block = [
        "$ find /var/lib/dpkg/info/ -name \\*.list -mtime -1 | "
        "sed 's#.list$##;s#.*/##' | grep docker",
        "docker-ce",
        "$ echo ${HOME#/} $# # what's this",
        "root 0",
    ]
    cmds = parse_console(block)
    assert [c.expected for c in cmds] == [("docker-ce",), ("root 0",)]


@pytest.mark.parametrize(
    "block,text,expected",
    [
        (
            ["$ for i in 1 2; do", ">   echo $i", "> done", "1", "2"],
            "for i in 1 2; do\n  echo $i\ndone",
            ("1", "2"),
        ),
        (
            ["$ if true; then", "echo yes  # comment", "fi", "yes"],
            "if true; then\necho yes  # comment\nfi",
            ("yes",),
        ),
        (["$ case x in", "x) echo x;;", "esac", "x"], "case x in\nx) echo x;;\nesac", ("x",)),
        (["$ { echo a", "echo b; }", "a", "b"], "{ echo a\necho b; }", ("a", "b")),
        (["$ ip link |", "> grep -c UP", "2"], "ip link |\ngrep -c UP", ("2",)),
        (["$ true &&", "echo ok", "ok"], "true &&\necho ok", ("ok",)),
        (["$ echo for done if", "for done if"], "echo for done if", ("for done if",)),
    ],
)
def test_compound_commands_and_operators_continue(block, text, expected):
    (cmd,) = parse_console(block)
    assert (cmd.text, cmd.expected) == (text, expected)


@pytest.mark.parametrize(
    "block,line,words",
    [
        (["$ true", "$ cat <<EOF", "never closed"], 1, "here-document is never closed"),
        (["$ echo 'open"], 0, "quote is never closed"),
        (["", "$ while true; do", "sleep 1"], 1, "compound command"),
        (["$ ls \\"], 0, "ends in '\\'"),
    ],
)
def test_a_command_that_never_ends_is_an_error(block, line, words):
    with pytest.raises(DirectiveError) as err:
        parse_console(block)
    assert err.value.line == line
    assert words in err.value.message


def test_article_console_blocks():
    # commands as the source articles show them (nova cells, vagrant-libvirt)
    block = [
        "$ nova-manage --config-file /etc/nova/nova-cells.conf db sync",
        "$ sudo sh -c \"echo 'options kvm-intel nested=y' >> /etc/modprobe.d/dist.conf\"",
        "$ sudo apt-cache policy docker-ce",
        "docker-ce:",
        "  Installed: 17.12.1~ce-0~ubuntu",
        " *** 17.12.1~ce-0~ubuntu 0",
        "        100 /var/lib/dpkg/status",
    ]
    cmds = parse_console(block)
    assert [c.line for c in cmds] == [0, 1, 2]
    assert cmds[1].text == block[1][2:]
    assert cmds[2].expected == tuple(block[3:])


_KEYWORDS = {"if", "fi", "for", "done", "while", "until", "case", "esac", "select", "do"}
_word = st.text(alphabet="abcdefghij0123456789-_./=", min_size=1, max_size=12).filter(
    lambda w: w not in _KEYWORDS
)
_out_line = st.text(alphabet="abc xyz:0123456789#$>", max_size=20).filter(
    lambda s: not s.startswith("$") and s.strip() == s and s != ""
)


@given(
    st.lists(
        st.tuples(st.lists(_word, min_size=1, max_size=4), st.lists(_out_line, max_size=4)),
        min_size=1,
        max_size=6,
    )
)
def test_simple_blocks_round_trip(session):
    block: list[str] = []
    for words, out in session:
        block.append("$ " + " ".join(words))
        block.extend(out)
    cmds = parse_console(block)
    assert [(c.text, list(c.expected)) for c in cmds] == [(" ".join(w), out) for w, out in session]
    assert all(block[c.line] == "$ " + c.text for c in cmds)


def test_steps_hold_typed_match_modes_and_file_formats():
    where = Source("doc.rst", 3)
    run = RunStep("alpha", (), where, match="exact")
    assert run.match is MatchMode.EXACT
    assert RunStep("alpha", (), where).match is MatchMode.NORMALIZED
    file = FileStep("alpha", "/etc/x.ini", ("a = 1",), where, format="ini")
    assert file.format is FileFormat.INI
    with pytest.raises(ValueError, match="fuzzy"):
        RunStep("alpha", (), where, match="fuzzy")
    with pytest.raises(ValueError, match="toml"):
        FileStep("alpha", "/etc/x", (), where, format="toml")


def test_lines_count_from_first_line_for_commands_and_errors():
    """A directive passes its content's source line: commands and errors then carry file
    lines, the same numbers the runner and accept mode use (no offsets to convert)."""
    cmds = parse_console(["$ true", "$ echo x", "x"], first_line=40)
    assert [c.line for c in cmds] == [40, 41]
    with pytest.raises(DirectiveError) as err:
        parse_console(["", "output first", "$ true"], first_line=40)
    assert err.value.line == 41
    with pytest.raises(DirectiveError) as err:
        parse_console(["$ true", "$ cat <<EOF", "never closed"], first_line=40)
    assert err.value.line == 41
