"""The README's command lines name commands and flags that exist, and the install (scripts/setup.sh, the
Dockerfile, pyproject's packaging) does what the README says (docs checked by tests)."""

from __future__ import annotations

import functools
import http.server
import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from talksearch.cli import main
from tests.helpers import ROOT, MediaHandler

pytestmark = pytest.mark.unit


def _readme_commands() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.replace("\\\n", " ").splitlines()]
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


DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_dockerfile_installs_the_pinned_torch_cpu_wheel_before_setup():
    # From public PyPI, setup.sh's pip install would fetch torch's multi-GB CUDA build into a CPU image.
    pin = next(req for req in importlib.metadata.requires("talksearch") if req.startswith("torch=="))
    assert re.search(r"^ARG TORCH_INDEX_URL=https://download\.pytorch\.org/whl/cpu$", DOCKERFILE, re.M)
    torch_at = DOCKERFILE.index(f'pip install {pin} --index-url "$TORCH_INDEX_URL"')
    assert torch_at < DOCKERFILE.index("RUN bash scripts/setup.sh")
    assert "ENV PIP_NO_CACHE_DIR=1" in DOCKERFILE[:torch_at]


def test_dockerignore_keeps_exactly_what_the_dockerfile_copies():
    rules = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert rules[0] == "*"  # the rest (.venv: gigabytes, bench/out, library/, .git) stays out of the build context
    copied = {source for sources in re.findall(r"^COPY (.+) \S+$", DOCKERFILE, re.M) for source in sources.split()}
    assert {rule[1:] for rule in rules if rule.startswith("!")} == copied


def test_healthcheck_polls_the_port_serve_listens_on(tmp_path):
    command = re.search(r"^HEALTHCHECK .*?CMD (.+)$", DOCKERFILE, re.M)[1]
    (tmp_path / "healthz").write_text("ok")  # a loopback server that answers /healthz with 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(MediaHandler, directory=tmp_path))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    # The image's python is the venv's, first on its PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "TALKSEARCH_PORT": str(port)}
    try:
        healthy = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    assert healthy.returncode == 0, healthy.stderr
    gone = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=60)
    assert gone.returncode != 0


# setuptools' warnings as errors: a deprecated setting (which stops building on its due date) or a data folder
# setuptools would leave out fails the build.
BUILD_WHEEL = """
import sys, warnings
from setuptools import build_meta
from setuptools.warnings import SetuptoolsWarning
warnings.simplefilter("error", SetuptoolsWarning)
build_meta.build_wheel(sys.argv[1])
"""


def _copy_as_without_symlinks(source: Path, target: Path) -> None:
    """``source`` copied as a zip of the repository unpacks it, or git checks it out without symlinks (Windows,
    core.symlinks=false): a symlink becomes a file holding the path it points to."""
    if source.is_symlink():
        target.write_text(os.readlink(source))
    elif source.is_dir():
        target.mkdir()
        for child in source.iterdir():
            if child.name != "__pycache__":
                _copy_as_without_symlinks(child, target / child.name)
    else:
        shutil.copy(source, target)


def test_wheel_builds_without_warnings_and_carries_templates_static_files_and_models_txt(tmp_path):
    """Also from a copy without symlinks: the packaged models.txt was a link to the repository's, and a wheel
    built from a zip of the repository carried a file saying "../models.txt" (every model command: a traceback)."""
    from talksearch.models import read_manifest

    source = tmp_path / "source"
    source.mkdir()
    for name in ("talksearch", "indexer", "service", "pyproject.toml", "README.md", "LICENSE", "models.txt"):
        _copy_as_without_symlinks(ROOT / name, source / name)
    built = subprocess.run([sys.executable, "-c", BUILD_WHEEL, str(tmp_path / "dist")], cwd=source,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-4000:]
    (wheel_path,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel_path) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        (tmp_path / "models.txt").write_bytes(wheel.read("talksearch/models.txt"))
    data = {f"talksearch/{path.relative_to(ROOT).as_posix()}" for folder in ("static", "templates")
            for path in (ROOT / "service" / folder).iterdir() if path.is_file()}
    assert data and data | {"talksearch/models.txt"} <= names, sorted(data - names)
    assert "License-Expression: MIT" in metadata
    assert read_manifest(tmp_path / "models.txt") == read_manifest()


@pytest.fixture
def setup_sh(tmp_path):
    """Runs a copy of scripts/setup.sh beside a .venv whose python fails: a script that went on to install
    stops at its first pip call (exit 1), and never installs anything."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\nexit 1\n")
    python.chmod(0o755)
    return lambda *args: subprocess.run(["bash", str(tmp_path / "scripts" / "setup.sh"), *args],
                                        capture_output=True, text=True, timeout=60)


def test_setup_sh_help_and_unknown_flags(setup_sh):
    for flag in ("--help", "-h"):
        shown = setup_sh(flag)
        assert shown.returncode == 0 and shown.stdout.startswith("usage:") and "--test" in shown.stdout, shown
    for wrong in ("--tset", "--bogus"):  # no silent full install without the test extras
        refused = setup_sh(wrong)
        assert refused.returncode == 2, refused
        assert refused.stderr.count("\n") == 1 and wrong in refused.stderr
