#!/usr/bin/env bash
# The main job on the built-in defaults: set up, index the bundled sample talks, serve search.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TALKSEARCH_LIBRARY="${TALKSEARCH_LIBRARY:-library}"
# A re-run skips the talks already indexed; a bad item would make index exit non-zero, so stop then.
.venv/bin/talksearch index samples
exec .venv/bin/talksearch serve --host "${TALKSEARCH_HOST:-127.0.0.1}" --port "${TALKSEARCH_PORT:-8000}"
