"""Presets: built-in answer files shipped in ``kmwizard.presets`` and the user's own,
saved under ``$XDG_CONFIG_HOME/kmwizard/presets`` (default ``~/.config/kmwizard/presets``).

A user preset with the same name as a built-in one takes precedence, so a user can
adapt a built-in preset without renaming it.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from kmwizard.answers import Answers
from kmwizard.findings import UsageError
from kmwizard.records import record
from kmwizard.regexps import lazy
from kmwizard.textfiles import InputFileError

PRESET_NAME = lazy(r"^[a-z0-9][a-z0-9._-]{0,62}$")


@record(frozen=True)
class PresetInfo:
    name: str
    description: str
    origin: str  # "built-in" or "user"
    path: str


def user_preset_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "kmwizard" / "presets"


def _builtin_files() -> dict[str, Path]:
    folder = resources.files("kmwizard.presets")
    return {Path(str(f)).stem: Path(str(f)) for f in folder.iterdir() if str(f).endswith(".yaml")}


def _user_files() -> dict[str, Path]:
    folder = user_preset_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in folder.glob("*.yaml")}


def _description(path: Path) -> str:
    """The first line of the preset's description; a broken preset says why instead of breaking the list."""
    from kmwizard.answers import parse_answers_text
    from kmwizard.textfiles import ANSWERS_MAX, read_text_file

    try:
        doc = parse_answers_text(read_text_file(path, what="preset", limit=ANSWERS_MAX), f"preset {path}") or {}
    except InputFileError as exc:
        return f"(unreadable: {exc.reason})"
    except UsageError as exc:
        return f"(broken: {exc.message.splitlines()[0]})"
    if not isinstance(doc, dict):
        return f"(not an answer file: a YAML {type(doc).__name__}, not a mapping)"
    lines = str(doc.get("description") or "").strip().splitlines()
    return lines[0] if lines else ""


def list_presets() -> list[PresetInfo]:
    found = {name: PresetInfo(name, _description(p), "built-in", str(p)) for name, p in _builtin_files().items()}
    found.update({name: PresetInfo(name, ("(replaces the built-in one) " if name in found else "") + _description(p),
                                   "user", str(p)) for name, p in _user_files().items()})
    return sorted(found.values(), key=lambda p: (p.origin != "built-in", p.name))


def preset_path(name: str) -> Path:
    path = _user_files().get(name) or _builtin_files().get(name)
    if path is None:
        names = ", ".join(p.name for p in list_presets() if not p.description.startswith(("(unreadable", "(broken")))
        raise UsageError(f"no preset named {name!r}", f"use one of: {names} (see `kmwizard presets list`)")
    return path


def load_preset(name: str) -> Answers:
    path = preset_path(name)
    return Answers.load(path, "preset", f"fix or remove the preset file {path}")


def check_preset_name(name: str) -> None:
    """A UsageError naming the rule when ``name`` cannot be a preset's (file) name."""
    if not PRESET_NAME.match(name):
        raise UsageError(f"preset name {name!r} is not allowed",
                         "use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit")


def save_user_preset(name: str, answers: Answers, description: str = "", *, force: bool = False) -> Path:
    from kmwizard.output import atomic_write

    check_preset_name(name)
    target = user_preset_dir() / f"{name}.yaml"
    if target.exists() and not force:
        raise UsageError(f"a user preset named {name!r} exists already ({target})",
                         "pick another name or confirm replacing it")
    if name in _builtin_files() and not force:  # the user's would hide the built-in one in every list
        raise UsageError(f"a built-in preset named {name!r} exists already; a user preset of that name "
                         "would take its place", "pick another name or confirm replacing it")
    from kmwizard.render import absolute_paths

    doc = absolute_paths(answers, Path.cwd()).to_document()
    if description:
        doc = {"format_version": doc.pop("format_version"), "description": description, **doc}
    import yaml

    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    atomic_write(target, text.encode(), 0o644)
    return target
