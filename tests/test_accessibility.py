"""Accessibility of the pages, the embeds and the widget, in real headless Chromium against the real service.

axe-core (as axe-playwright-python bundles it) checks every page state for the WCAG 2.0-2.2 A and AA rules it
knows, in light and dark, on a desktop window and a phone; the rest are what axe cannot see and an audit found:
a stuck video that covered a landscape phone, a Tab order that jumped about on a phone, timeline markers on top of
each other, faint field borders, the widget's small close button and its Escape.

The library is built here, from captions alone (no transcription): one two-minute video talk with a sentence a
second, runs of them about checkpoints, so that a search finds moments close together on its timeline, and the
talk page is long enough to scroll under its player.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.service_fixtures import index_quietly, serving, settings_for
from tests.test_widget import HostSite

pytest.importorskip("playwright.sync_api")
axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")

pytestmark = [pytest.mark.browser, pytest.mark.models,
              pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")]

TITLE = "Checkpoints on object storage"
QUERY = "checkpoint"
SECONDS = 120
# A sentence a second: three about checkpoints at the start of each half minute, the rest about other things. The
# search's moments (its best passages, two sentences each) fall in several runs, two seconds apart within a run:
# markers too close to tell apart at any width, and runs far enough apart to be shown apart.
CHECKPOINTS = ["Each checkpoint goes straight to the object storage bucket.",
               "The scheduler restarts the job from its last checkpoint.",
               "A checkpoint of every rank is written in parallel."]
ASIDES = ["The network was quiet during the night.", "Lunch was served in the main hall.",
          "Our team grew to twelve people this year.", "The weather in Lisbon was warm and sunny.",
          "Questions from the audience came at the end.", "The slides are on the conference website.",
          "Thanks to the organisers for the invitation."]
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 375, "height": 667}
TARGET_PX = 24  # WCAG 2.5.8's smallest target, and the space a smaller one needs around it

# WCAG's relative luminance of a computed colour, and the contrast ratio of two
COLOUR_RATIO = """
  const channels = (colour) => colour.match(/[\\d.]+/g).map(Number);
  const luminance = (colour) => channels(colour).slice(0, 3).map((c) => c / 255)
    .map((c) => c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4)
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
"""
# In the page: the contrast ratio of a field's border against the field's own background and against the page's,
# the lower of the two; a transparent background is the page's.
BORDER_CONTRAST = """(field) => {""" + COLOUR_RATIO + """
  const border = luminance(getComputedStyle(field).borderTopColor);
  const backgrounds = [getComputedStyle(field).backgroundColor, getComputedStyle(document.body).backgroundColor]
    .filter((colour) => channels(colour)[3] !== 0);
  return Math.min(...backgrounds.map((colour) => ratio(border, luminance(colour))));
}"""


# In the page: every search box's placeholder (in the page, and in the widget's shadow root) whose contrast against
# what it is drawn on (the box's background, else the nearest one behind it) is below WCAG 1.4.3's 4.5:1.
FAINT_PLACEHOLDERS = """() => {""" + COLOUR_RATIO + """
  const behind = (node) => {
    for (let at = node; at; at = at.parentElement || (at.getRootNode() && at.getRootNode().host)) {
      const colour = getComputedStyle(at).backgroundColor;
      if (channels(colour)[3] !== 0) return colour;
    }
    return "rgb(255, 255, 255)";
  };
  const roots = [document, ...[...document.querySelectorAll("talk-search")].map((w) => w.shadowRoot)];
  return roots.flatMap((root) => [...root.querySelectorAll("input[placeholder]")]).flatMap((field) => {
    const contrast = ratio(luminance(getComputedStyle(field, "::placeholder").color), luminance(behind(field)));
    return contrast < 4.5 ? [`${field.placeholder} ${contrast.toFixed(2)}:1`] : [];
  });
}"""


def _said_at(second: int) -> str:
    run = second % 30
    return CHECKPOINTS[run] if run < len(CHECKPOINTS) else ASIDES[second % len(ASIDES)]


@pytest.fixture(scope="module")
def site(light_embedding, tmp_path_factory):
    """The service over a library of the one captioned video talk, its id, and a host page with the widget."""
    folder = tmp_path_factory.mktemp("a11y-talk")
    video = folder / f"{TITLE.replace(' ', '_')}.webm"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c=0x334455:s=160x90:r=2:d={SECONDS}",
                    "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", str(SECONDS), "-c:v", "libvpx",
                    "-b:v", "20k", "-c:a", "libopus", str(video)], check=True)
    cues = [f"00:{s // 60:02d}:{s % 60:02d}.000 --> 00:{(s + 1) // 60:02d}:{(s + 1) % 60:02d}.000\n"
            f"{_said_at(s)}" for s in range(SECONDS)]
    video.with_suffix(".en.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")
    settings = settings_for(tmp_path_factory.mktemp("a11y-lib") / "library")
    index_quietly(settings, [str(folder)], added=1)
    host = HostSite()
    with serving(settings) as server:
        talk_id = server.get("/api/talks").json()["talks"][0]["id"]
        host_page = host.page("/talks", f'<script src="{server.base}/widget.js" defer></script>\n'
                                        f'<talk-search api="{server.base}"></talk-search>')
        yield server, talk_id, host_page
    host.close()


def _open_widget(page, query: str = QUERY) -> None:
    """Types into the widget and waits for its results to be shown."""
    page.wait_for_function("customElements.get('talk-search') !== undefined")
    page.locator("talk-search input").fill(query)
    page.wait_for_function("""() => { const list = document.querySelector('talk-search').shadowRoot.querySelector('ul');
                                      return !list.hidden && list.querySelector('li'); }""")


def _violations(page) -> list[str]:
    """axe's WCAG A/AA violations on the page as it is now: each rule with its impact and the nodes it names."""
    results = axe_playwright.Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG},
                                                      "resultTypes": ["violations"]})
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
            for v in results.response["violations"]]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_passes_axe_and_its_fields_borders_can_be_seen(browser, site, scheme):
    """The search page (results, grouped by talk, nothing found), the talk page, the embeds and the widget on a host
    page with its results open: no WCAG A/AA violation axe finds, on a desktop window and a phone. And what axe does
    not check: each field's border has 3:1 against the field and the page (WCAG 1.4.11), and each placeholder 4.5:1
    (in dark, the browser's own grey was 3.6:1)."""
    server, talk_id, host_page = site
    states = [  # (url, what to do there, the fields whose borders show where to type)
        (f"{server.base}/?q={QUERY}", None, ["#q", "select", "input[type=date]"]),
        (f"{server.base}/?q={QUERY}&group=talk", None, []),
        (f"{server.base}/?q=zzqxjvqq", None, []),
        (f"{server.base}/talks/{talk_id}?t=30", None, ["#find-q"]),
        (f"{server.base}/embed?q={QUERY}", None, ["input[type=search]"]),
        (f"{server.base}/embed/talks/{talk_id}?t=30", None, []),
        (host_page, _open_widget, ["talk-search .box"]),  # the widget's box is its field's border
    ]
    found, faint = {}, {}
    for viewport in (DESKTOP, PHONE):
        context = browser.new_context(viewport=viewport, color_scheme=scheme)
        page = context.new_page()
        for url, action, fields in states:
            page.goto(url)
            if action:
                action(page)
            where = f"{viewport['width']}x{viewport['height']} /{url.split('/', 3)[-1]}"
            if violations := _violations(page):
                found[where] = violations
            for field in fields:
                if (ratio := page.locator(field).first.evaluate(BORDER_CONTRAST)) < 3:
                    faint[f"{where} {field}"] = round(ratio, 2)
            # a placeholder is some boxes' one visible label (the talk page's find, the widget's)
            if placeholders := page.evaluate(FAINT_PLACEHOLDERS):
                found[f"{where} placeholders"] = placeholders
        context.close()
    report = [f"{where}: {v}" for where, violations in found.items() for v in violations]
    report += [f"{where}: border contrast {ratio}:1" for where, ratio in faint.items()]
    assert not report, "\n".join(report)


