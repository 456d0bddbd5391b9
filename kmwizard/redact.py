"""Text shown to the user: credentials in URLs masked, terminal control sequences made visible.

Both apply to every message, preview and note, whatever the front end: a password in
``https://user:pw@host/repo.git`` must not reach a terminal, a scrollback or a CI log, and a file
name or preset name holding ``ESC [ 2 J`` must not clear the screen (or worse) when printed.
"""
from __future__ import annotations

import re

from kmwizard.regexps import lazy

MASK = "***"

# scheme://userinfo@host: everything between :// and the last @ before the host is userinfo.
_URL_USERINFO = lazy(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s@'\"]+)@")
# user:password@host without a scheme (a git or registry reference), but not name:tag@sha256:digest.
_BARE_USERINFO = lazy(r"(?<![\w.%+/:-])([\w.%+-]+):([^\s/@'\":]+)@(?!sha\d+:)(?=[\w-])")
# C0 and C1 control characters except tab and newline.
_CONTROL = lazy("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def url_credentials(text: str) -> str:
    """The userinfo of the first URL in ``text`` that carries one ('' when none)."""
    match = _URL_USERINFO.search(text) or _BARE_USERINFO.search(text)
    return match.group(2) if match else ""


def mask_credentials(text: str) -> str:
    """``text`` with the password (or token) of every URL replaced by ***; the user name stays."""
    if "@" not in text:
        return text

    def url(match: re.Match) -> str:
        user, sep, _secret = match.group(2).partition(":")
        return f"{match.group(1)}{user}:{MASK}@" if sep else f"{match.group(1)}{MASK}@"

    return _BARE_USERINFO.sub(lambda m: f"{m.group(1)}:{MASK}@", _URL_USERINFO.sub(url, text))


def printable(text: str) -> str:
    """``text`` with control characters (ESC, BEL, CR, ...) shown as \\x.. escapes; newlines and tabs kept."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def for_display(text: str) -> str:
    """What every front end prints of text it did not write itself."""
    return printable(mask_credentials(text))
