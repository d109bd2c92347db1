from __future__ import annotations

import pytest

from tests.helpers import MediaServer, loopback_media, talksearch
from tests.service_fixtures import read_server, talk_ids


@pytest.fixture(scope="session")
def media_server() -> MediaServer:
    return loopback_media()


@pytest.fixture(scope="session")
def feed_library(media_server, tmp_path_factory):
    """The two test talks indexed from the loopback feed through the CLI, with the real models."""
    library = tmp_path_factory.mktemp("feedlib") / "library"
    result = talksearch("index", media_server.url("feed.xml"), "--library", str(library))
    assert result.returncode == 0, result.stdout + result.stderr
    return library, result


@pytest.fixture(scope="module")
def api():
    """The shared read-only service over the shared test library (tests/service_fixtures.py)."""
    return read_server()


@pytest.fixture(scope="module")
def ids(api):
    return talk_ids()