def test_grouped_results_timeline_markers_do_not_overlap_and_name_every_moment(browser, site):
    """Moments seconds apart would put their 24px markers on top of each other (WCAG 2.5.8): a marker too close to the
    one before is hidden and its time said by that one, on the page as loaded, as the window narrows, and in results
    typed as you go. The group says how many moments it holds; each marker names the talk and its times."""
    server, talk_id, _ = site
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    markers = ".timeline a"

    def check() -> None:
        shown = page.eval_on_selector_all(markers, """(links) => links.filter((a) => !a.hidden).map((a) => {
            const box = a.getBoundingClientRect();
            return [box.left + box.width / 2, a.getAttribute('aria-label')]; })""")
        centres = [centre for centre, _ in shown]
        assert all(b - a >= TARGET_PX for a, b in zip(centres, centres[1:])), centres
        every = page.eval_on_selector_all(markers, "(links) => links.map((a) => a.dataset.time)")
        assert len(every) > len(shown) > 1  # some folded, some shown
        said = [time for _, label in shown for time in label.removeprefix(f"{TITLE} at ").split(", ")]
        assert said == every and all(label.startswith(f"{TITLE} at ") for _, label in shown), shown

    page.goto(f"{server.base}/?q={QUERY}&group=talk")
    assert page.get_attribute(".timeline", "role") == "group"
    assert page.get_attribute(".timeline", "aria-label").endswith("matching moments in this talk")
    check()
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(100)  # the resize is measured on the next frame
    check()
    page.fill("#q", "checkpoints")  # results typed as you go are folded too
    page.wait_for_function("() => document.querySelector('#results .found').textContent.includes('“checkpoints”')")
    check()
    context.close()


