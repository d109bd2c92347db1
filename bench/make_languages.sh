#!/usr/bin/env bash
# Make the audio of the multilingual set (issue 16): bench/languages/corpus.json spoken by espeak-ng's German,
# Spanish and French voices (each talk names its own), into OUTDIR (default bench/out/languages, git-ignored).
#
# usage: bash bench/make_languages.sh [OUTDIR] [CORPUS] [VOICES.json]
#   the held-out set: bash bench/make_languages.sh bench/out/languages-holdout bench/languages/holdout/corpus.json
#   the same talks in espeak-ng's MBROLA voices (closer to a human voice; needs Debian's contrib/non-free `mbrola`
#   and mbrola-de2 de4 de5 de6 es1 es2 es3 es4 fr1 fr3 fr4 fr6):
#     bash bench/make_languages.sh bench/out/languages-mbrola bench/languages/corpus.json bench/languages/mbrola-voices.json
#     bash bench/make_languages.sh bench/out/languages-mbrola-holdout bench/languages/holdout/corpus.json \
#         bench/languages/holdout/mbrola-voices.json
#   the fresh set (written blind on 2026-12-04, after the held-out halves had been measured; untouched until the
#   evening's one measurement), in both kinds of voice:
#     bash bench/make_languages.sh bench/out/languages-fresh bench/languages/fresh/corpus.json
#     bash bench/make_languages.sh bench/out/languages-mbrola-fresh bench/languages/fresh/corpus.json \
#         bench/languages/fresh/mbrola-voices.json
# Needs espeak-ng and sox. The talks are WAV files (their feed's enclosures); the feed names no language, so
# whisper detects each talk's.
set -euo pipefail

bench="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$bench/out/languages}"
corpus="${2:-$bench/languages/corpus.json}"
python3 "$bench/make_talks.py" "$corpus" "$out" --seed 16 --no-video ${3:+--language-voices "$3"}
cp "$corpus" "$out/corpus.json"
