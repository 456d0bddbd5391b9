"""The Textual wizard: steps on the left, the current step's questions in the middle,
and a preview of every generated file (with the findings under it) always visible.

The answers live in one reactive holding an immutable ``Answers``; every change
replaces it, and the watcher re-renders.  Rendering runs in a thread worker (a KVC
render may clone and build for seconds on first use; a daemon thread, so quitting never
waits for it), one at a time: keystrokes
that arrive meanwhile are coalesced into one render of the latest answers, and
results are cached per answers, so typing never waits for the renderer.
"""
from __future__ import annotations

import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.reactive import var
from textual.screen import ModalScreen, Screen
from textual.widgets import (Button, ContentSwitcher, Footer, Header, Input, Label, OptionList, ProgressBar,
                             Select, Static)
from textual.widgets.option_list import Option

from kmwizard.answers import Answers, AnswersError
from kmwizard.findings import Finding, Severity, error, has_errors
from kmwizard import flow
from kmwizard.flow import Question, Step, questions_for, step_of, steps_for
from kmwizard.keys import KEYS
from kmwizard.render import Rendering

from kmwizard.questions import apply_text, display_text, field_help
from kmwizard.redact import mask_credentials
from kmwizard.screens.background import start_daemon
from kmwizard.screens.fields import FieldRow, field_id, key_of
from kmwizard.screens.preview import FindingsPanel, PreviewPane, safe_render

if TYPE_CHECKING:  # TextArea is imported when a multi-line question first appears
    from textual.widgets import TextArea

REVIEW = "review"
RENDER_CACHE_SIZE = 64


class Rendered(Message):
    """A render finished in the worker thread (posted, so it is thread-safe)."""

    def __init__(self, answers: Answers, rendering: Rendering) -> None:
        super().__init__()
        self.answers, self.rendering = answers, rendering


