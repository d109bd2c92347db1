"""End to end through the CLI: a loopback feed, the real yt-dlp, faster-whisper and MiniLM, real files."""

from __future__ import annotations

import html
import json
import shutil
import socket
import sqlite3
import subprocess
import sys

import pytest

from talksearch.library import Library
from talksearch.settings import default
from tests.helpers import DATA, ROOT, TRUTH, talksearch

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = [pytest.mark.models, pytest.mark.usefixtures("light_embedding")]


def test_feed_is_indexed_with_metadata(feed_library, media_server):
    library, result = feed_library
    assert "2 added, 0 skipped, 0 failed" in result.stdout
    listing = json.loads(talksearch("talks", "--library", str(library), "--json").stdout)
    assert listing["total"] == 2
    by_title = {t["title"]: t for t in listing["talks"]}
    talk = by_title["Checkpointing Long-Running Simulations to Object Storage"]
    assert talk["url"] == media_server.url("t01.ogg")
    assert talk["speakers"] == ["Ines Moreau"]
    assert talk["event"] == "Test Fixtures Summit 2024"
    assert talk["published"] == "2024-05-14"
    assert talk["channel"] == "talksearch test talks"
    assert abs(talk["duration"] - TRUTH["t01"]["duration"]) < 0.5


def test_search_lands_on_the_spoken_sentence(feed_library, media_server, cli_runs):
    library, _ = feed_library
    searches = cli_runs(*(["search", query, "--library", str(library), "--limit", "5", "--json"]  # one process
                          for query in ("checkpoints are written to an object storage bucket",
                                        "partition keys are similar to VLANs")))
    assert all(result.returncode == 0 for result in searches), [result.stderr for result in searches]
    response, partition = (json.loads(result.stdout) for result in searches)
    assert set(response) >= {"query", "took_ms", "results"}
    top = response["results"][0]
    assert set(top) >= {"talk", "start", "end", "text", "score", "link"}
    assert set(top["talk"]) >= {"id", "title", "url", "channel", "published"}
    assert top["talk"]["title"] == TRUTH["t01"]["title"]
    sentence = TRUTH["t01"]["sentences"][1]  # "The checkpoints now go straight to an object storage bucket."
    assert abs(top["start"] - sentence["start"]) <= 3.0
    assert "bucket" in top["text"]
    assert top["link"] == f"{media_server.url('t01.ogg')}#t={int(top['start'])}"

    other = partition["results"][0]
    assert other["talk"]["title"] == TRUTH["t02"]["title"]
    assert abs(other["start"] - TRUTH["t02"]["sentences"][0]["start"]) <= 3.0


def test_sentences_are_stored_with_their_words_vectors(feed_library):
    """The embedding pass keeps each sentence's meaningful words' vectors (for rescoring search results):
    as many as the sentence has such words, from the model that embedded it; windows keep none."""
    from talksearch.embedding import Embedder
    from talksearch.library import token_codes

    library, _ = feed_library
    with Library.open(library, readonly=True) as reader:
        talk = reader.talks()[0]
        passages = reader.passages_within(talk.id, 0, talk.duration + 1)
        stored = reader.passage_token_vectors(passages)
        model = reader.embed_model
    sentences = [p for p in passages if p.kind == "sentence"]
    assert sentences and all(p.passage_id in stored for p in passages)  # a window reads its sentences'
    assert model == default("embed_model")  # the first model's (mpnet's) word vectors are kept
    _, tokens = Embedder("all-mpnet-base-v2").passages_with_tokens([sentences[0].text])
    expected = token_codes.signs(tokens[0].meaningful())
    assert stored[sentences[0].passage_id].shape == expected.shape
    assert (stored[sentences[0].passage_id] == expected).mean() > 0.99  # the same vectors (up to float noise)


def test_rerun_adds_nothing(feed_library, media_server, monkeypatch):
    library, _ = feed_library
    monkeypatch.delenv("TALKSEARCH_EMBED_MODEL")  # the session's feed library is the default model's, kept as it is
    before = sqlite3.connect(library / "catalog.sqlite").execute("SELECT count(*) FROM passages").fetchone()[0]
    result = talksearch("index", media_server.url("feed.xml"), "--library", str(library))
    assert result.returncode == 0, result.stderr
    assert "0 added, 2 skipped, 0 failed" in result.stdout
    assert result.stdout.count("already in the library") == 2
    after = sqlite3.connect(library / "catalog.sqlite").execute("SELECT count(*) FROM passages").fetchone()[0]
    assert after == before


