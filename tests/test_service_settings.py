"""Every setting is documented: docs/settings.md is generated from Settings and kept current."""

from __future__ import annotations

from pathlib import Path

import pytest

from talksearch.settings import Settings, settings_table

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parent.parent


def test_settings_doc_is_current():
    doc = ROOT / "docs" / "settings.md"
    assert doc.read_text() == settings_table(), "regenerate it: python -m talksearch.settings > docs/settings.md"


def test_every_setting_is_documented():
    readme = (ROOT / "README.md").read_text() if (ROOT / "README.md").exists() else ""
    documented = readme + (ROOT / "docs" / "settings.md").read_text()
    for name, field in Settings.model_fields.items():
        assert f"TALKSEARCH_{name.upper()}" in documented, name
        assert field.description, f"{name} has no description"


def test_service_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("TALKSEARCH_CORS_ORIGINS", '["https://a.example", "https://b.example"]')
    monkeypatch.setenv("TALKSEARCH_ADMIN_TOKEN", "s3cret")
    monkeypatch.setenv("TALKSEARCH_RANK_KEYWORD_WEIGHT", "0.8")
    settings = Settings()
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.admin_token.get_secret_value() == "s3cret" and "s3cret" not in repr(settings)
    assert settings.rank_keyword_weight == 0.8
    from talksearch.search.ranking import RankingOptions

    assert RankingOptions.from_settings(settings).keyword_weight == 0.8


@pytest.mark.parametrize(("value", "token"),
                         [("s3cret\n", "s3cret"), (" s3cret ", "s3cret"), ("  \n", None), ("", None)])
def test_admin_token_is_trimmed_and_a_blank_one_is_unset(monkeypatch, value, token):
    """A trailing newline (a Kubernetes secret, an env file) is no part of the token; a blank token disables the
    admin API (403 admin_disabled) rather than enabling it with a token nobody can send."""
    monkeypatch.setenv("TALKSEARCH_ADMIN_TOKEN", value)
    admin_token = Settings().admin_token
    assert (admin_token and admin_token.get_secret_value()) == token
