"""Text the wizard shows, built without the UI (pure functions, tested on their own)."""
from __future__ import annotations

import os
from pathlib import Path

from textual.app import App
from textual.content import Content

from kmwizard.answers import Answers
from kmwizard.render import Rendering


def preset_options(presets) -> list[tuple[Content, str]]:
    return [(Content(f"{p.name} ({p.origin})" + (f": {p.description}" if p.description else "")), p.name)
            for p in presets]


def help_line(help_text: str, width: int, lines: int) -> str:
    """The focused question's help under the form, cut at a word to fit ``lines`` lines of ``width``, so
    that how to read the rest always shows. (The field's own dim hint says what empty gives.)"""
    import textwrap  # on first focus, not for the first screen

    tail = "(F1: more)"
    text = f"{help_text}  {tail}"
    if width <= 0 or len(textwrap.wrap(text, width)) <= lines:
        return text
    words = help_text.split()
    while words and len(textwrap.wrap(" ".join(words) + "…  " + tail, width)) > lines:
        words.pop()
    return " ".join(words) + "…  " + tail if words else tail


def step_label(title: str, has_errors: bool, number: int = 0, compact: bool = False) -> str:
    """A step in the step list; compact (narrow terminals): its number and ✗ mark only."""
    mark = "✗" if has_errors else " "
    return f"{mark}{number:>2}" if compact else f"{mark} {title}"


def keymap_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "kmwizard" / "keymap.yaml"


def general_help(app: App) -> str:
    keys = [f"  {b.key:6} {b.description}" for b in type(app).BINDINGS]
    return "\n".join([
        "Walk the steps on the left (F8 next, F7 back, or select one); the preview on the right shows every "
        "file that will be written, updated as you type, with secrets masked. Errors and warnings are listed "
        "under it: select one (F6, then Enter) to jump to the field at fault; F6 again fills the screen with them. "
        "Below 100 columns F9 swaps the form for the preview.",
        "", "Keys:", *keys, "  ctrl+p command palette", "  ctrl+q quit", "",
        "In the preview: / search (Enter: next match, Esc: close), w wrap long lines or not, c copy the file "
        "(as shown, secrets masked) to the clipboard. In a path field, → takes the completion.", "",
        "Undo: ctrl+z undoes the last change to the focused field's text and ctrl+y (or ctrl+shift+z) redoes "
        "it, in every text field and editor; the answers follow. A one-line field steps back one change at a time "
        "(its last 50 texts); a multi-line editor a batch of typing at a time. The wizard's own changes (ctrl+r "
        "reset to default, a completion, loading a preset or file) are steps too: ctrl+z brings your text back.",
        "",
        f"Remap keys by binding id in {keymap_path()} (e.g. kmwizard.write: ctrl+s).",
        "Focus a field and press F1 for its help.",
    ])


def dockerfile_view(answers: Answers, rendering: Rendering | None) -> tuple[str, str, bool, str]:
    """(text, path to save to, editable, note) for the Dockerfile dialog."""
    from kmwizard.findings import UsageError
    from kmwizard.textfiles import DOCKERFILE_MAX, read_text_file

    if answers.get("method") == "kmm":
        own = answers.get("kmm.dockerfile") if answers.get("kmm.build") == "dockerfile" else ""
        if own:
            try:  # never a FIFO or a device: the dialog would hang
                return (read_text_file(own, what="Dockerfile", limit=DOCKERFILE_MAX), own, True,
                        f"Your Dockerfile ({own}); it replaces the generated one.")
            except UsageError as exc:
                return "", own, True, f"{exc.message}. Save writes a new one there."
        for file in (rendering.files if rendering else ()):
            if Path(file.path).name.startswith("Dockerfile"):
                return (file.preview_text(), "Dockerfile.kmwizard", True,
                        "The generated Dockerfile. Edit and save it to use your version (kmm.dockerfile).")
        return "", "Dockerfile.kmwizard", True, "No Dockerfile generated yet: write your own."
    build_file = answers.get("kvc.build_file")
    repo = answers.get("kvc.module_repo")
    local = Path(str(repo)).expanduser()
    if local.is_dir():
        path = local / build_file
        try:
            return (read_text_file(path, what="Dockerfile", limit=DOCKERFILE_MAX), str(path), True,
                    f"{build_file} in your module repository {local}; the nodes build with it.")
        except UsageError as exc:
            return "", str(path), True, f"{exc.message}."
    return ("", "", False,
            f"The nodes build with {build_file} from {repo} (kvc.module_repo): the KVC framework fetches it at "
            f"build time. To change it, clone that repository, edit {build_file}, and point kvc.module_repo at "
            "your clone (or your fork's URL).")


def kernel_match_text(rendering: Rendering | None, kernel: str) -> str:
    """Which kernel mapping of the rendered Module takes this kernel (KMM's rules, first match wins)."""
    kernel = kernel.strip()
    if not kernel:
        return ""
    modules = [m for m in (rendering.manifests if rendering else []) if m.get("kind") == "Module"]
    if not modules:
        return "No Module rendered yet: fix the findings first."
    from kmwizard.kmm.kernel_match import match_kernel

    try:
        return match_kernel(modules[0], kernel).format()
    except Exception as exc:  # noqa: BLE001 - the tester must never take the form down with it
        return f"Cannot test {kernel!r}: {exc}"
