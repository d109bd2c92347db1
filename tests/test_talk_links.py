"""Links to a moment of a talk: the talk page's address follows the player (so the address bar is a link to where the
listener is), a link starts its player at the moment without a script, one past the talk's end says so, and every
reader of ``t=`` (the page, its script, oEmbed) reads the same forms. Over the shared test library's real server,
and in Chromium."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import quote

import pytest

from talksearch.timecode import link_seconds
from tests.service_fixtures import wait_until


@pytest.mark.unit
@pytest.mark.parametrize("written, seconds", [
    ("90", 90), (" 1:30 ", 90), ("1h2m3s", 3723), ("1M30S", 90),
    ("npt:90", 90), ("90,100", 90), ("npt:1:30,2:00", 90),  # a media fragment's forms, as #t= may be pasted
    ("1e2", 0), ("1_0", 0), ("-5", 0), ("inf", 0), ("", 0), ("99999999", 0),  # Python's float reads the first two
    # Digits of other scripts and characters JavaScript's trim() keeps: the page's script reads them as 0, so did
    # the server (it read "９０" and "1:٣٠" as 90, a fuzzing hunt: ?t= and #t= gave two moments)
    ("\uff19\uff10", 0), ("\u0669\u0660", 0), ("1:\u0663\u0660", 0), ("\x1c90", 0), ("90\x85", 0),
    ("\u00a090\u3000", 90), ("\ufeff1:30\u2028", 90),
    # trimmed once, before "npt:" and ",end" go, and ",end" only to a line's end, as the script does (a reviewer's
    # hunt: 68 differences in 60,000 made-up values)
    ("npt: 0:30", 0), ("0:30 ,0:40", 0), ("1m30s ,2m", 0), ("30s\r,40s", 0), ("30,4\r0", 0), ("30,4\u20280", 0),
])
def test_a_moment_is_read_in_the_forms_the_talk_pages_script_reads(written, seconds):
    assert link_seconds(written) == seconds


def _player_src(html: str) -> str:
    return unescape(re.search(r'<(?:video|audio) id="media"[^>]* src="([^"]*)"', html)[1])


@pytest.mark.models
def test_a_moment_link_starts_the_player_there_without_a_script(api, ids):
    html = api.get(f"/talks/{ids['t01']}", params={"t": "0:05.5"}).text
    assert _player_src(html).endswith("#t=5.5")  # a media fragment: the browser seeks there itself
    assert not _player_src(api.get(f"/talks/{ids['t01']}").text).endswith("#t=0")


@pytest.mark.models
def test_a_moment_past_the_end_plays_the_talk_from_its_start_and_says_so(api, ids):
    html = api.get(f"/talks/{ids['t01']}", params={"t": "1h"}).text
    assert "The link asks for 1:00:00, past the end of this talk (0:20): it plays from the start." in html
    assert 'data-start="0.0"' in html and "#t=" not in _player_src(html)
    oembed = unescape(re.search(r'<link rel="alternate" type="application/json\+oembed" href="([^"]+)"', html)[1])
    assert "t%3D" not in oembed  # the discovery link is the talk's, as the page's head is
    # no notice (the page's script holds its words, for a #t= past the end, which the server never sees)
    assert '<p class="notice">The link asks' not in api.get(f"/talks/{ids['t01']}", params={"t": "20"}).text


@pytest.mark.models
def test_an_embedded_moment_past_the_end_plays_the_talk_from_its_start_and_says_so(api, ids):
    """As the talk page does (above), by the same rule and in its words: the embed's media fragment asked the player
    for a moment the talk does not have, and said nothing; oEmbed handed out that iframe."""
    html = api.get(f"/embed/talks/{ids['t01']}", params={"t": "1h"}).text
    assert "The link asks for 1:00:00, past the end of this talk (0:20): it plays from the start." in html
    player = unescape(re.search(r'<(?:video|audio)[^>]* src="([^"]*)"', html)[1])
    assert player and "#t=" not in player
    assert "?t=3600" not in html  # nor does its link to the talk page ask for that moment again
    assert '<p class="notice">The link asks' not in api.get(f"/embed/talks/{ids['t01']}", params={"t": "20"}).text
    oembed = api.get("/oembed", params={"url": f"{api.base}/talks/{ids['t01']}?t=1h"}).json()["html"]
    assert f'/embed/talks/{quote(ids["t01"])}"' in oembed  # the talk's iframe, as the page's discovery link is


@pytest.mark.models
def test_oembed_reads_a_links_moment_as_the_page_does(api, ids):
    page = f"{api.base}/talks/{ids['t01']}"

    def embedded(url: str) -> str:
        return re.search(r'src="([^"]+)"', api.get("/oembed", params={"url": url}).json()["html"])[1]

    assert embedded(page + "#t=0:12").endswith(f"/embed/talks/{quote(ids['t01'])}?t=12")  # the fragment's moment
    assert embedded(page + "?t=5&t=12").endswith("?t=12")  # the last, as the page reads a repeated t
    assert embedded(page + "?t=npt:12").endswith("?t=12")


@pytest.mark.models
def test_talks_without_an_id_is_the_list_of_talks(api):
    response = api.get("/talks", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/"


def _media(page, expression: str):
    return page.evaluate(f"(() => {{ const media = document.getElementById('media'); return {expression}; }})()")


@pytest.mark.models
@pytest.mark.browser
def test_the_address_follows_the_player_where_the_listener_stops_or_moves_it(browser, api, ids):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{api.base}/talks/{ids['local']}?t=2")
    wait_until(lambda: _media(page, "media.currentTime") >= 1.99, "the player to start at the link's moment", 30)
    address = lambda: page.evaluate("location.search")  # noqa: E731 (page.url misses history.replaceState)
    assert address() == "?t=2"  # the seeks a page makes as it opens keep the link as it was
    _media(page, "media.play()")
    wait_until(lambda: _media(page, "media.currentTime") > 3.5, "the talk to play on", 30)
    stopped = _media(page, "(media.pause(), media.currentTime)")
    wait_until(lambda: address().startswith("?t=") and abs(float(address()[3:]) - stopped) < 0.01,
               f"the address to say {stopped:.2f} s", 10)
    _media(page, "media.currentTime = 12.25")  # the player's own controls move it
    wait_until(lambda: address() == "?t=12.25", "the address to follow a seek with the player", 10)
    page.reload()
    wait_until(lambda: _media(page, "media.currentTime") >= 12.24, "a reload to open where the listener was", 30)
    assert not errors, errors
    page.close()


@pytest.mark.models
@pytest.mark.browser
def test_without_scripts_a_moment_link_still_starts_at_the_moment(browser, api, ids):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{api.base}/talks/{ids['local']}?t=7")
    wait_until(lambda: _media(page, "media.readyState") >= 1, "the player to read the recording", 30)
    assert _media(page, "media.currentTime") == pytest.approx(7, abs=0.05)
    assert page.locator("#copy-moment").is_hidden()  # it needs the script that knows the player's time
    context.close()


def _at_a_moment_of_its_own(context, api, talk_id: str):
    """The local talk's page opened at 0:02 and its player moved to 0:07.25 without playing it: the address still
    says 0:02 (it follows the listener only once something has played), the player 7.25."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{api.base}/talks/{talk_id}?t=2")
    wait_until(lambda: _media(page, "media.currentTime") >= 1.99, "the player to start at the link's moment", 30)
    _media(page, "media.currentTime = 7.25")
    wait_until(lambda: _media(page, "!media.seeking && media.currentTime") == 7.25, "the player to move", 10)
    assert page.evaluate("location.search") == "?t=2"
    return page, errors