def test_a_notice_under_a_stuck_player_hides_no_focused_sentence(browser, site):
    """A link past the talk's end puts a notice under the player; stuck at the top on a phone, the player and its
    notice covered the sentence the keyboard focused, which the page scrolled to just below the player alone (an
    a11y hunt, WCAG 2.4.11)."""
    server, talk_id, _ = site
    context = browser.new_context(viewport={"width": 375, "height": 667})
    page = context.new_page()
    page.goto(f"{server.base}/talks/{talk_id}?t=99999")
    assert "past the end" in page.locator(".player .notice").first.text_content()
    page.locator(".transcript .s").last.focus()
    for index in (30, 5, 0):  # back up the page, each scrolled into view as focus reaches it
        sentence = page.locator(".transcript .s").nth(index)
        sentence.focus()
        page.wait_for_timeout(100)
        player, seen = page.locator(".player").bounding_box(), sentence.bounding_box()
        assert seen["y"] >= player["y"] + player["height"] - 1, (index, player, seen)
    context.close()


def test_a_stuck_video_leaves_most_of_a_short_window_to_the_transcript(browser, site):
    """On a phone held upright the video sticks at the top as the transcript scrolls under it, about a third of the
    screen; on a phone on its side (667x375) or a 1280x800 window at 200% zoom (640x400) it would cover nearly all of
    it: there it scrolls away with the page, and a focused sentence is seen whole."""
    server, talk_id, _ = site
    for width, height in ((667, 375), (640, 400), (375, 667)):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.goto(f"{server.base}/talks/{talk_id}")
        sentence = page.locator(".transcript .s").nth(40)
        sentence.focus()
        player = page.locator(".player").bounding_box()
        seen = sentence.bounding_box()
        covered = max(0.0, player["y"] + player["height"]) / height  # how much of the window the player holds now
        below_the_player = seen["y"] >= player["y"] + player["height"]
        assert below_the_player and seen["y"] + seen["height"] <= height, (width, player, seen)
        if height < width:
            assert covered <= 0.5, (width, height, player)
        else:  # upright: still stuck at the top, with the sentence below it
            assert player["y"] == 0 and 0.2 < covered <= 0.4, (width, height, player)
        context.close()


