"""What `talksearch serve` says at start about an admin API that cannot do its work: a real server process, read
until it says it is serving."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.models  # serve loads the embedding model before it says it is serving

PORTS = iter(range(8940, 8950))


def _start_up_lines(library: Path, env: dict[str, str], flags: tuple[str, ...] = ()) -> list[str]:
    """What a real `talksearch serve` writes on stderr up to and with its "serving ... at" line; the server is then
    stopped."""
    variables = {k: v for k, v in os.environ.items() if not k.upper().startswith("TALKSEARCH_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "talksearch.cli", "serve", "--library", str(library), "--port", str(next(PORTS)),
         *flags],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT,
        env={**variables, "TALKSEARCH_EMBED_MODEL": "all-MiniLM-L6-v2", **env})
    lines: list[str] = []

    def read() -> None:
        for line in server.stderr:
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 300
        while not any(line.startswith("talksearch: serving ") for line in lines):
            assert server.poll() is None and time.monotonic() < deadline, lines
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=60)
        reader.join(timeout=10)
    return lines[:lines.index(next(line for line in lines if line.startswith("talksearch: serving "))) + 1]


def test_a_whisper_model_that_cannot_load_is_said_at_start_not_by_each_job(tmp_path):
    """With the admin API on, a whisper model that cannot be found started the service without a word, and each
    POST /api/index job failed. One warning at start (not a refusal: search works, and a hub that cannot be
    reached now may be later); none for a bundled model."""
    bad = _start_up_lines(tmp_path / "lib", {"TALKSEARCH_WHISPER_MODEL": "nonsense-model",
                                             "TALKSEARCH_ADMIN_TOKEN": "tok"})
    warnings = [line for line in bad if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith(
        "warning: indexing jobs will fail: cannot load whisper model 'nonsense-model': "), bad
    good = _start_up_lines(tmp_path / "lib", {"TALKSEARCH_WHISPER_MODEL": "tiny.en", "TALKSEARCH_ADMIN_TOKEN": "tok"})
    assert not [line for line in good if line.startswith("warning:")], good


@pytest.mark.parametrize("token", [" ", ""])
def test_an_admin_token_set_but_blank_is_said_at_start(tmp_path, token):
    """A blank TALKSEARCH_ADMIN_TOKEN (a secret or ${TOKEN} that came out empty) turned the admin API off in
    silence, as an unset one does."""
    lines = _start_up_lines(tmp_path / "lib", {"TALKSEARCH_ADMIN_TOKEN": token})
    assert [line for line in lines if line.startswith("warning:")] == [
        "warning: TALKSEARCH_ADMIN_TOKEN is blank: the admin API is off"], lines


def test_the_serving_line_says_where_the_pages_are_behind_a_path_prefix(tmp_path):
    """With --root-path the pages link under the prefix: the address it named, opened as it is, led to pages whose
    every link was a 404. One line still, saying what must stand in front."""
    served = _start_up_lines(tmp_path / "lib", {}, ("--root-path", "/talks"))[-1]
    assert served.startswith("talksearch: serving ") and " at http://127.0.0.1:" in served, served
    assert served.endswith("/ (pages link under /talks: put a proxy that strips /talks in front)"), served
    plain = _start_up_lines(tmp_path / "lib", {})[-1]
    assert plain.startswith("talksearch: serving ") and plain.endswith("/"), plain
