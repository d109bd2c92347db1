"""Every setting, declared once.

The CLI flags, the environment (prefix ``TALKSEARCH_``) and the service all read this class, so a
setting has one name, one default and one description. The README's settings table is checked
against it by a test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TALKSEARCH_", extra="ignore")

    library: Path = Field(Path("library"), description="Library directory (catalog, vectors, downloads).")
    whisper_model: str = Field(
        "tiny.en",
        description="Whisper model: `tiny.en` (bundled), a faster-whisper size or hub id, or a local CTranslate2 directory.",
    )
    embed_model: str = Field(
        "all-MiniLM-L6-v2",
        description="Sentence-transformers model: `all-MiniLM-L6-v2` (bundled), a hub id, or a local directory.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where models run; `auto` uses CUDA when present.")
    compute_type: str = Field(
        "default", description="CTranslate2 compute type; `default` is int8 on CPU and float16 on CUDA."
    )
    language: str | None = Field(None, description="Force the spoken language (e.g. `en`); detected when unset.")
    batch_size: int = Field(8, ge=1, description="Whisper batch size (batched inference pipeline).")
    threads: int = Field(0, ge=0, description="CPU threads for the models; 0 uses every core.")
    host: str = Field("127.0.0.1", description="Address `talksearch serve` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port `talksearch serve` listens on.")
    search_limit: int = Field(10, ge=1, le=100, description="Results returned when a search names no limit.")
    max_query_chars: int = Field(500, ge=1, description="Longest query accepted; longer ones get a 422.")
    socket_timeout: float = Field(30.0, gt=0, description="Seconds before a stalled download is abandoned.")
    keep_media: bool = Field(False, description="Keep downloaded audio in the library after indexing.")
