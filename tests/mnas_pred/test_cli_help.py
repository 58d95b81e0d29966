"""Every command's --help as a user sees it: words in square brackets survive rich's markup."""

import re

import pytest
import typer.main
from typer.testing import CliRunner

from mnas_pred.cli import app

_BRACKETED = re.compile(r"\[+[^\[\]\s]+\]+")
_COMMAND = typer.main.get_command(app)


def _help_texts(command) -> list[str]:
    return [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]


def _flatten(text: str) -> str:
    """The help screen as one line: panel borders dropped, line wraps joined."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.mark.parametrize("name", sorted(_COMMAND.commands))
def test_bracketed_words_survive_in_help(name):
    command = _COMMAND.commands[name]
    # the words as written in the source: a \[ there is rich's escape of a literal bracket
    wanted = {m for t in _help_texts(command) for m in _BRACKETED.findall(t.replace("\\[", "["))}
    res = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert res.exit_code == 0, res.output
    shown = _flatten(res.output)
    missing = sorted(w for w in wanted if w not in shown)
    assert not missing, f"{name} --help lost {missing} to rich markup: write them as \\[...]"


def test_known_bracketed_words_are_shown():
    runner = CliRunner()
    env = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}
    space = _flatten(runner.invoke(app, ["space", "--help"], env=env).output)
    assert "[choices]" in space and "[[blocks]]" in space
    search = _flatten(runner.invoke(app, ["search", "--help"], env=env).output)
    assert "'mnas-pred[ray]'" in search and "[user@]host" in search
