"""Kernel-mapping regexps judged by Go's rules (KMM is a Go program), run with C++ RE2.

KMM's webhook checks ``kernelMappings[].regexp`` with Go's ``regexp.Compile`` and its kernel
mapper matches with ``regexp.MatchString``.  google-re2 (C++ RE2) implements the same syntax
with a few differences, found by running Go's own regexp/syntax test patterns through both
(tests/test_kmm_goregexp.py keeps this table honest against a real Go toolchain):

=====================================  ==========================  ==============================
pattern                                 Go (regexp/syntax)          C++ RE2
=====================================  ==========================  ==============================
``\\C`` (any byte)                      invalid escape sequence     accepted
``x{1001}``, ``x{9876543210}``          invalid repeat count        first: rejected; second: literal
``x{01}`` (leading zero)                literal text ``{01}``       repeat once
``\\p{Letter}``, ``\\p{greek}``,         accepted from Go 1.25       rejected
``\\p{Any}`` spelled loosely,           (Unicode TR18 loose names)
``\\p{Assigned}``, ``\\p{ASCII}``,
``\\p{LC}``, ``\\p{Cn}``
``\\p{Kawi}`` (scripts of Unicode 14,    unknown before Go 1.21      accepted
15)                                     (Unicode 13 tables)
``\\p{Garay}`` (Unicode 16, 17)         unknown to Go 1.25          rejected, like Go 1.25
                                        (Unicode 15 tables)
=====================================  ==========================  ==============================

KMM builds with Go 1.19 (2.0), 1.21 (2.1, 2.2), 1.23 (2.3), 1.24 (2.4-2.6) and 1.25 (2.7, main; the
``go`` line of go.mod on each release branch): the loose
``\\p`` names depend on the KMM version.  Everything else is left to C++ RE2, whose error
messages are close to Go's.
"""
from __future__ import annotations

import re
from typing import Optional

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the message goes into a finding instead

# The Go release each KMM minor version is built with (go.mod and Dockerfile of its release branch).
KMM_GO_VERSION = {(2, 0): (1, 19), (2, 1): (1, 21), (2, 2): (1, 21), (2, 3): (1, 23), (2, 4): (1, 24),
                  (2, 5): (1, 24), (2, 6): (1, 24), (2, 7): (1, 25)}
LATEST_GO = (1, 25)
_LOOSE_NAMES_SINCE = (1, 25)
_MAX_REPEAT = 1000
# Scripts of Unicode 14 and 15: Go's unicode tables have them from Go 1.21 (Unicode 15.0.0), and
# Go 1.16 - 1.20 had Unicode 13.0.0.
_UNICODE_14_15_SCRIPTS = {"Cypro_Minoan", "Old_Uyghur", "Tangsa", "Toto", "Vithkuqi", "Kawi", "Nag_Mundari"}
_UNICODE_15_SINCE = (1, 21)

# Unicode general-category long names (Unicode PropertyValueAliases) Go 1.25 accepts besides the
# short ones, canonicalized as Go does (see _canonical), with the C++ RE2 class that means the same.
_CATEGORY_ALIASES = {
    "Letter": "L", "Casedletter": "LC", "Uppercaseletter": "Lu", "Lowercaseletter": "Ll",
    "Titlecaseletter": "Lt", "Modifierletter": "Lm", "Otherletter": "Lo", "Mark": "M", "Combiningmark": "M",
    "Nonspacingmark": "Mn", "Spacingmark": "Mc", "Enclosingmark": "Me", "Number": "N", "Decimalnumber": "Nd",
    "Digit": "Nd", "Letternumber": "Nl", "Othernumber": "No", "Punctuation": "P", "Punct": "P",
    "Connectorpunctuation": "Pc", "Dashpunctuation": "Pd", "Openpunctuation": "Ps", "Closepunctuation": "Pe",
    "Initialpunctuation": "Pi", "Finalpunctuation": "Pf", "Otherpunctuation": "Po", "Symbol": "S",
    "Mathsymbol": "Sm", "Currencysymbol": "Sc", "Modifiersymbol": "Sk", "Othersymbol": "So", "Separator": "Z",
    "Spaceseparator": "Zs", "Lineseparator": "Zl", "Paragraphseparator": "Zp", "Other": "C", "Control": "Cc",
    "Cntrl": "Cc", "Format": "Cf", "Surrogate": "Cs", "Privateuse": "Co", "Unassigned": "Cn",
}
_SHORT_CATEGORIES = {"C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N",
                     "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So",
                     "Z", "Zl", "Zp", "Zs"}