def test_recordings_with_the_same_file_name_at_other_urls_are_other_talks(media_server, tmp_path, monkeypatch, cli_runs):
    """yt-dlp names a media URL's recording after its file: /a/talk.ogg and /b/talk.ogg must still be two
    talks. A library that holds one under the file's name alone (indexed before) keeps it, known as such."""
    from talksearch.indexer import sources
    from talksearch.indexer.pipeline import IndexRun
    from talksearch.settings import Settings

    for folder, talk in (("a", "t01"), ("b", "t02")):
        (media_server.directory / folder).mkdir(exist_ok=True)
        shutil.copy(DATA / f"{talk}.ogg", media_server.directory / folder / "talk.ogg")
    first, second = media_server.url("a/talk.ogg"), media_server.url("b/talk.ogg")
    library = tmp_path / "library"
    with monkeypatch.context() as old:  # the first talk indexed as before: keyed by its file's name
        old.setattr(sources.Sources, "_distinct_id", lambda self, info, listed=None, listing_page=None: info)
        run = IndexRun(Settings(library=library, whisper_model="tiny.en"))
        try:
            assert run.run([first]).count("added") == 1
        finally:
            run.close()
    result = talksearch("index", first, second, first, "--library", str(library), "--whisper-model", "tiny.en")
    assert "1 added, 2 skipped, 0 failed" in result.stdout, result.stdout  # the first: known; then listed twice
    listed, again = cli_runs(["talks", "--library", str(library), "--json"],  # one process for both
                             ["index", second, "--library", str(library), "--whisper-model", "tiny.en"])
    talks = json.loads(listed.stdout)["talks"]
    assert sorted(t["media_url"] for t in talks) == [first, second]
    assert "0 added, 1 skipped" in again.stdout, again.stdout


def test_a_media_url_that_starts_redirecting_is_the_same_talk(media_server, tmp_path):
    """A recording named on the command line that moves (a 301 from the URL the user gave) is the talk the
    library has from that URL: keyed by the URL named, known before any request, and replaced by --reindex."""
    from talksearch.indexer.sources import Sources

    folder = media_server.directory / "moving"
    (folder / "new").mkdir(parents=True)
    shutil.copy(DATA / "t01.ogg", folder / "keynote.ogg")
    named = media_server.url("moving/keynote.ogg")
    [before] = Sources(tmp_path, lambda key: False).expand(named)
    key = Sources(tmp_path, lambda key: False).archive_key(before)
    (folder / "keynote.ogg").rename(folder / "new" / "keynote.ogg")
    media_server.redirects["/moving/keynote.ogg"] = "/moving/new/keynote.ogg"
    [moved] = Sources(tmp_path, lambda key: False).expand(named)
    assert Sources(tmp_path, {key}.__contains__).archive_key(moved) == key
    assert Sources(tmp_path, {key}.__contains__).fetch(moved) is None  # known: skipped
    reindexing = Sources(tmp_path, lambda key: False, library_urls=lambda: {key: named})
    fetched = reindexing.fetch(moved)  # replaced
    # played from the URL named, as it is linked, which players follow to where it moved
    assert fetched.talk.archive_id == key and fetched.talk.media_url == named


def test_a_recording_named_by_two_urls_is_two_talks_told_apart(media_server, tmp_path, cli_runs):
    """A URL that redirects to a recording also named directly: two talks (each keyed by the URL named), each
    linked and played by the URL it was listed under (players follow the redirect), so the two are told apart and
    found again.
    Two talks with the same link and media, as an earlier release stored these, are named by `check`."""
    from talksearch.check import check_library

    direct = media_server.url("t01.ogg")
    alias = media_server.url("alias/t01.ogg")
    media_server.redirects["/alias/t01.ogg"] = "/t01.ogg"
    library = tmp_path / "library"
    result = talksearch("index", direct, alias, "--library", str(library), "--whisper-model", "tiny.en")
    assert "2 added, 0 skipped, 0 failed" in result.stdout, result.stdout + result.stderr
    listed, again = cli_runs(["talks", "--library", str(library), "--json"],  # one process for both
                             ["index", alias, direct, "--library", str(library), "--whisper-model", "tiny.en"])
    talks = json.loads(listed.stdout)["talks"]
    assert sorted((t["url"], t["media_url"]) for t in talks) == [(alias, alias), (direct, direct)]
    assert "0 added, 2 skipped, 0 failed" in again.stdout, again.stdout
    assert check_library(library).clean

    with sqlite3.connect(library / "catalog.sqlite") as db:  # as earlier releases stored them: where it led
        db.execute("UPDATE talks SET url = ?, media_url = ?", (direct, direct))
    [problem] = check_library(library).problems
    assert problem.startswith(f"2 talks have the link {direct} and its media ("), problem
    assert all(t["id"] in problem for t in talks), problem
    checked = talksearch("check", "--library", str(library))
    assert checked.returncode == 1 and problem in checked.stdout + checked.stderr, checked.stdout + checked.stderr


