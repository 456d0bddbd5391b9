"""What users of Posting, Harlequin and Toolong expect of a terminal app: path completion,
reset to default, undo in one-line fields, copy to the clipboard, screenshots that land
somewhere that exists.  WizardApp mixes these in; each is small and stands alone."""
from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from kmwizard.screens.fields import FieldRow, key_of
from kmwizard.screens.preview import PreviewPane

UNDO_DEPTH = 50


def screenshot_dir() -> Path:
    """Textual saves to ~/Downloads, which servers do not have: then the current directory."""
    downloads = Path.home() / "Downloads"
    return downloads if downloads.is_dir() else Path.cwd()


class ExtrasMixin:
    """The WizardApp's small conveniences (bound in WizardApp.BINDINGS)."""

    def remember_text(self, widget_id: str, before: str) -> None:
        """Keep what a one-line field held before a change, for ctrl+z (TextArea has its own undo)."""
        if getattr(self, "_undoing", False):
            return
        history = self._undo.setdefault(widget_id, [])
        if not history or history[-1] != before:
            history.append(before)
            del history[:-UNDO_DEPTH]

    def action_undo_field(self) -> None:
        widget = self.focused
        history = self._undo.get(getattr(widget, "id", None) or "", [])
        if not isinstance(widget, Input) or not history:
            self.bell()
            return
        self._undoing = True
        try:
            widget.value = history.pop()
        finally:
            self._undoing = False

    def action_reset_field(self) -> None:
        """The focused question back to its default (the answer is removed, not set to the default)."""
        key = key_of(getattr(self.focused, "id", None))
        if key is None or not self.answers.is_set(key):
            self.notify("This field already uses its default." if key else "Focus a field to reset it.",
                        timeout=3)
            return
        self.answers = self.answers.unset(key)
        self.input_errors.pop(key, None)
        for row in self.query(FieldRow):
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
