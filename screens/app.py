"""The Textual wizard: steps on the left, the current step's questions in the middle,
and a preview of every generated file (with the findings under it) always visible.

The answers live in one reactive holding an immutable ``Answers``; every change
replaces it, and the watcher re-renders.  The app is assembled from mixins, one module
per part: the form (``form``), rendering and findings (``rendering``), moving between
steps (``navigation``) and the texts it shows (``texts``); this module lays them out and
holds the actions.
"""
from __future__ import annotations

import gc
import time
from collections import OrderedDict
from pathlib import Path
from typing import Iterable
from weakref import WeakKeyDictionary

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.reactive import var
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, ContentSwitcher, Input, OptionList, Static

from kmwizard.answers import Answers
from kmwizard.findings import Finding, has_errors
from kmwizard import flow
from kmwizard.flow import Question
from kmwizard.keys import KEYS
from kmwizard.render import Rendering

from kmwizard.questions import field_help, written_text
from kmwizard.screens.extras import ExtrasMixin, TextHistory
from kmwizard.screens.fields import key_of
from kmwizard.screens.footer import KeyFooter
from kmwizard.screens.form import FormMixin, PresetList, StepScroll
from kmwizard.screens.navigation import NavigationMixin
from kmwizard.screens.preview import FindingsPanel, PreviewPane
from kmwizard.screens.rendering import RenderingMixin
from kmwizard.screens.title_bar import TitleBar

NARROW_BELOW = 100  # columns: below, the steps become a strip and F9 swaps the form for the preview
INPUT_POLL_SECONDS = 2.0  # how soon a file added to a local tree shows in the preview
QUIT_AGAIN_SECONDS = 5.0  # a second ctrl+q within this quits with unsaved answers

from kmwizard.screens.texts import dockerfile_view, general_help, kernel_match_text, keymap_path


