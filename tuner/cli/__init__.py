"""The `digit-tuner` command line: thin commands over the library API (``tuner.pipeline``).

``app`` holds the commands; options live in ``tuner.cli.options``, derived from the settings'
declarations (``tuner.settings``), apart from the commands that take them.
"""

from tuner.cli.main import app, main

__all__ = ["app", "main"]