_ASSIGNED = r"\p{L}\p{M}\p{N}\p{P}\p{S}\p{Z}\p{Cc}\p{Cf}\p{Co}\p{Cs}"
# What C++ RE2 needs for the names it lacks: (class body for use inside [...], negated?).
_SPECIAL_CLASSES = {"Any": (r"\x{0}-\x{10FFFF}", False), "Ascii": (r"\x00-\x7F", False),
                    "Lc": (r"\p{Lu}\p{Ll}\p{Lt}", False), "Assigned": (_ASSIGNED, False), "Cn": (_ASSIGNED, True)}


class GoRegexpError(ValueError):
    """Go's regexp.Compile rejects the pattern (decided=True), or kmwizard cannot tell (False)."""

    def __init__(self, message: str, decided: bool = True) -> None:
        super().__init__(message)
        self.decided = decided


def go_version_for_kmm(kmm_version: Optional[tuple[int, int]]) -> tuple[int, int]:
    if kmm_version is None:
        return LATEST_GO
    known = [v for v in KMM_GO_VERSION if v <= kmm_version]
    return KMM_GO_VERSION[max(known)] if known else KMM_GO_VERSION[(2, 0)]


def compile_go(pattern: str, go_version: tuple[int, int] = LATEST_GO):
    """A compiled RE2 object matching as Go's regexp would; GoRegexpError with Go's message if Go
    rejects the pattern."""
    translated = _translate(pattern, go_version)
    try:
        return re2.compile(translated, _OPTIONS)
    except re2.error as exc:
        message = exc.args[0] if exc.args else str(exc)
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        kind, sep, culprit = message.partition(": ")
        if sep:  # Go quotes the culprit in backticks
            message = f"{kind}: `{culprit}`"
        raise GoRegexpError(f"error parsing regexp: {message}") from None


def go_regexp_fix(regexp: str) -> str:
    if "\\e" in regexp:
        return "write a literal 'e' without the backslash (\\e is an escape Go rejects), e.g. ^.+\\.el9\\.x86_64$"
    if "(?=" in regexp or "(?!" in regexp or "(?<=" in regexp or "(?<!" in regexp:
        return "Go's regexp has no lookarounds: list the kernels you want with alternatives or separate mappings"
    if "\\Z" in regexp:
        return "use $ (or \\z) instead of \\Z"
    if "\\C" in regexp:
        return "use . (any character) instead of \\C, which Go does not support"
    return "rewrite it in Go's regexp syntax (no backreferences, lookarounds or possessive quantifiers)"


def _go_error(kind: str, text: str) -> GoRegexpError:
    return GoRegexpError(f"error parsing regexp: {kind}: `{text}`")


def _canonical(name: str) -> str:
    """Go 1.25's lookup key for a \\p name: no '_', '-' or ' ', first letter upper, the rest lower."""
    letters = [c for c in name if c not in "_- "]
    return "".join(c.upper() if i == 0 else c.lower() for i, c in enumerate(letters))


def _exact_script(name: str) -> Optional[str]:
    """The exact script name C++ RE2 knows for a loosely written one ("greek", "old italic"), if any."""
    words = [w for w in re.split(r"[ _-]+", name) if w]
    for candidate in (_canonical(name), "_".join(w.capitalize() for w in words)):
        try:
            re2.compile(f"\\p{{{candidate}}}", _OPTIONS)
            return candidate
        except re2.error:
            continue
    return None