def test_bad_items_do_not_stop_the_batch(media_server, tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    shutil.copy(DATA / "t02.ogg", folder / "partition keys.ogg")
    (folder / "notes.txt").write_text("not a recording; folders only take media files")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=s=320x240:r=10:d=1", "-an",
                    str(folder / "slides only.mp4")], check=True)  # a picture without sound
    sources = tmp_path / "sources.txt"
    sources.write_text(  # as Notepad saves UTF-8: a byte order mark, CRLF line ends
        f"# a batch with bad items\n{media_server.url('missing.mp4')}\n{DATA / 'corrupt.mp3'}\n\n"
        f"{DATA / 'silence.ogg'}\n{folder}\nnot-a-file-or-url\n", encoding="utf-8-sig", newline="\r\n"
    )
    library = tmp_path / "library"
    result = talksearch("index", "--from-file", str(sources), "--library", str(library), "--whisper-model", "tiny.en")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(("added", "failed", "skipped"))]
    failed = [line for line in lines if line.startswith("failed")]
    assert len(failed) == 5, result.stdout
    assert any("missing.mp4" in line and "404" in line for line in failed), failed
    # a local file's line names its path, so the user knows which file to look at
    assert any(f"failed  {DATA / 'corrupt.mp3'}: not readable as audio" in line for line in failed), failed
    assert any("silence" in line and "no speech" in line for line in failed), failed
    assert any("not-a-file-or-url" in line and "no such file" in line for line in failed), failed
    # said as a sentence (it said "(ValueError: the file has no audio stream)": a formats hunt)
    assert f"failed  {folder / 'slides only.mp4'}: not readable as audio (the file has no audio stream)" in failed
    assert "1 added, 0 skipped, 5 failed" in result.stdout
    with Library.open(library) as lib:
        (talk,) = lib.talks()
        assert talk.title == "partition keys"
        assert talk.url.startswith("file://")


def test_speakers_events_and_channels_are_stored_as_the_filters_match_them(tmp_path):
    """Stray spaces in a recording's metadata: stored as they came, "  Spaced Event " was listed by /api/facets
    but never matched by ?event=, which the API strips (as a browser collapses an <option>'s spaces)."""
    from tests.service_fixtures import serving, settings_for

    recording = tmp_path / "talk.ogg"
    shutil.copy(DATA / "t01.ogg", recording)
    (tmp_path / "talk.info.json").write_text(json.dumps({
        "title": "Spaced", "creators": [" Pad Ded  ", "Two  Spaces", "  "], "series": "  Spaced Event ",
        "channel": "\tSpaced\n Channel "}))
    library = tmp_path / "library"
    result = talksearch("index", str(recording), "--library", str(library), "--whisper-model", "tiny.en",
                        "--embed-model", "all-MiniLM-L6-v2")
    assert result.returncode == 0, result.stdout + result.stderr
    with serving(settings_for(library)) as server:
        facets = server.get("/api/facets").json()
        assert (facets["speakers"], facets["events"], facets["channels"]) == \
            (["Pad Ded", "Two Spaces"], ["Spaced Event"], ["Spaced Channel"])
        for name, value in (("event", "  Spaced Event "), ("speaker", "Two Spaces"), ("channel", "Spaced Channel")):
            assert server.get("/api/talks", params={name: value}).json()["total"] == 1, name


def test_a_different_embedding_model_is_refused(feed_library, tmp_path):
    library, _ = feed_library
    other_model = tmp_path / "other-model"
    other_model.mkdir()
    result = talksearch("index", str(DATA / "t01.ogg"), "--library", str(library), "--embed-model", str(other_model))
    assert result.returncode == 1
    assert result.stderr.startswith("error: library") and default("embed_model") in result.stderr
    assert "Traceback" not in result.stderr


