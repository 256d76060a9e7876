"""`python -m medsearch ...`: the same as the `medsearch` command (for environments without the console script)."""

from medsearch.cli import main

if __name__ == "__main__":  # importing the module (pydoc, a doc or test crawler) must not run the CLI
    main()
