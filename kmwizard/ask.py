"""The wizard as plain prompts (``kmwizard ask``): serial consoles, screen readers, no mouse.

It walks the same flow as the Textual app (``kmwizard.flow``): a question added there
is asked here too.  Rendering, writing and presets use the same core functions, so the
files written are exactly what ``kmwizard generate`` writes for the saved answers.

The prompt object is injectable: ``run_prompts(answers, prompter=FakePrompter(...))``.
End a text answer with ``?`` (no value ends in one) for the question's help.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Sequence, TextIO

from kmwizard import output
from kmwizard.answers import Answers, AnswersError
from kmwizard.findings import KmwizardError, Severity, has_errors, sorted_findings
from kmwizard.flow import Question, questions_for, steps_for
from kmwizard.questions import (apply_text, choice_options, default_output_dir, default_text, display_text,
                                example_text, field_help, is_choice, is_multiline, plan_text, replace_diff,
                                written_text)
from kmwizard.render import Rendering, remote_fetches, render

EXIT_OK, EXIT_INTERRUPTED = 0, 130
HELP = "?"


class Aborted(Exception):
    """The user pressed Ctrl-C / Esc at a prompt."""


class Prompter(Protocol):
    """What the wizard needs from a prompt library; ``key`` names the answer key or the menu asked."""

    def select(self, key: str, message: str, choices: Sequence[tuple[str, Any]], default: Any) -> Any: ...

    def text(self, key: str, message: str, default: str, *, multiline: bool = False) -> str: ...

    def edit(self, key: str, text: str) -> str: ...

    def confirm(self, key: str, message: str, default: bool) -> bool: ...


class QuestionaryPrompter:
    """The real prompts (questionary); None from questionary means the user aborted."""

    def __init__(self) -> None:
        import questionary  # only here: `kmwizard --help` and generate never import it

        self.q = questionary

    @staticmethod
    def _answer(value: Any) -> Any:
        if value is None:
            raise Aborted()
        return value

    def select(self, key, message, choices, default):
        items = [self.q.Choice(title, value=value) for title, value in choices]
        chosen = next((c for c in items if c.value == default), None)
        return self._answer(self.q.select(message, choices=items, default=chosen).ask())

    def text(self, key, message, default, *, multiline=False):
        return self._answer(self.q.text(message, default=default, multiline=multiline).ask())

    def confirm(self, key, message, default):
        return self._answer(self.q.confirm(message, default=default).ask())

    def edit(self, key, text):
        """The text after the user's $VISUAL / $EDITOR (vi) edited it in a temporary file."""
        import shlex
        import subprocess
        import tempfile

        with tempfile.TemporaryDirectory(prefix="kmwizard-") as tmp:
            path = Path(tmp) / f"{key}.yaml"
            path.write_text(text, encoding="utf-8")
            try:
                subprocess.run([*shlex.split(editor_name()), str(path)], check=False)
            except OSError as exc:
                raise KmwizardError(f"cannot start the editor {editor_name()!r}: {exc.strerror}",
                                    "set $EDITOR to an editor that is installed, or read the answer from a file")
            return path.read_text(encoding="utf-8")


def editor_name() -> str:
    import os

    return os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"


def finding_lines(findings) -> list[str]:
    lines = []
    for f in sorted_findings(findings):
        lines.append(f"{f.severity.value}: {f.where}: {f.message}")
        if f.fix:
            lines.append(f"  fix: {f.fix}")
    return lines


def wrapped(text: str) -> str:
    """Paragraphs folded at words to the terminal's width (a terminal folds anywhere, inside words)."""
    import shutil
    import textwrap

    width = max(40, shutil.get_terminal_size((100, 24)).columns - 2)
    return "\n".join(textwrap.fill(line, width, subsequent_indent="  " if line.startswith("  ") else "")
                     if len(line) > width else line for line in text.split("\n"))


# --- the walk -------------------------------------------------------------------------

