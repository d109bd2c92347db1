"""The ``talksearch`` command: index, reembed, search, talks, export, remove, restore, check, serve, mcp."""

from __future__ import annotations

import sys

try:  # the standard library's modules too: sqlite3 is the slowest to load of all
    import contextlib
    import logging
    import os
    import re
    import signal
    import sqlite3
    from pathlib import Path
    from typing import NoReturn

    import click
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from talksearch.library import LibraryError, MissingParts
    from talksearch.schemas import SEARCH_OFFSET_MAX
    from talksearch.models import ModelError
    from talksearch.settings import Settings, blank_admin_token, unknown_variables
    from talksearch.settings_flags import setting_options
    from talksearch.storage import failure_line
    from talksearch.text import UNDECODABLE_BYTE, printable, shown
    from talksearch.timecode import clock
    from talksearch.transcripts import FORMATS, missing_transcript, missing_translation, render
except KeyboardInterrupt:  # Ctrl-C while these load (a quarter of a second, before Cli.invoke can catch it):
    sys.stderr.write("interrupted\n")  # one line and 130 too, not a traceback through the imports
    sys.exit(130)

# Expected failures: one line on stderr and exit 1, never a traceback. Storage failures (a full disk, a
# read-only file system: OSError, SQLite's OperationalError, FAISS's RuntimeError) say so (talksearch.storage).
USER_ERRORS = (LibraryError, ModelError, OSError, sqlite3.Error)


class OutputError(Exception):
    """The command's own output could not be written (a full disk behind a redirection): not the library's
    fault, which is what an OSError would otherwise be explained as."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (timeout, systemd, docker stop, Kubernetes) or SIGHUP (the ssh session or terminal gone) during an
    index run: it ends as Ctrl-C ends it, and says so."""

    def __init__(self, signal_number: int):
        super().__init__(signal_number)
        self.signal_number = signal_number


# What a run ended by each signal says it was
STOPPED_BY = {signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}


def _raise_terminated(signal_number: int, _frame) -> NoReturn:
    raise Terminated(signal_number)


def _stop_as_ctrl_c_on_signals() -> None:
    """SIGTERM and SIGHUP end an index run as Ctrl-C does (only there: serve leaves SIGTERM to uvicorn, and reopens
    the library on SIGHUP). A SIGHUP ignored (nohup) stays ignored: the run is meant to outlive the session."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _raise_terminated)


def _discard_output() -> None:
    """The rest of the output goes to os.devnull: Python's documented way after a BrokenPipeError (the flush of
    what stdout still holds, at exit, would fail again), and what a command that goes on does with output it cannot
    write."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _reader_gone() -> NoReturn:
    """The reader went away (| head): stop quietly, as other tools do."""
    _discard_output()
    sys.exit(0)


# A command started with its stdout closed (``>&-``): Python has no sys.stdout, and click.echo writes nowhere
STDOUT_CLOSED = "cannot write the output: the standard output is closed"


def _closed_streams_on_devnull() -> None:
    """A standard stream the command was started without (``>&-``, ``2>&-``) is os.devnull at its descriptor: left
    free, the next file opened (a download, the vector index) took it, and a native library's stray message on
    stderr would land in that file. sys.stdout stays None (``say`` then fails, as output that cannot be written
    does); sys.stderr is os.devnull: its progress and warnings are lost, the exit status still says how it went."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is None:
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                if devnull != fd:
                    os.dup2(devnull, fd)
                    os.close(devnull)
                if name == "stderr":
                    sys.stderr = open(fd, "w", closefd=False)


def say(text: str | bytes = "", nl: bool = True, color: bool | None = None) -> None:
    """A line of the command's output (click.echo, which flushes: a failed write shows here, not at exit).
    ``color=True``: written as it is, even where click would strip ANSI sequences (output that is no terminal)."""
    if sys.stdout is None:
        raise OutputError(STDOUT_CLOSED)
    try:
        click.echo(text, nl=nl, color=color)
    except BrokenPipeError:
        _reader_gone()
    except OSError as exc:
        raise OutputError(f"cannot write the output: {exc.strerror or exc}") from None


# Why the output of a command that works as it prints (``say_and_go_on``) could not be written, once it could not:
# the command still does all its work, and exits 1 at the end (``_exit_if_output_lost``)
_output_lost: str | None = None


def say_and_go_on(line: str) -> None:
    """A line of a command that works as it prints (index, reembed, remove, restore), where ``say`` would stop the
    work midway. A reader gone (| head, | grep -q) is as if it had read it all: the rest of the output is discarded
    and the exit status is the same. Output that cannot be written (a full disk behind a redirection) is said once
    on stderr, and the command exits 1 at its end, its work done. (From the indexer's worker threads too, which it
    serializes: a line at a time.)"""
    try:
        if sys.stdout is None:
            _lose_output(STDOUT_CLOSED)
        else:
            click.echo(line)
    except BrokenPipeError:
        _discard_output()
    except OSError as exc:
        _discard_output()
        _lose_output(f"cannot write the output: {exc.strerror or exc}")


def _lose_output(why: str) -> None:
    global _output_lost
    if _output_lost is None:
        _output_lost = why
        with contextlib.suppress(OSError):  # stderr on the same full disk: the exit status says it still
            click.echo(f"error: {_output_lost}; going on without it", err=True)


def _exit_if_output_lost() -> None:
    if _output_lost is not None:
        sys.exit(1)


def say_utf8(text: str, nl: bool = True) -> None:
    """Output for programs (--json, an export into a file or a pipe): UTF-8 bytes, byte for byte what the API serves,
    whatever the locale's encoding (click.echo writes bytes to the binary stream beneath stdout, as they are)."""
    say(text.encode("utf-8"), nl=nl)


