"""``python -m squall``: the ``squall`` command, for when the script is not on PATH."""

from squall.cli import main

main(prog_name="squall")
