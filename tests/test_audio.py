"""Decoding real-world recordings (talksearch.indexer.audio.stream_audio): audio that starts after its video or skips
ahead keeps its place on the container's clock, damaged, cut-short and joined files give what they hold, and the
audio track marked default is the one read. Media is generated with ffmpeg: a few seconds of tone each.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from talksearch.indexer.audio import SAMPLING_RATE, media_duration, stream_audio
from tests.helpers import talksearch

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = pytest.mark.usefixtures("light_embedding")

TONE = "sine=frequency=440:sample_rate=44100:duration={seconds}"


def _ffmpeg(*args: str) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


def _tone(path: Path, seconds: float, *args: str) -> Path:
    _ffmpeg("-f", "lavfi", "-i", TONE.format(seconds=seconds), *args, str(path))
    return path


def _decoded(path: Path, **chunking) -> np.ndarray:
    """The whole recording as stream_audio hands it on, checking that its pieces tile it."""
    pieces, position = [], 0
    for offset, samples in stream_audio(str(path), **chunking):
        assert offset * SAMPLING_RATE == pytest.approx(position)
        pieces.append(samples)
        position += len(samples)
    return np.concatenate(pieces)


def _seconds(samples: np.ndarray) -> float:
    return len(samples) / SAMPLING_RATE


def _first_sound(samples: np.ndarray) -> float:
    return int(np.argmax(np.abs(samples) > 0.05)) / SAMPLING_RATE


def _loud(samples: np.ndarray, at: float) -> bool:
    """Whether the 100 ms around ``at`` seconds hold sound."""
    window = samples[int((at - 0.05) * SAMPLING_RATE):int((at + 0.05) * SAMPLING_RATE)]
    return float(np.abs(window).max()) > 0.05


def _flip_middle(path: Path, target: Path, count: int = 400) -> Path:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + count] = bytes(b ^ 0xFF for b in data[middle:middle + count])
    target.write_bytes(bytes(data))
    return target


# --- the container's clock ---------------------------------------------------------------------------------


@pytest.mark.unit
def test_audio_that_starts_after_its_video_keeps_its_place(tmp_path):
    """A video whose sound begins 2 s in is played so: the decoded audio starts with 2 s of silence, so every
    cue and play link lands where the player plays it (the sound was decoded from 0:00, cues 2 s early)."""
    tone = _tone(tmp_path / "tone.wav", 3)
    video = tmp_path / "late.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=green:s=64x64:r=10", "-itsoffset", "2", "-i", str(tone),
            "-map", "0:v", "-map", "1:a", "-t", "6", "-c:v", "libx264", "-c:a", "aac", str(video))
    samples = _decoded(video)
    assert _first_sound(samples) == pytest.approx(2.0, abs=0.1)
    assert _seconds(samples) == pytest.approx(5.0, abs=0.1)


@pytest.mark.unit
def test_a_gap_in_the_audio_timestamps_is_filled_with_silence(tmp_path):
    """4 s of tone whose timestamps skip 3 s after 0:02 (a paused recording): 7 s on the clock, silent between."""
    gapped = _tone(tmp_path / "gap.mka", 4, "-af", "asetpts='if(gte(T,2),PTS+3/TB,PTS)'", "-c:a", "flac")
    samples = _decoded(gapped, chunk_seconds=2.0, search_seconds=0.5)  # pieces cut in the silence too
    assert _seconds(samples) == pytest.approx(7.0, abs=0.1)
    assert _loud(samples, 1.8) and _loud(samples, 5.3) and _loud(samples, 6.8)
    assert float(np.abs(samples[int(2.2 * SAMPLING_RATE):int(4.8 * SAMPLING_RATE)]).max()) == 0.0


@pytest.mark.unit
def test_recordings_joined_with_their_clock_jumping_back_are_not_padded_to_a_day(tmp_path):
    """Two .ts recordings joined, the second earlier on its clock (`cat late.ts early.ts`): ffmpeg reads the jump back
    as its 33-bit clock wrapping, a day ahead, and a 6 s file came out as 24 hours, silence but for its ends."""
    late = _tone(tmp_path / "late.ts", 3, "-c:a", "aac", "-output_ts_offset", "7200", "-f", "mpegts")
    early = _tone(tmp_path / "early.ts", 3, "-c:a", "aac", "-f", "mpegts")
    joined = tmp_path / "joined.ts"
    joined.write_bytes(late.read_bytes() + early.read_bytes())
    samples = _decoded(joined)
    assert _seconds(samples) == pytest.approx(6.0, abs=0.3)
    assert _loud(samples, 1.5) and _loud(samples, 4.5)


@pytest.mark.unit
def test_a_plain_recording_decodes_as_faster_whisper_decodes_it(tmp_path):
    """Nothing is padded or cut where the timestamps run on: sample for sample what faster-whisper's own
    decode_audio gives (transcripts, and the benchmarks comparing them, stay as they were)."""
    from faster_whisper import decode_audio

    wav = _tone(tmp_path / "tone.wav", 3)
    for path in (wav, _tone(tmp_path / "tone.mp3", 3, "-ac", "2", "-c:a", "libmp3lame"),
                 _tone(tmp_path / "tone.m4a", 3, "-c:a", "aac")):
        assert np.array_equal(_decoded(path), decode_audio(str(path))), path.name


# --- damaged, cut-short and joined files ----------------------------------------------------------------------


@pytest.mark.unit
def test_a_damaged_packet_is_skipped_and_the_rest_decoded(tmp_path):
    """400 bytes flipped mid-file made the whole talk fail ("not readable as audio (InvalidDataError ...)")."""
    mp3 = _tone(tmp_path / "tone.mp3", 6, "-c:a", "libmp3lame", "-b:a", "64k")
    samples = _decoded(_flip_middle(mp3, tmp_path / "damaged.mp3"))
    assert _seconds(samples) == pytest.approx(6.0, abs=0.2)
    assert _loud(samples, 1.0) and _loud(samples, 5.0)


@pytest.mark.unit
@pytest.mark.parametrize("name, args", [
    ("cut.flac", ["-c:a", "flac"]),
    ("cut.mp4", ["-f", "lavfi", "-i", "color=c=red:s=64x64:r=10", "-shortest", "-c:v", "libx264", "-c:a", "aac",
                 "-movflags", "+faststart"]),
])
def test_a_file_cut_short_gives_the_part_it_holds(tmp_path, name, args):
    whole = _tone(tmp_path / f"whole{Path(name).suffix}", 8, *args)
    cut = tmp_path / name
    cut.write_bytes(whole.read_bytes()[:len(whole.read_bytes()) * 6 // 10])
    samples = _decoded(cut)
    assert 2.0 < _seconds(samples) < 7.0
    assert _loud(samples, 1.0)


BARE_MP3 = ["-c:a", "libmp3lame", "-id3v2_version", "0", "-write_xing", "0"]  # no header frames between the parts


@pytest.mark.unit
@pytest.mark.parametrize("first, then", [
    (["-c:a", "libmp3lame"], ["-c:a", "libmp3lame"]),  # each part with its own ID3 header
    (BARE_MP3, ["-ar", "48000", "-ac", "2", *BARE_MP3]),  # 44.1 kHz mono, then 48 kHz stereo
])
def test_two_mp3_files_joined_decode_whole(tmp_path, first, then):
    """``cat a.mp3 b.mp3`` failed the talk; at another rate and channel count with "Frame does not match
    AudioResampler setup"."""
    joined = tmp_path / "joined.mp3"
    parts = _tone(tmp_path / "a.mp3", 3, *first), _tone(tmp_path / "b.mp3", 4, *then)
    joined.write_bytes(b"".join(part.read_bytes() for part in parts))
    samples = _decoded(joined)
    assert _seconds(samples) == pytest.approx(7.0, abs=0.2)
    assert _loud(samples, 1.0) and _loud(samples, 5.0)