def as_text(argument: str) -> str:
    """An argument that is text (a query, a name), not a path: under a locale that is not UTF-8 (PYTHONUTF8=0
    LC_ALL=C: ASCII) Python decoded each byte it could not as a lone surrogate, UTF-8's too, and valid UTF-8 ("Grüße")
    was refused as not text. Read as UTF-8 where its bytes are; left as it was (refused where read) where they are
    not. (A path keeps its surrogates: they give the file system its bytes back.)"""
    if not UNDECODABLE_BYTE.search(argument):
        return argument
    try:
        return os.fsencode(argument).decode("utf-8")
    except UnicodeError:
        return argument


def _text_output_never_fails() -> None:
    """Human-readable output that the terminal's encoding cannot represent (a talk's title in Japanese under a latin-1
    locale) is written as Python escapes (\\u6771) instead of failing the command: the error handler Python itself
    gives stderr, and unlike "replace"'s ?, it says which character it stands for."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)  # None: no stream (pythonw), or not a TextIOWrapper
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _one_line(exc: BaseException, library: Path | None) -> str | None:
    stored = failure_line(exc, library)
    if stored:
        return stored
    if isinstance(exc, (*USER_ERRORS, OutputError)):
        return str(exc) or type(exc).__name__
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "can't start new thread" in str(exc)):
        # a memory limit (ulimit -v, a container's) met loading models or starting threads: not a bug
        return (f"out of memory ({str(exc) or 'MemoryError'}); what was committed is intact: raise the process's "
                "memory limit (ulimit -v, the container's) or free memory, and run the command again")
    return None


def _usage_error(exc: click.UsageError, command: str) -> NoReturn:
    """A wrong flag or argument: one line too, rather than click's usage block, and exit 2. A bare
    ``talksearch`` still shows the help (click raises it as a usage error)."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        exc.show()
        sys.exit(exc.exit_code)
    command = exc.ctx.command_path if exc.ctx is not None else command
    click.echo(f"error: {' '.join(exc.format_message().split())} (see '{command} --help')", err=True)
    sys.exit(exc.exit_code)


def _help_not_written(why: str) -> NoReturn:
    """--help or --version into output that cannot be written (> /dev/full, >&-): said as any command's output is,
    not as a traceback, nor as the library's disk (a subcommand's --help was taken for a storage failure)."""
    with contextlib.suppress(OSError):
        click.echo(f"error: {why}", err=True)
    sys.exit(1)


def _help_written(exit: click.exceptions.Exit) -> NoReturn:
    """--help or --version done (click's Exit): with stdout closed, click wrote it nowhere and ended with 0."""
    if exit.exit_code == 0 and sys.stdout is None:
        _help_not_written(STDOUT_CLOSED)
    raise exit


class HomePath(click.Path):
    """A path with ~ expanded as a shell would, where none did (``--output-dir=~/out``: no shell expands ~ after =;
    a line of a crontab) rather than a folder named "~" made in the current one."""

    def convert(self, value, param, ctx):
        return super().convert(os.path.expanduser(value) if isinstance(value, str) else value, param, ctx)


class Command(click.Command):
    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:  # parsing prints nothing but the command's --help
            return super().make_context(info_name, args, parent, **extra)
        except BrokenPipeError:  # talksearch search --help | true
            _reader_gone()
        except OSError as exc:
            _help_not_written(f"cannot write the output: {exc.strerror or exc}")
        except click.exceptions.Exit as exit:
            _help_written(exit)


class Cli(click.Group):
    command_class = Command

    def main(self, *args, **kwargs):
        _closed_streams_on_devnull()
        _text_output_never_fails()
        return super().main(*args, **kwargs)

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:  # the group's own options (talksearch --bogus)
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            _usage_error(exc, info_name or "talksearch")
        except BrokenPipeError:  # talksearch --help | true
            _reader_gone()
        except OSError as exc:
            _help_not_written(f"cannot write the output: {exc.strerror or exc}")
        except click.exceptions.Exit as exit:
            _help_written(exit)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a command's flags and arguments, or an unknown command
            _usage_error(exc, ctx.command_path)
        except click.ClickException as exc:  # in this CLI's words ("error: ", as every failure), not click's "Error: "
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except UnicodeEncodeError as exc:  # bytes that are not UTF-8 in an argument reach Python as lone surrogates
            failed = exc.object[exc.start:exc.end] if isinstance(exc.object, str) else ""
            if not (UNDECODABLE_BYTE.search(failed) and any(UNDECODABLE_BYTE.search(a) for a in sys.argv[1:])):
                raise  # not the arguments' fault: a bug, with its traceback
            click.echo("error: an argument is not valid UTF-8 text", err=True)
            sys.exit(2)
        except (*USER_ERRORS, OutputError, RuntimeError, MemoryError) as exc:
            message = _one_line(exc, ctx.meta.get("talksearch.library"))
            if message is None:  # not a storage failure: a bug, with its traceback
                raise
            click.echo(f"error: {shown(' '.join(message.split()))}", err=True)
            sys.exit(1)
        except KeyboardInterrupt as exc:
            stopped_by = exc.signal_number if isinstance(exc, Terminated) else signal.SIGINT
            with contextlib.suppress(OSError):  # hung up: the terminal may be gone, and the exit is what matters
                click.echo(f"{STOPPED_BY.get(stopped_by, 'interrupted')}; run the same command again to resume",
                           err=True)
            # At once, not through the interpreter's shutdown: the models' native threads may still be running,
            # and tearing them down under them aborts the process (a core dump instead of 130). Nothing is lost:
            # each talk is committed in one transaction, and the lock goes with the process.
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError):
                    stream.flush()
            os._exit(128 + stopped_by)  # 128 + the signal, as a shell reports it