class PromptWizard:
    def __init__(self, answers: Answers, prompter: Prompter, out: TextIO,
                 run_command: Optional[Callable[[list[str]], int]] = None) -> None:
        self.answers, self.prompter, self.out = answers, prompter, out
        self.run_command = run_command or run_kmwizard

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def run(self) -> int:
        self.choose_start()
        self.kept, self.saved_file = self.answers, None  # what quitting loses: answers changed since these
        self.walk()
        while True:
            if not self.menu(self.render()):
                return EXIT_OK

    def choose_start(self) -> None:
        from kmwizard.preset_store import list_presets, load_preset

        choices = [("keep the current answers" if self.answers.explicit else "start from the defaults", "keep"),
                   ("a preset", "preset"), ("an answers file", "file")]
        start = self.prompter.select("start", "Start from", choices, "keep")
        if start == "preset":
            presets = list_presets()
            name = self.prompter.select("preset", "Which preset?",
                                        [(f"{p.name} ({p.origin}): {p.description}", p.name) for p in presets],
                                        presets[0].name if presets else None)
            self.answers = load_preset(name)
        elif start == "file":
            while True:
                path = self.prompter.text("answers-file", "Answers file", "")
                try:
                    self.answers = Answers.load(Path(path).expanduser())
                    break
                except KmwizardError as exc:
                    self.say(f"{exc.message}\n  fix: {exc.fix}")

    def walk(self) -> None:
        """Every step that applies, re-evaluated after each answer (answers change which apply)."""
        done: set[str] = set()
        while True:
            step = next((s for s in steps_for(self.answers) if s.id not in done), None)
            if step is None:
                return
            done.add(step.id)
            self.say(f"\n== {step.title} ==\n{step.intro}")
            asked: set[str] = set()
            while True:
                question = next((q for q in questions_for(step, self.answers) if q.key not in asked), None)
                if question is None:
                    break
                asked.add(question.key)
                self.ask(question)

    def fix(self, rendering: Rendering) -> None:
        """Ask again each question an error names (render names the answer key of findings on
        rendered files); when no error names a question, say so and let the user pick one, so
        choosing this never asks nothing and returns to the same menu."""
        wheres = [f.where for f in rendering.findings if f.severity is Severity.ERROR]
        keys = {where.split(":", 1)[0] for where in wheres}
        questions = [q for s in steps_for(self.answers) for q in questions_for(s, self.answers) if q.key in keys]
        if not questions:
            self.say("No question the wizard asks is at fault (" + ", ".join(wheres) + "): change an answer "
                     "that leads to it, or edit an answers file and load it.")
            self.change()
            return
        for question in questions:
            self.ask(question)

    def ask(self, question: Question) -> None:
        if is_choice(question):
            value = self.prompter.select(question.key, question.prompt, choice_options(question, self.answers),
                                         self.answers.get(question.key))
            if value != self.answers.get(question.key) and question.key == "method":
                self.answers, aside = self.answers.switch_method(value)
                if aside:
                    self.say(f"Set aside {len(aside)} answer(s) only the other method reads: "
                             + ", ".join(sorted(aside)))
            elif value != self.answers.get(question.key):
                self.answers = self.answers.set(question.key, value)
            return
        # [X] only for a real default; an example is labelled as one and never used.
        default = default_text(question, self.answers)
        example = "" if default else example_text(question, self.answers)
        message = question.prompt + (f" [{default}]" if default else "") + (f" (e.g. {example})" if example else "")
        message += " (? for help)"
        rejected = None  # text shown with its findings: entered again, it is kept anyway
        typed = None  # the last text refused: the prompt comes back with it, to fix rather than retype
        while True:
            current = typed if typed is not None else display_text(question, self.answers)
            if is_multiline(question):
                text = self.multiline_text(question, message, current)
                if text is None:
                    return  # kept as it is
            else:
                text = self.prompter.text(question.key, message, current)
            if text.strip().endswith(HELP):  # questionary pre-fills the answer: "?" lands at its end
                self.say(wrapped(field_help(question, self.answers)))
                continue
            try:
                answers = apply_text(question, text, self.answers)
            except AnswersError as exc:
                self.say("\n".join(finding_lines(exc.findings)))
                typed = text
                continue
            # Ask again at once rather than after the whole walk when the key's own rule fails.
            spec = question.spec
            problem = spec.validate(answers.get(spec.key), answers) if spec.validate else None
            if problem:
                self.say(f"error: {spec.key}: {problem}")
                typed = text
                continue
            # The checks the findings make, at the question (as the openshift-install survey does).
            # The same text again after the problem was shown keeps it (to fix later, or elsewhere).
            problems = self.problems_with(question.key, answers) if text != rejected else []
            if problems:
                self.say("\n".join(finding_lines(problems)))
                self.say("(Enter the same answer again to keep it anyway.)")
                rejected = typed = text
                continue
            if example and not text.strip():
                self.say(f"(left empty: {question.key} has no default, and the example is not used)")
            self.answers = answers
            return

    def multiline_text(self, question: Question, message: str, current: str) -> Optional[str]:
        """A multi-line answer: typed (the finish key said on its own line, never cut), edited in
        $EDITOR, or read from a file; None keeps the current answer.  When the editor or the file
        fails, it says why and asks again how (moving on would silently keep the old answer)."""
        ways = [("Type it here (Esc then Enter finishes)", "type"), (f"Edit it in {editor_name()}", "editor"),
                ("Read it from a file", "file"), ("Keep it as it is", "keep")]
        while True:
            way = self.prompter.select(f"{question.key}:how", f"{question.prompt}: how will you give it?", ways,
                                       "type")
            if way == "keep":
                return None
            if way == "editor":
                try:
                    return self.prompter.edit(question.key, current)
                except KmwizardError as exc:
                    self.say(f"{exc.message}\n  fix: {exc.fix}")
                    continue
            if way == "file":
                raw = self.prompter.text(f"{question.key}:file", "Path of the file holding the answer", "")
                try:
                    return Path(raw.strip()).expanduser().read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    self.say(f"cannot read {raw.strip()!r}: {getattr(exc, 'strerror', None) or exc}; "
                             "the answer is unchanged, choose again how to give it")
                    continue
            break
        self.say("(multi-line: Esc then Enter finishes)")
        return self.prompter.text(question.key, message, current, multiline=True)

    def problems_with(self, key: str, answers: Answers) -> list:
        """Errors a render finds on this answer; none checked while a render would clone first."""
        if remote_fetches(answers):
            return []
        return [f for f in render(answers).findings if f.severity is Severity.ERROR and f.where == key]

    def render(self) -> Rendering:
        self.say("\nRendering…")
        rendering = render(self.answers)
        files = ", ".join(f.path for f in rendering.files) or "none"
        self.say(f"Files: {files}")
        for line in finding_lines(rendering.findings):
            self.say(line)
        for note in rendering.notes:
            self.say(f"note: {note}")
        return rendering

    def menu(self, rendering: Rendering) -> bool:
        """One action; False when the user is done."""
        ok = not has_errors(rendering.findings)
        choices = [("Write the files", "write")] if ok else [("Answer the questions with errors again", "fix")]
        choices += [("Show the preview (secrets masked)", "preview")]
        if ok:
            choices.append(("Apply to the cluster (server dry run and diff first)", "apply"))
        choices += [("Save the answers as a preset", "preset"), ("Save the answers to a file", "save"),
                    ("Change an answer", "change"), ("Quit", "quit")]
        action = self.prompter.select("action", "What next?", choices, choices[0][1])
        if action == "quit":
            if self.answers != self.kept and not self.prompter.confirm(
                    "quit-unsaved", "Your answers are not saved (a preset or a file keeps them). Quit anyway?", False):
                return True
            if ok and self.saved_file:
                self.say(f"To apply these answers later: kmwizard apply --answers {self.saved_file} "
                         "--dry-run=server, then without --dry-run.")
            return False
        {"preview": lambda: self.preview(rendering), "write": lambda: self.write(rendering),
         "fix": lambda: self.fix(rendering), "apply": self.apply,
         "preset": self.save_preset, "save": self.save_file, "change": self.change}[action]()
        return True

    def preview(self, rendering: Rendering) -> None:
        for file in rendering.files:
            self.say(f"# ---- {file.path} (mode {file.mode:04o}{', secret: masked' if file.secret else ''})")
            self.say(file.preview_text().rstrip("\n"))

    def write(self, rendering: Rendering) -> None:
        directory = self.prompter.text("output-dir", "Write into which directory?",
                                       default_output_dir(self.answers, rendering))
        try:
            plan = output.plan(rendering, directory)
        except KmwizardError as exc:
            self.say(f"{exc.message}\n  fix: {exc.fix}")
            return
        self.say(plan_text(plan))
        force = False
        if plan.overwrites:
            self.say("What changes in the files it replaces:\n" + replace_diff(plan))
            force = self.prompter.confirm("overwrite", f"Replace {len(plan.overwrites)} existing file(s)?", False)
            if not force:
                self.say("Nothing written.")
                return
        try:
            output.write(plan, force=force)
        except KmwizardError as exc:  # disk full, a name too long, ...: nothing was written, ask again
            self.say(f"{exc.message}\n  fix: {exc.fix}")
            return
        self.say(written_text(plan))
        self.kept = self.answers

    def apply(self) -> None:
        """`kmwizard diff`, then on confirmation `kmwizard apply`, on these answers: the same
        commands (and output) as typed by hand; the kubernetes client loads only now."""
        import tempfile

        main = self.run_command
        kubeconfig = self.kubeconfig_args()
        if kubeconfig is None:
            self.say("Nothing was applied.")
            return
        context = self.prompter.text("context", "kubeconfig context (empty: its current context)", "")
        namespace = self.prompter.text("namespace", "default namespace (empty: the context's)", "")
        target = kubeconfig + (["--context", context.strip()] if context.strip() else []) + \
            (["--namespace", namespace.strip()] if namespace.strip() else [])
        with tempfile.TemporaryDirectory(prefix="kmwizard-") as tmp:
            answers_file = Path(tmp) / "answers.yaml"
            answers_file.write_text(self.answers.to_yaml(), encoding="utf-8")
            self.say("Server dry run and diff (nothing changes yet):")
            code = main(["diff", "--answers", str(answers_file), *target])
            if code == 0:
                self.say("The cluster already has exactly these objects: nothing to apply.")
                return
            if code > 1:
                self.say("The dry run failed (see above): nothing was applied.")
                return
            if not self.prompter.confirm("apply-confirm", "Apply these changes now?", False):
                self.say("Nothing was applied.")
                return
            code = main(["apply", "--answers", str(answers_file), *target])
            self.say("Applied." if code == 0 else f"kmwizard apply exited with {code} (see above).")

    def kubeconfig_args(self) -> Optional[list[str]]:
        """[] when the commands find a usable kubeconfig (or run in a pod) by themselves; else asks for
        one before anything else (`ask` has no --kubeconfig option to tell the user about): its
        --kubeconfig, or None when the user leaves the path empty."""
        from kmwizard.cluster.connection import check_kubeconfig_files, in_cluster, resolve_kubeconfig  # no kubernetes

        try:
            found = resolve_kubeconfig()
            if found:
                check_kubeconfig_files(found)
                return []
            if in_cluster():
                return []  # in a pod: its service account
            self.say("No kubeconfig found ($KUBECONFIG is not set and ~/.kube/config does not exist), "
                     "and this is not a pod.")
        except KmwizardError as exc:
            self.say(exc.message)
        while True:
            raw = self.prompter.text("kubeconfig", "Path of a kubeconfig file (`oc login` writes ~/.kube/config; "
                                                   "empty: cancel)", "").strip()
            if not raw:
                return None
            path = str(Path(raw).expanduser())
            try:
                check_kubeconfig_files(path)
                return ["--kubeconfig", path]
            except KmwizardError as exc:
                self.say(f"{exc.message}\n  fix: {exc.fix}")

    def save_preset(self) -> None:
        from kmwizard.preset_store import check_preset_name, save_user_preset

        while True:  # the name is checked at once, not after the description
            name = self.prompter.text("preset-name", "Preset name (empty: cancel)", "").strip()
            if not name:
                return
            try:
                check_preset_name(name)
                break
            except KmwizardError as exc:
                self.say(f"{exc.message}\n  fix: {exc.fix}")
        description = self.prompter.text("preset-description", "One-line description", "")
        try:
            path = save_user_preset(name, self.answers, description)
        except KmwizardError as exc:
            if "exists already" not in exc.message or not self.prompter.confirm(
                    "preset-replace", f"{exc.message}. Replace it?", False):
                self.say(f"{exc.message}\n  fix: {exc.fix}")
                return
            path = save_user_preset(name, self.answers, description, force=True)
        self.kept = self.answers
        self.say(f"Saved preset {name} ({path}).")

    def save_file(self) -> None:
        raw = self.prompter.text("answers-out", "Save the answers to which file?", "kmwizard-answers.yaml")
        path = Path(raw).expanduser()
        if path.exists() and not self.prompter.confirm("answers-replace", f"{path} exists. Replace it?", False):
            return
        output.atomic_write(path, self.answers.to_yaml().encode(), 0o644)
        self.kept, self.saved_file = self.answers, path
        self.say(f"Saved the answers to {path}; reuse them with --answers {path}.")

    def change(self) -> None:
        questions = [q for s in steps_for(self.answers) for q in questions_for(s, self.answers)]
        key = self.prompter.select("change", "Which answer?", [(q.prompt, q.key) for q in questions],
                                   questions[0].key)
        self.ask(next(q for q in questions if q.key == key))


def run_kmwizard(argv: list[str]) -> int:
    """A kmwizard command line in a child process, on this terminal: what the user would type."""
    import subprocess

    return subprocess.call([sys.executable, "-m", "kmwizard", *argv])


def run_prompts(answers: Answers, prompter: Optional[Prompter] = None, out: Optional[TextIO] = None,
                run_command: Optional[Callable[[list[str]], int]] = None) -> int:
    """Run the prompt wizard; the exit code for the CLI (130 when the user aborts).  ``run_command``
    runs a kmwizard command line for Apply (kmwizard.main passes the CLI's main; by default a child
    process runs it)."""
    wizard = PromptWizard(answers, prompter or QuestionaryPrompter(), out or sys.stdout, run_command)
    try:
        return wizard.run()
    except (Aborted, KeyboardInterrupt):
        wizard.say("kmwizard: interrupted; nothing more was written.")
        return EXIT_INTERRUPTED
