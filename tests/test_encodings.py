"""The CLI under locales that are not UTF-8: a latin-1 stdout (PYTHONIOENCODING=latin-1, or a latin-1 locale), an
ASCII one (LC_ALL=C without Python's UTF-8 mode), and bytes in a path that are no UTF-8 at all."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import DATA, ROOT, TRUTH, talksearch

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = pytest.mark.usefixtures("light_embedding")

LATIN1 = {"PYTHONIOENCODING": "latin-1"}
# Python's UTF-8 mode would otherwise be on in the C locale (PEP 540), and every default encoding UTF-8
ASCII = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}


def talksearch_bytes(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real CLI, its output as the bytes it wrote (text=True would decode a latin-1 é as UTF-8, and fail)."""
    return subprocess.run([sys.executable, "-m", "talksearch.cli", *args], capture_output=True,
                          env={**os.environ, **(env or {})}, cwd=ROOT, timeout=600)


@pytest.mark.models
def test_a_title_a_latin1_stdout_cannot_show_neither_stops_index_nor_any_listing(tmp_path):
    """The first talk whose title the output's encoding could not represent aborted the index run (a core dump, the
    models' threads still running) after a false "an argument is not valid UTF-8 text", and every run after it
    stopped at that talk's "skipped" line; talks stopped part-way, and --json and export printed nothing."""
    folder = tmp_path / "talks"
    folder.mkdir()
    shutil.copy(DATA / "t01.ogg", folder / "東京 Café.ogg")
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
            for s in TRUTH["t01"]["sentences"]]  # captions beside it: no transcription is waited for
    (folder / "東京 Café.en.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n", encoding="utf-8")
    library = str(tmp_path / "library")
    for outcome in ("added", "skipped"):  # and again: the library is not stuck at that talk
        run = talksearch_bytes("index", str(folder), "--library", library, "--whisper-model", "tiny.en", env=LATIN1)
        assert run.returncode == 0, run.stderr.decode("latin-1")
        # What latin-1 lacks is written as Python escapes; what it has, in latin-1
        assert run.stdout.startswith(outcome.encode()) and "\\u6771\\u4eac Caf\xe9".encode("latin-1") in run.stdout

    listing = talksearch_bytes("talks", "--library", library, env=LATIN1)
    assert listing.returncode == 0 and listing.stderr == b"", listing.stderr
    assert listing.stdout.endswith("  \\u6771\\u4eac Caf\xe9\n1 talks\n".encode("latin-1")), listing.stdout

    # For programs: UTF-8, byte for byte what a UTF-8 locale gets (and the API serves), whatever the locale
    as_json = talksearch_bytes("talks", "--json", "--library", library, env=LATIN1)
    assert as_json.returncode == 0 and as_json.stdout == talksearch_bytes("talks", "--json", "--library", library).stdout
    talk = json.loads(as_json.stdout.decode("utf-8"))["talks"][0]
    assert talk["title"] == "東京 Café"
    exported = talksearch_bytes("export", talk["id"], "--format", "json", "--library", library, env=LATIN1)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == talksearch_bytes("export", talk["id"], "--format", "json", "--library", library).stdout
    assert json.loads(exported.stdout.decode("utf-8"))["talk"]["title"] == "東京 Café"


@pytest.mark.unit
def test_the_model_list_and_the_widget_are_read_as_utf8_in_an_ascii_locale(tmp_path):
    """models.txt (its comments have … and –) and widget.js were read in the locale's encoding: under LC_ALL=C,
    every command that resolves a model (index, search, check) failed with a UnicodeDecodeError's traceback."""
    result = talksearch("index", str(tmp_path / "none.ogg"), "--library", str(tmp_path / "lib"),
                        "--embed-model", "./no-such-model", env=ASCII)
    assert (result.returncode, result.stderr) == (1, "error: embedding model './no-such-model': no such directory\n")
    widget = subprocess.run([sys.executable, "-c", "from talksearch.service.routes.widget import light_defaults\n"
                             "print(len(light_defaults()))"], capture_output=True, text=True, cwd=ROOT, timeout=60,
                            env={**os.environ, **ASCII})
    assert widget.returncode == 0 and int(widget.stdout) > 0, widget.stderr


@pytest.mark.unit
def test_a_byte_that_is_not_utf8_in_a_path_is_shown_as_that_byte(tmp_path):
    """Not as the surrogate Python holds it as (\\udcff)."""
    result = talksearch("talks", "--library", f"{tmp_path}/lib\udcff")  # the bytes lib\xff on the command line
    assert result.returncode == 1
    assert result.stderr == f"error: no library at {tmp_path}/lib\\xff (index something first: talksearch index SOURCE)\n"
    # so is it on a talk's line (a scripting hunt: \\udcff there, and '?' under LC_ALL=C, where a grep for it failed)
    for env in ({}, ASCII):
        index = talksearch("index", f"{tmp_path}/caf\udce9.mp4", "--library", str(tmp_path / "lib"), env=env)
        assert index.stdout.splitlines()[0].startswith(f"failed  {tmp_path}/caf\\xe9.mp4: "), (env, index.stdout)