def settings_from(**options) -> Settings:
    """Flags given on the command line win over TALKSEARCH_* variables, which win over defaults. A wrong value
    is named as the user gave it: the flag, or the environment variable."""
    given = {k: v for k, v in options.items() if v is not None}
    for warning in unknown_variables():  # a misspelt variable: said (before any refusal it may explain), not ignored
        click.echo(warning, err=True)
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0])
        message = str(first["ctx"]["error"]) if first["type"] == "value_error" else first["msg"]  # our own words
        source = f"--{name.replace('_', '-')}" if name in given else f"TALKSEARCH_{name.upper()}"
        raise click.UsageError(f"{source}: {message}") from None
    except SettingsError as exc:  # a list setting whose variable is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        raise click.UsageError(f"TALKSEARCH_{field[1].upper() if field else 'settings'}: not valid JSON "
                               '(a list is written ["a", "b"])') from None
    context = click.get_current_context(silent=True)
    if context is not None:  # for error messages that name the library
        context.meta["talksearch.library"] = settings.library
    return settings


library_option = setting_options("library")
language_option = click.option("--language", "languages", multiple=True, metavar="CODE",
                               help="Only talks in this spoken language, e.g. de (repeat for several).")


def _language_filter(languages: tuple[str, ...]):
    """``--language`` values as the API reads its filter (trimmed, blank values dropped, too many or too long ones
    refused, codes checked): a TalkFilter, or None when none is given."""
    from talksearch.language_codes import filter_languages
    from talksearch.library import TalkFilter
    from talksearch.service.errors import ApiError
    from talksearch.service.params import filter_values

    try:
        codes = filter_languages(filter_values("--language", languages))
    except ApiError as exc:
        raise click.UsageError(exc.message) from None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--language") from None
    return TalkFilter(languages=codes) if codes else None


# The API's search filters, named as its parameters are (published_after: --published-after).
_FILTER_FLAGS = {"talk": "--talk", "channel": "--channel", "event": "--event", "speaker": "--speaker",
                 "published_after": "--published-after", "published_before": "--published-before"}
_API_NAMES = re.compile(rf"\b({'|'.join(_FILTER_FLAGS)})\b(?=:| \()")  # as the API's messages name them
_REPEATED = (("talk", "ID", "Only within this talk (repeat for several; see: talksearch talks)."),
             ("channel", "NAME", "Only talks from this channel (repeat for several)."),
             ("event", "NAME", "Only talks from this event (repeat for several)."),
             ("speaker", "NAME", "Only talks by this speaker (repeat for several)."))


def talk_filter_options(command):
    """The API's talk filters beyond --language as flags (search's and the talk list's), each as its parameter is
    (a list repeats)."""
    options = [click.option(_FILTER_FLAGS[name], f"{name}s", multiple=True, metavar=metavar, help=help_text)
               for name, metavar, help_text in _REPEATED]
    options += [click.option("--published-after", metavar="DATE",
                             help="Only talks published on or after this date (YYYY-MM-DD, or YYYYMMDD)."),
                click.option("--published-before", metavar="DATE",
                             help="Only talks published on or before this date (YYYY-MM-DD, or YYYYMMDD).")]
    for option in reversed(options):  # listed in --help in this order
        command = option(command)
    return command


def search_filter_options(command):
    """The API's search filters beyond --language as flags, and its grouping (listed after them)."""
    # the API's group (talksearch.search.searcher.Group), whose module this command loads only to search
    grouping = click.option("--group", type=click.Choice(["none", "talk"]), default="none", show_default=True,
                            help="talk: one result per talk, its best moment (and the times of its others).")
    return talk_filter_options(grouping(command))


def _search_filters(languages: tuple[str, ...], **flags):
    """The filter flags read as the API reads its parameters (``talk_filter``: values trimmed, blank ones dropped,
    too many or too long ones refused, dates checked, a reversed range refused), its words naming the flags: a
    TalkFilter, or None when none is given."""
    from pydantic import validate_call

    from talksearch.service.errors import ApiError
    from talksearch.service.params import talk_filter

    chosen = _language_filter(languages)  # first, in its own words, as it was before the other flags
    try:
        filters = validate_call(talk_filter)(
            talk=list(flags["talks"]), channel=[as_text(c) for c in flags["channels"]],
            event=[as_text(e) for e in flags["events"]], speaker=[as_text(s) for s in flags["speakers"]],
            language=chosen.languages if chosen else None,
            published_after=flags["published_after"], published_before=flags["published_before"])
    except ValidationError as exc:  # not a date: a bad value of its flag, worded as click words one
        first = exc.errors()[0]
        raise click.BadParameter(first["msg"], param_hint=_FILTER_FLAGS[str(first["loc"][0])]) from None
    except ApiError as exc:
        raise click.UsageError(_API_NAMES.sub(lambda name: _FILTER_FLAGS[name[1]], exc.message)) from None
    return filters or None


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="talksearch")
def main() -> None:
    """Make recorded talks searchable down to the second."""