@pytest.mark.models
@pytest.mark.browser
def test_copy_link_to_this_moment_puts_the_players_moment_on_the_clipboard(browser, api, ids):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page, errors = _at_a_moment_of_its_own(context, api, ids["local"])
    page.get_by_role("button", name="Copy link to this moment").click()
    page.get_by_role("status").filter(has_text="Link copied.").wait_for()
    moment = f"{api.base}/talks/{ids['local']}?t=7.25"
    assert page.evaluate("navigator.clipboard.readText()") == moment
    assert page.evaluate("location.href") == moment  # the address bar says what was copied
    assert page.locator("#copy-moment-link").is_hidden()
    assert not errors, errors
    context.close()


@pytest.mark.models
@pytest.mark.browser
@pytest.mark.parametrize("clipboard", [
    "Object.defineProperty(Navigator.prototype, 'clipboard', { get: () => undefined });",  # a plain-http site's
    "navigator.clipboard.writeText = () => Promise.reject(new DOMException('refused', 'NotAllowedError'));",
], ids=["unavailable", "refused"])
def test_where_the_clipboard_cannot_be_written_the_link_is_selected_to_copy_by_hand(browser, api, ids, clipboard):
    context = browser.new_context()
    context.add_init_script(clipboard)
    page, errors = _at_a_moment_of_its_own(context, api, ids["local"])
    page.get_by_role("button", name="Copy link to this moment").click()
    field = page.get_by_role("textbox", name="Link to this moment")
    field.wait_for()
    assert field.input_value() == f"{api.base}/talks/{ids['local']}?t=7.25"
    selected = field.evaluate("f => [document.activeElement === f, f.selectionStart, f.selectionEnd, f.value.length]")
    assert selected == [True, 0, len(field.input_value()), len(field.input_value())]
    assert "The link is selected" in page.get_by_role("status").filter(has_text="link").text_content()
    assert not errors, errors
    context.close()
