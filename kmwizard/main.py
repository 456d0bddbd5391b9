"""The program: ``kmwizard`` and ``python -m kmwizard``.

The command line (``kmwizard.cli``), the prompt wizard (``kmwizard.ask``) and the Textual app
(``kmwizard.screens``) do not import each other.  This module, above all three, joins them:
the CLI's ``tui`` and ``ask`` commands start the other two, and the prompt wizard's Apply runs
the CLI's ``diff`` and ``apply``.
"""
from __future__ import annotations

import gc
import signal
import sys
import threading
from typing import Optional, Sequence

EXIT_INTERRUPTED = 130


def main(argv: Optional[Sequence[str]] = None) -> int:
    # A signal while the CLI is still being imported takes the Ctrl-C path too (exit 130, no traceback,
    # not death by SIGTERM); cli.main installs the same handling for the run itself.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)} \
        if in_main_thread else {}
    try:
        cli = _import_cli()
        return cli.main(argv, front_ends={"tui": run_tui, "ask": run_ask})
    except KeyboardInterrupt:
        sys.stderr.write("kmwizard: interrupted\n")
        return EXIT_INTERRUPTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _import_cli():
    """``kmwizard.cli``, imported with the cyclic collector off; then what exists is frozen (the
    interpreter's and the CLI's modules, classes and functions: they live until the process ends),
    so no later pass, nor the full collection at exit, walks it again.  Start-up allocates much and
    frees little: this saves ~6 ms of CPU per command, a seventh of a bare `import yaml`
    (benchmarks/bench_cli_startup.py).  What the command makes is collected as before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        from kmwizard import cli
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    return cli


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_tui(answers, **options) -> int:
    """``options``: ``imported``/``imported_from`` of `tui --from` (the F10 comparison)."""
    # Importing Textual and building the first screen allocate many objects and free few: the cyclic
    # collector's passes cost ~30 ms before the first paint (benchmarks/bench_startup.py). The app
    # turns it back on once the first screen is drawn (WizardApp._after_first_paint).
    gc.disable()
    try:
        from kmwizard.screens.app import run_app  # textual loads only for the TUI

        return run_app(answers, **options)
    finally:
        gc.enable()


def run_ask(answers) -> int:
    from kmwizard import cli
    from kmwizard.ask import run_prompts  # questionary loads only for the prompts

    return run_prompts(answers, run_command=cli.main)
