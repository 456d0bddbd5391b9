"""Rendering in the background and showing the result: the preview, the findings, the review.

Rendering runs in a daemon thread, one at a time: keystrokes that arrive meanwhile are
coalesced into one render of the latest answers, and results are cached per answers.
"""
from __future__ import annotations

import time

from textual.content import Content
from textual.message import Message
from textual.widgets import Input, OptionList, Static

from kmwizard import flow
from kmwizard.findings import Finding, Severity, has_errors, info
from kmwizard.flow import step_of
from kmwizard.redact import mask_credentials
from kmwizard.render import Rendering, input_state, remote_fetches

from kmwizard.screens.background import start_daemon
from kmwizard.screens.preview import FindingsPanel, PreviewPane, safe_render
from kmwizard.screens.texts import step_label

REVIEW = "review"
RENDER_CACHE_SIZE = 64


class Rendered(Message):
    """A render finished in the worker thread (posted, so it is thread-safe)."""

    def __init__(self, key: tuple, rendering: Rendering) -> None:
        super().__init__()
        self.key, self.rendering = key, rendering


def waiting_finding(urls: list[str]) -> Finding:
    """What the preview says while it waits for the user to choose the KVC repositories."""
    return info("kvc.module_repo",
                f"nothing fetched yet: the preview clones {len(urls)} repositories once you leave the Module "
                "source step (F8 there) or load a preset",
                "offline: choose KMM, a kmm-* preset, local directories, or an existing fakeroot (kvc.fakeroot)",
                code="fetch-deferred")


