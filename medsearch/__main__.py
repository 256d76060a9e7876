"""`python -m medsearch ...`: the same as the `medsearch` command (for environments without the console script)."""

from medsearch.cli import main

main()
