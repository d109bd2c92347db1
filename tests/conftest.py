from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
from pathlib import Path

import pytest

from talksearch.settings import default
from tests.helpers import MediaServer, loopback_media, talksearch
from tests.service_fixtures import chromium_path, read_server, talk_ids


@pytest.fixture(autouse=True, scope="module")
def give_freed_memory_back():
    """After each test file, the memory of the models its tests loaded and let go goes back to the system. glibc
    keeps freed memory for reuse, and the many model loads of a whole run left it holding more than this machine's
    24 GiB (a run killed by the OOM killer): measured, four loads held 1.5 GiB, 0.4 after malloc_trim."""
    yield
    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc and hasattr(ctypes.CDLL(libc), "malloc_trim"):  # glibc's; other C libraries give memory back themselves
        ctypes.CDLL(libc).malloc_trim(0)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """Where the browser tests save their screenshots: a temporary directory, so that a test run leaves the
    tree as it was; docs/ only when asked (scripts/screenshots.sh sets TALKSEARCH_SCREENSHOTS)."""
    chosen = os.environ.get("TALKSEARCH_SCREENSHOTS")
    return Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="session")
def media_server() -> MediaServer:
    return loopback_media()


@pytest.fixture(scope="session")
def feed_library(media_server, tmp_path_factory):
    """The two test talks indexed from the loopback feed through the CLI, with the real models."""
    library = tmp_path_factory.mktemp("feedlib") / "library"
    result = talksearch("index", media_server.url("feed.xml"), "--library", str(library),
                        env={"TALKSEARCH_EMBED_MODEL": default("embed_model")})  # whichever test asks first
    assert result.returncode == 0, result.stdout + result.stderr
    return library, result


@pytest.fixture(scope="module")
def light_embedding():
    """MiniLM alone for the libraries a test makes, where what it checks does not depend on the embedding model
    (moved files, crashes, captions, one-line errors): a process loads it in a tenth of a second, the default's
    three models in 2-5 s, and such tests start the CLI or the indexer dozens of times. The shared library and
    servers stay the default's (service_fixtures.shared_settings), as do the tests of search and of languages."""
    with pytest.MonkeyPatch.context() as patch:  # for the whole file: its module fixtures' libraries too
        patch.setenv("TALKSEARCH_EMBED_MODEL", "all-MiniLM-L6-v2")
        yield


@pytest.fixture(scope="module")
def api():
    """The shared read-only service over the shared test library (tests/service_fixtures.py)."""
    return read_server()


@pytest.fixture(scope="module")
def ids(api):
    return talk_ids()


HEAVY = ("models", "browser", "ray")


def pytest_collection_modifyitems(config, items):
    """Every test says what it needs (pyproject's markers): ``unit``, or any of models, browser, ray; never both,
    so that ``pytest -m unit`` runs exactly the fast tests."""
    wrong = []
    for item in items:
        marks = {m.name for m in item.iter_markers()}
        if ("unit" in marks) == bool(marks & set(HEAVY)):
            wrong.append(f"{item.nodeid}: {sorted(marks & {'unit', *HEAVY}) or 'no marker'}")
    if wrong:
        raise pytest.UsageError("tests must be marked unit, or models/browser/ray (not both):\n" + "\n".join(wrong))


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium through playwright (skipped where there is none)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--autoplay-policy=no-user-gesture-required"])
        yield chromium
        chromium.close()


# --- the CLI run many times in one process (test_indexing, test_languages) -----------------------------------------

_CLI_RUNS = """
import io, json, os, sys, traceback
from talksearch.cli import main
results = []
for args, env in json.load(sys.stdin):
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    out, err = (io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors=errors)  # as Python opens them
                for errors in ("strict", "backslashreplace"))
    streams, sys.stdout, sys.stderr = (sys.stdout, sys.stderr), out, err
    sys.argv = ["talksearch", *args]
    try:
        main.main(args, prog_name="talksearch")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # uncaught: as the interpreter would end the process
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout, sys.stderr = streams
        for name, value in saved.items():
            os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)
    for stream in (out, err):
        stream.flush()
    results.append([code] + [s.buffer.getvalue().decode("utf-8", "surrogateescape") for s in (out, err)])
json.dump(results, sys.stdout)
"""


@pytest.fixture(scope="session")
def cli_runs():
    """The real CLI (``talksearch.cli.main``, as ``python -m talksearch.cli`` runs it) given each of several
    command lines in turn, in one Python process started for them all: each run's exit status, stdout and stderr
    (a CompletedProcess, as tests.helpers.talksearch gives). For tests that check many one-line errors, each of
    which cost a process start (about a second) run one by one. A case is ``[args...]`` or ``([args...], env)``."""
    import json
    import subprocess
    import sys

    from tests.helpers import ROOT

    def run(*cases, env: dict | None = None) -> list[subprocess.CompletedProcess]:
        given = [case if isinstance(case, tuple) else (case, {}) for case in cases]
        process = subprocess.run([sys.executable, "-c", _CLI_RUNS], input=json.dumps(given), capture_output=True,
                                 text=True, env={**os.environ, **(env or {})}, cwd=ROOT, timeout=600)
        assert process.returncode == 0, process.stderr
        return [subprocess.CompletedProcess(args, code, out, err)
                for (args, _), (code, out, err) in zip(given, json.loads(process.stdout))]

    return run