class WizardApp(App[int]):
    CSS_PATH = "wizard.tcss"
    TITLE = "kmwizard"
    SUB_TITLE = "kernel modules for OpenShift"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
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
        Binding("f9", "import_changes", "Changes", id="kmwizard.import_changes", priority=True, show=False),
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
        self._cache: OrderedDict[Answers, Rendering] = OrderedDict()
        self._busy_since: float | None = None
        self._render_pending = False
        self._steps: list[str] = []
        self._built: set[str] = {"method"}  # steps whose widgets are mounted
        self._mounting: dict = {}  # step id -> AwaitMount of its widgets, until focus needs them
        self.keymap_file = keymap_file
        self.questions: dict[str, Question] = {q.key: q for s in flow.FLOW for q in s.questions if q.key in KEYS}

    # --- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="main"):
            yield OptionList(id="steps", markup=False)
            with Vertical(id="form-column"):
                with ContentSwitcher(id="forms", initial="step-method"):
                    for step in flow.FLOW:
                        # Only the first step is built now; the others on first visit, which
                        # keeps the first screen fast (every mounted widget costs start-up time).
                        with VerticalScroll(id=f"step-{step.id}", classes="step"):
                            yield Static(Content(step.title), classes="step-title")
                            if step.id == "method":
                                yield from self._step_widgets(step)
                    with VerticalScroll(id=f"step-{REVIEW}", classes="step"):
                        yield Static("Review", classes="step-title")
                        yield Static("", id="review-summary", markup=False)
                        with Vertical(classes="actions"):
                            yield Button("Write the files (F2)", id="do-write", variant="primary", compact=True)
                            yield Button("Apply to the cluster (F3)", id="do-apply", compact=True)
                            yield Button("Save as a preset (F4)", id="do-save", compact=True)
                        yield Label("Your answers (what Save preset stores; the rest are defaults):",
                                    classes="section")
                        yield Static("", id="review-answers", markup=False)
                        yield Static("", id="review-notes", markup=False)
                yield Static("", id="help-line", markup=False)
            with Vertical(id="preview-column"):
                yield PreviewPane(id="preview")
                yield ProgressBar(total=None, show_eta=False, id="render-progress")
                yield FindingsPanel(id="findings")
        yield Footer(compact=True)

    def _step_widgets(self, step: Step) -> list:
        widgets: list = []
        if step.id != "method":
            widgets.append(Static(step.intro, classes="step-intro", markup=False))
        widgets += [FieldRow(q, self.answers) for q in step.questions if q.key in KEYS]
        if step.id == "method":
            widgets += [
                Label("Or start from a preset (replaces the answers):", classes="section"),
                # Options filled after the first paint: listing reads every preset file.
                Select([], prompt="choose a preset", id="start-preset"),
                Label("…or an answers file:", classes="section"),
                Horizontal(Input(placeholder="path/to/answers.yaml", id="start-file"),
                           Button("Load", id="start-load"), classes="row"),
                Label("Which method?", classes="section"),
                Static(step.intro, classes="step-intro", markup=False),
            ]
        if step.id == "source":
            widgets.append(Vertical(Button("View / edit the Dockerfile (F5)", id="do-dockerfile", compact=True),
                                    classes="actions"))
        if step.id == "mappings":
            widgets += [Label("Test the mappings with a kernel version:", classes="section"),
                        Input(placeholder="e.g. 5.14.0-427.13.1.el9_4.x86_64", id="kernel-test"),
                        Static("", id="kernel-result", markup=False)]
        return widgets

    def _build_step(self, step_id: str) -> None:
        if step_id in self._built or step_id == REVIEW:
            return
        self._built.add(step_id)
        step = next(s for s in flow.FLOW if s.id == step_id)
        container = self.query_one(f"#step-{step_id}")
        self._mounting[step_id] = container.mount_all(self._step_widgets(step))
        self._refresh_structure()

    # --- start-up ----------------------------------------------------------------------

    def on_mount(self) -> None:
        self._load_keymap()
        self._refresh_structure()
        # After the first paint: the render thread would compete with it for the interpreter.
        self.call_after_refresh(self._request_render)
        self.call_after_refresh(self._refresh_presets)
        self.query_one("#steps", OptionList).highlighted = 0
        if self.imported is not None:
            self.call_after_refresh(self.action_import_changes)

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

    # --- answers -> widgets --------------------------------------------------------------

    def watch_answers(self, _old: Answers, _new: Answers) -> None:
        self._refresh_structure()
        self._request_render()

    def _refresh_structure(self) -> None:
        """Show the questions and steps that apply to the current answers."""
        answers = self.answers
        for step in flow.FLOW:
            if step.id not in self._built:
                continue
            shown = {q.key for q in questions_for(step, answers)}
            for row in self.query_one(f"#step-{step.id}").query(FieldRow):
                row.display = row.question.key in shown
        steps = [s.id for s in steps_for(answers)] + [REVIEW]
        if steps != self._steps:
            self._steps = steps
            self._fill_step_list()

    def _fill_step_list(self) -> None:
        titles = {s.id: s.title for s in flow.FLOW} | {REVIEW: "Review"}
        bad = self._steps_with_errors()
        steps = self.query_one("#steps", OptionList)
        highlighted = steps.highlighted
        steps.clear_options()
        steps.add_options(Option(step_label(titles[sid], sid in bad), id=sid) for sid in self._steps)
        current = self.current_step
        if current in self._steps:
            steps.highlighted = self._steps.index(current)
        elif highlighted is not None:
            steps.highlighted = min(highlighted, len(self._steps) - 1)

    def _steps_with_errors(self) -> set[str]:
        bad = set()
        for finding in self.findings():
            if finding.severity is Severity.ERROR:
                step = step_of(finding.where.split(":", 1)[0])
                if step is not None:
                    bad.add(step.id)
        return bad

    def sync_fields(self) -> None:
        """Put the answers into every widget (after loading a preset or a file)."""
        self.input_errors.clear()
        for row in self.query(FieldRow):
            row.show(self.answers)
            row.remove_class("-invalid")

    def load_answers(self, answers: Answers, source: str) -> None:
        self.answers = answers
        self.sync_fields()
        self.notify(f"Loaded {source}", markup=False)

    # --- widgets -> answers --------------------------------------------------------------

    def _take_text(self, widget_id: str | None, text: str) -> None:
        key = key_of(widget_id)
        question = self.questions.get(key or "")
        if question is None:
            return
        row = self.query_one("#row-" + field_id(key)[2:], FieldRow)
        if text == display_text(question, self.answers):
            if self.input_errors.pop(key, None):
                row.remove_class("-invalid")
                self._show_findings()
            return
        try:
            answers = apply_text(question, text, self.answers)
        except AnswersError as exc:
            self.input_errors[key] = exc.findings[0] if exc.findings else error(key, str(exc))
            row.add_class("-invalid")
            self._show_findings()
            return
        if self.input_errors.pop(key, None):
            row.remove_class("-invalid")
        self.answers = answers

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "kernel-test":
            self._test_kernel(event.value)
        else:
            self._take_text(event.input.id, event.value)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._take_text(event.text_area.id, event.text_area.text)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.value is Select.NULL:
            return
        if event.select.id == "start-preset":
            self._load_preset(str(event.value))
            return
        key = key_of(event.select.id)
        if key is None or event.value == self.answers.get(key):
            return
        try:
            self.answers = self.answers.set(key, event.value)
        except AnswersError as exc:
            self.input_errors[key] = exc.findings[0]
            self._show_findings()

    def _load_preset(self, name: str) -> None:
        from kmwizard.preset_store import load_preset
        from kmwizard.findings import KmwizardError

        try:
            answers = load_preset(name)
        except KmwizardError as exc:
            self.notify(f"{exc.message}\n{exc.fix}", title=f"preset {name}", severity="error", markup=False)
            return
        self.load_answers(answers, f"preset {name}")

    @on(Button.Pressed, "#start-load")
    @on(Input.Submitted, "#start-file")
    def _load_file(self) -> None:
        from kmwizard.findings import KmwizardError

        raw = self.query_one("#start-file", Input).value.strip()
        if not raw:
            self.notify("Type the path of an answers file first.", severity="warning")
            return
        try:
            answers = Answers.load(Path(raw).expanduser())
        except KmwizardError as exc:
            self.notify(f"{exc.message}\n{exc.fix}", title="answers file", severity="error", markup=False)
            return
        self.load_answers(answers, raw)

    # --- rendering -----------------------------------------------------------------------

    def _request_render(self) -> None:
        cached = self._cache.get(self.answers)
        if cached is not None:
            self._cache.move_to_end(self.answers)
            self.call_next(self._show_rendering, cached)
            return
        if self._busy_since is not None:
            self._render_pending = True  # picked up when the running render finishes
            return
        self._start_render(self.answers)

    def _start_render(self, answers: Answers) -> None:
        self._busy_since = time.monotonic()
        self._render_pending = False
        self.set_timer(0.2, self._show_busy)
        start_daemon(self._render_in_thread, answers, name="kmwizard-render")

    def _render_in_thread(self, answers: Answers) -> None:
        # safe_render turns every failure into a finding: nothing can vanish in this thread.
        self.post_message(Rendered(answers, safe_render(answers)))

    def _show_busy(self) -> None:
        if self._busy_since is None:
            return
        elapsed = time.monotonic() - self._busy_since
        self.query_one("#render-progress").add_class("-busy")
        self.query_one(PreviewPane).set_status(
            f"rendering… {elapsed:.0f} s (a first KVC render clones and builds the repositories)")
        self.set_timer(0.5, self._show_busy)

    async def on_rendered(self, message: Rendered) -> None:
        self._cache[message.answers] = message.rendering
        while len(self._cache) > RENDER_CACHE_SIZE:
            self._cache.popitem(last=False)
        self._busy_since = None
        self.query_one("#render-progress").remove_class("-busy")
        if message.answers == self.answers:
            await self._show_rendering(message.rendering)
        elif self.answers in self._cache:
            await self._show_rendering(self._cache[self.answers])
        else:
            self._start_render(self.answers)

    async def _show_rendering(self, rendering: Rendering) -> None:
        self.rendering = rendering
        preview = self.query_one(PreviewPane)
        if rendering.files or self.shown is None:
            self.shown = rendering
            await preview.show(rendering)
        if not rendering.files and has_errors(rendering.findings):
            preview.set_status("✗ not rendered: fix the errors below (the last good preview stays)")
        self._show_findings()
        self._update_review()
        tester = self.query("#kernel-test")
        if tester and tester.first(Input).value:
            self._test_kernel(tester.first(Input).value)

    def findings(self) -> list[Finding]:
        rendered = list(self.rendering.findings) if self.rendering else []
        typed = [f for f in self.input_errors.values()]
        return typed + [f for f in rendered if f.where not in self.input_errors]

    def _show_findings(self) -> None:
        self.query_one(FindingsPanel).show(self.findings())
        bad = self._steps_with_errors()
        steps = self.query_one("#steps", OptionList)
        titles = {s.id: s.title for s in flow.FLOW} | {REVIEW: "Review"}
        for i, sid in enumerate(self._steps):
            label = step_label(titles[sid], sid in bad)
            option = steps.get_option_at_index(i)
            if str(option.prompt) != label:
                steps.replace_option_prompt_at_index(i, label)

    def _update_review(self) -> None:
        findings = self.findings()
        errors = sum(f.severity is Severity.ERROR for f in findings)
        warnings = sum(f.severity is Severity.WARNING for f in findings)
        files = self.rendering.files if self.rendering else ()
        summary = f"{len(files)} file(s) to write, {errors} error(s), {warnings} warning(s)."
        if errors:
            summary += " Fix the errors first: select one in the findings panel (F6) to jump to its field."
        notes = "\n".join(f"note: {note}" for note in (self.rendering.notes if self.rendering else ()))
        self._set_text("#review-summary", summary)
        # what Save preset stores, as shown: a password in a URL answer is masked (the answer itself is refused)
        self._set_text("#review-answers", mask_credentials(self.answers.to_yaml()).rstrip())
        self._set_text("#review-notes", notes)

    def _set_text(self, selector: str, text: str) -> None:
        widget = self.query_one(selector, Static)
        if str(widget.content) != text:  # an update costs a layout pass: skip it when nothing changed
            widget.update(Content(text))

    # --- navigation ----------------------------------------------------------------------

    @property
    def current_step(self) -> str:
        return (self.query_one("#forms", ContentSwitcher).current or "step-method").removeprefix("step-")

    def goto_step(self, step_id: str) -> None:
        self._build_step(step_id)
        self.query_one("#forms", ContentSwitcher).current = f"step-{step_id}"
        if step_id in self._steps:
            self.query_one("#steps", OptionList).highlighted = self._steps.index(step_id)
        self.sub_title = {s.id: s.title for s in flow.FLOW}.get(step_id, "Review")

    async def show_step(self, step_id: str) -> None:
        """goto_step, returning once the step's widgets are mounted (for scripts and tests)."""
        self.goto_step(step_id)
        pending = self._mounting.pop(step_id, None)
        if pending is not None:
            await pending

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "steps" and event.option.id:
            self.goto_step(event.option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "steps" and event.option.id:
            self.goto_step(event.option.id)
            self._focus_first_field(event.option.id)

    def _focus_first_field(self, step_id: str) -> None:
        self.call_later(self._focus_in_step, step_id, None)

    async def _focus_in_step(self, step_id: str, key: str | None) -> None:
        """Focus a field (or the step's first visible one) once the step's widgets are mounted."""
        pending = self._mounting.pop(step_id, None)
        if pending is not None:
            await pending
        if key is not None:
            widget = self.query_one("#" + field_id(key))
        else:
            rows = [row for row in self.query_one(f"#step-{step_id}").query(FieldRow) if row.display]
            if not rows:
                return
            widget = rows[0].input
        widget.focus()
        widget.scroll_visible()

    def _move(self, delta: int) -> None:
        current = self.current_step
        index = self._steps.index(current) if current in self._steps else 0
        target = self._steps[max(0, min(len(self._steps) - 1, index + delta))]
        self.goto_step(target)
        self._focus_first_field(target)

    def action_next(self) -> None:
        self._move(+1)

    def action_back(self) -> None:
        self._move(-1)

    def focus_key(self, key: str) -> bool:
        """Move to the step asking for key and focus its field."""
        step = step_of(key)
        question = self.questions.get(key)
        if step is None or question is None or not question.when(self.answers):
            return False
        self.goto_step(step.id)
        self.call_later(self._focus_in_step, step.id, key)
        return True

    def on_findings_panel_selected(self, message: FindingsPanel.Selected) -> None:
        where = message.finding.where
        head = where.split(":", 1)[0]
        if self.focus_key(head) or self.focus_key(where):
            return
        if self.query_one(PreviewPane).select_path(head):
            return
        self.notify(f"{head} is not asked in the wizard: set it in an answers file or with --set.",
                    severity="warning", markup=False)

    def on_descendant_focus(self, event) -> None:
        key = key_of(getattr(event.widget, "id", None))
        question = self.questions.get(key or "")
        text = f"{question.help}  (Empty: the default. F1: more)" if question else ""
        self.query_one("#help-line", Static).update(Content(text))

    # --- actions -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # Wizard actions only on the main screen, not on top of a dialog.
        if action in {"write", "apply", "save_preset", "dockerfile", "findings", "back", "next"}:
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
        self.query_one(FindingsPanel).focus()

    def _rendering_for_output(self) -> Rendering | None:
        if self.rendering is None or self._busy_since is not None or self.answers not in self._cache:
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

        def done(written) -> None:
            if written:
                self.notify(f"Wrote {len(written)} file(s) into {Path(written[0]).parent}", markup=False)

        self.push_screen(WriteScreen(self.answers, rendering), done)

    def action_apply(self) -> None:
        rendering = self._rendering_for_output()
        if rendering is None:
            return
        from kmwizard.screens.apply import ApplyScreen  # imports the cluster code only now

        self.push_screen(ApplyScreen(self.answers, rendering))

    def action_save_preset(self) -> None:
        from kmwizard.screens.dialogs import SavePresetScreen

        def done(path) -> None:
            if path:
                self.notify(f"Saved preset {Path(path).stem} ({path})", markup=False)
                self._refresh_presets()

        self.push_screen(SavePresetScreen(self.answers), done)

    def _refresh_presets(self) -> None:
        from kmwizard.preset_store import list_presets

        select = self.query_one("#start-preset", Select)
        select.set_options(preset_options(list_presets()))

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
                self.load_answers(answers, "the KMM answers of the migration (F2 writes them)")

        self.push_screen(MigrateScreen(self.answers), done)

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
                self._cache.clear()  # a local repository changed under the same answers
                self._request_render()

        self.push_screen(DockerfileScreen(text, path, editable=editable, note=note), done)

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
            yield SystemCommand("Imported: changes", "What generating changes against the imported objects (F9)",
                                self.action_import_changes)
        for sid in self._steps:
            title = {s.id: s.title for s in flow.FLOW}.get(sid, "Review")
            yield SystemCommand(f"Go to step: {title}", f"Show the {title} step",
                                lambda sid=sid: (self.goto_step(sid), self._focus_first_field(sid)))


# --- text helpers (pure, tested without the UI) ----------------------------------------

def preset_options(presets) -> list[tuple[Content, str]]:
    return [(Content(f"{p.name} ({p.origin})" + (f": {p.description}" if p.description else "")), p.name)
            for p in presets]


def step_label(title: str, has_errors: bool) -> str:
    return f"{'✗' if has_errors else ' '} {title}"


def keymap_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "kmwizard" / "keymap.yaml"


def general_help(app: App) -> str:
    keys = [f"  {b.key:6} {b.description}" for b in WizardApp.BINDINGS]
    return "\n".join([
        "Walk the steps on the left (F8 next, F7 back, or select one); the preview on the right shows every "
        "file that will be written, updated as you type, with secrets masked. Errors and warnings are listed "
        "under it: select one (F6, then Enter) to jump to the field at fault.",
        "", "Keys:", *keys, "  ctrl+p command palette", "  ctrl+q quit", "",
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


def run_app(answers: Answers, *, imported=None, imported_from: str = "") -> int:
    """Run the wizard on this terminal; the exit code for the CLI.  ``imported``: the ImportPlan of
    `tui --from`, whose changes F9 shows."""
    app = WizardApp(answers, imported=imported, imported_from=imported_from)
    app.run()
    return app.return_code or 0
