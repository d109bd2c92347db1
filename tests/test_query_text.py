"""A query as search reads it (talksearch.text.search_text, applied by Searcher.validate), and the words its
snippets mark: what other keyboards type is read as what the transcripts hold."""

from __future__ import annotations

import gzip
import inspect
import re

import pytest

from talksearch.library.keyword_index import any_word_query, fts_query, quoted_phrases
from talksearch.search.searcher import QueryError, Searcher
from talksearch.settings import Settings
from talksearch.text import search_text

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("typed", ['“storage object”', '„storage object“', '«storage object»', '»storage object«',
                                   '＂storage object＂', '"storage object"'])
def test_any_double_quotes_make_a_phrase(typed):
    assert quoted_phrases(search_text(typed)) == ["storage object"]
    assert fts_query(search_text(f"{typed} bucket")) == '"storage object" AND ("bucket")'


def test_apostrophes_and_single_quotes_are_no_phrase():
    for typed in ["I’m on ‘call’", "it's 'odd'", "‹storage object›"]:
        assert search_text(typed) == typed and quoted_phrases(typed) == []


@pytest.mark.parametrize("typed, read", [
    ("ＧＰＵ ｓｈａｒｉｎｇ", "GPU sharing"),  # full-width, from Chinese and Japanese input methods
    ("ﬁle system", "file system"),  # a ligature
    ("ｶﾀｶﾅ", "カタカナ"),  # half-width katakana, as transcripts write it
    ("M.P.I. jobs", "MPI jobs"), ("the U.S.A", "the USA"), ("С.С.С.Р.", "СССР"),  # dotted capitals: one word
    ("e.g. this", "e.g. this"), ("v1.2.3", "v1.2.3"), ("3.14", "3.14"), ("a.b.c.def", "a.b.c.def"),  # not acronyms
])
def test_the_query_is_read_as_transcripts_write_it(typed, read):
    assert search_text(typed) == read


def test_validate_reads_the_query_as_search_does_but_measures_it_as_sent():
    searcher = Searcher.__new__(Searcher)  # validate needs no library or model
    searcher.max_query_chars = 10
    assert searcher.validate("  ＧＰＵ “a b”  ") == 'GPU "a b"'
    assert searcher.validate("ﷺ") == search_text("ﷺ")  # one character sent, eighteen read: within the limit
    with pytest.raises(QueryError, match="UTF-8"):
        searcher.validate("\udcff")
    # ... up to four times the limit: 500 such characters read as 3,500, which the models embed whole (a denial of
    # service hunt: 3.3 CPU-s a query, 50 times a search's)
    with pytest.raises(QueryError, match=r"^the query is longer than 40 characters as search reads it \(ligatures "
                                         r"and compatibility characters written out\)$"):
        searcher.validate("ﷺﷺﷺ")


def test_snippets_mark_no_one_letter_pieces_unless_the_query_has_nothing_else():
    assert any_word_query("I'm Margaret") == '"Margaret"'  # not the "m" of every "I'm"
    assert any_word_query("what's new") == '"new"'
    assert any_word_query("C") == '"C"' and any_word_query("I'm") == '"m"'  # nothing else to mark
    assert any_word_query(search_text("M.P.I.")) == '"MPI"'


def test_snippets_mark_a_quoted_phrase_as_a_phrase_not_its_words_one_by_one():
    assert any_word_query('"GPUs"') is None  # the phrase is marked whole, unstemmed (KeywordIndex.snippets)
    assert any_word_query('"went down by" only 3%') is None  # beside a phrase, function words stay unmarked
    assert any_word_query('"slices" of GPU time') == '"GPU" OR "time" OR "GPUtime"'  # (spelled_otherwise)


@pytest.mark.parametrize("query", ["...", "%", '"', '" "', "___", "🚀", "-*-", "¿¡", "\u200b…"])
def test_validate_refuses_a_query_without_a_letter_or_digit(query):
    searcher = Searcher.__new__(Searcher)  # validate needs no library or model
    searcher.max_query_chars = 500
    with pytest.raises(QueryError, match="no letter or digit"):
        searcher.validate(query)


@pytest.mark.parametrize("query", ["a", "3%", "٣", "日本", "Ω", "ﬁ", "㎏", "🚀 GPU", '"x"'])
def test_validate_takes_a_letter_or_digit_of_any_script(query):
    searcher = Searcher.__new__(Searcher)
    searcher.max_query_chars = 500
    assert searcher.validate(query) == search_text(query)


def test_the_widget_cuts_a_query_where_the_api_refuses_it():
    """widget.js fetches no settings, so its MAX_CHARS is a literal: the file's must stay the API's default
    max_query_chars (and the Searcher's), and the copy a service serves carries that service's own setting, or a
    paste the widget sends whole gets a 422 it cannot explain."""
    from talksearch.service.routes.widget import SCRIPT, _script

    (cut,) = re.findall(r"\bconst MAX_CHARS = (\d+);", SCRIPT.read_text())
    searcher_default = inspect.signature(Searcher.__init__).parameters["max_query_chars"].default
    assert int(cut) == Settings.model_fields["max_query_chars"].default == searcher_default

    served, zipped, etag = _script(40)
    assert re.findall(rb"\bconst MAX_CHARS = (\d+);", served) == [b"40"]
    assert served.replace(b"= 40;", f"= {cut};".encode()) == SCRIPT.read_bytes() and gzip.decompress(zipped) == served
    assert _script(int(cut))[0] == SCRIPT.read_bytes() and _script(int(cut))[2] != etag