def test_a_library_keeps_its_own_model_when_no_model_is_asked_for(tmp_path, monkeypatch):
    """The default embedding is for new libraries: indexing into one made with another model uses that model,
    unless a model is asked for (a flag or TALKSEARCH_EMBED_MODEL), which the library then refuses."""
    monkeypatch.delenv("TALKSEARCH_EMBED_MODEL")  # light_embedding's: no model asked for
    library = tmp_path / "library"
    tiny = ("--whisper-model", "tiny.en")  # what is checked is the embedding, not what whisper hears
    made = talksearch("index", str(DATA / "t01.ogg"), "--library", str(library), "--embed-model", "all-MiniLM-L6-v2",
                      *tiny)
    assert made.returncode == 0, made.stderr
    more = talksearch("index", str(DATA / "t02.ogg"), "--library", str(library), *tiny)
    assert more.returncode == 0 and "1 added" in more.stdout, more.stdout + more.stderr
    with Library.open(library, readonly=True) as reader:
        assert reader.embed_model == "all-MiniLM-L6-v2"
        assert {t.embed_model for t in reader.talks()} == {"all-MiniLM-L6-v2"}
        assert reader.meta("token_dim") is None  # one model: its word vectors are as wide as its passages'
    asked = talksearch("index", str(DATA / "silence.ogg"), "--library", str(library),
                       env={"TALKSEARCH_EMBED_MODEL": "all-mpnet-base-v2+all-MiniLM-L6-v2"})
    assert asked.returncode == 1 and "built with embedding model 'all-MiniLM-L6-v2'" in asked.stderr


def test_export_formats(feed_library, cli_runs):
    library, _ = feed_library
    talk_id = json.loads(talksearch("talks", "--library", str(library), "--json").stdout)["talks"][0]["id"]
    formats = ("json", "vtt", "srt", "txt")
    *exports, missing = cli_runs(*(["export", talk_id, "--library", str(library), "--format", fmt] for fmt in formats),
                                 ["export", "nope", "--library", str(library), "--format", "txt"])  # one process
    assert all(result.returncode == 0 for result in exports), [result.stderr for result in exports]
    exported = dict(zip(formats, (result.stdout for result in exports), strict=True))

    transcript = json.loads(exported["json"])
    segments = transcript["segments"]
    assert segments and all(s["words"] and s["start"] < s["end"] for s in segments)
    assert all(segments[i]["start"] <= segments[i + 1]["start"] for i in range(len(segments) - 1))
    vtt, srt, txt = exported["vtt"], exported["srt"], exported["txt"]
    assert vtt.startswith("WEBVTT\n\n00:00:0")
    assert srt.startswith("1\n00:00:0") and " --> " in srt and "," in srt.splitlines()[1]
    # whisper's sentences as subtitle-sized cues (talksearch.cues), every word of them in order
    cues = [block.splitlines()[1:] for block in vtt.split("\n\n")[1:]]
    assert all(1 <= len(lines) <= 2 for lines in cues), vtt
    shown = html.unescape(" ".join(line for lines in cues for line in lines))
    assert shown.split() == " ".join(s["text"] for s in segments).split()
    assert txt.strip().splitlines()[0] == segments[0]["text"]

    assert missing.returncode == 1 and missing.stderr.startswith("error: no talk 'nope'")


