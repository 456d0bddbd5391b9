"""The preview pane: one tab per generated file, highlighted, secrets masked; and the
findings panel.  ``highlighted(file)`` is also what the benchmark times per keystroke.
"""
from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from textual.widgets import Tabs

from kmwizard.findings import Finding, Severity, sorted_findings
from kmwizard.render import OutputFile, Rendering

SEVERITY_MARK = {Severity.ERROR: "✗", Severity.WARNING: "!", Severity.INFO: "i"}
# Highlighting is linear in the text; a huge Ignition data URL would cost frames for
# nothing readable, so very long lines are cut in the preview (never in the files).
MAX_LINE = 400


def language_of(path: str) -> str | None:
    name = PurePosixPath(path).name
    suffix = PurePosixPath(path).suffix.lower()
    if name.startswith(("Dockerfile", "Containerfile")):
        return "docker"
    return {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".ign": "json", ".sh": "bash",
            ".service": "ini", ".conf": "bash", ".repo": "ini"}.get(suffix)


def _shorten(text: str) -> str:
    if all(len(line) <= MAX_LINE for line in text.splitlines()):
        return text
    return "\n".join(line if len(line) <= MAX_LINE else
                     f"{line[:MAX_LINE]}… ({len(line) - MAX_LINE} more characters, written in full)"
                     for line in text.split("\n"))


