"""``python -m squall.cli``: the ``squall`` command, as ``python -m squall``."""

from squall.cli import main

main(prog_name="squall")
