"""Where an embedder handed no cache keeps its converted models: the ``model_cache`` setting
(TALKSEARCH_MODEL_CACHE), as the service's embedder does, for scripts/setup.sh and ``talksearch check --repair``."""

from __future__ import annotations

import re

import pytest

from tests.helpers import ROOT


@pytest.mark.models
def test_embedder_without_a_cache_uses_the_model_cache_setting(tmp_path, monkeypatch):
    """With TALKSEARCH_MODEL_CACHE set, the conversion is looked for there, not under ~/.cache/talksearch: setup.sh
    put 922 MB into HOME that the first search converted again, and `check --repair` with an unwritable HOME
    failed (Permission denied) though the configured cache was fine."""
    from talksearch.embedding import Embedder
    from talksearch.models import ctranslate2_conversion, default_model_cache, resolve

    # MiniLM's conversion, made once where the suite keeps it, linked into a fresh cache: found there, not redone
    converted = ctranslate2_conversion(resolve("embedding", "all-MiniLM-L6-v2"), default_model_cache())
    cache = tmp_path / "cache"
    (cache / "ctranslate2").mkdir(parents=True)
    (cache / "ctranslate2" / converted.name).symlink_to(converted)
    home = tmp_path / "home"
    home.write_text("")  # a file: nothing can be made under ~/.cache, as with an unwritable HOME
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TALKSEARCH_MODEL_CACHE", str(cache))
    embedder = Embedder("all-MiniLM-L6-v2", "cpu", 1)
    assert embedder.backend == "ctranslate2" and embedder.dimension == 384
    assert [p.name for p in (cache / "ctranslate2").iterdir()] == [converted.name]


@pytest.mark.unit
def test_setup_converts_the_models_into_the_model_cache_setting():
    """setup.sh's verification line leaves the cache to the Embedder's default (the setting, as the comment above
    it says): a path of its own would convert the models where the service never looks."""
    [arguments] = re.findall(r"Embedder\(([^)]*)\)", (ROOT / "scripts" / "setup.sh").read_text())
    assert "cache" not in arguments and "~" not in arguments, arguments
