"""CLI flags made from ``Settings`` fields, so a setting is declared once (name, type, description, default).

``batch_size`` becomes ``--batch-size``; its help is the field's description with its variable and default;
a ``Literal`` becomes a choice and a bool an on/off pair. Every flag defaults to None, "not given", so that
the environment and then the field's default apply (``talksearch.cli.settings_from``).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import click

from talksearch.settings import Settings


def _click_type(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Literal:
        return click.Choice([str(a) for a in get_args(annotation)])
    if origin in (Union, types.UnionType):  # an optional setting: the type it holds when set
        (inner,) = [a for a in get_args(annotation) if a is not type(None)]
        return _click_type(inner)
    if annotation is Path:  # handed on as text: the setting makes the Path, and refuses "" (not ".")
        return click.Path(path_type=str)
    if annotation in (str, int, float):
        return annotation
    raise TypeError(f"no CLI flag type for a setting of type {annotation!r}")


def _shown(default: Any) -> str:
    return default.as_posix() if isinstance(default, Path) else "unset" if default is None else str(default)


def setting_option(name: str) -> Callable:
    """One setting as a click option (``name`` is the ``Settings`` field)."""
    field = Settings.model_fields[name]
    flag = "--" + name.replace("_", "-")
    help_text = f"{field.description} [env TALKSEARCH_{name.upper()}; default {_shown(field.default)}]"
    if field.annotation is bool:
        return click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_text)
    if get_origin(field.annotation) is list:  # the flag repeated; not given at all: None, as for any other flag
        (item,) = get_args(field.annotation)
        return click.option(flag, name, type=_click_type(item), multiple=True, help=help_text,
                            callback=lambda _context, _param, values: list(values) or None)
    return click.option(flag, name, type=_click_type(field.annotation), default=None, help=help_text)


def setting_options(*names: str) -> Callable:
    """The settings ``names`` as click options, in the order given."""
    def decorate(command: Callable) -> Callable:
        for name in reversed(names):
            command = setting_option(name)(command)
        return command

    return decorate
