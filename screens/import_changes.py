"""The dialog for `kmwizard tui --from FILE | --from-cluster KIND/NAME`: what generating the current answers
would change against the imported objects (F10), with the fields kept in the overlay and the import's
findings.  The comparison is the core's (``kmwizard.importing.compare``), so the CLI and the wizard agree.
"""
from __future__ import annotations

from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from kmwizard.answers import Answers
from kmwizard.findings import Severity
from kmwizard.importing import ImportPlan, compare
from kmwizard.screens.dialogs import Dialog


def changes_text(plan: ImportPlan, answers: Answers) -> str:
    """The dialog's body: one unified diff per imported object ('no change' when there is none), the overlay
    records, and the import's warnings and errors."""
    parts = []
    for oid, diff in compare(plan.originals, answers):
        parts.append(diff if diff else f"{oid}: generating gives the original back (no change)\n")
    records = answers.get("overlay")
    if records:
        parts.append(f"Kept verbatim from the original (overlay, {len(records)} field(s); step "
                     "'Kept from the original'):\n" + "".join(f"  {r['object']}: {r['path']}\n" for r in records))
    notable = [f for f in plan.findings if f.severity in (Severity.ERROR, Severity.WARNING)]
    if notable:
        parts.append("Found while importing:\n" + "".join(f"  {f.severity.value}: {f.where}: {f.message}\n"
                                                       for f in notable))
    return "\n".join(parts)


class ImportChangesScreen(Dialog, ModalScreen[None]):
    EXTRA_CSS = """
    #changes-dialog { max-width: 130; }
    #changes-dialog .scroll { max-height: 30; }
    ImportChangesScreen.-short #changes-dialog .scroll { max-height: 12; }
    """
    BINDINGS = [Binding("escape,f10", "dismiss", "Close", id="kmwizard.import_changes.close")]

    def __init__(self, plan: ImportPlan, answers: Answers, source: str) -> None:
        super().__init__()
        self._plan, self._answers, self._source = plan, answers, source

    def compose(self):
        with Vertical(classes="dialog", id="changes-dialog"):
            yield Label(f"Imported from {self._source}: what generating changes", classes="title", markup=False)
            with VerticalScroll(classes="scroll"):
                yield Static(changes_text(self._plan, self._answers), markup=False, id="changes-body")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, _event: Button.Pressed) -> None:
        self.dismiss(None)
