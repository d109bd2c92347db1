"""CLI setting flags are made from Settings: the same names, types, choices and defaults; the environment's
variables are read once, checked at start, and named when misspelt."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from pydantic import ValidationError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from talksearch.cli import OPEN_FILES_BESIDES_READERS, main, settings_from
from talksearch.library import Library
from talksearch.settings import Settings
from talksearch.settings_flags import setting_options
from tests.helpers import ROOT, serve_config, talksearch

pytestmark = pytest.mark.unit

INDEX_FLAGS = ["--library", "--whisper-model", "--embed-model", "--device", "--compute-type", "--language",
               "--batch-size", "--beam-size", "--threads", "--keep-media", "--no-keep-media", "--ray-workers"]


def test_the_index_command_keeps_every_setting_flag_and_gains_beam_size():
    flags = {opt for param in main.commands["index"].params for opt in (*param.opts, *param.secondary_opts)}
    assert set(INDEX_FLAGS) <= flags
    serve = {opt for param in main.commands["serve"].params for opt in param.opts}
    assert {"--library", "--host", "--port"} <= serve


def _settings_of(args: list[str], monkeypatch, **env) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(f"TALKSEARCH_{name.upper()}", value)
    seen = {}

    @click.command()
    @setting_options("library", "device", "beam_size", "language", "keep_media")
    def command(**options):
        seen["settings"] = settings_from(**options)

    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    return seen["settings"]


def test_flags_win_over_the_environment_which_wins_over_defaults(monkeypatch):
    settings = _settings_of(["--beam-size", "5", "--device", "cpu", "--keep-media", "--library", "lib"], monkeypatch,
                            beam_size="3", language="de")
    assert (settings.beam_size, settings.device, settings.keep_media, settings.library) == (5, "cpu", True, Path("lib"))
    assert settings.language == "de"  # not given: the environment's
    assert _settings_of([], monkeypatch).batch_size == Settings.model_fields["batch_size"].default


def test_a_library_in_the_home_folder_is_found_there_however_it_is_named(monkeypatch, tmp_path):
    """TALKSEARCH_LIBRARY=~/talks (a crontab's or a systemd unit's line: no shell expands it) and --library=~/talks
    (no shell expands ~ after =) made a folder named "~" in the current one (a scripting hunt)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _settings_of([], monkeypatch, library="~/talks").library == tmp_path / "talks"
    assert _settings_of(["--library=~/talks"], monkeypatch).library == tmp_path / "talks"
    assert Settings(library="talks").library == Path("talks")  # a relative one stays relative


def test_a_choice_setting_refuses_other_values_and_help_is_the_description():
    help_text = CliRunner().invoke(main, ["index", "--help"]).output
    assert "[auto|cpu|cuda]" in help_text and "TALKSEARCH_BEAM_SIZE" in help_text
    assert CliRunner().invoke(main, ["index", "x", "--device", "tpu"]).exit_code == 2


def test_a_wrong_variable_that_a_flag_overrides_is_not_read_again(tmp_path):
    """--library overrides an empty TALKSEARCH_LIBRARY, but the model cache of a bundled model split across
    packages (mpnet) was looked up through Settings() again, which read the whole environment: a pydantic
    traceback (so did search, and serve with TALKSEARCH_PORT=abc and --port)."""
    with Library.open(tmp_path / "lib", create=True) as library:
        library.bind_embedding_model("all-mpnet-base-v2", 768)
    result = talksearch("check", "--library", str(tmp_path / "lib"), env={"TALKSEARCH_LIBRARY": ""})
    assert (result.returncode, result.stdout.splitlines()[-1], result.stderr) == (0, "clean", ""), result.stderr


