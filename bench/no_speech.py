"""Speech or not, when the decoder is prompted with the talk's own words (TranscriptionOptions.check_prompted).

Two counts, with the check on and off (``--no-check``):
- sounds that are no speech (sox buzzes and hums, 24 renderings: three waveforms, pitches, syllable rates and
  loudness), each transcribed with a few prompts as a talk's title would give them: how many come out as a talk
  instead of "no speech found";
- talk sets of real speech (folders with truth.json and media, e.g. shared/eval/dev, bench/out/languages): how
  many segments the check looks at and how many it drops.

usage: .venv/bin/python bench/no_speech.py [SET ...] [--no-check]
Needs sox. Prints one line per rendering that came out as a talk, then the counts.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from bench.common import needs_program, talk_set_media  # noqa: E402
from talksearch.indexer.transcribe import NoSpeech, Transcriber, TranscriptionOptions, doubtful  # noqa: E402
from talksearch.models import resolve  # noqa: E402
from talksearch.settings import Settings  # noqa: E402

PROMPTS = ("melody", "Thank you",
           "Watts per Job: Power Capping and Energy-Aware Scheduling on a Campus Cluster")
SOUNDS = list(itertools.product(("sawtooth", "triangle"), (120, 200, 300), (5, 7), (0.3, 0.8)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path, help="talk sets of real speech (truth.json + media)")
    parser.add_argument("--no-check", action="store_true", help="keep what the prompted decoding hears")
    args = parser.parse_args(argv)
    # Checked before the model loads: the sets were read only after the 72 sounds' minutes of transcribing.
    talk_sets = [talk_set_media(folder) for folder in args.sets]
    needs_program("sox", "it makes the sounds")
    settings = Settings()
    options = TranscriptionOptions.from_settings(settings, check_prompted=not args.no_check)
    transcriber = Transcriber(resolve("whisper", settings.whisper_model), "cpu", settings.compute_type, 0, options)

    heard = 0
    with tempfile.TemporaryDirectory() as work:
        sound = Path(work) / "sound.wav"
        for prompt, (wave, pitch, rate, volume) in itertools.product(PROMPTS, SOUNDS):
            subprocess.run(["sox", "-R", "-n", "-r", "16000", "-c", "1", str(sound), "synth", "10", wave, str(pitch),
                            "tremolo", str(rate), "90", "vol", str(volume)], check=True)
            try:
                transcript = transcriber.transcribe(str(sound), hotwords=prompt)
            except NoSpeech:
                continue
            heard += 1
            print(f"heard   {wave} {pitch} Hz, {rate}/s, vol {volume}, prompt {prompt[:20]!r}: "
                  f"{' '.join(s.text for s in transcript.segments)!r}")
    print(f"no speech: {heard} of {len(PROMPTS) * len(SOUNDS)} transcribed as a talk")

    # Which segments the check looked at, and what it said: a wrapper around the one method that decides.
    looked_at: list[bool] = []
    confirmed = Transcriber._confirmed

    def counted(self, audio, raw, language, prompt) -> bool:
        kept = confirmed(self, audio, raw, language, prompt)
        if self.options.check_prompted and any(prompt.values()) and doubtful(raw, self.options):
            looked_at.append(kept)
        return kept

    Transcriber._confirmed = counted
    segments = 0
    for truth, media in talk_sets:
        for key, file in media.items():
            segments += len(transcriber.transcribe(str(file), hotwords=truth[key].get("title")).segments)
    if args.sets:
        print(f"speech: {segments} segments kept; the check looked at {len(looked_at)} and dropped "
              f"{looked_at.count(False)}")


if __name__ == "__main__":
    main()