def test_tab_order_on_a_phone_follows_the_talk_page_from_top_to_bottom(browser, site):
    """At 375px wide the page is one column: Tab goes down it, never back up to something seen above (the chapters,
    Related and About were shown below the transcript but reached before it)."""
    server, talk_id, _ = site
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{server.base}/talks/{talk_id}")
    stops = []
    for _ in range(18):  # the skip link, the header, the player, the tools, Find, Related, then into the transcript
        page.keyboard.press("Tab")
        stops.append(page.evaluate("""() => { const e = document.activeElement, box = e.getBoundingClientRect();
            return [e.outerHTML.slice(0, 60), box.top + scrollY, box.bottom + scrollY]; }"""))
    assert any('class="ts"' in html for html, _, _ in stops), stops  # into the transcript
    for (before, top, _), (after, _, bottom) in zip(stops, stops[1:]):
        assert bottom > top, f"Tab went up the page, from {before} to {after}"
    context.close()


def test_widget_close_button_is_a_full_target_and_escape_closes_the_widgets_own_first(browser, site):
    """The player's × is 24px square at least (WCAG 2.5.8). Esc closes the results, then the player, and is the
    widget's alone; with nothing of the widget's open it is not cancelled: the search field empties, as a plain one
    does (and the ARIA combobox pattern allows), and it reaches the host page, whose dialog around the widget closes
    on it (test_widget: cancelled, the dialog never closed)."""
    server, _, host_page = site
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(host_page)
    page.evaluate("""() => { window.hostEscapes = 0;
        document.addEventListener('keydown', (e) => { if (e.key === 'Escape') window.hostEscapes++; }); }""")
    _open_widget(page)
    box = page.locator("talk-search input")
    page.keyboard.press("Enter")  # plays the first result
    close = page.locator("talk-search button[aria-label='Close player']")
    close.wait_for()
    size = close.bounding_box()
    assert size["width"] >= TARGET_PX and size["height"] >= TARGET_PX, size
    page.keyboard.press("ArrowDown")  # the results again, over the player
    page.keyboard.press("Escape")  # closes the results
    page.keyboard.press("Escape")  # closes the player
    assert close.is_hidden() and page.evaluate("window.hostEscapes") == 0
    assert box.input_value() == QUERY  # what was typed stays while Esc closes the widget's own
    page.keyboard.press("Escape")  # nothing of the widget's open
    assert box.input_value() == ""
    assert page.evaluate("window.hostEscapes") == 1
    context.close()


# --- keyboard and screen reader: what the search page, the embed's search and the widget say -------------------------

STATUS_TEXT = "() => document.getElementById('results-status').textContent"


def test_the_status_line_says_when_the_results_are_only_the_closest(browser, site):
    """A search no talk answers word for word lists the nearest moments under a note saying so: the status line (the
    one live region) says the note before the count, or a screen reader hears that the words were found. So is the
    note that a typing slip was searched as the transcripts' word: it was shown, never said."""
    server, _, _ = site
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{server.base}/")
    for query, note in (("zzqxjvw", "No talk searched says “zzqxjvw”: these are the closest in meaning or sound."),
                        (f'{QUERY} "purple elephant"',
                         "No moment holds “purple elephant” word for word; these are the closest."),
                        ("chekpoint", "Searched for “checkpoint”, as the talks spell it.")):
        shown = query if '"' in query else f"“{query}”"  # a query with its own quotes as typed, not quoted again
        page.fill("#q", query)
        page.keyboard.press("Enter")
        page.wait_for_function(f"(q) => ({STATUS_TEXT})().includes(q)", arg=f"for {shown}")
        said = page.evaluate(STATUS_TEXT)
        assert said.startswith(f"{note} Moments 1–") and said.endswith(f"for {shown}"), said
    page.close()