def test_cli_errors_are_one_line(tmp_path, cli_runs):
    """Each command line a run of the real CLI, all in one process (conftest's ``cli_runs``): a process of its own
    cost each about a second."""
    none, lib = str(tmp_path / "none"), str(tmp_path / "lib")
    missing = [["talks", "--library", none], ["search", "x", "--library", none]]
    # Usage mistakes too: one line that says what is wrong and where the help is, exit 2.
    usage = ((["index", "--library", lib], "name at least one SOURCE"),
             (["search", "x", "--limit", "0"], "'--limit': 0 is not in the range"),
             (["index", "x", "--beam-size", "many"], "'many' is not a valid integer"),
             (["serch", "x"], "No such command 'serch'"),
             (["index", "", "--library", lib], "a SOURCE is empty"),  # not the cwd
             (["talks", "--library", ""], "--library: must not be empty"),
             (["index", "x", "--beam-size", "100000"], "--beam-size: Input should be less than or equal"),
             (["index", "x", "--embed-model", "+"], "--embed-model: names no model"),  # not the cwd
             # Ray's flags without Ray: the talks would be indexed here, the flags silently ignored
             (["index", "x", "--ray-address", "1.2.3.4:6379"], "--ray-address needs --engine ray"),
             (["index", "x", "--ray-workers", "2"], "--ray-workers needs --engine ray"))
    # A wrong TALKSEARCH_* variable is named as such, not as a flag the command may not even have.
    variables = (({"TALKSEARCH_BATCH_SIZE": "abc"}, "TALKSEARCH_BATCH_SIZE: Input should be a valid integer"),
                 ({"TALKSEARCH_CORS_ORIGINS": "notjson"}, "TALKSEARCH_CORS_ORIGINS: not valid JSON"),
                 # not the current directory, which a gigabyte of models would be written into
                 ({"TALKSEARCH_MODEL_CACHE": ""}, "TALKSEARCH_MODEL_CACHE: must not be empty"),
                 ({"TALKSEARCH_RANK_DENSE_WEIGHT": "inf"}, "TALKSEARCH_RANK_DENSE_WEIGHT: Input should be a finite number"))
    (tmp_path / "talk.mp4").write_bytes(b"")
    a_file = ["index", "x", "--library", str(tmp_path / "talk.mp4")]  # --library given the talk by mistake
    results = cli_runs(*missing, *(args for args, _ in usage), *((["talks", "--library", none], env)
                                                                for env, _ in variables), a_file)
    for result in results[:len(missing)]:
        assert result.returncode == 1
        assert result.stderr.startswith("error: no library at") and result.stderr.count("\n") == 1
    for result, (_, says) in zip(results[len(missing):], usage):
        assert result.returncode == 2 and says in result.stderr and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("error: ") and "--help')" in result.stderr
    for result, (_, says) in zip(results[len(missing) + len(usage):], variables):
        assert result.returncode == 2 and says in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert len(results) == len(missing) + len(usage) + len(variables) + 1
    assert not (tmp_path / "lib").exists()
    assert results[-1].returncode == 1 and results[-1].stderr == f"error: library {tmp_path / 'talk.mp4'} is a file: a library is a folder (--library FOLDER)\n"
    with socket.socket() as taken:  # serving where another server listens: said before anything claims to serve
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = talksearch("serve", "--library", str(tmp_path / "lib"), "--port", str(taken.getsockname()[1]))
    assert busy.returncode == 1 and busy.stderr.count("\n") == 1, busy.stderr
    assert busy.stderr.startswith("error: cannot serve at 127.0.0.1:") and "Address already in use" in busy.stderr


def test_a_hub_model_that_cannot_be_fetched_is_one_line(tmp_path, cli_runs):
    # The hub on a loopback port nobody listens on: its client would retry each file five times, a line each.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        hub = f"http://127.0.0.1:{closed.getsockname()[1]}"
    env = {"HF_ENDPOINT": hub, "HF_HOME": str(tmp_path / "hf")}  # an empty hub cache
    roles = (("--whisper-model", "whisper"), ("--embed-model", "embedding"))
    results = cli_runs(*(["index", str(DATA / "t01.ogg"), "--library", str(tmp_path / "lib"), flag, "nobody/no-model"]
                         for flag, _ in roles), env=env)  # one process: the hub's address is read as it starts
    for result, (_, role) in zip(results, roles, strict=True):
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr == (f"error: cannot load {role} model 'nobody/no-model': not in the local hub cache, "
                                 f"and 127.0.0.1 cannot be reached (Connection refused)\n")


def test_text_that_is_not_utf8_and_output_that_cannot_be_written_are_one_line(feed_library, tmp_path, cli_runs):
    library, _ = feed_library
    not_utf8 = "ab\udcff"  # the bytes 'ab\xff' on the command line, as Python holds them
    binary = tmp_path / "sources.bin"
    binary.write_bytes(b"\xff\xfe\x00bin")
    cases = ((["search", not_utf8, "--library", str(library)], "not valid text (UTF-8)"),
             (["export", not_utf8, "--library", str(library)], "not valid UTF-8"),
             (["index", "--from-file", str(binary), "--library", str(tmp_path / "lib")], "not a text file"))
    *results, listed = cli_runs(*(args for args, _ in cases), ["talks", "--library", str(library), "--json"])
    for result, (_, says) in zip(results, cases, strict=True):
        assert result.returncode == 2 and says in result.stderr and result.stderr.count("\n") == 1, result.stderr
    # Output to a full device: the output is to blame, not the library.
    talk_id = json.loads(listed.stdout)["talks"][0]["id"]
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "talksearch.cli", "export", talk_id, "--library", str(library)],
                                cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True)
    assert result.returncode == 1 and result.stderr == "error: cannot write the output: No space left on device\n"


