"""The README's command lines name commands and flags that exist (docs checked by tests)."""

from __future__ import annotations

import re
import shlex

import pytest

from talksearch.cli import main
from tests.helpers import ROOT

pytestmark = pytest.mark.unit


def _readme_commands() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("talksearch ")]


def test_readme_commands_and_flags_exist():
    commands = _readme_commands()
    assert len(commands) >= 8
    for words in commands:
        command = main.commands.get(words[0])
        assert command is not None, f"README uses unknown command: talksearch {words[0]}"
        flags = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for word in words[1:]:
            if word.startswith("--"):
                assert word.split("=", 1)[0] in flags, f"README: talksearch {words[0]} has no {word}"
