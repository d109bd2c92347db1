"""A talk's details read out of its other details by the user's rules: yt-dlp's own ``--parse-metadata FROM:TO``.

Conference channels name a talk's speakers in its title ("Gang Scheduling at Scale - Ann Lee, Bo Chen"), where no
field of the site holds them; so do many lab channels and podcast feeds with their event ("SC24 | ..."). A rule
``title:%(title)s - %(speakers)s`` moves them where talksearch shows and filters them. yt-dlp reads the rules (its
syntax: FROM a field or an output template, TO a template with ``%(field)s`` or a regular expression with
``(?P<field>...)``); the fields are the talk's own, as talksearch stores them:

- readable (FROM): ``title``, ``speakers`` (the names joined by ", "), ``event``, ``channel``, ``description``;
- settable (TO): ``title``, ``speakers`` (a credit, split into names as a feed's is: "Ann Lee, Bo Chen and Cy Diaz"),
  ``event``, ``channel``.

Rules apply in turn, each to what the ones before left; a rule that does not match changes nothing, so one set of
rules serves a channel whose titles differ in form.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from yt_dlp import YoutubeDL
from yt_dlp.postprocessor.metadataparser import MetadataFromFieldPP, MetadataParserPP

READABLE = ("title", "speakers", "event", "channel", "description")
SETTABLE = ("title", "speakers", "event", "channel")


def check_rule(rule: str) -> str:
    """``rule`` when yt-dlp reads it and it reads and sets talk details only; else ValueError saying why."""
    try:
        _, source, target = MetadataFromFieldPP.to_action(rule)
        MetadataParserPP.field_to_template(source)  # yt-dlp's own check of an output template
        targets = re.compile(MetadataParserPP.format_to_regex(target)).groupindex
    except (ValueError, re.error) as exc:
        raise ValueError(f"{rule!r} is not FROM:TO as yt-dlp's --parse-metadata reads it ({exc})") from None
    except Exception as exc:  # yt-dlp's template check raises its own errors
        raise ValueError(f"{rule!r}: {exc}") from None
    read = [source] if re.fullmatch(r"\w+", source) else re.findall(r"%\((\w+)", source)
    if unknown := [field for field in read if field not in READABLE]:
        raise ValueError(f"{rule!r} reads {unknown[0]}, not a talk detail ({', '.join(READABLE)})")
    if not targets:
        raise ValueError(f"{rule!r} sets nothing: name a field to set, e.g. %(speakers)s or (?P<speakers>...)")
    if unknown := [field for field in targets if field not in SETTABLE]:
        raise ValueError(f"{rule!r} sets {unknown[0]}, which is not a talk detail it can set ({', '.join(SETTABLE)})")
    return rule


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