def test_origins_that_can_never_match_are_refused_and_misspelt_variables_named(tmp_path):
    """A browser sends an origin as scheme://host[:port]: one written with a trailing slash or no scheme never
    matched, and the widget failed on the other site while the service started without a word. A misspelt
    variable was ignored in silence: it is named (not refused: it may be another release's setting)."""
    result = talksearch("serve", "--library", str(tmp_path / "lib"), "--port", "0",
                        env={"TALKSEARCH_CORS_ORIGINS": '["http://localhost:8825/"]', "TALKSEARCH_CORS_ORIGIN": "*",
                             "TALKSEARCH_ADMINTOKEN": "s3cret", "TALKSEARCH_RATE_LIMIT": "5"})
    *warnings, error = result.stderr.splitlines()
    assert result.returncode == 2 and warnings == [
        "warning: TALKSEARCH_ADMINTOKEN is not a talksearch setting, and is ignored (did you mean "
        "TALKSEARCH_ADMIN_TOKEN?)",
        "warning: TALKSEARCH_CORS_ORIGIN is not a talksearch setting, and is ignored (did you mean "
        "TALKSEARCH_CORS_ORIGINS?)",
        "warning: TALKSEARCH_RATE_LIMIT is not a talksearch setting, and is ignored (did you mean "
        "TALKSEARCH_RATE_LIMIT_PER_MINUTE?)"], result.stderr  # a name cut short: not difflib's RELATED_LIMIT
    assert error.startswith("error: TALKSEARCH_CORS_ORIGINS: 'http://localhost:8825/' is not an origin: "
                            "scheme://host[:port] in lower case, with no path (not even a trailing /), or \"*\" (see ")
    assert not (tmp_path / "lib").exists()
    for never_sent in ("a.org", "https://wiki.example.org/search", "HTTPS://Wiki.example.org", "null"):
        with pytest.raises(ValidationError, match="is not an origin"):
            Settings(cors_origins=["https://ok.example", never_sent])
    good = ["*", "https://wiki.example.org", "http://localhost:8825", "http://[::1]:8000"]
    assert Settings(cors_origins=good).cors_origins == good


@pytest.mark.parametrize(("origin", "refusal"), [
    ("http://example.org:80", "drop the default port (http://example.org)"),  # the browser sends no :80
    ("https://example.org:443", "drop the default port (https://example.org)"),
    ("https://bücher.example", "punycode form"),  # the browser sends https://xn--bcher-kva.example
    ("http://example.org:", "is not an origin: scheme://host[:port]"),
    ("http://example.org:99999", "is not an origin: scheme://host[:port]"),
    ("http://ex ample.org", "is not an origin: scheme://host[:port]"),
])
def test_origins_a_browser_never_sends_are_refused(origin, refusal):
    """Each was accepted and then never matched the Origin header the browser sent: the widget failed on the
    other site while the service started without a word."""
    with pytest.raises(ValidationError, match=re.escape(refusal)) as refused:
        Settings(cors_origins=["https://ok.example", origin])
    assert "\n" not in refused.value.errors()[0]["msg"]
    sent = ["https://xn--bcher-kva.example", "http://example.org:8080", "https://example.org:80"]
    assert Settings(cors_origins=sent).cors_origins == sent


@pytest.mark.parametrize(("proxies", "refusal"), [
    ("127.0.0.0/33", "'127.0.0.0/33' is not an address or network (e.g. 10.0.0.7"),
    ("10.0.0.7, notanip", "'notanip' is not an address or network"),
    ("10.0.0.1/8", "'10.0.0.1/8' is not an address or network: host bits set, write 10.0.0.0/8"),
    ("*, 10.0.0.7", '"*" (any client) stands alone'),
    ("10.0.0.7,,::1", "'' is not an address or network"),
])
def test_proxies_uvicorn_cannot_read_are_refused(proxies, refusal):
    """uvicorn takes an entry it cannot read for a name no client has: the proxy was not believed, and the
    absolute links said http:// on an https:// site while the service started without a word."""
    with pytest.raises(ValidationError, match=re.escape(refusal)):
        Settings(forwarded_allow_ips=proxies)
    named = Settings(forwarded_allow_ips=" 172.16.0.0/12, ::1,10.0.0.7").forwarded_allow_ips
    assert named == "172.16.0.0/12,::1,10.0.0.7"
    assert Settings(forwarded_allow_ips=" * ").forwarded_allow_ips == "*"


def test_numbers_past_what_the_system_takes_are_refused_in_one_line(tmp_path):
    """TALKSEARCH_SOCKET_TIMEOUT=1e10 was accepted, and every download failed with "Unsupported url scheme:
    \"http\"" (the socket refused the timeout: OverflowError, inside yt-dlp); a rate limit too large for a float
    failed every search. Refused at start, in one line, as other bounded settings are."""
    result = talksearch("index", "http://127.0.0.1:8940/a.mp3", "--library", str(tmp_path / "lib"),
                        env={"TALKSEARCH_SOCKET_TIMEOUT": "1e10"})
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: TALKSEARCH_SOCKET_TIMEOUT: Input should be less than or equal to 86400")
    assert not (tmp_path / "lib").exists()
    assert Settings(socket_timeout=86400).socket_timeout == 86400
    with pytest.raises(ValidationError, match="less than or equal to 1000000"):
        Settings(rate_limit_per_minute=10**400)


