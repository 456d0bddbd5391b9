"""The program: ``kmwizard`` and ``python -m kmwizard``.

The command line (``kmwizard.cli``), the prompt wizard (``kmwizard.ask``) and the Textual app
(``kmwizard.screens``) do not import each other.  This module, above all three, joins them:
the CLI's ``tui`` and ``ask`` commands start the other two, and the prompt wizard's Apply runs
the CLI's ``diff`` and ``apply``.
"""
from __future__ import annotations

from typing import Optional, Sequence

from kmwizard import cli


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli.main(argv, front_ends={"tui": run_tui, "ask": run_ask})


def run_tui(answers, **options) -> int:
    """``options``: ``imported``/``imported_from`` of `tui --from` (the F10 comparison)."""
    from kmwizard.screens.app import run_app  # textual loads only for the TUI

    return run_app(answers, **options)


def run_ask(answers) -> int:
    from kmwizard.ask import run_prompts  # questionary loads only for the prompts

    return run_prompts(answers, run_command=cli.main)
