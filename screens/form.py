"""The form: the steps' questions as widgets, answers -> widgets and widgets -> answers."""
from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from kmwizard import flow
from kmwizard.answers import Answers, AnswersError
from kmwizard.findings import error
from kmwizard.flow import Step, questions_for, steps_for
from kmwizard.keys import KEYS

from kmwizard.questions import apply_text, display_text
from kmwizard.screens.fields import ChoiceList, FieldRow, PathSuggester, field_id, key_of
from kmwizard.screens.rendering import REVIEW
from kmwizard.screens.texts import preset_options, step_label

if TYPE_CHECKING:  # TextArea is imported when a multi-line question first appears
    from textual.widgets import TextArea


def review_widgets() -> list:
    """The review step's widgets (built on its first visit; the texts come from _update_review)."""
    return [
        Static("Review", classes="step-title"),
        Static("", id="review-summary", markup=False),
        Vertical(Button("Write the files (F2)", id="do-write", variant="primary", compact=True),
                 Button("Apply to the cluster (F3)", id="do-apply", compact=True),
                 Button("Save as a preset (F4)", id="do-save", compact=True), classes="actions"),
        Label("Your answers (what Save preset stores; the rest are defaults):", classes="section"),
        Static("", id="review-answers", markup=False),
        Static("", id="review-notes", markup=False),
    ]


KVC_SOURCE_KEYS = ("kvc.framework_repo", "kvc.module_repo", "kvc.fakeroot")  # what a KVC render fetches from


class PresetList(OptionList):
    """The presets to start from, one line each and all in view on the first screen (a closed Select hid
    them behind a key). Moving over them loads nothing; Enter or a click loads the one highlighted."""

    DEFAULT_CSS = """
    PresetList { height: 7; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def show_presets(self, presets) -> None:
        highlighted = self.highlighted_option.id if self.highlighted_option else None
        self.set_options(Option(label, id=name) for label, name in preset_options(presets))
        if highlighted is not None and highlighted in [p.name for p in presets]:
            self.highlighted = self.get_option_index(highlighted)
        if len(presets) > 5:  # user presets too: all in view up to ten (five fit before the first paint)
            self.styles.height = min(len(presets), 10) + 2

    def _on_focus(self, _event) -> None:
        if self.highlighted is None and self.option_count:  # Enter on arrival loads the first, not nothing
            self.highlighted = 0


class StepScroll(VerticalScroll):
    """A step's scrolling column. Not a tab stop: focus goes to its fields, where it shows."""

    can_focus = False