def _translate(pattern: str, go_version: tuple[int, int]) -> str:
    """The pattern for C++ RE2, after applying Go's rules where the two differ."""
    out: list[str] = []
    i, n, in_class, class_start = 0, len(pattern), False, False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "Q" and not in_class:  # \Q...\E is literal text in both
                end = pattern.find("\\E", i + 2)
                stop = n if end < 0 else end + 2
                out.append(pattern[i:stop])
                i = stop
                continue
            if nxt == "C":
                raise _go_error("invalid escape sequence", "\\C")
            if nxt in "pP":
                text, stop = _unicode_class(pattern, i, go_version, in_class)
                out.append(text)
                i = stop
                continue
            stop = i + 2
            if nxt == "x" and pattern.startswith("{", stop):  # \x{10FFFF}: its brace is no repeat
                close = pattern.find("}", stop)
                stop = n if close < 0 else close + 1
            out.append(pattern[i:stop])
            i = stop
            class_start = False
            continue
        if in_class:
            if c == "[" and pattern.startswith("[:", i):  # [:alpha:] inside a class
                end = pattern.find(":]", i + 2)
                if end >= 0:
                    out.append(pattern[i:end + 2])
                    i, class_start = end + 2, False
                    continue
            if c == "]" and not class_start:
                in_class = False
            class_start = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class, class_start = True, True
            out.append(c)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            continue
        if c == "{":
            repeat = _go_repeat(pattern, i)
            if repeat is None:
                out.append("\\{")  # Go reads it as literal text; make sure C++ does too
                i += 1
                continue
            low, high, stop = repeat
            if low < 0 or low > _MAX_REPEAT or high > _MAX_REPEAT or (high >= 0 and low > high):
                raise _go_error("invalid repeat count", pattern[i:stop])
            out.append(pattern[i:stop])
            i = stop
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _go_int(s: str, i: int) -> Optional[tuple[int, int]]:
    """Go's parseInt: digits without a leading zero; -1 when too big. (value, end) or None."""
    if i >= len(s) or not s[i].isdigit() or not s[i].isascii():
        return None
    if s[i] == "0" and i + 1 < len(s) and s[i + 1].isdigit():
        return None
    end = i
    while end < len(s) and s[end] in "0123456789":
        end += 1
    digits = s[i:end]
    return (int(digits) if len(digits) <= 8 else -1), end


def _go_repeat(s: str, i: int) -> Optional[tuple[int, int, int]]:
    """Go's parseRepeat at s[i] == '{': (min, max, end) with max -1 for 'no limit', or None when Go
    reads the brace as literal text."""
    parsed = _go_int(s, i + 1)
    if parsed is None:
        return None
    low, j = parsed
    if j >= len(s):
        return None
    if s[j] != ",":
        high = low
    else:
        j += 1
        if j >= len(s):
            return None
        if s[j] == "}":
            high = -1
        else:
            parsed = _go_int(s, j)
            if parsed is None:
                return None
            high, j = parsed
            if high < 0:
                low = -1
    if j >= len(s) or s[j] != "}":
        return None
    return low, high, j + 1


def _unicode_class(s: str, i: int, go_version: tuple[int, int], in_class: bool) -> tuple[str, int]:
    """\\p / \\P at s[i]: the text for C++ RE2 and where it ends."""
    negated = s[i + 1] == "P"
    if i + 2 >= len(s):
        return s[i:], len(s)
    if s[i + 2] != "{":
        name, stop = s[i + 2], i + 3
    else:
        end = s.find("}", i + 2)
        if end < 0:
            return s[i:], len(s)  # C++ reports the missing brace as Go does
        name, stop = s[i + 3:end], end + 1
    original = s[i:stop]
    if name.startswith("^"):
        negated, name = not negated, name[1:]
    if go_version < _UNICODE_15_SINCE and name in _UNICODE_14_15_SCRIPTS:
        raise _go_error("invalid character class range", original)
    try:
        re2.compile(("[" + original + "]") if in_class else original, _OPTIONS)
        return original, stop  # an exact name both know
    except re2.error:
        pass
    if go_version < _LOOSE_NAMES_SINCE:
        return original, stop  # older Go is as strict as C++: let C++ report it
    key = _canonical(name)
    short = key if key in _SHORT_CATEGORIES else _CATEGORY_ALIASES.get(key)
    if short == "Cn":
        key, short = "Cn", None
    if short == "LC":
        key, short = "Lc", None
    if short:
        body, inverted = f"\\p{{{short}}}", False
    elif key in _SPECIAL_CLASSES:
        body, inverted = _SPECIAL_CLASSES[key]
    elif _exact_script(name):
        body, inverted = f"\\p{{{_exact_script(name)}}}", False
    else:
        raise GoRegexpError(f"error parsing regexp: invalid character class range: `{original}` (from Go "
                            f"{go_version[0]}.{go_version[1]} script names are matched loosely; kmwizard knows "
                            "the exact spellings only, e.g. \\p{Greek})", decided=False)
    negated ^= inverted
    if in_class:
        if negated:
            raise GoRegexpError(f"kmwizard cannot check the negated class `{original}` inside [...] as Go "
                                f"{go_version[0]}.{go_version[1]} reads it", decided=False)
        return body, stop
    return ("[^" if negated else "[") + body + "]", stop
