"""The rules ``parse_metadata`` holds (yt-dlp's ``--parse-metadata FROM:TO``), as a setting checks them: what a
rule may read and set of a talk's details. Applied by the indexer (``talksearch.indexer.detail_rules``).

- readable (FROM): ``title``, ``speakers`` (the names joined by ", "), ``event``, ``channel``, ``description``;
- settable (TO): ``title``, ``speakers`` (a credit, split into names as a feed's is: "Ann Lee, Bo Chen and Cy Diaz"),
  ``event``, ``channel``.
"""

from __future__ import annotations

import re

READABLE = ("title", "speakers", "event", "channel", "description")
SETTABLE = ("title", "speakers", "event", "channel")


def check_rule(rule: str) -> str:
    """``rule`` when yt-dlp reads it and it reads and sets talk details only; else ValueError saying why."""
    # yt-dlp's own reading of the rule, loaded only where rules are given
    from yt_dlp.postprocessor.metadataparser import MetadataFromFieldPP, MetadataParserPP

    try:
        _, source, target = MetadataFromFieldPP.to_action(rule)
        MetadataParserPP.field_to_template(source)  # yt-dlp's own check of an output template
        targets = re.compile(MetadataParserPP.format_to_regex(target)).groupindex
    except (ValueError, re.error) as exc:
        raise ValueError(f"{rule!r} is not FROM:TO as yt-dlp's --parse-metadata reads it ({exc})") from None
    except Exception as exc:  # yt-dlp's template check raises its own errors
        raise ValueError(f"{rule!r}: {exc}") from None
    if not source.strip():
        raise ValueError(f"{rule!r} reads nothing: name a field before the colon, e.g. title:%(title)s - %(speakers)s")
    if target != target.strip():  # yt-dlp searches: a space at the end cuts the last field short at a space
        raise ValueError(f"{rule!r} has a space at the start or end of what it matches: remove it")
    read = read_fields(source)
    if unknown := sorted(field for field in read if field not in READABLE):
        raise ValueError(f"{rule!r} reads {unknown[0]}, not a talk detail ({', '.join(READABLE)})")
    if not targets:
        raise ValueError(f"{rule!r} sets nothing: name a field to set, e.g. %(speakers)s or (?P<speakers>...)")
    if unknown := [field for field in targets if field not in SETTABLE]:
        raise ValueError(f"{rule!r} sets {unknown[0]}, which is not a talk detail it can set ({', '.join(SETTABLE)})")
    return rule


def read_fields(source: str) -> set[str]:
    """The fields a rule's FROM reads: the field it names, or those of its output template."""
    return {source} if re.fullmatch(r"\w+", source) else set(re.findall(r"%\((\w+)", source))