@main.command()
@click.argument("sources", nargs=-1)
@library_option
@click.option("--from-file", "from_files", multiple=True, metavar="LIST",
              type=HomePath(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
              help="Read more sources from a file, one per line (# comments allowed); - reads the standard input. "
                   "Repeat for several.")
@setting_options("whisper_model", "embed_model", "device", "compute_type", "language", "translate", "batch_size",
                 "beam_size", "threads", "transcribe_workers", "keep_media", "captions", "ray_workers",
                 "max_download_mb", "download_stall_seconds", "parse_metadata", "vocabulary")
@click.option("--reindex", is_flag=True,
              help="Index talks the library already has again (say with other --captions), replacing each one's "
                   "transcript in one transaction.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where talks are processed: this process, or Ray actors (pip install 'ray>=2.40').")
@click.option("--ray-address", default=None, help="Ray cluster to join (default: start a local one).")
def index(sources, from_files, reindex, engine, ray_address, **options) -> None:
    """Index talks from URLs (videos, playlists, channels, feeds, pages, media) and local files or folders."""
    from talksearch.indexer.pipeline import IndexRun
    from talksearch.indexer.sources import read_source_list

    if any(not source.strip() for source in sources):  # "" would be the current directory, indexed whole
        raise click.UsageError("a SOURCE is empty")
    ray_flags = [flag for flag, value in (("--ray-address", ray_address), ("--ray-workers", options["ray_workers"]))
                 if value is not None]
    if ray_flags and engine != "ray":  # ignored otherwise, and the talks indexed here instead
        raise click.UsageError(f"{ray_flags[0]} needs --engine ray")
    sources = list(sources)
    lists = [_StandardInput() if str(path) == "-" else path for path in from_files]
    for listed in lists:  # in the order given, after the SOURCEs
        try:
            sources += read_source_list(listed)
        except UnicodeDecodeError:
            raise click.BadParameter(f"{shown(str(listed))}: not a text file (UTF-8): one source per line",
                                     param_hint="--from-file") from None
    if not sources and not lists:
        raise click.UsageError("name at least one SOURCE (a URL, feed, file or folder) or --from-file LIST")
    settings = settings_from(**options)  # (a wrong setting is said all the same)
    if not sources:  # a cron job's list with nothing in it tonight: not the user's mistake, nor a library to make
        names = ", ".join(shown(str(listed)) for listed in lists)
        say(f"{names} name{'s' if len(lists) == 1 else ''} no sources: nothing to index")
        return
    _stop_as_ctrl_c_on_signals()
    _run_to_end(IndexRun(settings, report=say_and_go_on, engine=engine, ray_address=ray_address, reindex=reindex),
                lambda run: run.run(sources))


class _StandardInput:
    """``--from-file -``: the standard input, read as read_source_list reads a file."""

    def read_text(self, encoding: str) -> str:
        if sys.stdin is None:  # started with it closed (``<&-``): Python has none
            raise click.BadParameter("-: the standard input is closed, and no sources can be read from it",
                                     param_hint="--from-file")
        return sys.stdin.buffer.read().decode(encoding)

    def __str__(self) -> str:
        return "the standard input"


def _run_to_end(run, work) -> None:
    """``work(run)``, then the summary line; exit 1 when a talk failed. A run stopped by an error (a model that
    cannot load, a full disk) removes a library it made for nothing; Ctrl-C leaves it for the next run to resume."""
    failed = False
    try:
        summary = work(run)
    except Exception:
        failed = True
        raise
    finally:
        run.close(failed)
    say_and_go_on(summary.line())  # (its reader gone: the exit status as if it had been read)
    _exit_if_output_lost()
    sys.exit(1 if summary.count("failed") else 0)


@main.command()
@click.argument("old", type=click.Path(path_type=Path))
@library_option
@setting_options("embed_model", "embed_backend", "device", "compute_type", "threads")
def reembed(old, **options) -> None:
    """Make a library (--library) from the library OLD with another embedding model, without transcribing again.

    Each talk of OLD that the new library lacks is added with its record and transcript (translations too), its
    passages embedded with --embed-model; OLD is only read. Run again, it catches up: new talks added, changed
    details (a retitled feed item) brought over, and talks gone from OLD named (kept). Local talks keep their file
    paths; recordings kept in OLD's media/ (--keep-media) are not copied."""
    from talksearch.indexer.pipeline import storage_failure
    from talksearch.indexer.reembed import Reembedding
    from talksearch.library import missing_parts

    _stop_as_ctrl_c_on_signals()  # as index: each talk is committed whole, and the next run resumes
    settings = settings_from(**options)
    made = missing_parts(settings.library)
    try:
        run = Reembedding(old, settings, report=say_and_go_on)
    except Exception as exc:
        # A new library the disk had no room to make (a full disk, before Reembedding holds it to remove): removed,
        # as IndexRun removes one; left half made, readers refused it
        if made is not None and storage_failure(exc, settings.library):
            made.remove()
        raise
    _run_to_end(run, lambda run: run.run())


@main.command("search")
@click.argument("query")
@library_option
@click.option("--limit", type=click.IntRange(1, 100), default=None, help="Results to show (1-100).")
@click.option("--offset", type=click.IntRange(0, SEARCH_OFFSET_MAX), default=0,
              help="Skip this many results (paging: --json's next_offset).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's response object.")
@language_option
@search_filter_options
def search_command(query, limit, offset, as_json, library, languages, group, **flags) -> None:
    """Search the library."""
    from talksearch.search import QueryError, open_searcher
    from talksearch.search.searcher import NotFound, corrected_note, quotes_dropped_note, words_not_found_note

    query = as_text(query)
    filters = _search_filters(languages, **flags)
    settings = settings_from(library=library)
    _, searcher = open_searcher(settings, create=False, readers=1)
    try:
        response = searcher.search(query, limit or settings.search_limit, offset=offset, filters=filters, group=group)
    except QueryError as exc:
        raise click.UsageError(str(exc)) from None
    except NotFound as exc:  # a --talk the library lacks: the API's 404
        raise click.ClickException(f"{exc} (see: talksearch talks)") from None
    if as_json:
        say_utf8(response.model_dump_json())
        return
    if not response.results:
        say("no results")
    if response.corrected_query is not None:  # a typing slip searched as the word it slipped from: said, not hidden
        say(printable(corrected_note(response.corrected_query)))
    if not response.words_found:  # no talk says a word of it: the results are only the nearest, said so
        say(printable(words_not_found_note(query)))
    elif response.quotes_dropped:  # the results lack the phrases quoted: said before them, not a silent swap
        say(printable(quotes_dropped_note(query)))
    for r in response.results:
        # A hit in a talk indexed with --translate may be found by its English alone: shown, as the pages show it
        english = f"\n       English: {printable(r.translation)}" if r.translation else ""
        # the same recording indexed again (a channel's upload and a feed's episode): said once, here
        copies = "".join(f"\n       also in: {printable(a.title)} ({a.talk_id}) at {clock(a.start)}" for a in r.also_in)
        # where in a long talk the moment is, as the pages show it beside the title
        chapter = f"\n       Chapter: {printable(r.chapter)}" if r.chapter else ""
        # one result per talk (--group talk): the talk's other moments that match, as the pages' timeline shows them
        others = [clock(m.start) for m in r.timeline or [] if m.start != r.start]
        also_at = f"\n       also at: {', '.join(others)}" if others else ""
        # who says it, when the captions name the speaker: as the talk page labels a sentence
        said_by = f"{printable(r.speaker)}: " if r.speaker else ""
        say(f"{clock(r.start):>6}  {printable(r.talk.title)}{chapter}\n       {said_by}{printable(r.text)}{english}"
            f"\n       {printable(r.link)}{also_at}{copies}")


# /api/talks's bounds (service.params.TALKS_OFFSET_MAX, the route's limit and Settings.talks_limit's), written out
# here: importing the service would slow every command (tests/test_cli_edges.py checks that they agree)
TALKS_LIMIT_MAX = 1000
TALKS_OFFSET_MAX = 1_000_000_000


@main.command()
@library_option
@click.option("--limit", type=click.IntRange(1, TALKS_LIMIT_MAX), default=None,
              help=f"Talks to show (1-{TALKS_LIMIT_MAX}; default: all, as before paging), newest first.")
@click.option("--offset", type=click.IntRange(0, TALKS_OFFSET_MAX), default=0,
              help="Skip this many talks (paging: the last line says the next --offset).")
@click.option("--json", "as_json", is_flag=True, help="Print {\"talks\": [...], \"total\": N}, as /api/talks.")
@language_option
@talk_filter_options
def talks(library, limit, offset, as_json, languages, **flags) -> None:
    """List the talks in the library, newest first: all of them, or a page (--limit, --offset)."""
    from talksearch.library import Library
    from talksearch.schemas import TalkList
    from talksearch.search.searcher import talk_summary

    filters = _search_filters(languages, **flags)
    settings = settings_from(library=library)
    with Library.open(settings.library) as lib:
        # the catalog calls /api/talks makes (service/routes/talks.py): the same page, the same total; without
        # --limit every talk, as the command always listed them (a script reading its --json gets them all)
        page = lib.talks(limit, offset, filters)
        listing = TalkList(talks=[talk_summary(t) for t in page], total=lib.count_talks(filters))
    if as_json:
        say_utf8(listing.model_dump_json())
        return
    for t in listing.talks:
        say(f"{t.id}  {t.published or '          '}  {printable(t.title)}")
    say(f"{listing.total} talks")
    shown_to = offset + len(listing.talks)
    if listing.talks and listing.total > shown_to:  # a page of a long list: how to see the rest
        say(f"{len(listing.talks)} shown ({offset + 1}-{shown_to}); {listing.total - shown_to} more: "
            f"--offset {shown_to}")


@main.command()
@click.argument("talk_ids", nargs=-1, metavar="TALK_ID...")
@library_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="txt", show_default=True)
@click.option("--translation", is_flag=True,
              help="The English of a talk indexed with --translate (beside the original words in JSON).")