def test_typing_is_announced_once_it_settles_while_the_results_follow_each_pause(browser, site):
    """Typing at three keys a second, the results follow each pause as before, but the status line is said once, when
    the typing has settled: an announcement per pause ("…“ch”", "…“che”") talked over the echo of the keys typed."""
    server, _, _ = site
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{server.base}/")
    page.evaluate("""() => { window.said = []; window.shown = [];
        const status = document.getElementById('results-status'), results = document.getElementById('results');
        new MutationObserver(() => said.push(status.textContent))
          .observe(status, {childList: true, characterData: true, subtree: true});
        new MutationObserver(() => shown.push(results.querySelector('.found')?.textContent))
          .observe(results, {childList: true}); }""")
    page.locator("#q").press_sequentially("checkpoints", delay=330)
    page.wait_for_function("() => said.length")
    page.wait_for_timeout(2000)  # and nothing after it
    said, shown = page.evaluate("[said, shown]")
    assert len(said) == 1 and re.fullmatch(r"Moments 1–\d+ for “checkpoints”", said[0]), said
    assert len(set(shown)) > 2, shown  # the results followed the typing
    page.close()


def test_the_search_boxes_show_focus_in_forced_colours(browser, site):
    """Forced colours (Windows High Contrast) drop box-shadows and force border colours: the search page's box and the
    widget's, outline-less, showed no focus there (WCAG 2.4.7). Focused, each has an outline in the system's colour."""
    server, _, host_page = site
    context = browser.new_context(viewport=DESKTOP, forced_colors="active")
    page = context.new_page()
    outline = "(e) => { const s = getComputedStyle(e); return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    page.goto(f"{server.base}/?q={QUERY}")
    page.focus("a.brand")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "q"
    style, width = page.locator("#q").evaluate(outline)
    assert style != "none" and width >= 2, (style, width)
    page.goto(host_page)
    page.wait_for_function("customElements.get('talk-search') !== undefined")
    page.keyboard.press("/")
    style, width = page.locator("talk-search .box").first.evaluate(outline)
    assert style != "none" and width >= 2, (style, width)
    context.close()


def test_embed_times_name_their_talk_and_paging_lands_on_the_first_new_result(browser, site):
    """The embed's search links each moment by its time alone ("0:34"): its name says what it plays, as the search
    page's ▶ does. "More results" loads a page whose focus was at its top, six Tabs from the first new result, with
    nothing said: reached by paging (either way), focus is on its first result, and the page says which it is."""
    server, _, _ = site
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{server.base}/embed?q={QUERY}")
    times = page.locator("li a.time")
    assert times.count() > 1
    for time in times.all():
        assert time.evaluate("(a) => a.getAttribute('aria-label')") == f"Play {TITLE} from {time.inner_text()}"
    page.goto(f"{server.base}/?q={QUERY}")
    assert page.evaluate("document.activeElement.localName") == "body"  # a first page loaded: focus as the browser has it
    for link, shown, title in (("a.more", "11–20", f"{QUERY} – moments 11–20 – talksearch"),
                               ("a.previous", "1–10", f"{QUERY} – talksearch")):
        page.focus(link)
        page.keyboard.press("Enter")
        page.wait_for_load_state()
        page.wait_for_function(f"() => ({STATUS_TEXT})()")
        focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
        assert focused == page.locator(".result .play").first.get_attribute("aria-label"), focused
        assert page.evaluate(STATUS_TEXT) == f"Moments {shown} for “{QUERY}”"
        assert page.title() == title
    page.reload()  # not paging: the browser's focus
    page.wait_for_timeout(500)
    assert page.evaluate("document.activeElement.localName") == "body"
    page.close()


