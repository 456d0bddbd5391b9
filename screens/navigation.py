"""Moving between steps and to the field a finding is about."""
from __future__ import annotations

from textual.content import Content
from textual.widgets import ContentSwitcher, OptionList, Static

from kmwizard import flow
from kmwizard.flow import step_of

from kmwizard.screens.fields import field_id, key_of
from kmwizard.screens.preview import FindingsPanel, PreviewPane
from kmwizard.screens.texts import help_line


class NavigationMixin:
    """The WizardApp's navigation half."""

    # --- navigation ----------------------------------------------------------------------

    @property
    def current_step(self) -> str:
        return self._current_step  # goto_step is the one place that changes the step shown

    def goto_step(self, step_id: str) -> None:
        self._current_step = step_id
        self._build_step(step_id)
        self.query_one("#forms", ContentSwitcher).current = f"step-{step_id}"
        if step_id in self._steps:
            self.query_one("#steps", OptionList).highlighted = self._steps.index(step_id)
        self.sub_title = {s.id: s.title for s in flow.FLOW}.get(step_id, "Review")
        if self.focused is None or f"step-{step_id}" not in {node.id for node in self.focused.ancestors}:
            self.show_help_line(None)  # the help of a field on another step would stay under this one
        if self._past_source(step_id):
            self.allow_fetch()

    def _past_source(self, step_id: str) -> bool:
        """Whether the user has gone beyond the step that chooses the repositories."""
        order = [s.id for s in flow.FLOW] + ["review"]
        return order.index(step_id) > order.index("source") if step_id in order else False

    async def show_step(self, step_id: str) -> None:
        """goto_step, returning once the step's widgets are mounted (for scripts and tests)."""
        self.goto_step(step_id)
        pending = self._mounting.pop(step_id, None)
        if pending is not None:
            await pending

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        # goto_step highlights the step it shows: that echo (which may arrive while the app closes,
        # its widgets gone) has nothing to do.
        if event.option_list.id == "steps" and event.option.id and event.option.id != self.current_step:
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
            rows = [row for row in self.field_rows(step_id) if row.display]
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
            self.screen.minimize()
            self.query_one("#main").remove_class("-preview-big")  # the field must be in view
            return
        if self.query_one(PreviewPane).select_path(head):
            return
        self.notify(f"{head} is not asked in the wizard: set it in an answers file or with --set.",
                    severity="warning", markup=False)

    def on_descendant_focus(self, event) -> None:
        if event.widget.screen is self.screen_stack[0]:  # a dialog's fields leave the form's help alone
            self.show_help_line(event.widget)

    def show_help_line(self, widget) -> None:
        """The focused question's help under the form (nothing for other widgets)."""
        key = key_of(getattr(widget, "id", None))
        question = self.questions.get(key or "")
        line = self.query_one("#help-line", Static)
        text = ""
        if question is not None:
            region = line.content_region
            text = help_line(question.help, region.width, region.height)
        line.update(Content(text))