def wrap_lines(text: str, width: int | None) -> str:
    """Long lines folded at spaces with a hanging indent, so wrapped YAML keeps its shape (a wrapped
    value stays right of its key; YAML reads a more indented line as the same plain scalar)."""
    if not width or width < 20:
        return text
    out = []
    for line in text.split("\n"):
        indent = len(line) - len(line.lstrip(" "))
        hang = " " * min(indent + 4, width // 2)
        start = indent  # never cut inside the indentation
        while len(line) > width:
            cut = line.rfind(" ", start + 1, width)
            if cut <= start:
                cut = width
            out.append(line[:cut].rstrip())
            line = hang + line[cut:].lstrip(" ")
            start = len(hang)
        out.append(line)
    return "\n".join(out)


@lru_cache(maxsize=64)
def _highlight(text: str, language: str | None, width: int | None = None) -> Content:
    text = wrap_lines(_shorten(text), width)
    if not language:
        return Content(text)
    from textual.highlight import highlight  # pygments: imported after the first paint

    return highlight(text, language=language)


def highlighted(file: OutputFile, width: int | None = None) -> Content:
    """The file as the preview shows it: masked (``preview_text``), highlighted, folded to width
    (None: not folded); cached per text and width."""
    return _highlight(file.preview_text(), language_of(file.path), width)


def main_file(files) -> str | None:
    """The file a preview opens on: the Module, the ManagedClusterModule that carries it to the spokes (on
    an ACM hub), or the MachineConfig; not the Namespace or Secrets applied before it."""
    for file in files:
        if file.manifest and file.manifest.get("kind") in ("Module", "ManagedClusterModule", "MachineConfig"):
            return file.path
    return files[0].path if files else None


def file_note(file: OutputFile) -> str:
    """The status line over a shown file."""
    return f"{file.path}  mode {file.mode:04o}" + ("  (holds secrets: masked here)" if file.secret else "")


def tab_label(file: OutputFile) -> str:
    return file.title or PurePosixPath(file.path).name


def _find_all(text: str, term: str):
    start = text.find(term)
    while start != -1:
        yield start
        start = text.find(term, start + len(term))


def finding_text(finding: Finding) -> str:
    text = f"{SEVERITY_MARK[finding.severity]} {finding.where}: {finding.message}"
    return text + (f"\n  fix: {finding.fix}" if finding.fix else "")


class PreviewPane(Vertical):
    """Tabs over the generated files and the selected file's text."""

    DEFAULT_CSS = """
    PreviewPane { height: 1fr; }
    PreviewPane #preview-status { height: auto; color: $text-muted; padding: 0 1; }
    PreviewPane #preview-status:first-child { margin-bottom: 1; }  /* no file tabs above it yet */
    PreviewPane #preview-scroll { height: 1fr; overflow-x: auto; scrollbar-size-horizontal: 1; }
    PreviewPane #preview-scroll:focus { background: $boost; }
    PreviewPane #preview-text { width: auto; padding: 0 1; text-wrap: nowrap; }
    PreviewPane #preview-search { display: none; }
    PreviewPane.-searching #preview-search { display: block; }
    """
    BINDINGS = [Binding("w", "toggle_wrap", "Wrap", show=False, id="kmwizard.preview_wrap"),
                Binding("c", "app.copy_file", "Copy", show=False, id="kmwizard.preview_copy"),
                Binding("slash", "search", "Search", show=False, id="kmwizard.preview_search")]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.files: tuple[OutputFile, ...] = ()
        self.selected_path: str | None = None
        self._match = 0  # which search match is current
        self._message = ""  # what shows while there is no file
        self._stale = ""  # why the files shown are not the current answers' (mark_stale), until the next show
        self._showing = asyncio.Lock()

    def compose(self):
        # The file tabs come with the first files and the search field with the first search
        # (show, action_search): the first screen has neither to show, and every widget on it
        # costs start-up time (benchmarks/bench_startup.py).
        yield Static("", id="preview-status", markup=False)
        with VerticalScroll(id="preview-scroll"):
            yield Static("", id="preview-text", markup=False)

    # --- search (/ in the preview, ctrl+f anywhere) -------------------------------------

    async def action_search(self) -> None:
        self.add_class("-searching")
        fields = self.query("#preview-search")
        if fields:
            fields.first().focus()
            return
        field = Input(placeholder="search the file (Enter: next match, Esc: close)", id="preview-search")
        await self.mount(field, after="#preview-status")
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "preview-search":  # on to the app too, which keeps its text for ctrl+z
            self._match = 0
            self._show_matches()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "preview-search":
            event.stop()
            self._match += 1
            self._show_matches()

    def on_key(self, event) -> None:
        if event.key == "escape" and self.has_class("-searching"):
            event.stop()
            self.remove_class("-searching")
            self.query_one("#preview-search", Input).value = ""
            self._show_selected()
            self.query_one("#preview-scroll").focus()

    def _show_matches(self) -> None:
        """Every match of the search marked, the current one scrolled into view."""
        term = self.query_one("#preview-search", Input).value
        file = self._current()
        if file is None:
            return
        content = highlighted(file, self._wrap_width())
        text = str(content).lower()
        starts = [i for i in _find_all(text, term.lower())] if term else []
        stale = f"{self._stale} · " if self._stale else ""
        if not starts:
            self.query_one("#preview-text", Static).update(content)
            self.set_status(f"{stale}{file.path}: no match for {term!r}" if term else self._stale or file_note(file))
            return
        current = self._match % len(starts)
        for index, start in enumerate(starts):
            content = content.stylize("black on yellow" if index == current else "reverse", start, start + len(term))
        self.query_one("#preview-text", Static).update(content)
        line = text.count("\n", 0, starts[current])
        self.query_one("#preview-scroll").scroll_to(y=max(0, line - 3), animate=False)
        self.set_status(f"{stale}{file.path}: match {current + 1} of {len(starts)} for {term!r}")

    def action_toggle_wrap(self) -> None:
        """Long lines wrap (the default) or scroll sideways, as the YAML's indentation reads best."""
        self.toggle_class("-nowrap")
        self._show_selected()
        self.app.notify("Preview: long lines " + ("scroll sideways" if self.has_class("-nowrap") else "wrap"),
                        timeout=2)

    def _wrap_width(self) -> int | None:
        if self.has_class("-nowrap"):
            return None
        width = self.query_one("#preview-scroll").scrollable_content_region.width - 2  # the text's padding
        return width if width >= 20 else None

    def on_resize(self, _event) -> None:
        if not self.has_class("-nowrap"):
            self._show_selected()

    def set_status(self, text: str) -> None:
        status = self.query_one("#preview-status", Static)
        if str(status.content) != text:
            status.update(Content(text))

    def mark_stale(self, reason: str) -> None:
        """The status says why the files shown are not the current answers' until the next show(): a
        resize or another tab re-shows the file, and must not put its name in place of the reason."""
        self._stale = reason
        self.set_status(reason)

    async def show(self, rendering: Rendering) -> None:
        # One at a time: a second render arriving while the tabs are rebuilt would remove them under
        # the first.
        async with self._showing:
            self._stale = self._message = ""  # these files are current; without files, the default text
            if self.is_attached:
                await self._show(rendering.files)

    async def _show(self, files: tuple[OutputFile, ...]) -> None:
        # New tabs only when their labels change (not when a name inside a path does). They are a
        # new widget, built with the selected tab active: refilling one Tabs activates its first tab
        # after each mount, which fails if the app closes meanwhile, and is not the user's choice.
        if [tab_label(f) for f in files] != [tab_label(f) for f in self.files]:
            paths = [f.path for f in files]
            if self.selected_path not in paths:
                self.selected_path = main_file(files)
            self.files = files
            old = next(iter(self.query("#preview-tabs")), None)
            if old is not None:
                await old.remove()
            if files and self.is_attached:  # not if the app closed meanwhile
                from textual.widgets import Tab  # with the first files: the first screen has none

                from kmwizard.screens.file_tabs import FileTabs

                tabs = [Tab(Content(tab_label(file)), id=f"file-{index}") for index, file in enumerate(files)]
                active = f"file-{paths.index(self.selected_path)}" if self.selected_path in paths else None
                await self.mount(FileTabs(*tabs, active=active, id="preview-tabs"), before="#preview-status")
        elif files and self.selected_path not in [f.path for f in files]:
            # Same tabs: follow the selected tab's file through a rename.
            active = self._tabs().active
            if active:
                self.selected_path = files[int(active.split("-")[1])].path
        self.files = files
        self._show_selected()

    def select_path(self, path: str) -> bool:
        for index, file in enumerate(self.files):
            if file.path == path or PurePosixPath(file.path).name == path:
                self._tabs().active = f"file-{index}"
                return True
        return False

    def _tabs(self) -> Tabs:
        return self.query_one("#preview-tabs")

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        event.stop()
        # Only the tab that is active when the message arrives counts (the user may have moved on).
        if event.tab is not None and event.tab.id and event.tab.id == self._tabs().active:
            index = int(event.tab.id.split("-")[1])
            if index < len(self.files):
                self.selected_path = self.files[index].path
        self._show_selected()

    def _current(self) -> OutputFile | None:
        for file in self.files:
            if file.path == self.selected_path:
                return file
        return None

    def show_message(self, text: str) -> None:
        """Text in place of a file, while there is none to show (folded: the text does not wrap)."""
        self._message = text
        self.query_one("#preview-text", Static).update(Content(wrap_lines(text, self._wrap_width() or 40)))

    def _show_selected(self) -> None:
        text = self.query_one("#preview-text", Static)
        file = self._current()
        if file is None:
            self.show_message(self._message or "Nothing to show yet: the findings below say what is missing.")
            return
        if self.has_class("-searching"):  # a resize or another tab keeps the search's marks and count
            self._show_matches()
            return
        self.set_status(self._stale or file_note(file))
        text.update(highlighted(file, self._wrap_width()))


class FindingsPanel(OptionList):
    """Errors and warnings; selecting one asks the app to focus the field at fault."""

    class Selected(Message):
        def __init__(self, finding: Finding) -> None:
            super().__init__()
            self.finding = finding

    # The highlight marks what Enter jumps to: loud only while the panel has focus.
    DEFAULT_CSS = """
    FindingsPanel:blur > .option-list--option-highlighted { background: $boost; text-style: none; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(markup=False, **kwargs)
        self.findings: list[Finding] = []
        self.border_title = "Findings"

    def show(self, findings: list[Finding]) -> None:
        findings = sorted_findings(findings)
        if findings == self.findings:
            return
        self.findings = findings
        self.clear_options()
        if not findings:
            self.add_option(Option("✓ no findings", disabled=True))
        else:
            self.add_options(Option(finding_text(f)) for f in findings)
            self.highlighted = 0  # F6 then Enter jumps at once, with no arrow key first
        errors = sum(f.severity is Severity.ERROR for f in findings)
        warnings = sum(f.severity is Severity.WARNING for f in findings)
        self.border_title = f"Findings: {errors} error(s), {warnings} warning(s)"

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.findings):
            self.post_message(self.Selected(self.findings[event.option_index]))


def safe_render(answers) -> Rendering:
    """render(), with anything unexpected turned into an error finding: a worker thread's
    exception would otherwise vanish and leave the preview stale without a word."""
    from kmwizard.findings import KmwizardError, error
    from kmwizard.render import render

    try:
        return render(answers)
    except KmwizardError as exc:
        return Rendering(findings=(error(answers.get("method"), exc.message, exc.fix, code="render-failed"),))
    except Exception as exc:  # noqa: BLE001 - shown to the user instead of lost in a thread
        return Rendering(findings=(error(answers.get("method"), f"rendering failed: {type(exc).__name__}: {exc}",
                                         "report this as a kmwizard bug, with the answers file",
                                         code="render-crashed"),))
