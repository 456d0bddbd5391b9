"""What the cluster commands (``kmwizard.cluster.commands``) show and ask: messages and findings
on stderr, each object's result as a line, a failed apply or delete, the question before a change
that reboots nodes, and the rollout's progress while ``--wait`` follows it.  Diffs and status
tables go to stdout in the commands themselves.
"""
from __future__ import annotations

import sys

from kmwizard.findings import KmwizardError, UsageError


def err(text: str = "") -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def print_findings(findings) -> None:
    from kmwizard.findings import sorted_findings

    for f in sorted_findings(findings):
        err(f"{f.severity.value}: {f.where}: {f.message}")
        if f.fix:
            err(f"  fix: {f.fix}")


def result_line(result) -> str:
    """One object's outcome of an apply, delete or dry run: `Kind/name   created  (note)`."""
    text = f"{str(result.ref):50} {result.action}"
    if result.note:
        text += f"  ({result.note})"
    return text


def print_failure(report, verb: str = "applied") -> None:
    exc = report.error
    err(f"error: {exc.message}")
    if exc.fix:
        err(f"  fix: {exc.fix}")
    done = [str(r.ref) for r in report.results if r.action in ("created", "configured", "unchanged", "deleted")]
    left = [str(r.ref) for r in report.results if r.action in ("failed", "not applied", "not deleted")]
    if not report.dry_run:
        err(f"{verb}: {', '.join(done) or 'nothing'}")
        err(f"not {verb}: {', '.join(left) or 'nothing'}")


def confirm(warnings, args) -> None:
    """Ask before a change that reboots nodes (``warnings``), unless --yes; without a terminal to ask
    on, refuse."""
    if not warnings:
        return
    for w in warnings:
        err(f"warning: {w.message()}")
    if args.yes:
        return
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError("this change reboots nodes and no terminal is there to confirm it",
                         "re-run with --yes to confirm, or --dry-run=server to only check")
    err("Continue? [y/N] ")
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise KmwizardError("cancelled: nothing was changed", "")


class ProgressPrinter:
    """A progress bar on a terminal, plain lines (only when something changed) otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last: dict[str, str] = {}

    def __call__(self, prog) -> None:
        frac = prog.fraction
        if self.tty:
            width = 30
            filled = int(width * (frac or 0))
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r\033[K[{bar}] {prog.detail}"[:200])
            if prog.done or prog.failed:
                self.stream.write("\n")
        elif self.last.get(prog.target) != prog.detail + str(prog.done) + prog.failed:
            self.last[prog.target] = prog.detail + str(prog.done) + prog.failed
            self.stream.write(f"{prog.detail}{' (done)' if prog.done else ''}\n")
        if prog.failed:
            self.stream.write(f"failed: {prog.failed}\n")
        self.stream.flush()