@pytest.mark.unit
def test_a_file_with_no_decodable_audio_still_fails(tmp_path):
    """Every packet unreadable: the decoder's error, as before (the talk fails "not readable as audio")."""
    m4a = _tone(tmp_path / "tone.m4a", 3, "-c:a", "aac", "-movflags", "+faststart")
    data = bytearray(m4a.read_bytes())
    start = data.find(b"mdat") + 4
    data[start:] = b"\xff" * (len(data) - start)
    garbage = tmp_path / "garbage.m4a"
    garbage.write_bytes(bytes(data))
    with pytest.raises(av.error.FFmpegError):
        _decoded(garbage)


# --- which track ---------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_the_audio_track_marked_default_is_the_one_read(tmp_path):
    """A film whose first audio track is silent and whose second, marked default, is spoken: that one is read
    (the first was, and the talk failed "no speech found")."""
    tone = _tone(tmp_path / "tone.wav", 3)
    film = tmp_path / "two.mkv"
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-i", str(tone), "-map", "0:a", "-map", "1:a",
            "-t", "3", "-c:a", "aac", "-disposition:a:0", "0", "-disposition:a:1", "default", str(film))
    samples = _decoded(film)
    assert _loud(samples, 1.0) and _loud(samples, 2.5)


# --- duration -------------------------------------------------------------------------------------------------


