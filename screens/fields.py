"""How a flow question becomes a widget, and how the widget's text becomes an answer.

The flow (``kmwizard.flow``) says what to ask; this module only decides which Textual
widget asks it and converts between the widget's value and ``Answers``.  The same
conversions serve every widget kind, so a question added to the flow appears here
without any change.
"""
from __future__ import annotations

from typing import Any

from textual.containers import Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Input, Label, Select, TextArea

from kmwizard.answers import Answers, thaw
from kmwizard.flow import Question
from kmwizard.render import dump_yaml

# Friendlier labels for choices whose raw value says little on its own.
CHOICE_LABELS: dict[str, dict[Any, str]] = {
    "method": {"kvc": "KVC (MachineConfig)", "kmm": "KMM (Module)"},
    "day": {1: "day 1 (install)", 2: "day 2 (running)"},
    "entitlement.source": {"node": "node (entitled/DTK)", "certs": "certs (entitlement)",
                           "yum-repo": "yum-repo"},
}


def field_id(key: str) -> str:
    """Widget ids cannot hold dots: kvc.module_repo -> q-kvc--module_repo."""
    return "q-" + key.replace(".", "--")


def key_of(widget_id: str | None) -> str | None:
    if not widget_id or not widget_id.startswith("q-"):
        return None
    return widget_id[2:].replace("--", ".")


def select_options(question: Question) -> list[tuple[Content, Any]]:
    spec = question.spec
    values = (True, False) if spec.kind == "bool" else spec.choices
    labels = CHOICE_LABELS.get(question.key, {})
    names = {True: "yes", False: "no"}
    return [(Content(labels.get(v, names.get(v, str(v)) if isinstance(v, bool) else str(v))), v) for v in values]


def display_text(question: Question, answers: Answers) -> str:
    """The text a text-like widget shows: the explicit answer, or "" (the default is the placeholder)."""
    if not answers.is_set(question.key):
        return ""
    value = answers.get(question.key)
    kind = question.spec.kind
    if kind == "list":
        return ", ".join(str(v) for v in value)
    if kind in ("records", "map"):
        return dump_yaml(thaw(value)) if value else ""
    return "" if value is None else str(value)


def placeholder(question: Question, answers: Answers) -> str:
    default = question.spec.default_for(answers)
    if question.spec.kind in ("records", "map"):
        return question.spec.example or question.placeholder
    if isinstance(default, (tuple, list)):
        default = ", ".join(str(v) for v in default)
    if default not in (None, ""):
        return f"default: {default}"
    return question.placeholder or question.spec.example


def apply_text(question: Question, text: str, answers: Answers) -> Answers:
    """The answers with this question set from a widget's text; empty text means "use the default".

    Raises AnswersError (naming the key) when the text is not a valid value."""
    if not text.strip():
        return answers.unset(question.key)
    keep_layout = question.widget in ("multiline", "records") or question.spec.kind in ("records", "map")
    return answers.set(question.key, text if keep_layout else text.strip())


def is_multiline(question: Question) -> bool:
    return question.widget in ("multiline", "records") or question.spec.kind in ("records", "map")


def make_input(question: Question, answers: Answers) -> Widget:
    wid = field_id(question.key)
    if question.widget == "select" and (question.spec.choices or question.spec.kind == "bool"):
        return Select(select_options(question), value=answers.get(question.key), allow_blank=False, id=wid)
    if is_multiline(question):
        area = TextArea(display_text(question, answers), id=wid, soft_wrap=True, show_line_numbers=False,
                        tab_behavior="focus", placeholder=placeholder(question, answers))
        area.add_class("multiline")
        return area
    return Input(display_text(question, answers), placeholder=placeholder(question, answers), id=wid)


class FieldRow(Vertical):
    """One question: its prompt and its input widget."""

    DEFAULT_CSS = """
    FieldRow { height: auto; margin-bottom: 1; }
    FieldRow > Label { color: $text-muted; width: 1fr; }
    FieldRow.-invalid > Label { color: $error; }
    FieldRow TextArea.multiline { height: 6; }
    """

    def __init__(self, question: Question, answers: Answers) -> None:
        super().__init__(id="row-" + field_id(question.key)[2:], classes="field")
        self.question = question
        self._answers = answers

    def compose(self):
        yield Label(self.question.prompt, markup=False)
        yield make_input(self.question, self._answers)

    @property
    def input(self) -> Widget:
        return self.query_one("#" + field_id(self.question.key))

    def show(self, answers: Answers) -> None:
        """Bring the widget in line with the answers (after a preset or file was loaded)."""
        widget = self.input
        if isinstance(widget, Select):
            value = answers.get(self.question.key)
            if widget.value != value:
                widget.value = value
            return
        text = display_text(self.question, answers)
        current = widget.text if isinstance(widget, TextArea) else widget.value
        if current != text:
            if isinstance(widget, TextArea):
                widget.text = text
            else:
                widget.value = text
        if isinstance(widget, Input):
            widget.placeholder = placeholder(self.question, answers)
