"""How a flow question becomes a widget, and how the widget's text becomes an answer.

The flow (``kmwizard.flow``) says what to ask; this module only decides which Textual
widget asks it.  Text <-> answer conversions are in the core (``kmwizard.questions``),
so both front ends read typed text the same way.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList

from kmwizard.answers import Answers
from kmwizard.questions import choice_options, default_hint, display_text, is_choice, is_multiline
from kmwizard.flow import Question

if TYPE_CHECKING:  # TextArea is imported when a multi-line question first appears
    from textual.widgets import TextArea

def field_id(key: str) -> str:
    """Widget ids cannot hold dots: kvc.module_repo -> q-kvc--module_repo."""
    return "q-" + key.replace(".", "--")


def key_of(widget_id: str | None) -> str | None:
    if not widget_id or not widget_id.startswith("q-"):
        return None
    return widget_id[2:].replace("--", ".")


def placeholder(question: Question, answers: Answers) -> str:
    # Dim text an empty field shows: "default: X" (what leaving it empty gives) or "e.g. X" (an
    # example, not used), so an example never passes for a default.
    # A one-line Input shows its placeholder only up to its first wrap, which came right after
    # "default:" for a long value: then label and value are joined so the value shows.
    hint = default_hint(question, answers)
    label, _, value = hint.partition(" ")
    return f"{label}{value}" if label == "default:" and len(value) > 24 and " " not in value else hint


def select_options(question: Question, answers: Answers) -> list[tuple[Content, Any]]:
    return [(Content(label), value) for label, value in choice_options(question, answers)]


class PathSuggester(Suggester):
    """Completes the last component of a local path from the file system (→ accepts, as in a shell)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        return complete_path(value)


def complete_path(value: str) -> str | None:
    """The first existing path that extends value ('/' added to a directory), or None."""
    if not value or "://" in value or value.startswith(("http", "git@")):
        return None
    head, _, stem = value.rpartition("/")
    directory = Path(os.path.expanduser(head + "/" if head or value.startswith("/") else "."))
    try:
        names = sorted(entry.name for entry in os.scandir(directory) if entry.name.startswith(stem))
    except OSError:
        return None
    for name in names:
        if name.startswith(".") and not stem.startswith("."):
            continue
        candidate = (head + "/" if head or value.startswith("/") else "") + name
        if (directory / name).is_dir():
            candidate += "/"
        if candidate != value:
            return candidate
    return None


class ChoiceList(OptionList):
    """A question's choices, all in view, the chosen one marked ●: a radio list.  Our choices have two to
    four options, where every option in view beats a drop-down that hides the others behind a key (and
    one widget costs less start-up time than a Select's six).  Moving over the options chooses nothing;
    Enter, space or a click chooses the highlighted one."""

    BINDINGS = [Binding("space", "select", "Choose", show=False)]
    DEFAULT_CSS = """
    ChoiceList { text-wrap: nowrap; text-overflow: ellipsis; }
    """

    class Changed(Message):
        """The user chose an option, or ``value`` was set: as Select.Changed."""

        def __init__(self, choice_list: ChoiceList, value: Any, previous: Any) -> None:
            super().__init__()
            self.choice_list, self.value, self.previous = choice_list, value, previous

        @property
        def control(self) -> ChoiceList:
            return self.choice_list

    def __init__(self, options: list[tuple[Content, Any]], value: Any, **kwargs) -> None:
        self._labels = [label for label, _value in options]
        self._values = [option_value for _label, option_value in options]
        self._value = value if value in self._values else self._values[0]
        super().__init__(*self._prompts(), **kwargs)
        self.highlighted = self._values.index(self._value)

    def _prompts(self) -> list[Content]:
        return [Content.assemble("● " if value == self._value else "○ ", label)
                for label, value in zip(self._labels, self._values)]

    @property
    def value(self) -> Any:
        return self._value

    @value.setter
    def value(self, value: Any) -> None:
        previous = self._value
        if self.show_value(value):
            self.post_message(self.Changed(self, value, previous))

    def show_value(self, value: Any) -> bool:
        """Mark ``value`` as chosen without a Changed message (the answers changed it); False if it was."""
        if value not in self._values or value == self._value:
            return False
        self._value = value
        self._show_marks()
        return True

    def set_choices(self, options: list[tuple[Content, Any]]) -> None:
        """New labels for the same values (they depend on the method); nothing redrawn if they are the same."""
        labels = [label for label, _value in options]
        if [str(label) for label in labels] != [str(label) for label in self._labels]:
            self._labels = labels
            self._show_marks()

    def _show_marks(self) -> None:
        self.set_options(self._prompts())
        self.highlighted = self._values.index(self._value)

    def _on_blur(self, event) -> None:
        # Unfocused, the highlight rests on the chosen option: it must not pass for the answer.
        self.highlighted = self._values.index(self._value)

    def _on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.value = self._values[event.option_index]


