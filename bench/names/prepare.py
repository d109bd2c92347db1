#!/usr/bin/env python3
"""Make the folders bench/quality.py measures bench/names on: OUTDIR/<set> holds the set's talks (symlinks to the
rendered set: bench/make_sets.sh, bench/make_talks.py), this folder's corpus for it, and the set's cached
transcripts copied under the key quality.py computes for the new folder (the same audio with the same settings, so
nothing is transcribed again; without a cache, quality.py transcribes the set once, as for any set).

    .venv/bin/python bench/names/prepare.py OUTDIR
    .venv/bin/python bench/quality.py OUTDIR/tune OUTDIR/holdout OUTDIR/fresh OUTDIR/probe --no-baselines --misses \\
        --work OUTDIR/work
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from bench.quality import TalkSet, transcription_key  # noqa: E402
from talksearch.indexer.transcribe import TranscriptionOptions  # noqa: E402
from talksearch.settings import Settings  # noqa: E402

# each corpus of bench/names, and the rendered set whose talks it asks about
SETS = {"tune": "bench/out/sets/tune", "holdout": "bench/out/sets/holdout", "fresh": "bench/out/sets/fresh",
        "probe": "bench/out/probe"}


def main(out: Path) -> None:
    settings = Settings()
    options = TranscriptionOptions.from_settings(settings)
    cached = REPO / "bench/out/transcripts"
    for name, rendered in SETS.items():
        source, folder = REPO / rendered, out / name
        if not (source / "truth.json").exists():
            raise SystemExit(f"error: {source} has no talks: render it first (bench/make_sets.sh, bench/make_talks.py)")
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for path in source.iterdir():
            if path.name != "corpus.json":
                (folder / path.name).symlink_to(path.resolve())
        shutil.copy(REPO / "bench/names" / name / "corpus.json", folder / "corpus.json")
        transcripts = cached / (transcription_key(TalkSet.load(source), settings, options) + ".json")
        if transcripts.exists():
            copy = out / "work/transcripts" / (transcription_key(TalkSet.load(folder), settings, options) + ".json")
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(transcripts, copy)
        print(f"{folder}: {'transcripts cached' if transcripts.exists() else 'to transcribe'}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