def test_the_first_tab_stop_skips_the_header_to_the_content(browser, site):
    """A keyboard user's first Tab shows a link past the header (the brand, the search box and its filters) to what
    the page shows; following it puts the focus there (WCAG 2.4.1). There was none; then the search page's landed on
    <main>, which starts with the search form: it skipped the brand alone."""
    server, talk_id, _ = site
    for path, target in (("/?q=checkpoint", "results"), (f"/talks/{talk_id}", "main")):
        page = browser.new_page(viewport=DESKTOP)
        page.goto(f"{server.base}{path}")
        page.keyboard.press("Tab")
        skip = page.evaluate("(() => { const a = document.activeElement; const r = a.getBoundingClientRect();"
                             " return [a.textContent, a.getAttribute('href'), r.top >= 0 && r.bottom <= innerHeight]; })()")
        assert skip == ["Skip to the content", f"#{target}", True], (path, skip)
        page.keyboard.press("Enter")
        page.wait_for_function(f"document.activeElement.id === '{target}'")
        page.keyboard.press("Tab")  # on from the content, not from the header or the search form again
        assert page.evaluate("document.activeElement.closest('header, form.search') === null"), path
        page.close()


# --- the talk page's Find, its controls without scripts, its print; the inline player's failure ----------------------


def test_find_marks_and_counts_only_the_moments_that_say_the_words(browser, site):
    """A search within one talk ranks every moment of it by meaning: Find marked each one found ("Lunch was served in
    the main hall." for "checkpoint") and counted them all. Only the moments that say the words (their snippet marks
    them) are listed, counted and marked found, and in them only the sentences that say them; where the talk never
    says them, its closest moments are listed as only that, none marked found."""
    server, talk_id, _ = site
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{server.base}/talks/{talk_id}")
    status = "() => document.getElementById('find-status').textContent"

    def find(query: str) -> str:  # what the status line says once Find has answered (it empties it as it asks)
        page.fill("#find-q", query)
        page.press("#find-q", "Enter")
        page.wait_for_function(status)
        return page.evaluate(status)

    said = find(QUERY)
    found = page.locator(".s.hit").all_inner_texts()
    assert found and all(QUERY in text.lower() for text in found), found
    assert page.locator("[aria-describedby=find-found]").count() == len(found)
    listed = page.locator("#find-hits li")
    assert listed.count() and all(li.locator("mark").count() for li in listed.all()), listed.all_inner_texts()
    assert re.fullmatch(rf"(The )?{listed.count()} (best )?moments (found )?in this talk(; more below)?\.", said), said
    said = find("zebra giraffe")
    assert said.startswith("This talk never says “zebra giraffe”; the "), said
    assert page.locator("#find-hits li").count() and page.locator(".s.hit").count() == 0
    assert page.locator("[aria-describedby]").count() == 0
    page.close()


def test_more_appends_the_next_moments_that_say_the_words_until_none_is_left(browser, site):
    """Find pages on through the moments that say the words, marking them in the transcript, past the ranking's
    moments that only mean alike in among them (the first fix stopped at a page of those)."""
    server, talk_id, _ = site
    answer = server.get("/api/search", params={"q": QUERY, "talk": talk_id, "limit": 100}).json()["results"]
    saying = [r for r in answer if "<mark>" in r["snippet"]]
    # pages of them, and the ranking's moments that only mean alike in among them: here 8 first, then 1 in the
    # second page of 10, 4 in the third, none in the fourth and fifth, 1 in the sixth
    assert len(saying) > 10 and answer[:len(saying)] != saying
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{server.base}/talks/{talk_id}")
    page.fill("#find-q", QUERY)
    page.press("#find-q", "Enter")
    page.wait_for_selector("#find-hits li")
    while page.is_visible("#find-more"):
        shown = page.locator("#find-hits li").count()
        page.click("#find-more")
        page.wait_for_function(f"() => document.querySelectorAll('#find-hits li').length > {shown} || "
                               "document.getElementById('find-more').hidden")
    assert page.locator("#find-hits li").count() == len(saying)
    assert page.text_content("#find-status") == f"{len(saying)} moments found in this talk."
    marked = page.locator(".s.hit").all_inner_texts()
    assert marked and all(QUERY in text.lower() for text in marked), marked
    page.close()