class WizardApp(FormMixin, RenderingMixin, NavigationMixin, ExtrasMixin, App[int]):
    CSS_PATH = "wizard.tcss"
    TITLE = "kmwizard"
    SUB_TITLE = "kernel modules for OpenShift"
    ALLOW_IN_MAXIMIZED_VIEW = "KeyFooter"  # the keys stay in view when F6 fills the screen with the findings
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_BELOW, "-medium"), (110, "-wide")]
    # Every binding has an id so users can remap it in keymap.yaml (see docs/tui.md).
    # F-keys and priority: a focused Input would otherwise swallow ctrl-keys.
    BINDINGS = [
        Binding("f1", "help", "Help", id="kmwizard.help", priority=True),
        Binding("f2", "write", "Write", id="kmwizard.write", priority=True),
        Binding("f3", "apply", "Apply", id="kmwizard.apply", priority=True),
        Binding("f4", "save_preset", "Save", id="kmwizard.save_preset", priority=True),
        Binding("f5", "dockerfile", "Dockerfile", id="kmwizard.dockerfile", priority=True, show=False),
        Binding("f6", "findings", "Findings", id="kmwizard.findings", priority=True),
        Binding("f7", "back", "Back", id="kmwizard.back", priority=True),
        Binding("f8", "next", "Next", id="kmwizard.next", priority=True),
        Binding("f9", "toggle_preview", "Preview", id="kmwizard.toggle_preview", priority=True),
        # Not in the footer (F1 lists them). The same keys in every field and editor, dialogs included
        # (only priority bindings of the app reach a dialog): one-line fields keep a history in the app,
        # editors their TextArea's own (screens/extras.py).
        Binding("ctrl+z", "undo_field", "Undo", id="kmwizard.undo", priority=True, show=False),
        Binding("ctrl+y,ctrl+shift+z", "redo_field", "Redo", id="kmwizard.redo", priority=True, show=False),
        Binding("ctrl+r", "reset_field", "Reset to default", id="kmwizard.reset", show=False),
        Binding("ctrl+f", "search_preview", "Search the preview", id="kmwizard.search", show=False),
        # After `tui --from`: F10, as F9 swaps the form and the preview (issue 13's narrow layout).
        Binding("f10", "import_changes", "Changes", id="kmwizard.import_changes", priority=True, show=False),
    ]

    answers: var[Answers] = var(Answers, init=False)

    def __init__(self, answers: Answers | None = None, *, keymap_file: Path | None = None,
                 imported=None, imported_from: str = "") -> None:
        super().__init__()
        self.imported, self.imported_from = imported, imported_from  # an ImportPlan (tui --from)
        self.set_reactive(WizardApp.answers, answers or Answers())
        self.rendering: Rendering | None = None     # the latest render of the current answers
        self.shown: Rendering | None = None         # what the preview shows (last one with files)
        self.input_errors: dict[str, Finding] = {}  # text the user typed that is not a valid value
        self._cache: OrderedDict[tuple, Rendering] = OrderedDict()  # (answers, input_state) -> rendering
        # Nothing is cloned until the user has chosen the method and repositories (or brought answers).
        self.fetch_allowed = bool(answers and answers.explicit)
        self.waiting_for_fetch: list[str] = []  # the URLs a render would clone, while not allowed to
        self._busy_since: float | None = None
        self._render_pending = False
        self._steps: list[str] = []
        self._current_step = "method"  # the step the form shows (NavigationMixin.goto_step)
        self._built: set[str] = {"method"}  # steps whose widgets are mounted
        self._mounting: dict = {}  # step id -> AwaitMount of its widgets, until focus needs them
        self.keymap_file = keymap_file
        self._compact_steps = False
        self._histories: WeakKeyDictionary[Widget, TextHistory] = WeakKeyDictionary()  # fields' undo (not editors)
        self._rows: dict[str, list] = {}  # step id -> its FieldRows, as built (FormMixin.field_rows)
        self._set_aside: dict[str, dict] = {}  # method -> its answers, while the other method is chosen
        self._kept = self.answers  # the answers as last loaded, saved as a preset or written (ctrl+q asks if not)
        self._quit_asked = float("-inf")  # when ctrl+q last warned
        self.questions: dict[str, Question] = {q.key: q for s in flow.FLOW for q in s.questions if q.key in KEYS}

    # --- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Horizontal(id="main"):
            yield OptionList(id="steps", markup=False)
            with Vertical(id="form-column"):
                with ContentSwitcher(id="forms", initial="step-method"):
                    # Only the first step is built now; the others and the review on their first
                    # visit (FormMixin._build_step), which keeps the first screen fast (every mounted
                    # widget costs start-up time: see benchmarks/bench_startup.py).
                    with StepScroll(id="step-method", classes="step"):
                        yield from self._step_widgets(flow.FLOW[0])
                yield Static("", id="help-line", markup=False)
                yield Static("", id="form-status", markup=False)  # narrow: the findings' count under the form
            with Vertical(id="preview-column"):
                yield PreviewPane(id="preview")
                yield FindingsPanel(id="findings")
        # The palette key (ctrl+p) is in the F1 help: the footer's room goes to the wizard's keys.
        yield KeyFooter()

    # --- start-up ----------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        # The terminal's breakpoint class from the start: Textual adds it on the first Resize, after the
        # first frame, which then restyles every widget and redraws the screen in another layout.
        width = self.size.width
        breakpoint = next(name for edge, name in sorted(self.HORIZONTAL_BREAKPOINTS, reverse=True) if width >= edge)
        return Screen(id="_default", classes=breakpoint)

    def on_mount(self) -> None:
        self._compact_steps = self.narrow
        self._load_keymap()
        self._refresh_structure()
        self.sub_title = flow.FLOW[0].title  # in the first frame, as goto_step sets it for every other step
        self.call_after_refresh(self._after_first_paint)
        # After the first paint: the render thread would compete with it for the interpreter.
        self.call_after_refresh(self._request_render)
        self.call_after_refresh(self._refresh_presets)
        self.set_interval(INPUT_POLL_SECONDS, self._check_inputs)
        self.query_one("#steps", OptionList).highlighted = 0
        if self.imported is not None:
            self.call_after_refresh(self.action_import_changes)

    def _after_first_paint(self) -> None:
        if not gc.isenabled():  # run_tui kept the collector off for the start-up (kmwizard.main)
            gc.freeze()  # what start-up built lives as long as the app: later passes need not scan it
            gc.enable()

    def _load_keymap(self) -> None:
        """User key remapping: {binding id: keys} in $XDG_CONFIG_HOME/kmwizard/keymap.yaml."""
        path = self.keymap_file or keymap_path()
        if not path.is_file():
            return
        import yaml

        from kmwizard.findings import KmwizardError
        from kmwizard.safe_yaml import load_answers
        from kmwizard.textfiles import ANSWERS_MAX, read_text_file

        try:  # a regular file of sane size, YAML without aliases: a FIFO or an alias bomb must not hang the start
            keymap = load_answers(read_text_file(path, what="key map", limit=ANSWERS_MAX), str(path)) or {}
            if not isinstance(keymap, dict) or not all(isinstance(v, str) for v in keymap.values()):
                raise ValueError("expected a mapping of binding ids to keys, e.g. kmwizard.write: ctrl+s")
        except (OSError, ValueError, yaml.YAMLError, KmwizardError) as exc:
            self.notify(f"{path}: {exc}", title="keymap ignored", severity="warning", markup=False)
            return
        self.set_keymap(keymap)

    @on(OptionList.OptionSelected, "#start-preset")
    def _preset_chosen(self, event: OptionList.OptionSelected) -> None:
        self._load_preset(event.option.id)

    @on(OptionList.OptionHighlighted, "#start-preset")
    def _preset_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        # The list cuts long descriptions: the highlighted one is read in full under the form.
        self.query_one("#help-line", Static).update(Content(f"{event.option.prompt}  (Enter loads it)"))

    @on(Input.Submitted, "#start-file")
    def _load_file(self) -> None:
        from kmwizard.findings import KmwizardError

        raw = self.query_one("#start-file", Input).value.strip()
        if not raw:
            self.notify("Type the path of an answers file first.", severity="warning")
            return
        path = Path(raw).expanduser()
        where = "" if path.is_absolute() else f" (relative to {Path.cwd()}, where kmwizard started)"
        try:
            answers = Answers.load(path, "answers file", f"check the path typed in the answers file field{where}")
        except KmwizardError as exc:
            self.notify(f"{exc.message}\n{exc.fix}", title="answers file", severity="error", markup=False)
            return
        self.load_answers(answers, raw)
    # --- actions -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # Wizard actions only on the main screen, not on top of a dialog.
        if action in {"write", "apply", "save_preset", "dockerfile", "findings", "back", "next", "toggle_preview"}:
            return not isinstance(self.screen, ModalScreen)
        return True

    def action_help(self) -> None:
        from kmwizard.screens.dialogs import HelpScreen

        if isinstance(self.screen, HelpScreen):  # F1 again closes the help
            self.screen.dismiss(None)
            return
        if isinstance(self.screen, ModalScreen):  # no field help on top of another dialog
            return
        key = key_of(getattr(self.focused, "id", None))
        question = self.questions.get(key or "")
        if question is None:
            self.push_screen(HelpScreen("kmwizard: keys and steps", general_help(self)))
            return
        self.push_screen(HelpScreen(question.prompt, field_help(question, self.answers)))

    def action_findings(self) -> None:
        """F6: focus the findings; again: fill the screen with them; again: back."""
        panel = self.query_one(FindingsPanel)
        if self.screen.maximized is panel:
            self.screen.minimize()
            return
        if self.focused is panel:
            self.screen.maximize(panel, container=False)
            return
        if self.narrow:  # the findings live in the preview column, hidden behind the form
            self.query_one("#main").add_class("-preview-big")
        panel.focus()

    async def action_search_preview(self) -> None:
        if self.narrow:
            self.query_one("#main").add_class("-preview-big")
        await self.query_one(PreviewPane).action_search()

    def action_toggle_preview(self) -> None:
        """Narrow terminals: swap the form and the preview. Wide ones: the preview in the form's place."""
        main = self.query_one("#main")
        main.toggle_class("-preview-big")
        if main.has_class("-preview-big"):
            self.query_one("#preview-scroll").focus()
        else:
            self._focus_first_field(self.current_step)

    @property
    def narrow(self) -> bool:
        return self.size.width < NARROW_BELOW

    def on_resize(self, event) -> None:
        compact = event.size.width < NARROW_BELOW  # self.size follows a moment later
        if compact != self._compact_steps:  # the step list: titles, or numbers and ✗ marks
            self._compact_steps = compact
            self._fill_step_list()

    def _rendering_for_output(self) -> Rendering | None:
        if self.waiting_for_fetch:
            self.allow_fetch()
            self.notify("Fetching the KVC repositories first: try again when the preview shows the files.",
                        severity="warning")
            return None
        if self.rendering is None or self._busy_since is not None or self._render_key() not in self._cache:
            self.notify("Still rendering: try again in a moment.", severity="warning")
            return None
        findings = self.findings()
        if has_errors(findings):
            self.notify("Fix the errors in the findings panel first (F6, Enter jumps to the field).",
                        severity="error")
            return None
        return self.rendering

    def action_write(self) -> None:
        from kmwizard.screens.dialogs import WriteScreen

        rendering = self._rendering_for_output()
        if rendering is None:
            return

        answers = self.answers

        def done(plan) -> None:
            if plan is not None:
                self._kept = answers
                self.notify(written_text(plan), markup=False)

        self.push_screen(WriteScreen(answers, rendering), done)

    def action_apply(self) -> None:
        rendering = self._rendering_for_output()
        if rendering is None:
            return
        from kmwizard.screens.apply import ApplyScreen  # imports the cluster code only now

        self.push_screen(ApplyScreen(self.answers, rendering))

    def action_save_preset(self) -> None:
        from kmwizard.screens.dialogs import SavePresetScreen

        answers = self.answers

        def done(path) -> None:
            if path:
                self._kept = answers
                self.notify(f"Saved preset {Path(path).stem} ({path})", markup=False)
                self._refresh_presets()

        self.push_screen(SavePresetScreen(answers), done)

    async def action_quit(self) -> None:
        """ctrl+q. Answers changed since they were loaded, saved or written would be lost: the first press
        says so and how to keep them; a second one within QUIT_AGAIN_SECONDS quits."""
        now = time.monotonic()
        if self.answers != self._kept and now - self._quit_asked > QUIT_AGAIN_SECONDS:
            self._quit_asked = now
            self.notify("Your answers are not saved: F4 saves them as a preset, F2 writes the files. "
                        "ctrl+q again quits.", title="quit?", severity="warning", timeout=QUIT_AGAIN_SECONDS)
            return
        self.exit()

    def _refresh_presets(self) -> None:
        from kmwizard.preset_store import list_presets

        self.query_one(PresetList).show_presets(list_presets())

    def action_dockerfile(self) -> None:
        from kmwizard.screens.dialogs import DockerfileScreen

        text, path, editable, note = dockerfile_view(self.answers, self.rendering)

        def done(result) -> None:
            if result and self.answers.get("method") == "kmm":
                saved, _text = result
                # kmm.build=dockerfile is what makes the renderer read kmm.dockerfile.
                self.answers = self.answers.update({"kmm.build": "dockerfile", "kmm.dockerfile": str(saved)})
                self.sync_fields()
                self.notify(f"Saved {saved}; the Module now builds with it (kmm.build=dockerfile).", markup=False)
            elif result:
                self.notify(f"Saved {result[0]}.", markup=False)
                self._request_render()  # the cache keys on the repository's state: this re-renders

        self.push_screen(DockerfileScreen(text, path, editable=editable, note=note), done)

    def action_import_changes(self) -> None:
        """What generating the current answers changes against the imported objects (tui --from)."""
        if self.imported is None:
            self.notify("Nothing was imported: start with `kmwizard tui --from FILE` to compare", timeout=4)
            return
        from kmwizard.screens.import_changes import ImportChangesScreen

        self.push_screen(ImportChangesScreen(self.imported, self.answers, self.imported_from))

    def action_migrate(self) -> None:
        """KVC -> KMM (the command palette's "Migrate to KMM"): the answers are replaced on confirmation."""
        from kmwizard.screens.migrate_dialog import MigrateScreen

        def done(answers: Answers | None) -> None:
            if answers is not None:
                self.load_answers(answers, "the KMM answers of the migration (F2 writes them)", saved=False)

        self.push_screen(MigrateScreen(self.answers, read_now=self.fetch_allowed), done)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"do-write": self.action_write, "do-apply": self.action_apply,
                   "do-save": self.action_save_preset, "do-dockerfile": self.action_dockerfile}
        if event.button.id in actions:
            actions[event.button.id]()

    def _test_kernel(self, kernel: str) -> None:
        result = self.query_one("#kernel-result", Static)
        result.update(Content(kernel_match_text(self.shown, kernel)))
        # Bring the answer into view under the input (once it has its new height).
        self.call_after_refresh(result.scroll_visible, animate=False)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Write files", "Write the generated files to a directory (F2)", self.action_write)
        yield SystemCommand("Apply to the cluster", "Dry run, diff, then apply (F3)", self.action_apply)
        yield SystemCommand("Save answers as preset", "Store the answers as a user preset (F4)",
                            self.action_save_preset)
        yield SystemCommand("Dockerfile", "View or edit the Dockerfile (F5)", self.action_dockerfile)
        yield SystemCommand("Findings", "Focus the findings panel (F6)", self.action_findings)
        if self.answers.get("method") == "kvc":
            yield SystemCommand("Migrate to KMM", "Turn these KVC answers into a KMM Module, with the steps to "
                                "switch", self.action_migrate)
        if self.imported is not None:
            yield SystemCommand("Imported: changes", "What generating changes against the imported objects (F10)",
                                self.action_import_changes)
        for sid in self._steps:
            title = {s.id: s.title for s in flow.FLOW}.get(sid, "Review")
            yield SystemCommand(f"Go to step: {title}", f"Show the {title} step",
                                lambda sid=sid: (self.goto_step(sid), self._focus_first_field(sid)))



def run_app(answers: Answers, *, imported=None, imported_from: str = "") -> int:
    """Run the wizard on this terminal; the exit code for the CLI.  ``imported``: the ImportPlan of
    `tui --from`, whose changes F10 shows."""
    app = WizardApp(answers, imported=imported, imported_from=imported_from)
    app.run()
    return app.return_code or 0
