"""The pages and the widget over a slow or failing network, in headless Chromium over a real server: answers that
arrive late or out of order (held by the page's route until the test lets them through), error bodies that are not
the API's JSON (a proxy's page) and no network at all. An answer for a search the reader has moved on from must not
show, and a failure is said, never an old list left looking like the answer."""

from __future__ import annotations

import time

import pytest

from tests.service_fixtures import talk_ids, wait_until

pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.browser, pytest.mark.models]


class Held:
    """The page's requests matching ``pattern``, held until the test lets them through, in the order it chooses."""

    def __init__(self, page, pattern: str):
        self.page, self.pattern, self.routes = page, pattern, []
        page.route(pattern, lambda route: self.routes.append(route))

    def wait(self, count: int = 1) -> None:
        _until(self.page, lambda: len(self.routes) >= count, f"{count} held requests")

    def answer(self, index: int, **fulfilled) -> None:
        """The held request ``index`` answered by the server, or with ``fulfilled`` (status, body...)."""
        route = self.routes[index]
        route.fulfill(**fulfilled) if fulfilled else route.continue_()

    def stop(self) -> None:
        """Later requests go through."""
        self.page.unroute(self.pattern)


def _until(page, predicate, what: str, seconds: float = 10) -> None:
    """Poll ``predicate`` while the page runs (the page's routes and events are handled only inside its calls)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        page.wait_for_timeout(25)


def _page(browser, fake_clock: bool = False):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    if fake_clock:  # the page's timers (the typing's pause) run only when the test says
        page.clock.install()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and "Failed to load resource" not in m.text  # the failures made
            and errors.append(m.text))
    return page, errors


def _first_talk(api, q: str) -> str:
    return api.get("/api/search", params={"q": q}).json()["results"][0]["talk"]["id"]


# --- the search page -----------------------------------------------------------------------------------


def test_typing_after_back_is_not_overwritten_by_backs_late_answer(browser, api):
    """Back's results on their way while the reader types a new search: their answer (which sets the form as the
    server read that URL) comes before the typing pauses, and must leave the box as typed."""
    page, errors = _page(browser, fake_clock=True)
    page.goto(f"{api.base}/?q=storage")
    page.fill("#q", "partition keys")
    page.press("#q", "Enter")
    wait_until(lambda: "for “partition keys”" in (page.text_content("#results .status") or ""), "the search", 60)
    held = Held(page, "**/results?*")
    page.go_back()
    held.wait()  # Back's search, on its way
    page.click("#q")
    page.keyboard.press("Control+A")
    page.keyboard.type("checkpoint")
    held.answer(0)  # Back's answer arrives before the typing's pause
    held.stop()
    page.wait_for_timeout(300)
    assert page.input_value("#q") == "checkpoint"
    page.clock.run_for(300)  # the typing's pause: its search
    wait_until(lambda: "for “checkpoint”" in (page.text_content("#results .status") or ""), "the typed search", 60)
    assert page.url == f"{api.base}/?q=checkpoint" and page.title() == "checkpoint – talksearch"
    assert not errors, errors
    page.context.close()


# --- the talk page ---------------------------------------------------------------------------------------


def test_related_moments_show_the_last_asked_not_the_last_answered(browser, api):
    """Related asked twice: the first request's answer, arriving last, is not shown over the second's."""
    page, errors = _page(browser)
    page.goto(f"{api.base}/talks/{talk_ids()['t01']}")
    held = Held(page, "**/api/related?*")
    page.click("#related-btn")
    held.wait(1)
    page.click("#related-btn")
    held.wait(2)
    held.answer(1)
    _until(page, lambda: page.text_content("#related-status"), "the second answer")
    shown = page.locator("#related li").all_inner_texts()
    said = page.text_content("#related-status")
    assert shown and "in other talks" in said
    held.answer(0, status=200, content_type="application/json", body='{"results": []}')  # the older, now stale
    page.wait_for_timeout(300)
    assert page.locator("#related li").all_inner_texts() == shown
    assert page.text_content("#related-status") == said
    assert not errors, errors
    page.context.close()


FAILURES = {  # how a request fails: what the route does, and the HTTP status said (None: no answer at all)
    "500 text": ({"status": 500, "content_type": "text/plain", "body": "Internal Server Error"}, 500),
    "502 html": ({"status": 502, "content_type": "text/html", "body": "<html><h1>502 Bad Gateway</h1></html>"}, 502),
    "offline": (None, None),
}


def _failing(fulfilled: dict | None):
    """A route's handler answering with ``fulfilled``, or as if offline where it is None."""
    return lambda route: route.fulfill(**fulfilled) if fulfilled else route.abort("internetdisconnected")