def test_the_inline_player_says_when_the_browser_cannot_play_the_recording(browser, site, tmp_path):
    """The search page's inline player sat silent at 0:00 on a recording the browser cannot play (an MPEG-TS, which
    Chromium refuses with error 4): it says so as the talk page's does, with a link to the recording."""
    server, _, _ = site
    transport_stream = tmp_path / "talk.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=0x334455:s=160x90:r=2:d=4", "-f", "lavfi",
                    "-i", "anullsrc=r=16000:cl=mono", "-t", "4", "-c:v", "mpeg2video", "-c:a", "mp2", "-f", "mpegts",
                    str(transport_stream)], check=True)
    page = browser.new_page(viewport=DESKTOP)
    page.route("**/media/**", lambda route: route.fulfill(path=str(transport_stream), content_type="video/mp2t"))
    page.goto(f"{server.base}/?q={QUERY}")
    src = page.locator(".result").first.get_attribute("data-src")
    page.locator(".result .play").first.click()
    notice = page.locator(".result .player-slot [role=status]").first
    notice.wait_for(timeout=30_000)
    assert notice.inner_text() == "This browser could not play this recording. Open the recording."
    assert notice.locator("a").get_attribute("href") == src
    page.close()


def test_without_scripts_the_talk_page_offers_no_control_that_needs_them(browser, site):
    """Without scripts "Related moments in other talks" and "Follow along" did nothing, and each sentence was a
    button (a Tab stop) that did nothing: they are the script's to show and make buttons, as Copy link is."""
    server, talk_id, _ = site
    for scripts in (False, True):
        context = browser.new_context(viewport=DESKTOP, java_script_enabled=scripts)
        page = context.new_page()
        page.goto(f"{server.base}/talks/{talk_id}")
        controls = [page.locator(selector).is_visible() for selector in ("#related-btn", "#follow", "#copy-moment")]
        sentences = page.eval_on_selector_all(".transcript .s", "(all) => [...new Set(all.map((s) => "
                                              "`${s.getAttribute('role')} ${s.getAttribute('tabindex')}`))]")
        assert controls == [scripts] * 3, (scripts, controls)
        assert sentences == (["button 0"] if scripts else ["null null"]), (scripts, sentences)
        context.close()


def test_a_found_sentence_prints_light_in_dark_mode(browser, site):
    """Printing resets the colours to light whatever the system's: the found, spoken and marked ones too, which stayed
    dark brown and navy on the white paper."""
    server, talk_id, _ = site
    context = browser.new_context(viewport=DESKTOP, color_scheme="dark")
    page = context.new_page()
    page.goto(f"{server.base}/talks/{talk_id}")
    page.emulate_media(media="print")
    colours = "['--hit', '--now', '--mark'].map((name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim())"
    printed_dark = page.evaluate(colours)
    page.emulate_media(media="print", color_scheme="light")
    assert printed_dark == page.evaluate(colours), printed_dark
    context.close()


def test_a_timeline_of_one_moment_says_one_moment():
    """A talk that barely matches has its best moment alone on its timeline: "1 matching moment", not "moments"."""
    from talksearch.service.rendering import render

    talk = {"id": "t1", "title": TITLE, "duration": 60.0, "language": "en"}
    moment = {"talk": talk, "start": 5.0, "end": 7.0, "page": "/talks/t1?t=5", "snippet": "a", "chapter": None,
              "also_in": [], "translation_snippet": None}
    for timeline, said in (([moment], "1 matching moment in"), ([moment, {**moment, "start": 30.0}], "2 matching moments in")):
        html = render("results.html", response={"results": [{**moment, "timeline": timeline}], "group": "talk",
                                                "offset": 0, "query": "a"},
                      players={"t1": {"kind": "video", "src": "/media/t1.webm"}}, previous_query=None)
        assert f'aria-label="{said} this talk"' in html, re.findall(r'aria-label="\d+ matching[^"]*"', html)