@click.option("--all", "every_talk", is_flag=True, help="Every talk in the library (into --output-dir).")
@click.option("--output-dir", type=HomePath(file_okay=False, path_type=Path), metavar="DIR",
              help="Write each talk to DIR/ID.FORMAT (ID.en.FORMAT with --translation; DIR made if missing) "
                   "instead of printing it: several TALK_IDs or --all need it.")
def export(talk_ids, library, fmt, translation, every_talk, output_dir) -> None:
    """Print a talk's transcript as text, JSON, WebVTT or SubRip, or write several talks' (or --all) into a folder,
    a file each, in one run. Exit 1 when a talk could not be exported (each said on a line; the others written)."""
    from talksearch.library import Library

    if every_talk and talk_ids:
        raise click.UsageError("name TALK_IDs or --all, not both")
    if not every_talk and not talk_ids:
        raise click.UsageError("Missing argument 'TALK_ID...'.")  # click's words, when the argument was required
    talk_ids = list(dict.fromkeys(talk_ids))
    if output_dir is None and (every_talk or len(talk_ids) > 1):  # transcripts run together: no one could part them
        raise click.UsageError("several talks are written a file each: name a folder with --output-dir "
                               "(one TALK_ID alone prints to stdout)")
    with Library.open(settings_from(library=library).library) as lib:
        if output_dir is None:
            text = _transcript(lib, talk_ids[0], fmt, translation)
            # captions an older release stored may hold control sequences: shown, not obeyed (no stdout: say says so)
            if sys.stdout is not None and sys.stdout.isatty():
                say("\n".join(printable(line) for line in text.split("\n")), nl=False)
            else:  # into a file or a pipe, byte for byte what the API serves (bytes: no ANSI sequence stripped either)
                say_utf8(text, nl=False)
            return
        if every_talk:
            talk_ids = [talk.id for talk in lib.talks()]
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # the folder, not the library: said as the output's failure
            raise OutputError(f"--output-dir {shown(str(output_dir))}: {exc.strerror or exc}") from None
        written, failed = 0, 0
        for talk_id in talk_ids:
            try:
                text = _transcript(lib, talk_id, fmt, translation)
            except LibraryError as exc:  # this talk alone: said, and the others still written
                click.echo(f"error: {shown(' '.join(str(exc).split()))}", err=True)
                failed += 1
                continue
            # the API's file name (transcript_file): the English beside the original never overwrites it
            _write_whole(output_dir / f"{talk_id}{'.en' if translation else ''}.{fmt}", text)
            written += 1
    # (its reader gone: the exit status still says whether every talk was written)
    say_and_go_on(f"{written} transcripts written to {shown(str(output_dir))}"
                  + (f"; {failed} could not be exported" if failed else ""))
    _exit_if_output_lost()
    sys.exit(1 if failed else 0)


