"""Structured validation results shared by every checker and every front end.

A finding says what is wrong (or worth knowing), where (an answer key such as
``kvc.module_repo`` or a manifest path such as ``99-worker-kvc-simple-kmod.yaml:$.spec.config``),
and how to fix it.  Front ends decide how to show them; the core never prints.
"""
from __future__ import annotations

from enum import Enum
from typing import Iterable

from kmwizard.records import record
from kmwizard.redact import for_display


class Severity(str, Enum):
    ERROR = "error"      # the MCO, Ignition, the API server or KMM would reject it
    WARNING = "warning"  # accepted, but likely to fail silently or surprise
    INFO = "info"        # something kmwizard did or the user must know

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@record(frozen=True)
class Finding:
    severity: Severity
    where: str          # answer key ("kvc.module_repo") or "file:$.json.path"
    message: str        # what is wrong, naming the value and the rule
    fix: str = ""       # how to fix it, in the user's terms
    code: str = ""      # short stable id, e.g. "kvc-link-dangling", for tests and suppression

    def __post_init__(self) -> None:
        # Messages quote user values: never a URL's password, never a raw terminal escape.
        for name in ("where", "message", "fix"):
            object.__setattr__(self, name, for_display(getattr(self, name)))

    def format(self) -> str:
        text = f"{self.severity.value}: {self.where}: {self.message}"
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


def error(where: str, message: str, fix: str = "", code: str = "") -> Finding:
    return Finding(Severity.ERROR, where, message, fix, code)


def warning(where: str, message: str, fix: str = "", code: str = "") -> Finding:
    return Finding(Severity.WARNING, where, message, fix, code)


def info(where: str, message: str, fix: str = "", code: str = "") -> Finding:
    return Finding(Severity.INFO, where, message, fix, code)


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then warnings, then info; stable within a severity."""
    return sorted(findings, key=lambda f: f.severity.rank)


class KmwizardError(Exception):
    """An error the user can act on: the message names the culprit and the fix.

    The CLI prints it without a traceback and exits with ``exit_code``.
    """

    exit_code = 1

    def __init__(self, message: str, fix: str = "") -> None:
        message, fix = for_display(message), for_display(fix)
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


class UsageError(KmwizardError):
    exit_code = 2


class ClusterError(KmwizardError):
    exit_code = 3