class RenderingMixin:
    """The WizardApp's rendering half (state set up in WizardApp.__init__).

    The cache is keyed on the answers and on the state of the local files and trees they name
    (``input_state``): a file added to a fakeroot or repository shows without a restart."""

    shown_method: str | None = None  # the method of the answers that ``shown`` (the preview's files) came from

    def _render_key(self) -> tuple:
        return (self.answers, input_state(self.answers))

    def allow_fetch(self) -> None:
        """The user has chosen the method and repositories: renders may clone from now on."""
        if not self.fetch_allowed:
            self.fetch_allowed = True
            self._request_render()

    def _request_render(self) -> None:
        key = self._render_key()
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.call_next(self._show_rendering, cached)
            return
        if not self.fetch_allowed:
            urls = remote_fetches(self.answers)
            if urls:  # an offline user must not meet a clone error before choosing anything
                self.call_next(self._show_waiting, urls)
                return
        self.waiting_for_fetch = []
        if self._busy_since is not None:
            self._render_pending = True  # picked up when the running render finishes
            return
        self._start_render(key)

    def _start_render(self, key: tuple) -> None:
        self._busy_since = time.monotonic()
        self._render_pending = False
        self.set_timer(0.2, self._show_busy)
        start_daemon(self._render_in_thread, key, name="kmwizard-render")

    def _render_in_thread(self, key: tuple) -> None:
        # safe_render turns every failure into a finding: nothing can vanish in this thread.
        self.post_message(Rendered(key, safe_render(key[0])))

    def _show_busy(self) -> None:
        if self._busy_since is None:
            return
        elapsed = time.monotonic() - self._busy_since
        self._progress_bar().add_class("-busy")
        # Until the render shows, the files on screen are the previous answers': a resize must not put
        # a file's name in place of this (PreviewPane.mark_stale).
        self.query_one(PreviewPane).mark_stale(
            f"rendering… {elapsed:.0f} s (a first KVC render clones and builds the repositories)")
        self.set_timer(0.5, self._show_busy)

    async def on_rendered(self, message: Rendered) -> None:
        if not self.query("#findings"):  # the app is closing: the render finished too late to show
            return
        self._cache[message.key] = message.rendering
        while len(self._cache) > RENDER_CACHE_SIZE:
            self._cache.popitem(last=False)
        self._busy_since = None
        if self.query("#render-progress"):
            self.query_one("#render-progress").remove_class("-busy")
        key = self._render_key()
        if message.key == key:
            await self._show_rendering(message.rendering)
        else:
            self._request_render()  # the answers or the trees changed meanwhile

    def _check_inputs(self) -> None:
        """Poll the local trees the answers name: an edit outside the wizard re-renders."""
        if self._busy_since is None and self.rendering is not None and not self.waiting_for_fetch:
            if self._render_key() not in self._cache:
                self._request_render()

    async def _show_waiting(self, urls: list[str]) -> None:
        self.waiting_for_fetch = urls
        self.rendering = Rendering(findings=(waiting_finding(urls),))
        preview = self.query_one(PreviewPane)
        if self.shown is not None:  # files of the other method, or of other repositories: not these answers'
            self.shown = None
            await preview.show(Rendering())
        preview.show_message(
            "Nothing fetched yet.\n\nA KVC preview clones the repositories chosen on the Module source step "
            f"({', '.join(urls)}) and runs make install: choose them first, then press F8 there.\n\n"
            "Offline? Choose KMM above, start from a kmm-* preset, or give local directories or an "
            "existing fakeroot on the Module source step.")
        preview.set_status("not rendered yet: nothing is fetched until you choose the repositories")
        self._show_findings()
        self._update_review()

    async def _show_rendering(self, rendering: Rendering) -> None:
        self.rendering = rendering
        preview = self.query_one(PreviewPane)
        method = self.answers.get("method")
        # A render without files keeps the last good preview on screen, if there is one of this method.
        if rendering.files or self.shown is None or self.shown_method != method:
            self.shown, self.shown_method = rendering, method
            await preview.show(rendering)
            if not preview.is_attached:  # the app closed while the files were being drawn
                return
        if not rendering.files and has_errors(rendering.findings):
            kept = " (the last good preview stays)" if self.shown.files else ""
            preview.mark_stale(f"✗ not rendered: fix the errors below{kept}")
        self._show_findings()
        self._update_review()
        tester = self.query("#kernel-test")
        if tester and tester.first(Input).value:
            self._test_kernel(tester.first(Input).value)

    def findings(self) -> list[Finding]:
        rendered = list(self.rendering.findings) if self.rendering else []
        typed = [f for f in self.input_errors.values()]
        return typed + [f for f in rendered if f.where not in self.input_errors]

    def _show_findings(self) -> None:
        findings = self.findings()
        self.query_one(FindingsPanel).show(findings)
        errors = sum(f.severity is Severity.ERROR for f in findings)
        warnings = sum(f.severity is Severity.WARNING for f in findings)
        if self.waiting_for_fetch:
            summary = "Nothing fetched yet: waiting for the repositories"
        elif errors:
            summary = f"✗ {errors} error(s), {warnings} warning(s): F6 lists them"
        else:
            summary = f"✓ no errors, {warnings} warning(s)"
        self._set_text("#form-status", summary + " · F9 preview")
        # Mark the fields themselves, not only their steps.
        wrong = self.error_keys()
        for row in self.field_rows():
            row.mark_error(row.question.key in wrong)
        bad = self._steps_with_errors()
        steps = self.query_one("#steps", OptionList)
        titles = {s.id: s.title for s in flow.FLOW} | {REVIEW: "Review"}
        for i, sid in enumerate(self._steps):
            label = step_label(titles[sid], sid in bad, i + 1, self._compact_steps)
            option = steps.get_option_at_index(i)
            if str(option.prompt) != label:
                steps.replace_option_prompt_at_index(i, label)

    def _progress_bar(self):
        """The bar under the preview, mounted when a render first takes long (not on the first screen)."""
        bars = self.query("#render-progress")
        if bars:
            return bars.first()
        from textual.widgets import ProgressBar

        bar = ProgressBar(total=None, show_eta=False, id="render-progress")
        self.query_one("#preview-column").mount(bar, before="#findings")
        return bar

    def _update_review(self) -> None:
        if REVIEW not in self._built:  # built on its first visit, with the texts of that moment
            return
        findings = self.findings()
        errors = sum(f.severity is Severity.ERROR for f in findings)
        warnings = sum(f.severity is Severity.WARNING for f in findings)
        files = self.rendering.files if self.rendering else ()
        summary = f"{len(files)} file(s) to write, {errors} error(s), {warnings} warning(s)."
        if errors:
            summary += " Fix the errors first: select one in the findings panel (F6) to jump to its field."
        notes = "\n".join(f"note: {note}" for note in (self.rendering.notes if self.rendering else ()))
        self._set_text("#review-summary", summary)
        # what Save preset stores, as shown: a password in a URL answer is masked (the answer itself is refused)
        self._set_text("#review-answers", mask_credentials(self.answers.to_yaml()).rstrip())
        self._set_text("#review-notes", notes)

    def _set_text(self, selector: str, text: str) -> None:
        widget = self.query_one(selector, Static)
        if str(widget.content) != text:  # an update costs a layout pass: skip it when nothing changed
            widget.update(Content(text))

    def error_keys(self) -> set[str]:
        """The answer keys an error names."""
        return {f.where.split(":", 1)[0] for f in self.findings() if f.severity is Severity.ERROR}

    def _steps_with_errors(self) -> set[str]:
        bad = set()
        for finding in self.findings():
            if finding.severity is Severity.ERROR:
                step = step_of(finding.where.split(":", 1)[0])
                if step is not None:
                    bad.add(step.id)
        return bad