def _transcript(lib, talk_id: str, fmt: str, translation: bool) -> str:
    """The talk's transcript as ``fmt``; LibraryError when the library has no such talk or it has no transcript
    (or no translation) to give."""
    talk = lib.talk(talk_id)
    if talk is None:
        raise LibraryError(_not_in_library(lib, talk_id, "talksearch restore {id} lets the next run of its source add "
                                                         "it back"))
    segments = lib.segments(talk_id)
    if missing := missing_transcript(talk, segments):
        raise LibraryError(missing)
    if translation and (missing := missing_translation(talk, segments)):
        raise LibraryError(missing)
    return render(talk, segments, fmt, translation)


def _write_whole(path: Path, text: str) -> None:
    """``text`` as UTF-8 (what the API serves) into ``path``, whole or not at all: written beside it under another
    name, then renamed over it, so that an export stopped midway (Ctrl-C, a full disk) leaves no half a transcript
    that passes for one, and a reader never sees one."""
    from talksearch.vector_index import keep_permissions

    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as handle:
            handle.write(text.encode("utf-8"))
            keep_permissions(path, handle.fileno())  # one exported before, and made readable to others, stays so
        os.replace(partial, path)
    except OSError as exc:
        raise OutputError(f"cannot write {shown(str(path))}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


@main.command()
@click.argument("talk_ids", nargs=-1, required=True, metavar="TALK_ID...")
@library_option
def remove(talk_ids, library) -> None:
    """Remove talks and erase them from the library, as DELETE /api/talks/{id} does.

    A later run of a removed talk's source skips it; `talksearch restore TALK_ID` lets it back. Exit 1 when a
    TALK_ID is not in the library (the others are removed)."""
    with _writing(library, "remove") as lib:
        refused = [why for talk_id in dict.fromkeys(talk_ids) if (why := _removed_one(lib, talk_id))]
    if refused:
        raise LibraryError("; ".join(refused))
    _exit_if_output_lost()


def _removed_one(lib, talk_id: str) -> str | None:
    """Remove the talk, said on a line; else why not."""
    talk = lib.talk(talk_id)
    if talk is None or not lib.delete_talk(talk_id):
        return _not_in_library(lib, talk_id)
    say_and_go_on(f"removed {talk_id} ({printable(talk.title)}): a later run of its source skips it")
    return None


def _not_in_library(lib, talk_id: str, restoring: str = "") -> str:
    """Why a talk is not in the library: removed (when, and ``restoring`` in brackets: how to get it back, ``{id}``
    the talk's), or never there."""
    if when := lib.removal_of(talk_id):
        return f"{talk_id!r} was removed from the library on {when[:10]}" + (
            f" ({restoring.format(id=talk_id)})" if restoring else " already")
    return f"no talk {talk_id!r} in the library (see: talksearch talks)"


@main.command()
@click.argument("talk_ids", nargs=-1, required=True, metavar="TALK_ID...")
@library_option
def restore(talk_ids, library) -> None:
    """Let the next run of a removed talk's source index it again (that talk alone: --reindex would transcribe
    every talk of its feed again). Exit 1 when a TALK_ID was not removed from the library."""
    with _writing(library, "restore") as lib:
        refused = []
        for talk_id in dict.fromkeys(talk_ids):
            if when := lib.forget_removal(talk_id):
                say_and_go_on(f"{talk_id}, removed on {when[:10]}: the next run of its source adds it back")
            elif lib.talk(talk_id) is not None:
                refused.append(f"{talk_id!r} is in the library: nothing to restore")
            else:
                refused.append(f"{talk_id!r}: no such talk was removed from the library")
    if refused:
        raise LibraryError("; ".join(refused))
    _exit_if_output_lost()


@contextlib.contextmanager
def _writing(library: Path | None, command: str):
    """The library opened with the writer lock, held in the name of ``command`` (an indexing run holding it is said
    in one line: try again)."""
    from talksearch.library import Library

    with Library.open(settings_from(library=library).library) as lib:
        if upgraded := lib.acquire_writer(f"talksearch {command}"):  # an earlier release's library
            say_and_go_on(upgraded)
        yield lib


@main.command()
@library_option
@click.option("--repair", is_flag=True, help="Rebuild what can be rebuilt from the catalog's records (the vector, "
              "keyword and trigram indexes; the catalog itself when only those indexes in it are damaged), compute "
              "missing word vectors, and remove what interrupted runs left and kept recordings no talk owns.")
def check(library, repair) -> None:
    """Verify the library: catalog, indexes, models, files. Exit 0 only when clean."""
    from talksearch.check import check_library

    report = check_library(settings_from(library=library).library, repair=repair)
    # a reader that stops early (| grep -q problem, | head -1) changes not what the exit status says of the library
    for line in report.facts:
        say_and_go_on(line)
    for line in report.repaired:
        say_and_go_on(f"repaired: {line}")
    for line in report.problems:
        say_and_go_on(f"problem:  {line}")
    say_and_go_on("clean" if report.clean else f"{len(report.problems)} problems"
                  + ("; try --repair" if report.repairable and not repair else ""))
    _exit_if_output_lost()
    sys.exit(0 if report.clean else 1)


# How long a stopping server (SIGTERM, Ctrl-C) waits for requests in flight before it cancels them. uvicorn's
# default is to wait for ever: one client holding a request open (a POST /mcp whose body never finishes, a slow
# media download) kept the server running after it had been told to stop. A search answers well within this.
SHUTDOWN_GRACE_SECONDS = 5


@main.command()
@library_option
@setting_options("host", "port", "forwarded_allow_ips", "root_path", "public_url", "log_level", "access_log",
                 "log_format")
def serve(library, host, port, forwarded_allow_ips, root_path, public_url, log_level, access_log,
          log_format) -> None:
    """Serve search over HTTP."""
    # Before the server's imports (seconds): a wrong setting is said at once
    settings = settings_from(library=library, host=host, port=port, forwarded_allow_ips=forwarded_allow_ips,
                            root_path=root_path, public_url=public_url, log_level=log_level,
                            access_log=access_log, log_format=log_format)
    _check_open_files(settings.search_readers)
    for warning in _admin_api_warnings(settings):
        _serve_says(settings, warning, "WARNING")

    import asyncio

    import uvicorn

    from talksearch.library import Library, missing_parts
    from talksearch.search import open_searcher
    from talksearch.service.app import create_app
    from talksearch.service.errors import http_protocol
    from talksearch.service.logs import log_config

    # Bound here, and handed to uvicorn: "serving ... at" is never followed by "in use", and names the port the
    # system chose for --port 0.
    listening = _bound_socket(settings.host, settings.port)
    made = missing_parts(settings.library)  # a new library: served all the same, talks may be indexed into it
    with Library.open(settings.library, create=True) as opened:  # a broken or unusable library: one line, not a
        opened.check_recorded_numbers()  # traceback from the server's start-up
    # The models load here rather than in the server's start-up, where one that cannot load (a name the hub does
    # not know, a bundled model's package not installed) was a failed start-up's traceback; the app is handed them.
    try:
        opened = open_searcher(settings, served=True)
    except Exception:  # no server: nor the new library made for it
        if made is not None:
            _remove_unused(settings.library, made)
        raise
    if made is not None:  # ... but a mistyped path should not pass for an empty library
        _serve_says(settings, f"talksearch: no library at {settings.library} yet: made an empty one (talksearch index "
                    "SOURCE --library with this path, or POST /api/index, fills it)", "WARNING")
    host, port = listening.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address is bracketed in a URL
    # Behind a path prefix the pages link under it: the address alone, opened as it is, leads to 404s.
    root = settings.root_path
    behind = f" (pages link under {root}: put a proxy that strips {root} in front)" if root else ""
    _serve_says(settings, f"talksearch: serving {settings.library} at http://{shown}:{port}/{behind}", "INFO")
    # One logging setup: uvicorn's lines and the app's alike on stderr, with their time and level; the levels are
    # its own (uvicorn's log_level would set the access log's too, and hide it).
    server = uvicorn.Server(uvicorn.Config(create_app(settings, opened), log_config=log_config(settings),
                                          access_log=settings.access_log, http=http_protocol(settings),
                                          forwarded_allow_ips=settings.forwarded_allow_ips,  # None: uvicorn's default
                                          # the scope's root_path: Starlette routes without it, links carry it
                                          root_path=settings.root_path or "",
                                          timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS))

    def unless_cut_off_at_shutdown(record: logging.LogRecord) -> bool:
        # uvicorn logs each request it cancels at the end of the grace period as "Exception in ASGI application"
        # with a traceback, just after saying in one line how many it cancels: the line is enough.
        return not (server.should_exit and record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))

    logging.getLogger("uvicorn.error").addFilter(unless_cut_off_at_shutdown)

    def reopen_library(_signal: int, _frame) -> None:
        # SIGHUP (logrotate, a configuration manager's reload) stopped the server at once, its default: it reopens
        # the library instead, as a library replaced under the server is (a restored backup). uvicorn leaves HUP be.
        opened[1].reopen()
        logging.getLogger("talksearch").warning("SIGHUP: reopening the library %s (each reader before its next "
                                                "read); still serving", settings.library)

    signal.signal(signal.SIGHUP, reopen_library)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops the server (uvicorn.run's own handling)
        server.run(sockets=[listening])


def _serve_says(settings: Settings, line: str, level: str) -> None:
    """A line of ``serve``'s own before its server logs (its start, a warning), on stderr as the log's lines are:
    with ``log_format`` json one JSON object like theirs (logger ``talksearch``), so that a log collector reading
    JSON lines reads every line the service writes; as text the plain line. Whatever the log level: it is the
    operator's one word on where the service is."""
    if settings.log_format == "json":
        from talksearch.service.logs import JsonLinesFormatter

        message = line.removeprefix("talksearch: ")  # the logger's name says it
        line = JsonLinesFormatter().format(logging.LogRecord("talksearch", logging.getLevelName(level), __file__, 0,
                                                             message, None, None))
    click.echo(line, err=True)


def _admin_api_warnings(settings: Settings) -> list[str]:
    """What would keep the admin API from doing its work, said at start rather than found by each request or job.
    Warned, not refused: search works all the same, and a whisper model not in the hub cache may be downloaded once
    the hub can be reached."""
    if settings.admin_token is None:
        return ["warning: TALKSEARCH_ADMIN_TOKEN is blank: the admin API is off"] if blank_admin_token() else []
    from talksearch.models import whisper_unavailable

    # the embedding model needs no such check: the searcher loads it below, and a failure there stops serve
    why = whisper_unavailable(settings.whisper_model)
    return [f"warning: indexing jobs will fail: {why}"] if why else []


def _remove_unused(library: Path, made: MissingParts) -> None:
    """Remove the parts of ``library`` that this process ``made``, unless an index run has taken the library
    meanwhile: it holds the writer lock, or stored talks in it. Never fails: the error that stopped the command is
    the one to say."""
    from talksearch.library import Library

    with contextlib.suppress(*USER_ERRORS):
        with Library.open(library) as unused:
            unused.acquire_writer()  # LibraryLocked: an index run writes it
            if unused.count_talks():
                return
        made.remove()


# Open files the service needs besides its readers': about 20 at rest (measured: ls /proc/PID/fd of a served
# library, one reader: 22; eight: 36), and room for clients' connections, one file each.
OPEN_FILES_BESIDES_READERS = 48


def _raise_open_files(resource) -> int:
    """The soft limit on open files raised to the hard one, as far as the system lets (each client's connection is a
    file: systemd and Docker start a service at 1,024, its hard limit far higher, and a thousand connections that sent
    nothing stopped the service answering anyone: a denial of service hunt); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20  # the kernel's own cap on one process (nr_open)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _check_open_files(search_readers: int) -> None:
    """Refuse, in one line, readers that would use up the open files this process may have: past the limit the
    server reset every connection and logged nothing. ``search_readers`` is the setting: 0 is one per CPU core."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to check
        return
    limit = _raise_open_files(resource)
    readers = search_readers or os.cpu_count() or 1
    needed = 2 * readers + OPEN_FILES_BESIDES_READERS  # each reader: its SQLite connection and vector index
    if limit == resource.RLIM_INFINITY or needed <= limit:
        return
    too_few = f"need about {needed} open files, more than this process may open ({limit}, ulimit -n)"
    if readers == 1:  # fewer readers is no way out
        raise click.UsageError(f"the service needs about {needed} open files, more than this process may open "
                               f"({limit}): raise ulimit -n")
    if not search_readers:  # the user set nothing: say where the number came from
        raise click.UsageError(f"one search reader per CPU core ({readers}) would {too_few}: set "
                               "TALKSEARCH_SEARCH_READERS lower, or raise ulimit -n")
    raise click.UsageError(f"TALKSEARCH_SEARCH_READERS: {readers} readers {too_few}: set fewer, or raise ulimit -n")


def _bound_socket(host: str, port: int):
    """A socket bound to ``host:port`` (``[::1]`` as well as ``::1``); OSError, one line, when it cannot be (a port
    in use, a host that is no address here)."""
    import socket

    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    bound = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        bound.bind((host, port))
        # Listening from here: the "serving ... at" line comes before uvicorn starts its loop, and a client that
        # connected on reading it was refused; now it waits in the queue (uvicorn's backlog) to be answered.
        bound.listen(2048)
    except OSError as exc:
        bound.close()
        raise OSError(f"cannot serve at {host}:{port}: {exc.strerror or exc}") from None
    return bound


@main.command()
@library_option
def mcp(library) -> None:
    """Answer an AI assistant's searches over stdio (Model Context Protocol)."""
    from talksearch.search import open_searcher
    from talksearch.service.assistant import build_server

    settings = settings_from(library=library)
    # stdout carries the protocol alone: anything printed while the models load goes to stderr instead.
    with contextlib.redirect_stdout(sys.stderr):
        _, searcher = open_searcher(settings, create=False, readers=1)
    try:
        build_server(lambda: searcher, settings.search_limit, settings.talks_limit).run("stdio")
    finally:
        searcher.close()


@main.command("eval", context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def eval_(args) -> None:
    """Measure retrieval quality on a talk set (bench/quality.py; needs a source checkout). Try: eval --help"""
    import runpy

    harness = Path(__file__).resolve().parent.parent / "bench" / "quality.py"
    if not harness.exists():
        # Not a usage mistake (its --help would not help: it is the harness's own): what this install lacks, exit 1
        raise click.ClickException("eval runs bench/quality.py from a source checkout of talksearch")
    sys.exit(runpy.run_path(str(harness))["main"](list(args)))


if __name__ == "__main__":
    main()