def make_input(question: Question, answers: Answers) -> Widget:
    wid = field_id(question.key)
    if is_choice(question):
        return ChoiceList(select_options(question, answers), answers.get(question.key), id=wid)
    if is_multiline(question):
        from textual.widgets import TextArea  # not on the first screen: imported when needed

        area = TextArea(display_text(question, answers), id=wid, soft_wrap=True, show_line_numbers=False,
                        tab_behavior="focus", placeholder=placeholder(question, answers))
        area.add_class("multiline")
        return area
    suggester = PathSuggester() if question.widget == "path" else None
    return Input(display_text(question, answers), placeholder=placeholder(question, answers), id=wid,
                 suggester=suggester)


def replace_all(area: TextArea, text: str) -> None:
    """An editor's whole text replaced as one edit of its history, so ctrl+z brings the user's text back
    (``TextArea.text = ...`` and ``load_text`` clear the history)."""
    area.history.checkpoint()  # its own undo step, not merged into the user's last typing
    area.replace(text, (0, 0), area.document.end, maintain_selection_offset=False)
    area.history.checkpoint()


class FieldRow(Vertical):
    """One question: its prompt and its input widget."""

    DEFAULT_CSS = """
    FieldRow { height: auto; margin-bottom: 1; }
    FieldRow > Label { color: $text-muted; width: 1fr; }
    FieldRow.-invalid > Label { color: $error; }
    FieldRow.-error > Label { color: $error; text-style: bold; }
    FieldRow TextArea.multiline { height: 6; }
    """

    def __init__(self, question: Question, answers: Answers, *, wrong: bool = False) -> None:
        super().__init__(id="row-" + field_id(question.key)[2:], classes="field -error" if wrong else "field")
        self.question = question
        self._answers = answers

    def compose(self):
        yield Label(self._label_text(), markup=False)
        self._input = make_input(self.question, self._answers)
        yield self._input

    def mark_error(self, wrong: bool) -> None:
        """A finding names this answer: mark the field itself (✗ and colour), not only its step."""
        if wrong != self.has_class("-error"):
            self.set_class(wrong, "-error")
            labels = self.query(Label)  # none yet while the row is being mounted: compose reads the class
            if labels:
                labels.first().update(Content(self._label_text()))

    def _label_text(self) -> str:
        return ("✗ " if self.has_class("-error") else "") + self.question.prompt

    def refresh_labels(self, answers: Answers) -> None:
        """Choice labels that depend on the method (only KMM builds on the Driver Toolkit)."""
        widget = self.input
        if isinstance(widget, ChoiceList):
            widget.set_choices(select_options(self.question, answers))

    def follow(self, answers: Answers) -> bool:
        """After any change of the answers: an unanswered question's default may follow another answer
        (the Namespace is generated for a new namespace, the MachineConfig is named after the role), so a
        choice marks the value that now applies and a text field's dim hint names it. Typed text stays.
        True if a choice now marks another value."""
        widget = self.input
        if isinstance(widget, ChoiceList):
            return widget.show_value(answers.get(self.question.key))
        if isinstance(widget, Input):
            widget.placeholder = placeholder(self.question, answers)
        return False

    @property
    def input(self) -> Widget:
        return self._input  # every change of the answers reaches every row (follow): no DOM query

    def show(self, answers: Answers) -> None:
        """Bring the widget in line with the answers (after a preset or file was loaded)."""
        widget = self.input
        if isinstance(widget, ChoiceList):
            value = answers.get(self.question.key)
            if widget.value != value:
                widget.value = value
            return
        text = display_text(self.question, answers)
        multiline = not isinstance(widget, Input)
        current = widget.text if multiline else widget.value
        if current != text:
            if multiline:
                replace_all(widget, text)
            else:
                widget.value = text
        if isinstance(widget, Input):
            widget.placeholder = placeholder(self.question, answers)