class FormMixin:
    """The WizardApp's form half."""

    def _step_widgets(self, step: Step) -> list:
        widgets: list = [Static(Content(step.title), classes="step-title")]
        if step.id != "method":
            widgets.append(Static(step.intro, classes="step-intro", markup=False))
        wrong = self.error_keys()
        rows = [FieldRow(q, self.answers, wrong=q.key in wrong) for q in step.questions if q.key in KEYS]
        self._rows[step.id] = rows
        widgets += rows
        if step.id == "method":
            widgets += [
                Label("Or start from a preset (Enter or a click loads it; replaces the answers):",
                      classes="section"),
                # Filled after the first paint (listing reads every preset file); its height is fixed,
                # so filling it moves nothing.
                PresetList(id="start-preset"),
                Label("…or an answers file (Enter loads it):", classes="section"),
                Input(placeholder="path/to/answers.yaml", id="start-file", suggester=PathSuggester()),
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
        if step_id in self._built:
            return
        self._built.add(step_id)
        # Hidden until the switcher shows it: a child mounted after the switcher would show at once.
        container = StepScroll(id=f"step-{step_id}", classes="step")
        container.display = False
        self.query_one("#forms").mount(container)
        if step_id == REVIEW:
            self._mounting[step_id] = container.mount_all(review_widgets())
            self._update_review()
            return
        step = next(s for s in flow.FLOW if s.id == step_id)
        self._mounting[step_id] = container.mount_all(self._step_widgets(step))
        self._refresh_structure()

    # --- answers -> widgets --------------------------------------------------------------

    def field_rows(self, step_id: str | None = None) -> list[FieldRow]:
        """The questions built so far (of one step): kept as they are built, since every change of the
        answers visits them and a DOM query per visit cost ~3 ms per keystroke with every step built."""
        if step_id is not None:
            return self._rows.get(step_id, [])
        return [row for rows in self._rows.values() for row in rows]

    def watch_answers(self, old: Answers, new: Answers) -> None:
        method_changed = old.get("method") != new.get("method")
        for row in self.field_rows():
            if method_changed:
                row.refresh_labels(new)
            if not new.is_set(row.question.key) and row.follow(new):
                history = self._histories.get(row.input)
                if history is not None:  # ctrl+z steps back from what is shown, not from the old default
                    history.text = row.input.value
        self._refresh_structure()
        self._request_render()

    def _refresh_structure(self) -> None:
        """Show the questions and steps that apply to the current answers."""
        answers = self.answers
        for step in flow.FLOW:
            if step.id not in self._built:
                continue
            shown = {q.key for q in questions_for(step, answers)}
            for row in self.field_rows(step.id):
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
        compact = self._compact_steps
        steps.add_options(Option(step_label(titles[sid], sid in bad, i + 1, compact), id=sid)
                          for i, sid in enumerate(self._steps))
        current = self.current_step
        if current in self._steps:
            steps.highlighted = self._steps.index(current)
        elif highlighted is not None:
            steps.highlighted = min(highlighted, len(self._steps) - 1)

    def sync_fields(self) -> None:
        """Put the answers into every widget (after loading a preset or a file)."""
        self.input_errors.clear()
        for row in self.field_rows():
            row.show(self.answers)
            row.remove_class("-invalid")

    def load_answers(self, answers: Answers, source: str) -> None:
        self.fetch_allowed = True  # a preset or a file chose the repositories
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
        self.note_text(event.input)
        if event.input.id == "kernel-test":
            self._test_kernel(event.value)
        else:
            self._take_text(event.input.id, event.value)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._take_text(event.text_area.id, event.text_area.text)

    def on_choice_list_changed(self, event: ChoiceList.Changed) -> None:
        self.note_choice(event.choice_list, event.previous)
        key = key_of(event.choice_list.id)
        if key is None or event.value == self.answers.get(key):
            return
        if key == "method":
            self.switch_method(event.value)
            return
        try:
            self.answers = self.answers.set(key, event.value)
        except AnswersError as exc:
            self.input_errors[key] = exc.findings[0]
            self._show_findings()

    def switch_method(self, method: str) -> None:
        """The other method's answers are set aside (each would be an error that no step of this
        method can fix) and come back if the user switches back."""
        old = self.answers.get("method")
        answers, aside = self.answers.switch_method(method)
        back = self._set_aside.pop(method, {})
        if aside:
            self._set_aside[old] = aside
        answers = answers.update(back)
        if not any(answers.is_set(key) for key in KVC_SOURCE_KEYS):
            # The KVC defaults point at GitHub: choosing the method is not choosing the repositories (a
            # KMM preset loaded before allowed fetching). Nothing is cloned until the Module source step.
            self.fetch_allowed = False
        self.answers = answers
        self.sync_fields()
        if aside:
            self.notify(f"{len(aside)} {old.upper()} answer(s) set aside; they come back if you choose "
                        f"{old.upper()} again.", timeout=4, markup=False)

    def _load_preset(self, name: str) -> None:
        from kmwizard.preset_store import load_preset
        from kmwizard.findings import KmwizardError

        try:
            answers = load_preset(name)
        except KmwizardError as exc:
            self.notify(f"{exc.message}\n{exc.fix}", title=f"preset {name}", severity="error", markup=False)
            return
        self.load_answers(answers, f"preset {name}")

