"""A talk's details read out of its other details by the user's rules: yt-dlp's own ``--parse-metadata FROM:TO``.

Conference channels name a talk's speakers in its title ("Gang Scheduling at Scale - Ann Lee, Bo Chen"), where no
field of the site holds them; so do many lab channels and podcast feeds with their event ("SC24 | ..."). A rule
``title:%(title)s - %(speakers)s`` moves them where talksearch shows and filters them. yt-dlp reads the rules (its
syntax: FROM a field or an output template, TO a template with ``%(field)s`` or a regular expression with
``(?P<field>...)``); the fields are the talk's own, as talksearch stores them (``talksearch.detail_rules``, which
the setting checks them by).

Rules apply in turn, each to what the ones before left; a rule that does not match changes nothing, so one set of
rules serves a channel whose titles differ in form.
"""

from __future__ import annotations

from collections.abc import Sequence

from yt_dlp import YoutubeDL
from yt_dlp.postprocessor.metadataparser import MetadataFromFieldPP, MetadataParserPP

from talksearch.detail_rules import READABLE, SETTABLE, check_rule, read_fields


class DetailRules:
    """The rules, ready to apply to talks' details."""

    def __init__(self, rules: Sequence[str]):
        # yt-dlp's own parser, each rule apart (``changes`` applies them in turn); a field the talk lacks reads as
        # nothing, not yt-dlp's "NA", which a rule reading it stored as a speaker or an event
        downloader = YoutubeDL({"quiet": True, "no_warnings": True, "outtmpl_na_placeholder": ""})
        self._rules = []
        for rule in rules:
            action = MetadataFromFieldPP.to_action(check_rule(rule))
            self._rules.append((MetadataParserPP(downloader, [action]), read_fields(action[1])))

    def __bool__(self) -> bool:
        return bool(self._rules)

    def changes(self, details: dict) -> dict[str, str]:
        """What the rules set of ``details`` (a talk's, or what its source states of it: ``speakers`` a list),
        where it differs: the settable fields' new text, as matched (the caller stores it as it stores what a
        source states). A rule sets a detail the source states only where it reads that detail itself: ``speakers:``
        reshapes the speakers a feed names, while ``title:%(title)s - %(speakers)s`` takes speakers from a title
        only where the source names none (a broad rule misread "Checkpointing - Past, Present, Future" as three
        speakers, over the feed's own credit)."""
        fields = {field: details.get(field) for field in READABLE}
        fields["speakers"] = ", ".join(details.get("speakers") or []) or None
        given = dict(fields)
        for parser, read in self._rules:
            _, parsed = parser.run(dict(fields))
            fields.update({field: parsed[field] for field in SETTABLE if isinstance(parsed.get(field), str)
                           and (not given[field] or field in read)})
        return {field: fields[field] for field in SETTABLE if fields[field] != given[field]}