@pytest.fixture(scope="module")
def two_talks_twice(tmp_path_factory):
    """t01, t02, t01, t02 back to back (79 s): with 35 s chunks, cut in two (at 20.65 s, in a pause of the first
    talk): a chunk shorter than the pause searched for (30 s) would be cut in the silence at its start instead."""
    joined = tmp_path_factory.mktemp("joined") / "joined.ogg"
    subprocess.run(["ffmpeg", "-loglevel", "error", *(arg for name in ("t01", "t02", "t01", "t02")
                                                         for arg in ("-i", str(DATA / f"{name}.ogg"))),
                    "-filter_complex", "concat=n=4:v=0:a=1", str(joined)], check=True)
    return joined


def test_a_long_recording_is_transcribed_in_chunks_side_by_side(two_talks_twice):
    """Talks back to back, cut into chunks transcribed two at a time: every sentence comes back, in order, on the
    recording's clock."""
    from talksearch.indexer.transcribe import Transcriber, TranscriptionOptions

    transcriber = Transcriber("tiny.en", "cpu", threads=1, workers=2, options=TranscriptionOptions(chunk_seconds=35))
    seen, decoded = [], []
    chunk = transcriber._chunk
    transcriber._chunk = lambda offset, *args: decoded.append(offset) or chunk(offset, *args)
    transcript = transcriber.transcribe(str(two_talks_twice), on_progress=lambda done, total: seen.append(done))
    assert len(decoded) == 2
    offset = TRUTH["t01"]["duration"]
    assert transcript.duration == pytest.approx(2 * (offset + TRUTH["t02"]["duration"]), abs=0.2)
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts) and seen == sorted(seen) and seen[-1] == transcript.duration
    text = " ".join(s.text.lower() for s in transcript.segments)
    assert text.count("ocean simulations") == 2 and "manifest" in text and text.count("partition key") == 4
    partition = next(w for s in transcript.segments for w in s.words if "partition" in w.word.lower())
    assert abs(partition.start - (offset + TRUTH["t02"]["sentences"][0]["start"])) < 3


def test_a_transcription_stopped_midway_resumes_at_the_first_chunk_it_had_not_finished(two_talks_twice, tmp_path):
    """A long talk's chunks are kept as each is finished (ChunkLog): the next run decodes only the rest, and the
    transcript is the one an uninterrupted run makes. A 3-hour talk stopped in its last chunk was transcribed whole
    again."""
    from talksearch.indexer.chunk_log import ChunkLog
    from talksearch.indexer.transcribe import Transcriber, TranscriptionOptions

    class Stopped(Exception):
        pass

    transcriber = Transcriber("tiny.en", "cpu", threads=1, workers=1, options=TranscriptionOptions(chunk_seconds=35))
    whole = transcriber.transcribe(str(two_talks_twice))
    decoded = []
    chunk = transcriber._chunk
    transcriber._chunk = lambda offset, *args: decoded.append(offset) or chunk(offset, *args)

    def stop_in_the_second_chunk(done: float, _total: float) -> None:
        if len(decoded) > 1:
            raise Stopped

    log = ChunkLog(tmp_path / "downloads" / "transcribing-talk.jsonl")
    with pytest.raises(Stopped):
        transcriber.transcribe(str(two_talks_twice), stop_in_the_second_chunk, chunk_log=log)
    assert list(log.finished()) == [0.0] and decoded == [0.0, 20.65]
    with log.path.open("a") as cut_short:  # the interruption may leave a line half written
        cut_short.write('{"offset": 20.65, "end": 78.81, "lang')
    decoded.clear()
    resumed = transcriber.transcribe(str(two_talks_twice), chunk_log=log)
    assert decoded == [20.65]  # the first chunk taken as the interrupted run decoded it
    assert [(s.start, s.end, s.text) for s in resumed.segments] == [(s.start, s.end, s.text) for s in whole.segments]
    assert resumed.duration == whole.duration and resumed.language == whole.language
    assert resumed.resumed_seconds == 20.65 and whole.resumed_seconds == 0.0  # said on the talk's line

    # once the talk is done, every log of its goes (another model's, an older recording's), and no other talk's
    folder = tmp_path / "downloads"
    mine = [ChunkLog.for_transcript(folder, "aaaa11112222", size, "base").path for size in (1, 2)]
    other = ChunkLog.for_transcript(folder, "bbbb33334444", 1, "base").path
    for path in (*mine, other):
        path.write_text("")
    assert mine[0] != mine[1] and all(p.name.startswith("transcribing-aaaa11112222-") for p in mine)
    ChunkLog.remove_all(folder, "aaaa11112222")
    assert sorted(folder.glob("*.jsonl")) == sorted([log.path, other])


