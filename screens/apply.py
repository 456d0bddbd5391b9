"""Apply to the cluster: show which cluster, context and namespace; a server dry run with a
diff first; then server-side apply with a result per object; then the rollout with a bar.

Everything that talks to the cluster runs in a thread worker through the UI-neutral cluster
modules (``kmwizard.cluster.*``), which are imported only when the user starts a cluster action:
opening the wizard never imports ``kubernetes``.
"""
from __future__ import annotations

import re
import textwrap

import threading
from pathlib import Path

import yaml
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Log, ProgressBar, Select, Static

from kmwizard.answers import Answers
from kmwizard.findings import KmwizardError
from kmwizard.safe_yaml import load_manifests
from kmwizard.textfiles import MANIFEST_MAX, read_text_file
from kmwizard.cluster.connection import in_cluster, not_a_kubeconfig  # no kubernetes import
from kmwizard.render import Rendering
from kmwizard.screens.background import start_daemon
from kmwizard.screens.dialogs import Dialog, press_primary

APPLY_CSS = """
#apply-dialog { max-width: 140; height: 90%; }
#apply-target { height: auto; }
#apply-target Select { width: 1fr; }
#apply-target Input { width: 24; }
#apply-target #apply-kubeconfig { width: 1fr; }
#apply-log { height: 1fr; border: round $primary 40%; }
#apply-progress { height: 1; }
#apply-status { height: auto; max-height: 3; }
/* When the buttons do not fit one row (buttons_fit): a grid of borderless ones. */
#apply-buttons.-wrap { layout: grid; grid-size: 3; grid-gutter: 0 1; grid-rows: 1; }
#apply-buttons.-wrap Button { width: 1fr; min-width: 0; margin: 0; }
"""


class Stopped(Exception):
    """The user closed the screen or pressed Stop: ends a rollout watch from its callback."""


def kubeconfig_contexts(path: str | None) -> tuple[list[str], str, dict[str, str]]:
    """(context names, current context, context -> namespace) read from kubeconfig files with
    plain YAML: listing contexts must not import the kubernetes client."""
    names: list[str] = []
    current = ""
    namespaces: dict[str, str] = {}
    for part in (path or "").split(":"):
        if not part:
            continue
        try:  # a regular file, aliases bounded: the screen must not hang on a FIFO or an alias bomb
            docs = load_manifests(read_text_file(part, what="kubeconfig", limit=MANIFEST_MAX), part)
        except (OSError, yaml.YAMLError, KmwizardError):
            continue
        doc = docs[0] if docs else {}
        if not_a_kubeconfig(doc):  # e.g. contexts that are not mappings: said by _load_contexts, never a crash
            continue
        current = current or str(doc.get("current-context") or "")
        for item in doc.get("contexts") or []:
            name = str(item.get("name", ""))
            if name and name not in names:
                names.append(name)
                namespaces[name] = str((item.get("context") or {}).get("namespace") or "")
    return names, current, namespaces


# The cluster errors speak to the command line; in the dialog the same choices are its fields.
# Whole phrases first, so a fix still reads as a sentence ("pick another --context" must not
# become "pick another the context list").
_TUI_WORDS = (
    (re.compile(r"(?:pass|use) --kubeconfig(?: FILE)?"), "type a kubeconfig path in the kubeconfig field"),
    (re.compile(r"--kubeconfig(?: FILE)?"), "kubeconfig"),
    (re.compile(r"point --context at"), "pick in the context list the context of"),
    (re.compile(r"pick (a|another) --context"), r"pick \1 context in the context list"),
    (re.compile(r"(?:pass|use) --context(?: NAME)?"), "choose one in the context list"),
    (re.compile(r"--context"), "context"),
    (re.compile(r"(?:pass|use) --namespace(?: NAME)?"), "type one in the namespace field"),
    (re.compile(r"--namespace"), "namespace"),
    (re.compile(r"(?:re-?run )?with --yes"), "press Apply"),
    (re.compile(r"--dry-run(?:=server)?"), "Dry run + diff"),
)


def tui_language(text: str) -> str:
    for pattern, words in _TUI_WORDS:
        text = pattern.sub(words, text)
    return text


