"""The wizard's path from KVC to KMM (command palette: "Migrate to KMM"): the same migration as
`kmwizard migrate` (``kmwizard.migrate``), shown with its steps and what cannot move; "Use the KMM answers"
replaces the wizard's answers, after which F2 writes the KMM files as usual."""
from __future__ import annotations

from textual.binding import Binding
from textual.content import Content
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from kmwizard.answers import Answers
from kmwizard.findings import Severity
from kmwizard.screens.dialogs import Dialog


def migration_for(answers: Answers, kernels: str, kmm_version: str, source_repo: str):
    """(Migration or None, text to show) for KVC answers and the dialog's fields."""
    from kmwizard.kmm.lint import parse_kmm_version
    from kmwizard.migrate import facts_from_answers, migrate, steps_text

    if kmm_version and parse_kmm_version(kmm_version) is None:
        return None, f"KMM version {kmm_version!r} is not X.Y (e.g. 2.5, as `oc get csv -n openshift-kmm` shows)"
    facts, findings = facts_from_answers(answers)
    out = migrate(facts, kernels=[k.strip() for k in kernels.split(",") if k.strip()],
                  kmm_version=kmm_version or None, source_repo=source_repo or None) if facts else None
    findings = [*findings, *(out.findings if out else [])]
    lines = [f"{f.severity.value}: {f.where}: {f.message}" + (f"\n  fix: {f.fix}" if f.fix else "")
             for f in findings if f.severity in (Severity.ERROR, Severity.WARNING) or f.code.startswith("migrate")]
    text = "\n".join(lines)
    if out is not None and out.ok:
        text = steps_text(out) + "\n" + text
    return (out if out is not None and out.ok else None), text


class MigrateScreen(Dialog, ModalScreen["Answers | None"]):
    EXTRA_CSS = """
    #migrate-dialog { max-width: 120; }
    #migrate-dialog .scroll { max-height: 20; }
    MigrateScreen.-short #migrate-dialog .scroll { max-height: 4; }
    """
    BINDINGS = [Binding("escape", "dismiss", "Close", id="kmwizard.migrate.close")]

    def __init__(self, answers: Answers, *, read_now: bool = True) -> None:
        """``read_now``: whether reading the KVC answers may clone their repositories at once (the
        wizard allows it once the user has chosen them); otherwise Check does."""
        super().__init__()
        self._answers = answers
        self._result = None
        self._read_now = read_now

    def compose(self):
        with Vertical(classes="dialog", id="migrate-dialog"):
            yield Label("Migrate these KVC answers to a KMM Module", classes="title")
            yield Input(placeholder="node kernels, comma separated (empty: every kernel)", id="migrate-kernels")
            yield Input(placeholder="target KMM version, e.g. 2.5 (empty: the default for the OpenShift version)",
                        id="migrate-kmm-version")
            yield Input(placeholder="module source repository (empty: the one the KVC Dockerfile clones)",
                        id="migrate-source")
            with VerticalScroll(classes="scroll"):
                yield Static("", markup=False, id="migrate-result")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Check", id="check")
                yield Button("Use the KMM answers", id="use", variant="primary", disabled=True)

    def on_mount(self) -> None:
        from kmwizard.render import remote_fetches

        urls = [] if self._read_now else remote_fetches(self._answers)
        if not urls:
            self._check()
            return
        self.query_one("#migrate-result", Static).update(Content(
            "Reading these KVC answers clones their repositories first:\n  " + "\n  ".join(urls)
            + "\nPress Check to go ahead, or choose local directories on the Module source step."))

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self._check()

    def _check(self) -> None:
        values = [self.query_one(f"#migrate-{n}", Input).value.strip() for n in ("kernels", "kmm-version", "source")]
        self._result, text = migration_for(self._answers, *values)
        self.query_one("#migrate-result", Static).update(text)
        self.query_one("#use", Button).disabled = self._result is None

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "check":
            self._check()
        elif event.button.id == "use" and self._result is not None:
            self.dismiss(self._result.answers)
        else:
            self.dismiss(None)
