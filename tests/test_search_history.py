"""The search page's address and its history, in headless Chromium over a real server: what a URL shows is the
same whether it is loaded or reached by Back and Forward, and a history entry is a search of its own."""

from __future__ import annotations

import pytest

from tests.service_fixtures import serving, settings_for, shared_library, talk_ids, wait_until

pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.browser, pytest.mark.models]


def _page(browser):
    page = browser.new_page(locale="en-US")  # a date field typed as mm/dd/yyyy
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    return page, errors


def _found(page, line: str) -> None:
    wait_until(lambda: line in (page.text_content("#results .status") or ""), line, 60)


def test_back_to_a_url_spelling_filters_its_own_way_shows_what_loading_it_shows(browser, api):
    """The URL's spellings the server reads (any case, en-US, a compact date, q given twice: the last) are what
    the menus and the results say after Back, as on the load, not the menus' "Any" and unfiltered results."""
    page, errors = _page(browser)
    url = f"{api.base}/?q=&q=storage&speaker=ines+moreau&language=en-US&published_after=20000101"
    page.goto(url)
    _found(page, "for “storage” (filtered)")
    page.fill("#q", "partition keys")  # searched as typed: a history entry
    _found(page, "for “partition keys” (filtered)")
    page.go_back()
    _found(page, "for “storage” (filtered)")
    assert page.url == url
    assert page.input_value("#q") == "storage"
    assert page.locator("select[name=speaker]").input_value() == "Ines Moreau"
    assert page.locator("select[name=language]").input_value() == "en"
    assert page.input_value("input[name=published_after]") == "2000-01-01"
    assert page.locator(".filters summary .count").inner_text() == "3"
    assert not errors, errors
    page.close()


def test_back_to_a_later_page_of_results_shows_that_page(browser):
    """The form holds no offset: Back to "More results" shows that page, not the first."""
    with serving(settings_for(shared_library(), search_limit=2)) as server:  # pages of two: the library has a few
        page, errors = _page(browser)
        page.goto(f"{server.base}/?q=storage")
        page.click("a.more")
        _found(page, "Moments 3–4")
        page.click(".filters summary")
        page.check("input[name=group]")
        _found(page, "Talks 1–")
        page.go_back()
        _found(page, "Moments 3–4")
        assert page.url.endswith("offset=2") and not page.is_checked("input[name=group]")
        # the window's title names the page as a load of that URL does, not only its words
        restored = page.title()
        page.reload()
        assert restored == page.title() == "storage – moments 3–4 – talksearch"
        assert not errors, errors
        page.close()


def test_a_typed_date_is_one_entry_and_is_not_searched_before_its_year_is_whole(browser, api):
    """Typed digit by digit, a date is a valid one at 0002-03-15, 0020-03-15 and 0202-03-15 on its way to
    2024-03-15: searched once, one history entry; a date picked (filled at once) is still searched at once."""
    page, errors = _page(browser)
    page.goto(f"{api.base}/?q=storage")
    searched: list[str] = []
    page.on("request", lambda r: "/results?" in r.url and searched.append(r.url.split("?", 1)[1]))
    entries = page.evaluate("history.length")
    page.click(".filters summary")
    page.click("input[name=published_after]")
    page.keyboard.type("03152024", delay=120)
    _found(page, "(filtered)")
    page.wait_for_timeout(700)  # past the typing's pause: any search still to come has been asked for
    assert searched == ["q=storage&published_after=2024-03-15"]
    assert page.evaluate("history.length") == entries + 1
    page.fill("input[name=published_before]", "2030-01-01")
    wait_until(lambda: len(searched) == 2, "the picked date's search", 5)
    assert not errors, errors
    page.close()


def _enter_adds_no_entry(page) -> None:
    """Enter on the search the URL already says searches again, as that history entry, not a second one."""
    entries = page.evaluate("history.length")
    with page.expect_response(lambda r: "/results?" in r.url):
        page.press("#q", "Enter")
    assert page.evaluate("history.length") == entries


def test_the_same_search_again_adds_no_history_entry(browser, api):
    """Enter on the search the URL already says (spelt %20 rather than +) is that entry, not a second one; typing
    after Back makes an entry of its own, rather than rewriting the one gone back to under a stale Forward."""
    page, errors = _page(browser)
    page.goto(f"{api.base}/?q=object%20storage")
    _enter_adds_no_entry(page)
    page.fill("#q", "partition keys")
    _found(page, "for “partition keys”")
    page.go_back()
    _found(page, "for “object storage”")
    page.fill("#q", "checkpoint")
    _found(page, "for “checkpoint”")
    page.go_forward()  # nothing ahead: typing after Back left the entry gone back to and dropped what was ahead
    page.wait_for_timeout(300)
    assert page.input_value("#q") == "checkpoint"
    page.go_back()
    _found(page, "for “object storage”")
    assert not errors, errors
    page.close()


def test_a_search_within_talks_stays_within_them_as_typed_and_after_back(browser, api):
    """``talk=`` (a talk page's search): typed on, and typed on after Back, the search stays within every talk the
    URL names, which the Filters do not count; Enter on the search the URL already says is that entry."""
    ids = talk_ids()
    within = f"talk={ids['t01']}&talk={ids['t02']}"
    page, errors = _page(browser)
    page.goto(f"{api.base}/?q=storage&{within}")
    _found(page, "for “storage” in 2 talks")
    _enter_adds_no_entry(page)
    page.fill("#q", "partition keys")
    _found(page, "for “partition keys” in 2 talks")
    assert page.url == f"{api.base}/?q=partition+keys&{within}"
    assert page.locator(".filters summary .count").count() == 0
    page.go_back()
    _found(page, "for “storage” in 2 talks")
    with page.expect_response(lambda r: "/results?" in r.url):
        page.press("#q", "Enter")
    page.go_forward()  # still ahead: the Enter was the entry gone back to
    _found(page, "for “partition keys” in 2 talks")
    page.go_back()
    _found(page, "for “storage” in 2 talks")
    page.fill("#q", "checkpoint")
    _found(page, "for “checkpoint” in 2 talks")
    assert page.url == f"{api.base}/?q=checkpoint&{within}"
    shown = {href.split("?")[0].rsplit("/", 1)[1] for href in
             page.eval_on_selector_all("#results .result a.title", "links => links.map((a) => a.href)")}
    assert shown and shown <= {ids["t01"], ids["t02"]}, shown
    assert not errors, errors
    page.close()
