"""A host that ignores Range requests (answers each with the whole file) lets a player play a recording only from
the start, never at a moment a search found. The pages say so when it happens; indexing says so first, on the talk's
line, so that whoever runs the library can move the recordings (or keep them with --keep-media). Through the CLI,
with a feed on Python's own file server (which ignores Range) and one on the Range-honouring media server."""

from __future__ import annotations

import http.server
import shutil
import threading
from functools import partial

import pytest

from tests.helpers import DATA, talksearch
from tests.test_caption_duration import PODCAST
from tests.test_captions_indexing import outcome_lines, vtt

pytestmark = [pytest.mark.models, pytest.mark.usefixtures("light_embedding")]

NOTE = "its host ignores Range requests: players can play it only from the start, not at a moment"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _feed(folder, base: str, name: str) -> str:
    """A feed in ``folder`` of t01 and its captions, as ``base`` serves them; its URL."""
    shutil.copy(DATA / "t01.ogg", folder / "t01.ogg")
    (folder / "t01.vtt").write_text(vtt("t01"))
    (folder / f"{name}.xml").write_text(
        f'<?xml version="1.0"?><rss version="2.0" xmlns:podcast="{PODCAST}"><channel><title>{name}</title>'
        f'<item><title>{name}</title><guid>{name}</guid><enclosure url="{base}/t01.ogg" type="audio/ogg" length="1"/>'
        f'<podcast:transcript url="{base}/t01.vtt" type="text/vtt"/></item></channel></rss>')
    return f"{base}/{name}.xml"


@pytest.mark.parametrize("keep_media", [False, True], ids=["captions only", "downloaded"])
def test_a_talk_on_a_host_that_ignores_range_requests_is_said_to_play_only_from_the_start(
        media_server, tmp_path, keep_media):
    whole = tmp_path / "whole"
    whole.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(whole)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ranged = media_server.directory / f"ranged-{keep_media}"
    ranged.mkdir()
    try:
        feeds = [_feed(whole, f"http://127.0.0.1:{server.server_port}", "Whole files"),
                 _feed(ranged, media_server.url(ranged.name).rstrip("/"), "Ranges")]
        result = talksearch("index", *feeds, "--library", str(tmp_path / "library"),
                            *(["--keep-media"] if keep_media else []))
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.split()[1]: line for line in outcome_lines(result)}
    assert lines["Whole"].endswith(f"; {NOTE})"), lines
    assert NOTE not in lines["Ranges"], lines


def test_a_talk_that_fails_is_not_told_how_players_will_play_it(tmp_path):
    """A talk whisper hears nothing in, on a host that ignores Range: its failed line said, after why it failed,
    how players would play it (a formats hunt), though the library never holds it."""
    whole = tmp_path / "whole"
    whole.mkdir()
    shutil.copy(DATA / "silence.ogg", whole / "silence.ogg")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(whole)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = talksearch("index", f"http://127.0.0.1:{server.server_port}/silence.ogg", "--library",
                            str(tmp_path / "library"), "--whisper-model", "tiny.en")
    finally:
        server.shutdown()
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = [line for line in outcome_lines(result) if line.startswith("failed")]
    assert "no speech" in line and NOTE not in line and "Range" not in line, line