def test_related_and_find_say_why_when_the_request_fails(browser, api):
    """A failed request (the server's text, a proxy's page, no network) is said in each status line, as the search
    page says it, and the list of an earlier answer goes: it is no answer to this one."""
    page, errors = _page(browser)
    page.goto(f"{api.base}/talks/{talk_ids()['t01']}")
    page.click("#related-btn")
    page.fill("#find-q", "storage")
    page.press("#find-q", "Enter")
    _until(page, lambda: page.locator("#related li").count() and page.locator("#find-hits li").count(), "answers")
    for name, (fulfilled, status) in FAILURES.items():
        page.route("**/api/{related,search}?*", _failing(fulfilled))
        page.eval_on_selector_all("#related-status, #find-status", "lines => lines.forEach((l) => l.textContent = '')")
        page.click("#related-btn")
        page.fill("#find-q", "partition keys")
        page.press("#find-q", "Enter")
        _until(page, lambda: page.text_content("#related-status") and page.text_content("#find-status"), name, 5)
        if status:
            assert page.text_content("#related-status") == f"Related moments failed ({status}); try again.", name
            assert page.text_content("#find-status") == f"Search failed ({status}); try again.", name
        else:
            assert page.text_content("#related-status") == "Related moments are not reachable right now.", name
            assert page.text_content("#find-status") == "Search is not reachable right now.", name
        assert page.locator("#related li").count() == page.locator("#find-hits li").count() == 0, name
        page.unroute("**/api/{related,search}?*")
    assert not errors, errors
    page.context.close()


# --- the widget ------------------------------------------------------------------------------------------


def _widget(browser, api):
    page, errors = _page(browser)
    page.add_init_script("""window.__events = [];
        for (const t of ['results', 'play', 'error'])
          addEventListener('talksearch-' + t, (e) => window.__events.push({type: t, ...e.detail}));""")
    page.goto(f"{api.base}/widget")
    page.wait_for_function("customElements.get('talk-search') !== undefined")
    return page, errors


def _events(page, kind: str) -> list[dict]:
    return page.evaluate("(kind) => window.__events.filter((e) => e.type === kind)", kind)


def test_widget_enter_while_searching_plays_the_answer_for_what_was_typed(browser, api):
    """Enter while the search for the words typed is on its way plays that search's first result when it comes,
    not the previous words' first; and a result played meanwhile is not covered by the answer's list."""
    storage, partition = _first_talk(api, "storage"), _first_talk(api, "partition keys")
    assert storage != partition, "the checks below need searches whose first results differ"
    page, errors = _widget(browser, api)
    box = page.locator("talk-search input")
    box.fill("storage")
    _until(page, lambda: _events(page, "results"), "the first search")
    held = Held(page, "**/api/search?*")
    box.fill("partition keys")
    held.wait(1)  # the typing's pause is past: its search is on its way
    box.press("Enter")
    page.wait_for_timeout(200)
    assert _events(page, "play") == []  # the list shown is the previous words'
    held.answer(0)
    _until(page, lambda: _events(page, "play"), "the play")
    assert [e["talk"] for e in _events(page, "play")] == [partition]
    assert page.locator("talk-search [role=listbox]").is_hidden()

    box.fill("storage")  # again, and one of the shown (previous) results played while its search is on its way
    held.wait(2)
    box.press("ArrowDown")
    page.locator("talk-search [role=option]").first.click()
    held.answer(1)
    _until(page, lambda: len(_events(page, "results")) == 3, "the answer")
    assert [e["talk"] for e in _events(page, "play")] == [partition, partition]
    assert page.locator("talk-search [role=listbox]").is_hidden()
    assert not errors, errors
    page.context.close()


def test_widget_enter_after_a_failure_searches_again(browser, api):
    """After "Can't reach…", Enter in the box asks again, as the search page's Enter does."""
    page, errors = _widget(browser, api)
    sent: list[str] = []
    page.on("request", lambda r: "/api/search?" in r.url and sent.append(r.url))
    page.route("**/api/search?*", lambda route: route.abort("internetdisconnected"))
    box = page.locator("talk-search input")
    box.fill("storage")
    _until(page, lambda: _events(page, "error"), "the failure")
    assert "Can't reach" in page.locator("talk-search [role=status]").first.text_content()
    page.unroute("**/api/search?*")
    box.press("Enter")
    _until(page, lambda: _events(page, "results"), "the search again", 5)
    assert len(sent) == 2
    assert not errors, errors
    page.context.close()