class ApplyScreen(Dialog, ModalScreen[None]):
    EXTRA_CSS = APPLY_CSS
    BINDINGS = [Binding("escape", "close", "Close", id="kmwizard.apply.close")]

    def __init__(self, answers: Answers, rendering: Rendering) -> None:
        super().__init__()
        self.answers, self.rendering = answers, rendering
        self.manifests = list(rendering.manifests)
        self.kubeconfig: str | None = None
        self.kubeconfig_problem: str | None = None  # why the file in the field cannot be used
        self.conn = None
        self.conn_key: tuple | None = None
        self.planned_for: tuple | None = None   # the target a clean dry run was made against
        self.reboots: list = []
        self.stop = threading.Event()
        self.busy = False  # a cluster job runs in the worker thread
        self.applied_now = 0  # objects the running Apply has applied so far

    def compose(self):
        with Vertical(classes="dialog", id="apply-dialog"):
            yield Label("Apply to the cluster", classes="title")
            with Horizontal(id="apply-target"):
                yield Input(placeholder="kubeconfig file path", id="apply-kubeconfig")
                yield Select([], prompt="kubeconfig context", id="apply-context")
                yield Input(placeholder="namespace", id="apply-namespace")
            yield Static("", id="apply-status", markup=False)
            yield Log(id="apply-log", highlight=False)
            yield ProgressBar(total=None, show_eta=False, id="apply-progress")
            yield Checkbox("I understand: the pool's nodes drain and reboot one by one", id="apply-reboot-ok")
            with Horizontal(classes="buttons", id="apply-buttons"):
                yield Button("Close", id="apply-close")
                yield Button("Stop watching", id="apply-stop")
                yield Button("Watch rollout", id="apply-watch")
                yield Button("Why not loaded?", id="apply-explain")
                yield Button("Dry run + diff", id="apply-dry-run", variant="primary")
                yield Button("Apply", id="apply-apply", variant="warning")

    def on_mount(self) -> None:
        from kmwizard.cluster.connection import resolve_kubeconfig  # cheap: no kubernetes import

        self.query_one("#apply-reboot-ok").display = False
        self.query_one("#apply-stop").display = False
        self.query_one("#apply-progress").display = False
        try:
            self.kubeconfig = resolve_kubeconfig()
        except KmwizardError as exc:
            self.set_status(tui_language(f"{exc.message}: type the path of a kubeconfig file above."))
            self._update_buttons()
            return
        self.query_one("#apply-kubeconfig", Input).value = self.kubeconfig or ""
        self._load_contexts()

    def _load_contexts(self) -> None:
        """The contexts of the kubeconfig in the field, and what the dialog can do with it."""
        from kmwizard.cluster.connection import check_kubeconfig_files  # cheap: no kubernetes import

        names, current, self.namespaces = kubeconfig_contexts(self.kubeconfig)
        select = self.query_one("#apply-context", Select)
        select.set_options([(Content(n), n) for n in names])
        if current in names:
            select.value = current
        self.kubeconfig_problem = None
        if self.kubeconfig:
            try:  # at once, in words: the client's loader would only fail at the dry run, with a Python error
                check_kubeconfig_files(self.kubeconfig)
            except KmwizardError as exc:
                self.kubeconfig_problem = tui_language(f"{exc.message}.")  # the fix would be cut: 3 lines
        if self.kubeconfig_problem:
            self.set_status(self.kubeconfig_problem)
        elif self.kubeconfig:
            self.set_status(f"kubeconfig: {self.kubeconfig}. {len(self.manifests)} object(s) to apply. "
                            "Start with a dry run.")
        elif in_cluster():
            self.set_status(f"No kubeconfig: this runs in a pod, so its service account is used. "
                            f"{len(self.manifests)} object(s) to apply. Start with a dry run.")
        else:
            self.set_status("No kubeconfig found ($KUBECONFIG is not set and ~/.kube/config does not exist), "
                            "and this is not a pod: type the path of a kubeconfig file above "
                            "(`oc login` writes ~/.kube/config).")
        self._update_buttons()

    def buttons_fit(self, width: int) -> bool:
        """Whether all buttons (Stop watching too: it shows during a job) fit one row on a screen this wide."""
        room = min(width * 9 // 10, 140) - 4  # #apply-dialog: 90% wide, at most 140, less border and padding
        need = sum(max(16, len(str(b.label)) + 4) + 1 for b in self.query("#apply-buttons Button").results(Button))
        return need <= room

    def on_resize(self, event) -> None:
        wrap = not self.buttons_fit(event.size.width)
        self.query_one("#apply-buttons").set_class(wrap, "-wrap")
        for button in self.query("#apply-buttons Button").results(Button):
            button.compact = wrap

    # --- helpers ------------------------------------------------------------------

    def set_status(self, text: str) -> None:
        self.query_one("#apply-status", Static).update(Content(text))

    def log_line(self, text: str) -> None:
        log = self.query_one("#apply-log", Log)
        width = max(20, log.scrollable_content_region.width - 1)
        for line in text.splitlines() or [""]:
            # Log does not wrap: long lines (errors and their fixes) are wrapped here, continuation indented.
            indent = " " * min(len(line) - len(line.lstrip()) + 2, 8)
            for part in textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False) or [""]:
                log.write_line(part)

    def target(self) -> tuple:
        context = self.query_one("#apply-context", Select).value
        context = None if context is Select.NULL else str(context)
        namespace = self.query_one("#apply-namespace", Input).value.strip() or None
        return (self.kubeconfig, context, namespace)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "apply-context" and event.value is not Select.NULL:
            self.query_one("#apply-namespace", Input).placeholder = (
                f"namespace (context: {self.namespaces.get(str(event.value)) or 'default'})")
        self._update_buttons()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "apply-kubeconfig":
            self._take_kubeconfig(event.value)
        self._update_buttons()

    def _take_kubeconfig(self, typed: str) -> None:
        paths = [str(Path(p).expanduser()) for p in typed.strip().split(":") if p]
        found = [p for p in paths if Path(p).is_file()]
        if found or not paths:
            self.kubeconfig = ":".join(found) or None
            self._load_contexts()
        else:
            self.kubeconfig = None
            self.kubeconfig_problem = None
            self.set_status(f"{typed.strip()}: no such file. Type the path of a kubeconfig file.")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter does the field's main action: the kubeconfig field loads that file and goes on to
        its contexts; the namespace field starts the dry run."""
        if event.input.id == "apply-kubeconfig":  # its text was taken as it changed (on_input_changed)
            if self.kubeconfig and not self.kubeconfig_problem:
                self.query_one("#apply-context", Select).focus()
        elif event.input.id == "apply-namespace":
            press_primary(self, "#apply-dry-run")

    def on_checkbox_changed(self, _event: Checkbox.Changed) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.busy
        planned = self.planned_for == self.target()
        reboot_ok = not self.reboots or self.query_one("#apply-reboot-ok", Checkbox).value
        reachable = (bool(self.kubeconfig) or in_cluster()) and not self.kubeconfig_problem
        self.query_one("#apply-dry-run", Button).disabled = busy or not reachable
        self.query_one("#apply-apply", Button).disabled = busy or not planned or not reboot_ok
        self.query_one("#apply-watch", Button).disabled = busy or self.conn is None
        self.query_one("#apply-explain", Button).disabled = busy or self.conn is None
        self.query_one("#apply-stop", Button).display = busy

    def _connection(self):
        """Connect (in the worker thread) unless already connected to the chosen target."""
        from kmwizard.cluster import connection

        target = self.target()
        if self.conn is None or self.conn_key != target:
            kubeconfig, context, namespace = target
            self.conn = connection.connect(kubeconfig, context, namespace)
            self.conn_key = target
            self.ui(self.log_line, "Connected:\n" + self.conn.describe())
        return self.conn

    def _run(self, job, label: str) -> None:
        self.stop.clear()
        self.busy = True
        self.applied_now = 0
        self.set_status(label)
        start_daemon(self._guarded, job, name="kmwizard-cluster")
        self._update_buttons()

    def ui(self, fn, *args) -> None:
        """Run fn on the UI thread from the job's thread; nothing once the app or this dialog is gone."""
        try:
            self.app.call_from_thread(fn, *args)
        except (RuntimeError, NoMatches):  # quit or closed mid-job: there is nobody to tell
            pass

    def _guarded(self, job) -> None:
        """Run a cluster job in the thread; every failure becomes a line the user can act on."""
        try:
            job()
        except Stopped:
            self.ui(self.set_status, "Stopped watching (the rollout goes on in the cluster).")
        except KmwizardError as exc:
            self.ui(self.log_line, tui_language(f"error: {exc.message}\n  fix: {exc.fix}" if exc.fix
                                                   else f"error: {exc.message}"))
            self.ui(self.log_line, self.failed(job) + ".")
            self.ui(self.set_status, tui_language(f"{self.failed(job)}: {exc.message}"))
        except Exception as exc:  # noqa: BLE001 - a thread's exception would otherwise vanish
            self.ui(self.log_line, f"error: unexpected {type(exc).__name__}: {exc}")
            self.ui(self.set_status, f"{self.failed(job)}: see the log")
        finally:
            self.ui(self._finished)

    def failed(self, job) -> str:
        """What a failed job left in the cluster, first (the status may be cut), as `kmwizard ask` says it."""
        if job == self._apply:
            return (f"Apply failed after {self.applied_now} object(s) were applied (listed in the log)"
                    if self.applied_now else "Apply failed: nothing was applied")
        if job == self._dry_run:
            return "Dry run failed: nothing was applied"
        return "Failed (this only reads the cluster: nothing was changed)"

    def _finished(self) -> None:
        self.busy = False
        self._update_buttons()

    # --- the three actions ----------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        button = event.button.id
        if button == "apply-close":
            self.action_close()
        elif button == "apply-stop":
            self.stop.set()
        elif button == "apply-dry-run":
            self._run(self._dry_run, "Server dry run…")
        elif button == "apply-apply":
            self._run(self._apply, "Applying…")
        elif button == "apply-watch":
            self._run(self._watch, "Watching the rollout…")
        elif button == "apply-explain":
            self._run(self._explain, "Walking the chain (read-only)…")

    def _dry_run(self) -> None:
        from kmwizard.cluster import changes, discovery

        target = self.target()
        conn = self._connection()
        facts = discovery.discover(conn)
        say = lambda text: self.ui(self.log_line, text)  # noqa: E731
        say(f"cluster: Kubernetes {facts.server_version or '?'}, OpenShift "
            f"{facts.openshift_version or ('yes' if facts.openshift else 'no')}, KMM "
            f"{(facts.kmm_version or 'installed') if facts.kmm_installed else 'not installed'}")
        problems = [*facts.findings, *discovery.preflight(conn, self.manifests, facts)]
        for f in problems:
            say(f"{f.severity.value}: {f.where}: {f.message}" + (f"\n  fix: {f.fix}" if f.fix else ""))
        report = changes.plan(conn, self.manifests)
        for result in report.results:
            say(f"{result.ref}: {result.action}" + (f" ({result.note})" if result.note else ""))
            text = result.diff()
            if text:
                say(text.rstrip("\n"))
        reboots = changes.reboot_warnings(conn, report.results)
        for warning in reboots:
            say(f"warning: {warning.message()}")
        from kmwizard.findings import has_errors

        ok = report.ok and not has_errors(problems)

        def done() -> None:
            self.reboots = reboots
            self.planned_for = target if ok else None
            box = self.query_one("#apply-reboot-ok", Checkbox)
            box.display = bool(reboots)
            box.value = False
            changes = len(report.changed)
            self.set_status(f"Dry run: {changes} object(s) would change. " + (
                "Apply when ready." if ok else "Fix the errors above first."))
            self._update_buttons()

        if report.error is not None:
            say(f"error: {report.error.message}" + (f"\n  fix: {report.error.fix}" if report.error.fix else ""))
        self.ui(done)

    def _apply(self) -> None:
        from kmwizard.cluster import changes

        conn = self._connection()
        total = len(self.manifests)
        bar = self.query_one("#apply-progress", ProgressBar)
        self.ui(lambda: (setattr(bar, "display", True), bar.update(total=total, progress=0)))

        def progress(result) -> None:
            line = f"{result.ref}: {result.action}" + (f" ({result.note})" if result.note else "")
            if result.error is not None:
                line += f"\n  {result.error.message}" + (f"\n  fix: {result.error.fix}" if result.error.fix else "")
            if result.error is None and result.action != changes.NOT_APPLIED:
                self.applied_now += 1
            self.ui(self.log_line, line)
            self.ui(bar.advance, 1)

        report = changes.apply(conn, self.manifests, progress=progress)
        applied, missing = len(report.applied), len(report.not_applied)
        summary = (f"Applied {applied} of {total} object(s)." if report.ok else
                   f"Stopped: {applied} object(s) applied, {missing} not applied (listed above).")
        self.ui(self.set_status, summary + (" Watch the rollout next." if report.ok else ""))
        self.ui(self.log_line, summary)

    def _watch(self) -> None:
        from kmwizard.cluster import watch

        conn = self._connection()
        bar = self.query_one("#apply-progress", ProgressBar)
        self.ui(lambda: setattr(bar, "display", True))

        def progress(p) -> None:
            if self.stop.is_set():
                raise Stopped()
            line = f"{p.target}: {p.detail}" + (f" (failed: {p.failed})" if p.failed else "")

            def show() -> None:
                bar.update(total=p.total or None, progress=p.done_count)
                self.set_status(line)
            self.ui(show)

        state = watch.watch_rollout(conn, self.manifests, progress=progress, timeout=3600)
        for p in state:
            verdict = "done" if p.done else (f"failed: {p.failed}" if p.failed else
                                             "still pending: " + ", ".join(p.pending))
            self.ui(self.log_line, f"{p.target}: {verdict}")

    def _explain(self) -> None:
        """``status --explain`` in the dialog: each link of the chain, then the first broken one."""
        from kmwizard.cluster import explain

        results = explain.explain(self._connection(), self.manifests, timeout=60)
        for ex in results:
            self.ui(self.log_line, "\n".join(explain.format_explanation(ex)))
        broken = [ex.broken for ex in results if ex.broken]
        self.ui(self.set_status, f"First broken link: {broken[0].what}: {broken[0].detail}" if broken
                else "No broken link found (see the log).")

    def action_close(self) -> None:
        self.stop.set()  # a watch in progress ends at its next progress report
        self.dismiss(None)