def test_a_librarys_vocabulary_is_how_whisper_writes_its_jargon(tmp_path, cli_runs):
    """--vocabulary: the library's jargon, given to whisper with each talk's own words. tiny.en heard "Slurm" as
    "them" and InfiniBand as "Infinity Man" without it."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    spoken = tmp_path / "rec" / "night.wav"
    spoken.parent.mkdir()
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(spoken), "Every night we submit the benchmark jobs with "
                    "Slurm, and the nickel tests check the InfiniBand fabric before the users arrive."], check=True)

    def transcript(*vocabulary: str) -> str:
        library = tmp_path / f"lib{len(vocabulary)}"
        flags = [arg for word in vocabulary for arg in ("--vocabulary", word)]
        indexed, listed = cli_runs(["index", str(spoken), "--library", str(library), "--whisper-model", "tiny.en",
                                    *flags], ["talks", "--library", str(library), "--json"])
        assert indexed.returncode == 0, indexed.stdout + indexed.stderr
        [talk] = json.loads(listed.stdout)["talks"]
        return talksearch("export", talk["id"], "--library", str(library)).stdout

    plain, with_jargon = transcript(), transcript("Slurm", " NCCL ", "InfiniBand", "Slurm", "")
    assert "Slurm" not in plain and "InfiniBand" not in plain  # what the vocabulary is for
    assert "Slurm" in with_jargon and "NCCL" in with_jargon and "InfiniBand" in with_jargon, with_jargon


def test_serve_says_when_it_made_the_library_it_serves(tmp_path):
    """Serving a path with no library makes an empty one (talks can be indexed into it while it runs), and
    says so: a mistyped --library does not pass for an empty library."""
    import signal

    command = [sys.executable, "-m", "talksearch.cli", "serve", "--library", str(tmp_path / "typo"), "--port", "0"]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        said = [process.stderr.readline(), process.stderr.readline()]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert said[0].startswith(f"talksearch: no library at {tmp_path / 'typo'} yet: made an empty one"), said
    assert said[1].startswith("talksearch: serving"), said


def test_a_talk_whose_sentences_are_gone_is_not_exported_as_an_empty_file(feed_library, tmp_path, cli_runs):
    """A damaged copy of a library (the talk's rows in ``segments`` deleted): an export says so in one line and
    the API answers 404, rather than a bare WEBVTT header a player takes for a silent talk."""
    from fastapi.testclient import TestClient

    from talksearch.service.app import create_app
    from talksearch.settings import Settings

    library = tmp_path / "library"
    shutil.copytree(feed_library[0], library, ignore=shutil.ignore_patterns("indexer.lock", "downloads"))
    talk_id = json.loads(talksearch("talks", "--library", str(library), "--json").stdout)["talks"][0]["id"]
    with sqlite3.connect(library / "catalog.sqlite") as db:
        assert db.execute("DELETE FROM segments WHERE talk_id = ?", (talk_id,)).rowcount > 0
    formats = ("vtt", "srt", "txt", "json")
    results = cli_runs(*(["export", talk_id, "--library", str(library), "--format", fmt] for fmt in formats))
    for fmt, result in zip(formats, results, strict=True):  # one process for them all
        assert result.returncode == 1 and result.stdout == "", (fmt, result.stdout)
        assert result.stderr == f"error: talk {talk_id!r} has no transcript in the library (no sentences of it are stored)\n"
    with TestClient(create_app(Settings(library=library))) as client:
        for path in ("transcript", "transcript.vtt", "transcript.srt"):
            answer = client.get(f"/api/talks/{talk_id}/{path}")
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["error"]["code"] == "not_found" and "has no transcript" in answer.json()["error"]["message"]
