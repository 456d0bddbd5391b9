"""systemd unit files as Ignition and systemd read them: names Ignition accepts, and a parse that finds
what systemd would refuse or ignore (used on ``systemd.units`` and on unit files delivered as files)."""
from __future__ import annotations

from typing import Any

from kmwizard.findings import error, warning
from kmwizard.regexps import lazy

# systemd unit types Ignition accepts (config/shared/validations: validateName)
UNIT_SUFFIXES = (".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target", ".path",
                 ".timer", ".snapshot", ".slice", ".scope")
KNOWN_SECTIONS = {"Unit", "Install", "Service", "Socket", "Mount", "Automount", "Swap", "Path", "Timer",
                  "Slice", "Scope", "Device"}
_UNIT_NAME = lazy(r"^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.[a-z]+$")


# --- systemd units ------------------------------------------------------------------------------

def check_unit_name(name: Any, *, dropin: bool = False) -> str | None:
    """None when Ignition and systemd accept ``name`` as a unit (or drop-in) name, else the reason."""
    if not isinstance(name, str) or not name:
        return "the name is missing"
    if "/" in name:
        return f"{name!r} contains '/': give a file name, not a path"
    if dropin:
        return None if name.endswith(".conf") else f"drop-in {name!r} does not end in .conf: systemd ignores it"
    if not name.endswith(UNIT_SUFFIXES):
        return (f"unit name {name!r} does not end in a unit type suffix "
                f"({', '.join(UNIT_SUFFIXES)})")
    if len(name) > 255 or not _UNIT_NAME.match(name):
        return (f"unit name {name!r} has characters systemd does not allow in unit names "
                "(letters, digits, ':', '_', '.', '-', '\\' and one '@')")
    return None


def parse_unit(contents: str) -> tuple[list[tuple[str, int, str]], set[str]]:
    """Check unit file text the way Ignition (go-systemd) and systemd read it.

    Returns ``(problems, sections)``: problems as ``(severity, line, message)`` with severity
    "error" for what Ignition rejects or systemd ignores, "warning" for unknown section names.
    """
    problems: list[tuple[str, int, str]] = []
    sections: set[str] = set()
    section = None
    continued = False
    for number, raw in enumerate(contents.split("\n"), start=1):
        line = raw.rstrip("\r")
        if continued:                         # continuation of the previous value or comment
            continued = line.rstrip(" ").endswith("\\")
            continue
        stripped = line.strip()
        if not stripped:
            continue
        if stripped[0] in "#;":
            continued = line.rstrip(" ").endswith("\\")
            continue
        if stripped.startswith("["):
            end = stripped.find("]")
            if end < 0:
                problems.append(("error", number, f"section header {stripped!r} has no closing ']' "
                                 "(Ignition: unable to find end of section)"))
                return problems, sections
            if stripped[end + 1:].strip():
                problems.append(("error", number, f"text after the section header {stripped[:end + 1]!r}: "
                                 f"{stripped[end + 1:].strip()!r} (Ignition: found garbage after section name)"))
            section = stripped[1:end]
            sections.add(section)
            if section not in KNOWN_SECTIONS and not section.startswith("X-"):
                problems.append(("warning", number, f"unknown section [{section}]: systemd ignores it "
                                 "(typo? known: " + ", ".join(sorted(KNOWN_SECTIONS)) + ")"))
            continue
        if "=" not in stripped:
            problems.append(("error", number, f"line {stripped!r} is not a Key=value assignment "
                             "(Ignition: unexpected newline encountered while parsing option name)"))
            continue
        if section is None:
            problems.append(("error", number, f"assignment {stripped!r} comes before any [Section] "
                             "header: systemd ignores it"))
        continued = line.rstrip(" ").endswith("\\")
    return problems, sections


def lint_unit_text(findings: list, where: str, what: str, contents: Any) -> set[str] | None:
    if not isinstance(contents, str):
        findings.append(error(where, f"{what} contents must be a string, not {type(contents).__name__}",
                              "give the unit file text", "ign-unit-contents"))
        return None
    problems, sections = parse_unit(contents)
    for severity, line, message in problems:
        make = error if severity == "error" else warning
        findings.append(make(where, f"{what}, line {line}: {message}",
                             "fix the unit file text (see systemd.unit(5))", "ign-unit-parse"))
    return sections
