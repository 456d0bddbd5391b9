"""Reading a text file the user named (an answer file, a manifest to validate, a Module).

At the bottom of the layers: the answers, the CLI and the KMM commands all read files this way.
"""
from __future__ import annotations

import sys
from pathlib import Path

from kmwizard.findings import UsageError


def read_text_arg(name: str, what: str = "file", fix: str = "check the file name") -> str:
    """The text of a file named on the command line ('-' reads stdin), or a UsageError that names
    it: a missing file, a directory and a binary file are mistakes in the command, not tracebacks."""
    try:
        if str(name) == "-":
            return sys.stdin.read()
        return Path(name).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {what} {name}: {exc.strerror or exc}", fix) from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {name} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                         f"{exc.start}): a binary file, not YAML or JSON", "give a YAML or JSON text file") from None