def _serve_under_open_files_limit(library: Path, limit: int, readers: str | None, *args: str,
                                  hard: int | None = None) -> subprocess.CompletedProcess:
    """``limit`` open files at most: the hard limit too, unless ``hard`` is given (the soft one is raised to it)."""
    hard = limit if hard is None else hard
    env = {key: value for key, value in os.environ.items() if key != "TALKSEARCH_SEARCH_READERS"}
    return subprocess.run(
        [sys.executable, "-m", "talksearch.cli", "serve", "--library", str(library), "--port", "0", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env=env if readers is None else {**env, "TALKSEARCH_SEARCH_READERS": readers},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard)))


def test_more_readers_than_open_files_allow_is_refused_in_one_line(tmp_path):
    """600 readers under ulimit -n 1024 left a server that reset every connection and logged nothing. The check
    counted 100 files besides the readers where a served library keeps about 20 open: one reader under ulimit -n
    101 (which serves) was refused with "set fewer", and readers one per core blamed a variable nobody set."""
    with pytest.raises(ValidationError, match="less than or equal to 256"):  # a typo, whatever the limit
        Settings(search_readers=600)
    few_files = _serve_under_open_files_limit(tmp_path / "lib", 200, "80")
    assert few_files.returncode == 2 and few_files.stderr.count("\n") == 1, few_files.stderr
    assert few_files.stderr.startswith("error: TALKSEARCH_SEARCH_READERS: 80 readers need about 208 open files, more "
                                       "than this process may open (200, ulimit -n): set fewer, or raise ulimit -n")
    one_reader = _serve_under_open_files_limit(tmp_path / "lib", 40, "1")
    assert one_reader.returncode == 2 and one_reader.stderr.startswith(
        "error: the service needs about 50 open files, more than this process may open (40): raise ulimit -n"
    ), one_reader.stderr
    served = _serve_under_open_files_limit(tmp_path / "lib", 101, "1", "--host", "192.0.2.1")  # no address here
    assert served.stderr.startswith("error: cannot serve at 192.0.2.1:0"), served.stderr  # past the check
    cores = os.cpu_count() or 1
    per_core = _serve_under_open_files_limit(tmp_path / "lib", 2 * cores + OPEN_FILES_BESIDES_READERS - 1, None)
    assert per_core.returncode == 2 and per_core.stderr.startswith(
        f"error: one search reader per CPU core ({cores}) would need about " if cores > 1 else "error: the service "
    ), per_core.stderr
    assert "TALKSEARCH_SEARCH_READERS lower" in per_core.stderr or cores == 1
    assert not (tmp_path / "lib").exists()


def test_serve_raises_its_open_files_limit_to_what_the_system_allows():
    """systemd and Docker start a service at a soft limit of 1,024 open files (the hard one far higher): a thousand
    connections that sent nothing stopped the service answering anyone (a denial of service hunt). serve raises the
    soft limit to the hard one: one reader under a soft 40 (which refused it) now passes the check."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        raised = _serve_under_open_files_limit(Path(folder) / "lib", 40, "1", "--host", "192.0.2.1", hard=4096)
    assert raised.stderr.startswith("error: cannot serve at 192.0.2.1:0"), raised.stderr  # past the check


@pytest.mark.parametrize(("flags", "env", "trusted", "untrusted"), [
    ([], {}, "127.0.0.1", "172.18.0.5"),  # uvicorn's default: a proxy on this machine only
    ([], {"FORWARDED_ALLOW_IPS": "172.18.0.5"}, "172.18.0.5", "127.0.0.1"),  # uvicorn's own variable, still read
    ([], {"TALKSEARCH_FORWARDED_ALLOW_IPS": "172.16.0.0/12"}, "172.18.0.5", "127.0.0.1"),
    (["--forwarded-allow-ips", "10.0.0.7"], {"TALKSEARCH_FORWARDED_ALLOW_IPS": "172.16.0.0/12"}, "10.0.0.7",
     "172.18.0.5"),
])
def test_serve_believes_forwarded_headers_from_the_proxies_the_setting_names(tmp_path, monkeypatch, flags, env,
                                                                             trusted, untrusted):
    """A proxy in another container (the Dockerfile's) was not believed: its X-Forwarded-Proto was dropped, and
    the absolute links (oEmbed, feeds, MCP) said http:// on an https:// site. The server is uvicorn's own as
    serve configures it, up to where it would start serving (the models are not loaded)."""
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    proxy = serve_config(tmp_path, monkeypatch, flags, env).loaded_app
    assert isinstance(proxy, ProxyHeadersMiddleware)
    assert trusted in proxy.trusted_hosts and untrusted not in proxy.trusted_hosts