def vbr_mp3_without_xing(path: Path, seconds: float = 20) -> Path:
    """A VBR MP3 with no Xing header (``-write_xing 0``): 2 s of loud noise, then silence. ffmpeg estimates its
    duration from the first frames' bitrate, the noise's, and states well under half its length."""
    _ffmpeg("-f", "lavfi", "-i", "anoisesrc=d=2:a=0.5:r=44100:seed=1", "-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono",
            "-filter_complex", f"[0][1]concat=n=2:v=0:a=1,atrim=0:{seconds}", "-c:a", "libmp3lame", "-q:a", "2",
            "-write_xing", "0", str(path))
    return path


def _stated(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / av.time_base


@pytest.mark.unit
def test_a_vbr_mp3_without_a_xing_header_is_measured_not_estimated(tmp_path):
    """A lecture stated 2:34 (ffmpeg's estimate from the bitrate) and held 4:06: its captions were refused as
    running past the end, and a captions-only talk stored 2:34."""
    mp3 = vbr_mp3_without_xing(tmp_path / "lecture.mp3")
    decoded = _seconds(_decoded(mp3))
    assert _stated(mp3) < decoded / 2  # the estimate this is about
    assert media_duration(str(mp3)) == pytest.approx(decoded, abs=0.1)


@pytest.mark.unit
@pytest.mark.parametrize("name, make", [
    ("cut.mp3", lambda whole, cut: cut.write_bytes(whole.read_bytes()[:len(whole.read_bytes()) // 2])),  # Xing: 8 s
    ("tone.aac", lambda whole, aac: _ffmpeg("-i", str(whole), "-c:a", "aac", "-f", "adts", str(aac))),  # ADTS
])
def test_a_raw_audio_stream_is_measured_not_estimated(tmp_path, name, make):
    """MP3 and ADTS AAC have no index: what the first header says (a Xing frame count, a bitrate) is all ffmpeg
    states, the whole file's length though the file was cut short (8 s for 4), the bitrate's guess for AAC."""
    whole = _tone(tmp_path / "whole.mp3", 8, "-c:a", "libmp3lame")
    target = tmp_path / name
    make(whole, target)
    decoded = _seconds(_decoded(target))
    assert media_duration(str(target)) == pytest.approx(decoded, abs=0.1)


# --- end to end ------------------------------------------------------------------------------------------------


@pytest.mark.models
def test_the_cues_of_a_video_whose_sound_starts_late_are_where_it_is_spoken(tmp_path):
    """Indexed through the CLI: the first cue at ~0:05 where the speech is, not at 0:00."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    speech = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(speech),
                    "Welcome to the seminar on graph neural networks and message passing."], check=True)
    video = tmp_path / "late.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=green:s=64x64:r=10", "-itsoffset", "5", "-i", str(speech),
            "-map", "0:v", "-map", "1:a", "-t", "12", "-c:v", "libx264", "-c:a", "aac", str(video))
    library = tmp_path / "library"
    result = talksearch("index", str(video), "--library", str(library), "--whisper-model", "tiny.en")
    assert result.returncode == 0, result.stdout + result.stderr
    talk = json.loads(talksearch("talks", "--library", str(library), "--json").stdout)["talks"][0]
    exported = talksearch("export", talk["id"], "--library", str(library), "--format", "json")
    segments = json.loads(exported.stdout)["segments"]
    assert "networks" in " ".join(s["text"].lower() for s in segments)
    assert 4.5 <= segments[0]["start"] <= 6.0, segments[0]


# --- channels that cancel -----------------------------------------------------------------------------------------

SPEECH = "power capping keeps the cluster under its budget"


def _speech(path: Path, text: str = SPEECH) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True)
    return path


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples))))


INVERTED = "pan=stereo|c0=c0|c1=-1*c0"  # the right channel is the left with its polarity inverted


@pytest.mark.unit
@pytest.mark.parametrize("name, codec", [("inverted.wav", []), ("inverted.mp3", ["-c:a", "libmp3lame"]),
                                         ("inverted.m4a", ["-c:a", "aac"])])
def test_a_stereo_recording_with_one_channel_inverted_is_not_silence(tmp_path, name, codec):
    """A miswired balanced cable at a mixing desk records R = -L: the mix of the two is silence, whisper found no
    speech and the talk was refused. The speech comes out at the level of the mono original."""
    mono = _speech(tmp_path / "speech.wav")
    inverted = tmp_path / name
    _ffmpeg("-i", str(mono), "-af", INVERTED, *codec, str(inverted))
    samples = _decoded(inverted)
    assert _seconds(samples) == pytest.approx(_seconds(_decoded(mono)), abs=0.1)
    assert _rms(samples) == pytest.approx(_rms(_decoded(mono)), rel=0.3)


@pytest.mark.unit
def test_an_inverted_channel_is_found_past_a_long_pause_and_across_pieces(tmp_path):
    """Speech, 8 s of room noise, speech, all with one channel inverted, handed on in pieces: both sentences sound."""
    mono = _speech(tmp_path / "speech.wav")
    inverted = tmp_path / "inverted.m4a"
    _ffmpeg("-i", str(mono), "-f", "lavfi", "-i", "anoisesrc=d=8:a=0.001:r=22050:seed=1", "-i", str(mono),
            "-filter_complex", f"[0][1][2]concat=n=3:v=0:a=1,{INVERTED}", "-c:a", "aac", str(inverted))
    samples = _decoded(inverted, chunk_seconds=4.0, search_seconds=1.0)
    spoken = _seconds(_decoded(mono))
    second = samples[int((spoken + 8) * SAMPLING_RATE):]
    assert _rms(samples[:int(spoken * SAMPLING_RATE)]) > 0.03 and _rms(second) > 0.03


@pytest.mark.unit
@pytest.mark.parametrize("channels", [
    "pan=stereo|c0=c0|c1=0*c0",  # one channel silent
    "pan=stereo|c0=c0|c1=0.3*c0",  # the same, quieter
])
def test_stereo_whose_channels_do_not_cancel_decodes_as_faster_whisper_decodes_it(tmp_path, channels):
    from faster_whisper import decode_audio

    stereo = tmp_path / "stereo.m4a"
    _ffmpeg("-i", str(_speech(tmp_path / "speech.wav")), "-af", channels, "-c:a", "aac", str(stereo))
    assert np.array_equal(_decoded(stereo), decode_audio(str(stereo)))


@pytest.mark.unit
def test_stereo_with_different_channels_decodes_as_faster_whisper_decodes_it(tmp_path):
    """Speech on the left, a tone on the right, over more than one judged stretch: the mix as ever."""
    from faster_whisper import decode_audio

    stereo = tmp_path / "stereo.mp3"
    _ffmpeg("-i", str(_speech(tmp_path / "speech.wav")), "-f", "lavfi", "-i", "sine=frequency=300:duration=12",
            "-filter_complex", "[0]apad,atrim=0:12[s];[s][1]amerge=inputs=2", "-c:a", "libmp3lame", str(stereo))
    assert np.array_equal(_decoded(stereo), decode_audio(str(stereo)))


@pytest.mark.models
def test_a_talk_with_one_channel_inverted_is_transcribed(tmp_path):
    """Indexed through the CLI: the talk was refused ("no speech found"); its words are found."""
    inverted = tmp_path / "inverted.m4a"
    _ffmpeg("-i", str(_speech(tmp_path / "speech.wav")), "-af", INVERTED, "-c:a", "aac", str(inverted))
    library = tmp_path / "library"
    result = talksearch("index", str(inverted), "--library", str(library), "--whisper-model", "tiny.en")
    assert result.returncode == 0, result.stdout + result.stderr
    talk = json.loads(talksearch("talks", "--library", str(library), "--json").stdout)["talks"][0]
    exported = talksearch("export", talk["id"], "--library", str(library), "--format", "json")
    text = " ".join(s["text"].lower() for s in json.loads(exported.stdout)["segments"])
    assert "power" in text and "cluster" in text, text
