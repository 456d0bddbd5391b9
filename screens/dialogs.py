"""Modal screens: field help (F1), write to disk, save a preset, view/edit a Dockerfile.

Writing goes through ``kmwizard.output.plan``/``write``, the functions ``kmwizard
generate`` uses, so the TUI writes byte for byte what generate writes.
"""
from __future__ import annotations

from pathlib import Path

from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static, TextArea

from kmwizard import output
from kmwizard.answers import Answers
from kmwizard.questions import default_output_dir, plan_text, replace_diff
from kmwizard.findings import KmwizardError, has_errors
from kmwizard.render import Rendering

DIALOG_CSS = """
.dialog { width: 90%; max-width: 100; height: auto; max-height: 90%; border: thick $primary;
          background: $surface; padding: 0 1; }
.dialog .title { text-style: bold; margin-bottom: 1; }
.dialog .buttons { height: auto; align-horizontal: right; margin-top: 1; }
.dialog .buttons Button { margin-left: 1; }
.dialog .problem { color: $error; }
.dialog .scroll { height: auto; max-height: 14; }
.dialog TextArea { height: 16; }
"""
# The dialogs take a class for the terminal's height (Textual sets it on each resize of the screen).
SHORT_TERMINAL = [(0, "-short"), (28, "-middle"), (38, "-tall")]


def dialog_css(screen: str, extra: str = "") -> str:
    """DIALOG_CSS for one dialog screen, with its rules for shorter terminals (80x24; under 38 rows): the
    long parts shrink, so its checkbox, fields and buttons stay in view. A screen's CSS is scoped to the screen,
    so a rule on the screen itself (its alignment, its class -short) must start with the screen's name:
    "ModalScreen { align: center middle; }" was read as "WriteScreen ModalScreen", which matched nothing,
    and every dialog sat at the top left."""
    return DIALOG_CSS + f"""
{screen} {{ align: center middle; }}
{screen}.-short .dialog .scroll {{ max-height: 4; }}
{screen}.-short .dialog TextArea {{ height: 5; }}
{screen}.-middle .dialog .scroll {{ max-height: 8; }}
{screen}.-middle .dialog TextArea {{ height: 10; }}
""" + extra


class Dialog:
    """Mixed into every dialog screen, before ModalScreen: the shared CSS scoped to the screen's own name
    (dialog_css) followed by the class's EXTRA_CSS, and the height classes (SHORT_TERMINAL)."""

    EXTRA_CSS = ""
    VERTICAL_BREAKPOINTS = SHORT_TERMINAL

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.CSS = dialog_css(cls.__name__, cls.EXTRA_CSS)


def press_primary(screen: ModalScreen, selector: str) -> None:
    """Enter in a dialog's field does what its main button does (when that button is enabled)."""
    button = screen.query_one(selector, Button)
    if not button.disabled:
        button.press()


class HelpScreen(Dialog, ModalScreen[None]):
    """The help of the focused field, or of the app when no field has focus."""

    BINDINGS = [Binding("escape,f1", "dismiss", "Close", id="kmwizard.help.close")]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self._title, self._body = title, body

    def compose(self):
        with Vertical(classes="dialog", id="help-dialog"):
            yield Label(self._title, classes="title", markup=False)
            with VerticalScroll(classes="scroll"):
                yield Static(self._body, markup=False, id="help-body")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, _event: Button.Pressed) -> None:
        self.dismiss(None)


