#!/usr/bin/env python3
"""Sanity rules for an evaluation corpus (talks with sentences plus graded queries).

usage: python3 bench/corpus_rules.py CORPUS.json [CORPUS.json ...]

Prints, per file, the number of queries of each kind and every problem found; exits 1 if there is any problem.
Problems checked:
  - a duplicate talk id (make_talks.py would write the second over the first), and a conversation whose `who` does
    not name a speaker of its `cast` for each sentence;
  - a query whose `talk` does not exist, or whose `sentence` / `also` index is outside that talk;
  - a duplicate query id, an unknown `kind`, or a query without text;
  - a paraphrase sharing more than one content word with its target sentence (the shared words are named).

A content word is a token of three or more letters, lowercased, that is not a stop word, compared after light
stemming: one trailing "ing", "es", "ed", "ly" or "s" is stripped (when at least three letters remain), then a
trailing "e" (so "node", "nodes" and "noded" all become "nod").
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from bench.common import read_json  # noqa: E402

KINDS: tuple[str, ...] = ("paraphrase", "question", "keyword", "vague")
MAX_SHARED_PARAPHRASE = 1

# The judge's own list, deliberately not talksearch.text.STOP_WORDS: the rules a corpus is held to must not
# move when the product's notion of a function word does.
STOP_WORDS: frozenset[str] = frozenset("""
a about above after again against all also am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each few
for from further get gets got had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers
herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself just let's like me
more most much must mustn't my myself no nor not now of off on once one only or other ought our ours ourselves
out over own really same shan't she she'd she'll she's should shouldn't so some such than that that's the their
theirs them themselves then there there's these they they'd they'll they're they've this those through to too
under until up upon us very was wasn't we we'd we'll we're we've were weren't what what's when when's where
where's which while who who's whom why why's will with won't would wouldn't yes yet you you'd you'll you're
you've your yours yourself yourselves
also actually okay oh well so thing things something anything everything someone anyone everyone
said say says saying gonna wanna kind sort lot lots way ways
""".split())

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*")
_SUFFIXES: tuple[str, ...] = ("ing", "es", "ed", "ly", "s")


def stem(word: str) -> str:
    """Light stemming: strip one of ing/es/ed/ly/s (keeping >= 3 letters), then a trailing e."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def content_words(text: str) -> set[str]:
    """The stemmed content words of `text` (tokens of 3+ letters that are not stop words)."""
    words: set[str] = set()
    for token in _TOKEN.findall(text.lower()):
        if token in STOP_WORDS:
            continue
        if token.endswith("'s"):
            token = token[:-2]
        token = token.replace("'", "")
        if len(token) >= 3 and token not in STOP_WORDS:
            words.add(stem(token))
    return words


def talk_problems(corpus: dict) -> list[str]:
    """What in a corpus's talks make_talks.py could not speak as meant: a talk id given twice (the second's audio
    and truth were written over the first's), a conversation's speakers (`who`) that are not one per sentence or
    not in its `cast`."""
    problems: list[str] = []
    for talk_id, count in Counter(talk.get("id") for talk in corpus.get("talks", [])).items():
        if count > 1:
            problems.append(f"{talk_id}: duplicate talk id ({count} talks)")
    for talk in corpus.get("talks", []):
        if "cast" not in talk and "who" not in talk:
            continue
        cast, who = talk.get("cast") or {}, talk.get("who") or []
        if len(who) != len(talk.get("sentences", [])):
            problems.append(f"{talk.get('id')}: who names {len(who)} speakers for {len(talk.get('sentences', []))} "
                            "sentences")
        if unknown := sorted({str(speaker) for speaker in who if speaker not in cast}):
            problems.append(f"{talk.get('id')}: who names speakers not in its cast: {', '.join(unknown)}")
    return problems


def _index(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # (True is an int: sentence 1)


def check_corpus(corpus: dict) -> list[str]:
    """Human-readable problems in a corpus; an empty list means it passes."""
    problems = talk_problems(corpus)
    talks = {talk["id"]: talk for talk in corpus.get("talks", [])}
    seen: set[str] = set()
    for query in corpus.get("queries", []):
        qid = query.get("id", "?")
        if qid in seen:
            problems.append(f"{qid}: duplicate query id")
        seen.add(qid)
        kind = query.get("kind")
        if kind not in KINDS:
            problems.append(f"{qid}: unknown kind {kind!r}")
        if not isinstance(query.get("text"), str) or not query["text"].strip():
            problems.append(f"{qid}: no query text")
        talk = talks.get(query.get("talk"))
        if talk is None:
            problems.append(f"{qid}: unknown talk {query.get('talk')!r}")
            continue
        sentences = talk["sentences"]
        index = query.get("sentence")
        if not _index(index) or not 0 <= index < len(sentences):
            problems.append(f"{qid}: sentence {index!r} not in talk {talk['id']} (0..{len(sentences) - 1})")
            continue
        also = query.get("also", [])
        if not isinstance(also, list):
            problems.append(f"{qid}: also {also!r} is not a list of sentence indexes")
            also = []
        for other in also:
            if not _index(other) or not 0 <= other < len(sentences):
                problems.append(f"{qid}: also-index {other!r} not in talk {talk['id']}")
        if kind == "paraphrase":
            shared = content_words(str(query.get("text", ""))) & content_words(sentences[index])
            if len(shared) > MAX_SHARED_PARAPHRASE:
                problems.append(f"{qid}: paraphrase shares {len(shared)} content words with "
                                f"{talk['id']}[{index}]: {', '.join(sorted(shared))}")
    return problems


def main(argv: list[str] | None = None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    failed = False
    for path in paths:
        corpus = read_json(Path(path))  # a mistyped path: one line, not a traceback
        counts = Counter(q.get("kind") for q in corpus.get("queries", []))
        summary = ", ".join(f"{kind} {counts.get(kind, 0)}" for kind in KINDS)
        print(f"{path}: {len(corpus.get('talks', []))} talks, {sum(counts.values())} queries ({summary})")
        problems = check_corpus(corpus)
        for problem in problems:
            print(f"  {problem}")
        print("  ok" if not problems else f"  {len(problems)} problem(s)")
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
