"""CLI setting flags are made from Settings: the same names, types, choices and defaults."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from talksearch.cli import main, settings_from
from talksearch.settings import Settings
from talksearch.settings_flags import setting_options

pytestmark = pytest.mark.unit

INDEX_FLAGS = ["--library", "--whisper-model", "--embed-model", "--device", "--compute-type", "--language",
               "--batch-size", "--beam-size", "--threads", "--keep-media", "--no-keep-media", "--ray-workers"]


def test_the_index_command_keeps_every_setting_flag_and_gains_beam_size():
    flags = {opt for param in main.commands["index"].params for opt in (*param.opts, *param.secondary_opts)}
    assert set(INDEX_FLAGS) <= flags
    serve = {opt for param in main.commands["serve"].params for opt in param.opts}
    assert {"--library", "--host", "--port"} <= serve


def _settings_of(args: list[str], monkeypatch, **env) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(f"TALKSEARCH_{name.upper()}", value)
    seen = {}

    @click.command()
    @setting_options("library", "device", "beam_size", "language", "keep_media")
    def command(**options):
        seen["settings"] = settings_from(**options)

    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    return seen["settings"]


def test_flags_win_over_the_environment_which_wins_over_defaults(monkeypatch):
    settings = _settings_of(["--beam-size", "5", "--device", "cpu", "--keep-media", "--library", "lib"], monkeypatch,
                            beam_size="3", language="de")
    assert (settings.beam_size, settings.device, settings.keep_media, settings.library) == (5, "cpu", True, Path("lib"))
    assert settings.language == "de"  # not given: the environment's
    assert _settings_of([], monkeypatch).batch_size == Settings.model_fields["batch_size"].default


def test_a_choice_setting_refuses_other_values_and_help_is_the_description():
    help_text = CliRunner().invoke(main, ["index", "--help"]).output
    assert "[auto|cpu|cuda]" in help_text and "TALKSEARCH_BEAM_SIZE" in help_text
    assert CliRunner().invoke(main, ["index", "x", "--device", "tpu"]).exit_code == 2
