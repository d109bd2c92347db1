#!/usr/bin/env bash
# Make the audio of the multilingual set (issue 16): bench/languages/corpus.json spoken by espeak-ng's German,
# Spanish and French voices (each talk names its own), into OUTDIR (default bench/out/languages, git-ignored).
#
# usage: bash bench/make_languages.sh [OUTDIR] [CORPUS]
#   the held-out set: bash bench/make_languages.sh bench/out/languages-holdout bench/languages/holdout/corpus.json
# Needs espeak-ng and sox. The talks are WAV files (their feed's enclosures); the feed names no language, so
# whisper detects each talk's.
set -euo pipefail

bench="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$bench/out/languages}"
corpus="${2:-$bench/languages/corpus.json}"
python3 "$bench/make_talks.py" "$corpus" "$out" --seed 16 --no-video
cp "$corpus" "$out/corpus.json"