class WriteScreen(Dialog, ModalScreen["output.WritePlan | None"]):
    """Choose the directory, see every file and whether it exists, confirm overwrites, write."""

    BINDINGS = [Binding("escape", "dismiss", "Cancel", id="kmwizard.write.cancel")]

    def __init__(self, answers: Answers, rendering: Rendering) -> None:
        super().__init__()
        self.answers, self.rendering = answers, rendering
        self.plan: output.WritePlan | None = None

    def compose(self):
        day1 = bool(self.rendering.install_subdir)
        with Vertical(classes="dialog", id="write-dialog"):
            yield Label("Write the files", classes="title")
            yield Label("openshift-install directory (files go into its openshift/ folder)" if day1
                        else "Output directory", markup=False)
            yield Input(default_output_dir(self.answers, self.rendering), id="write-dir")
            with VerticalScroll(classes="scroll"):
                yield Static("", id="write-plan", markup=False)
            yield Checkbox("Replace the existing files listed above", id="write-force")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Write", id="write", variant="primary")

    def on_mount(self) -> None:
        self._replan()

    def on_input_changed(self, _event: Input.Changed) -> None:
        self._replan()

    def on_checkbox_changed(self, _event: Checkbox.Changed) -> None:
        self._update_button()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        press_primary(self, "#write")

    def _replan(self) -> None:
        text = self.query_one("#write-plan", Static)
        directory = self.query_one("#write-dir", Input).value.strip()
        self.plan = None
        if has_errors(self.rendering.findings):
            text.update(Content("Nothing can be written while there are errors: select them in the findings "
                                "panel to go to the field at fault."))
        elif not directory:
            text.update(Content("Give a directory."))
        else:
            try:
                self.plan = output.plan(self.rendering, directory)
            except KmwizardError as exc:
                text.update(Content(f"{exc.message}\n  fix: {exc.fix}"))
            else:
                extra = ("\nExisting files would be replaced: tick the box to confirm. What changes:\n"
                         + replace_diff(self.plan) if self.plan.overwrites else "")
                text.update(Content(plan_text(self.plan) + extra))
        force = self.query_one("#write-force", Checkbox)
        force.display = bool(self.plan and self.plan.overwrites)
        self._update_button()

    def _update_button(self) -> None:
        force = self.query_one("#write-force", Checkbox).value
        ok = self.plan is not None and (force or not self.plan.overwrites)
        self.query_one("#write", Button).disabled = not ok

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
            return
        if self.plan is None:
            return
        try:
            output.write(self.plan, force=self.query_one("#write-force", Checkbox).value)
        except KmwizardError as exc:
            self.notify(f"{exc.message}\n{exc.fix}", severity="error", markup=False)
            return
        except OSError as exc:
            self.notify(f"cannot write to {exc.filename}: {exc.strerror}", severity="error", markup=False)
            return
        self.dismiss(self.plan)  # the app says what it wrote (questions.written_text)


class SavePresetScreen(Dialog, ModalScreen["Path | None"]):
    """Save the answers as a user preset (XDG config directory), beside the built-in ones."""

    BINDINGS = [Binding("escape", "dismiss", "Cancel", id="kmwizard.preset.cancel")]

    def __init__(self, answers: Answers, name: str = "") -> None:
        super().__init__()
        self.answers, self._name = answers, name

    def compose(self):
        from kmwizard.preset_store import user_preset_dir

        with Vertical(classes="dialog", id="preset-dialog"):
            yield Label("Save the answers as a preset", classes="title")
            yield Static(f"Saved in {user_preset_dir()}; listed with the built-in presets.", markup=False)  # a long path wraps
            yield Input(self._name, placeholder="name, e.g. my-driver", id="preset-name")
            yield Input("", placeholder="one-line description", id="preset-description")
            yield Checkbox("Replace the preset of that name (a built-in one stays, hidden)", id="preset-force")
            yield Static("", id="preset-problem", classes="problem", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        press_primary(self, "#save")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        from kmwizard.preset_store import save_user_preset

        if event.button.id == "cancel":
            self.dismiss(None)
            return
        name = self.query_one("#preset-name", Input).value.strip()
        description = self.query_one("#preset-description", Input).value.strip()
        try:
            path = save_user_preset(name, self.answers, description,
                                    force=self.query_one("#preset-force", Checkbox).value)
        except KmwizardError as exc:
            self.query_one("#preset-problem", Static).update(Content(f"{exc.message}\n  fix: {exc.fix}"))
            return
        self.dismiss(path)


class DockerfileScreen(Dialog, ModalScreen["tuple[Path, str] | None"]):
    """View and edit a Dockerfile; saving writes it to a file the answers then point at."""

    BINDINGS = [Binding("escape", "dismiss", "Cancel", id="kmwizard.dockerfile.cancel")]

    def __init__(self, text: str, path: str, *, editable: bool, note: str) -> None:
        super().__init__()
        self._text, self._path, self._editable, self._note = text, path, editable, note

    def compose(self):
        with Vertical(classes="dialog", id="dockerfile-dialog"):
            yield Label("Dockerfile", classes="title")
            yield Static(self._note, markup=False)
            yield TextArea(self._text, id="dockerfile-text", read_only=not self._editable,
                           show_line_numbers=True, soft_wrap=False)
            if self._editable:
                yield Input(self._path, placeholder="save as (path)", id="dockerfile-path")
            yield Static("", id="dockerfile-problem", classes="problem", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Close" if not self._editable else "Cancel", id="cancel")
                if self._editable:
                    yield Button("Save and use it", id="save", variant="primary")

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        press_primary(self, "#save")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
            return
        text = self.query_one("#dockerfile-text", TextArea).text
        raw = self.query_one("#dockerfile-path", Input).value.strip()
        if not raw:
            self.query_one("#dockerfile-problem", Static).update(Content("Give the path to save it to."))
            return
        path = Path(raw).expanduser()
        try:
            output.atomic_write(path, text.encode(), 0o644)
        except OSError as exc:
            self.query_one("#dockerfile-problem", Static).update(
                Content(f"cannot write {path}: {exc.strerror}"))
            return
        self.dismiss((path.resolve(), text))
