"""The read side of talksearch: search over a library, as an HTTP API (FastAPI) and for the CLI."""
