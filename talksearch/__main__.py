"""``python -m talksearch``: the ``talksearch`` command, named as such in its help and version."""

from talksearch.cli import main

main(prog_name="talksearch")
