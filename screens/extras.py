"""What users of Posting, Harlequin and Toolong expect of a terminal app: path completion,
reset to default, undo and redo in one-line fields, copy to the clipboard, screenshots that land
somewhere that exists.  WizardApp mixes these in; each is small and stands alone."""
from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from kmwizard.answers import Answers
from kmwizard.screens.fields import ChoiceList, key_of
from kmwizard.screens.preview import PreviewPane

UNDO_DEPTH = 50  # as Textual's TextArea keeps 50 batches of edits


class TextHistory:
    """A one-line field's texts, or a radio list's choices: earlier ones (ctrl+z), undone ones (ctrl+y) and
    the current one."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.undo: list[str] = []
        self.redo: list[str] = []

    def changed(self, text: str) -> None:
        if text != self.text:
            self.undo.append(self.text)
            del self.undo[:-UNDO_DEPTH]
            self.redo.clear()  # a new change ends the chain of undone ones
            self.text = text

    def back(self) -> str | None:
        return self._move(self.undo, self.redo)

    def forward(self) -> str | None:
        return self._move(self.redo, self.undo)

    def _move(self, source: list[str], target: list[str]) -> str | None:
        if not source:
            return None
        target.append(self.text)
        self.text = source.pop()
        return self.text


def screenshot_dir() -> Path:
    """Textual saves to ~/Downloads, which servers do not have: then the current directory."""
    downloads = Path.home() / "Downloads"
    return downloads if downloads.is_dir() else Path.cwd()


class ExtrasMixin:
    """The WizardApp's small conveniences (bound in WizardApp.BINDINGS)."""

    def note_text(self, field: Input) -> None:
        """A one-line field changed (typed, or set by the wizard): keep its earlier text for ctrl+z."""
        history = self._histories.get(field)
        if history is None:  # an Input reports its first text when it is mounted
            self._histories[field] = TextHistory(field.value)
        else:
            history.changed(field.value)

    def note_choice(self, choice, previous) -> None:
        """A radio list's choice changed: keep the earlier one for ctrl+z (a list reports no first value)."""
        history = self._histories.get(choice)
        if history is None:
            self._histories[choice] = history = TextHistory(previous)
        history.changed(choice.value)

    def action_undo_field(self) -> None:
        self._step_field(back=True)

    def action_redo_field(self) -> None:
        self._step_field(back=False)

    def _step_field(self, *, back: bool) -> None:
        """ctrl+z / ctrl+y in the focused field: an editor (TextArea) steps through its own history, whose
        steps are batches of typing and each change the wizard made (fields.replace_all)."""
        from textual.widgets import TextArea  # not on the first screen
        from textual.widgets.text_area import Selection

        widget = self.focused
        if isinstance(widget, TextArea):
            stack = widget.history.undo_stack if back else widget.history.redo_stack
            if stack and not widget.read_only:
                # Textual 8.2.8 refreshes the scrollbars before it puts the cursor back, and crashes when the
                # cursor's row is gone from a shorter text (Textualize/textual#6686, open): the first row
                # always exists, and the undo or redo then places the cursor as it would have.
                widget.selection = Selection.cursor((0, 0))
                if back:
                    widget.undo()
                else:
                    widget.redo()
                return
        history = self._histories.get(widget) if isinstance(widget, (Input, ChoiceList)) else None
        if history is None or not (history.undo if back else history.redo):
            self.bell()
            return
        value = history.back() if back else history.forward()
        widget.value = value  # its Changed message then matches the history: not a new change
        if isinstance(widget, Input):
            widget.cursor_position = len(value)

    def action_reset_field(self) -> None:
        """The focused question back to its default (the answer is removed, not set to the default)."""
        key = key_of(getattr(self.focused, "id", None))
        if key is None or not self.answers.is_set(key):
            self.notify("This field already uses its default." if key else "Focus a field to reset it.",
                        timeout=3)
            return
        if key == "method":  # as choosing the default method: the other method's answers are set aside
            self.switch_method(Answers().get("method"))
        self.answers = self.answers.unset(key)
        self.input_errors.pop(key, None)
        for row in self.field_rows():
            if row.question.key == key:
                row.remove_class("-invalid")
                row.show(self.answers)
        self.notify(f"{key}: back to its default.", timeout=3, markup=False)

    def action_copy_file(self) -> None:
        """The previewed file (secrets masked, as shown) to the clipboard, through the terminal (OSC 52)."""
        preview = self.query_one(PreviewPane)
        file = preview._current()
        if file is None:
            self.notify("No file to copy yet.", severity="warning")
            return
        text = file.preview_text()
        self.copy_to_clipboard(text)
        note = " (secrets masked, as shown)" if file.secret else ""
        self.notify(f"Copied {file.path}{note} to the clipboard ({len(text)} characters). Through the terminal "
                    "(OSC 52): if nothing arrives, allow clipboard access in its settings.", markup=False)

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        directory = Path(path).expanduser() if path else screenshot_dir()
        try:
            saved = self.save_screenshot(filename, str(directory), time_format)
        except OSError as exc:
            self.notify(f"Cannot save the screenshot in {directory}: {exc.strerror}", title="Screenshot",
                        severity="error", markup=False)
            return None
        self.notify(f"Saved {saved}", title="Screenshot", markup=False)
        return saved
