"""The CLI at its edges: Ctrl-C before any command runs, source lists from other editors, the address serve prints."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from talksearch.indexer.sources import read_source_list
from tests.helpers import ROOT
from tests.service_fixtures import wait_until

# Ctrl-C at the moment the CLI's imports reach the library code (the longest of them): a real SIGINT, sent by
# the process to itself from an import hook, so that it lands there every time rather than by timing.
INTERRUPTED_WHILE_LOADING = """
import os, runpy, signal, sys

class InterruptOnImport:
    def find_spec(self, name, path=None, target=None):
        if name == "talksearch.library":
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, InterruptOnImport())
sys.argv = ["talksearch", "--help"]
runpy.run_module("talksearch.cli", run_name="__main__")
"""


@pytest.mark.unit
def test_ctrl_c_while_the_cli_loads_is_one_line_and_130():
    """The imports take a quarter of a second before Cli.invoke's own Ctrl-C handling is in place: a Ctrl-C
    there printed a traceback through them, and the process died by the signal."""
    result = subprocess.run([sys.executable, "-c", INTERRUPTED_WHILE_LOADING], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert (result.returncode, result.stderr, result.stdout) == (130, "interrupted\n", "")


@pytest.mark.unit
def test_a_source_list_from_a_windows_editor_reads_as_its_sources(tmp_path):
    """A byte order mark and CRLF line ends (Notepad's UTF-8): the BOM was read as part of the first line, which
    then failed as a source with an invisible character in its name (or was no longer a # comment)."""
    listing = tmp_path / "sources.txt"
    listing.write_text("# talks from ISC\nhttps://example.org/a.mp4\n\n  talks/b.mp4  \n", encoding="utf-8-sig",
                       newline="\r\n")
    assert listing.read_bytes().startswith(b"\xef\xbb\xbf# talks from ISC\r\n")
    assert read_source_list(listing) == ["https://example.org/a.mp4", "talks/b.mp4"]


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _talks_at(url: str) -> dict | None:
    try:
        return httpx.get(f"{url}api/talks", timeout=10).json()
    except httpx.TransportError:  # not listening yet: the models are loading
        return None


@pytest.mark.models
@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]"])
def test_serve_prints_an_address_it_answers_at(tmp_path, host):
    """With --port 0 the system chooses the port: the line names the one chosen (it said :0), and an IPv6
    address is bracketed as a URL needs it (it said http://::1:8000/), given with brackets or without."""
    if ":" in host and not _ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    command = [sys.executable, "-m", "talksearch.cli", "serve", "--library", str(tmp_path / "lib"), "--host", host,
               "--port", "0"]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        said = next((line for line in process.stderr if line.startswith("talksearch: serving")), "")
        url = said.rpartition(" at ")[2].strip()
        expected = "127.0.0.1" if host == "127.0.0.1" else r"\[::1\]"
        assert re.fullmatch(rf"http://{expected}:[1-9]\d*/", url), said
        assert wait_until(lambda: _talks_at(url), "the server to answer", seconds=300) == {"talks": [], "total": 0}
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0  # Ctrl-C stops the server: not an error
