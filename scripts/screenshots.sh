#!/usr/bin/env bash
# Re-make the screenshots in docs/ (README, docs/service.md) from the browser tests' own flows, which hold
# the players still so that a picture only changes when the pages' look does. Test runs never write docs/.
set -euo pipefail
cd "$(dirname "$0")/.."
TALKSEARCH_SCREENSHOTS="$PWD/docs" exec .venv/bin/python -m pytest -q -p no:cacheprovider \
    tests/test_widget.py::test_phone_width_dark_mode_and_screenshots \
    tests/test_service_pages.py::test_search_as_you_type_and_inline_player \
    tests/test_service_pages.py::test_talk_page_follows_the_player_and_seeks_on_click "$@"
