"""What a library directory holds (see the package's docstring)."""

CATALOG = "catalog.sqlite"
VECTORS = "vectors.faiss"
LOCK = "indexer.lock"
DOWNLOADS = "downloads"
MEDIA = "media"
