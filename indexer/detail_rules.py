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

from talksearch.detail_rules import READABLE, SETTABLE, check_rule


class DetailRules:
    """The rules, ready to apply to talks' details (``downloader``: the yt-dlp instance whose templates and logger
    they use)."""

    def __init__(self, rules: Sequence[str], downloader: YoutubeDL):
        actions = [MetadataFromFieldPP.to_action(check_rule(rule)) for rule in rules]
        self._parser = MetadataParserPP(downloader, actions) if actions else None

    def __bool__(self) -> bool:
        return self._parser is not None

    def changes(self, details: dict) -> dict[str, str]:
        """What the rules set of ``details`` (a talk's, as stored: ``speakers`` a list), where it differs: the
        settable fields' new text, as matched (the caller stores it as it stores what a source states)."""
        if self._parser is None:
            return {}
        fields = {field: details.get(field) for field in READABLE}
        fields["speakers"] = ", ".join(details.get("speakers") or []) or None
        _, parsed = self._parser.run(dict(fields))
        return {field: parsed[field] for field in SETTABLE
                if isinstance(parsed.get(field), str) and parsed[field] != fields[field]}
