"""The command line: ``kmwizard <command>``.

Manifests go to stdout, diagnostics to stderr.  Exit codes: 0 ok, 1 findings with
errors (or, for diff, changes), 2 usage, 3 cluster, 130 interrupted.  Heavy imports
(textual, questionary, kubernetes) happen inside the commands that need them, so
``kmwizard --help``, ``preview`` and ``generate`` start fast.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from typing import Callable, Iterable, Mapping, Optional, Sequence

from kmwizard import __version__
from kmwizard.findings import Finding, KmwizardError, Severity, UsageError, has_errors, sorted_findings
from kmwizard.redact import printable
from kmwizard.textfiles import read_text_arg

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_CLUSTER, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

NO_TTY_MESSAGE = (
    "kmwizard: the interactive wizard needs a terminal, and standard input or output is not one.\n"
    "Without a terminal use the non-interactive commands:\n"
    "  kmwizard preview  --preset kmm-ci                 # show what would be generated (works offline)\n"
    "  kmwizard generate --preset kmm-ci --output-dir out/\n"
    "  kmwizard preview  --preset simple-kmod            # KVC: clones two GitHub repositories first\n"
    "  kmwizard apply    --answers my-answers.yaml --dry-run=server\n"
    "See `kmwizard --help`."
)


def print_findings(findings: Iterable[Finding], stream=None, *, min_severity: Severity = Severity.INFO) -> None:
    # Findings carry display-safe text already (credentials masked, control characters escaped).
    stream = stream or sys.stderr
    for finding in sorted_findings(findings):
        if finding.severity.rank > min_severity.rank:
            continue
        stream.write(f"{finding.severity.value}: {finding.where}: {finding.message}\n")
        if finding.fix:
            stream.write(f"  fix: {finding.fix}\n")


def _is_tty() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


# --- commands -----------------------------------------------------------------------

def cmd_preview(args: argparse.Namespace) -> int:
    from kmwizard.inputs import answers_from_args
    from kmwizard.render import render

    rendering = render(answers_from_args(args))
    out = sys.stdout
    if args.all_files:
        for file in rendering.files:
            out.write(f"# ---- {file.path} (mode {file.mode:04o}{', secret: masked' if file.secret else ''})\n")
            text = printable(file.preview_text())  # a user's Dockerfile may hold terminal escapes
            out.write(text if text.endswith("\n") else text + "\n")
    else:
        first = True
        for file in rendering.files:
            if file.manifest is None:
                continue
            if not first:
                out.write("---\n")
            first = False
            out.write(f"# {file.path}{' (secret values masked; generate writes them)' if file.secret else ''}\n")
            out.write(file.preview_text())
    print_findings(rendering.findings)
    for note in rendering.notes:
        sys.stderr.write(f"note: {printable(note)}\n")
    return EXIT_FINDINGS if has_errors(rendering.findings) else EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    from kmwizard import output
    from kmwizard.inputs import answers_from_args
    from kmwizard.render import render

    answers = answers_from_args(args)
    rendering = render(answers)
    print_findings(rendering.findings)
    if has_errors(rendering.findings):
        sys.stderr.write("kmwizard: nothing was written: fix the errors above first.\n")
        return EXIT_FINDINGS
    out_dir = args.output_dir or (answers.get("output.install_dir") if rendering.install_subdir else "")
    if not out_dir:
        raise UsageError("no output directory given",
                            "pass --output-dir DIR (day 1: the openshift-install directory)")
    plan = output.plan(rendering, out_dir)
    written = output.write(plan, force=args.force)
    report = []
    for planned, path in zip(plan.files, written):
        state = "unchanged" if planned.unchanged else ("replaced" if planned.exists else "written")
        secret = "  (holds secrets: mode 0600, keep it private)" if planned.file.secret else ""
        report.append(f"{state:9} {planned.file.mode:04o} {printable(str(path))}{secret}\n")
    try:
        sys.stdout.write("".join(report))
        sys.stdout.flush()
    except StdoutError as exc:
        raise StdoutError(exc.os_error, f"all {len(written)} files were written to "
                          f"{printable(str(plan.directory))}") from None
    for note in rendering.notes:
        sys.stderr.write(f"note: {printable(note)}\n")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from kmwizard.cli.validate import run_validate

    return run_validate(args)


def cmd_presets(args: argparse.Namespace) -> int:
    from kmwizard.preset_store import list_presets, preset_path

    if args.action == "list":
        presets = list_presets()
        width = max((len(p.name) for p in presets), default=4)
        for p in presets:  # names and descriptions are the user's: no terminal escapes
            print(f"{printable(p.name):{width}}  {p.origin:8}  {printable(p.description)}")
        return EXIT_OK
    if not args.name:
        raise UsageError("`presets show` needs a preset name", "run `kmwizard presets list` to see them")
    sys.stdout.write(read_text_arg(str(preset_path(args.name)), "preset file"))
    return EXIT_OK


def cmd_keys(args: argparse.Namespace) -> int:
    import textwrap

    from kmwizard.keys import KEYS

    import json

    from kmwizard.answers import thaw

    for key, spec in KEYS.items():
        if args.method and args.method not in spec.methods:
            continue
        # As an answer file writes it (JSON is YAML): [] and false, not Python's () and False.
        default = "derived from other answers" if callable(spec.default) else \
            json.dumps(thaw(spec.default), ensure_ascii=False)
        choices = ", ".join(str(c) if c != "" else '""' for c in spec.choices)
        allowed = f"  one of: {choices}" if spec.choices else ""
        print(f"{key}  [{spec.kind}]  default: {default}{allowed}")
        print(textwrap.indent(textwrap.fill(spec.help, 100), "    "))
    return EXIT_OK


def _interactive(args: argparse.Namespace, front_end: str) -> int:
    if not _is_tty():
        sys.stderr.write(NO_TTY_MESSAGE + "\n")
        return EXIT_USAGE
    if front_end == "tui" and (args.from_files or args.from_cluster is not None):
        if args.preset or args.answers:
            raise UsageError("--from/--from-cluster start from imported objects: --preset and --answers cannot "
                             "be given too", "drop --preset/--answers (use --set to change imported answers)")
        from kmwizard.cli.imports import tui_on_import

        return tui_on_import(args)
    from kmwizard.inputs import answers_from_args

    answers = answers_from_args(args)
    # The front ends are handed in by kmwizard.main: the CLI does not import them.
    run = (getattr(args, "front_ends", None) or {}).get(front_end)
    if run is None:
        raise UsageError(f"this entry point cannot start `kmwizard {front_end}`",
                         f"run the kmwizard program: `kmwizard {front_end}` or `python -m kmwizard {front_end}`")
    return run(answers)


def cmd_tui(args: argparse.Namespace) -> int:
    return _interactive(args, "tui")


def cmd_ask(args: argparse.Namespace) -> int:
    return _interactive(args, "ask")


# --- parser -------------------------------------------------------------------------

def _kmm_version(text: str) -> str:
    from kmwizard.kmm.lint import parse_kmm_version

    if parse_kmm_version(text) is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a KMM version: write X.Y as `oc get csv -n openshift-kmm` "
                                         "shows it, e.g. 2.4")
    return text


def _openshift_version(text: str) -> str:
    from kmwizard.kvc.releases import LAST_MINOR, minor_of

    try:
        minor = minor_of(text)
    except KmwizardError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message}; {exc.fix}") from None
    if minor > LAST_MINOR:
        raise argparse.ArgumentTypeError(f"{text!r}: kmwizard knows the rules of OpenShift 4.6 to 4.{LAST_MINOR}; "
                                         f"judge with --openshift-version 4.{LAST_MINOR}, the newest it knows")
    return f"4.{minor}"


# The commands declared in build_parser itself; a run of one of them builds only its parser.
CORE_COMMANDS = ("tui", "ask", "generate", "preview", "validate", "presets", "keys")
_NO_ANSWERS = ("validate", "presets", "keys")


class _SkippedParser:
    """Stands in for the parser of a command this run does not use: declaring it does nothing."""

    def __getattr__(self, _name):
        return lambda *args, **kwargs: self


class _OneCommand:
    """The subparsers action, building only ``command``'s parser: start-up is a large part of a
    short command's CPU time, and argparse spends it on every parser declared."""

    def __init__(self, subparsers, command: str) -> None:
        self.subparsers, self.command = subparsers, command

    def add_parser(self, name: str, **kwargs):
        return self.subparsers.add_parser(name, **kwargs) if name == self.command else _SkippedParser()


class _Parser(argparse.ArgumentParser):
    """argparse quotes the words it rejects (`unrecognized arguments: ...`): without terminal escapes.
    Subcommand parsers are made with the same class."""

    def _print_message(self, message, file=None):
        super()._print_message(printable(message) if message else message, file)


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The whole command line; with ``command`` (one of CORE_COMMANDS) only what running it needs."""
    parser = _Parser(
        prog="kmwizard",
        description="Generate, check and apply out-of-tree kernel modules for OpenShift: kmods-via-containers "
                    "in a MachineConfig (KVC) or a Kernel Module Management Module (KMM). Without a command "
                    "on a terminal, the interactive wizard starts.",
        epilog="Exit codes: 0 ok, 1 findings with errors (diff: changes), 2 usage, 3 cluster, 130 interrupted.")
    parser.add_argument("--version", action="version", version=f"kmwizard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if command in CORE_COMMANDS:
        sub = _OneCommand(sub, command)
    if command in _NO_ANSWERS:
        parent = None  # not used: saves importing the answers and key declarations
    else:
        from kmwizard.inputs import answer_parent

        parent = answer_parent()

    p = sub.add_parser("tui", parents=[parent], help="the interactive wizard (Textual), optionally pre-filled")
    if command in (None, "tui"):
        from kmwizard.cli.imports import add_tui_import_arguments

        add_tui_import_arguments(p)
    p.set_defaults(func=cmd_tui)
    p = sub.add_parser("ask", parents=[parent], help="the same wizard as plain prompts (serial consoles, screen readers)")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("generate", parents=[parent], help="write the manifests and files to a directory")
    p.add_argument("--output-dir", "-o", metavar="DIR",
                   help="where to write (day 1: the openshift-install directory; files go into its openshift/)")
    p.add_argument("--force", action="store_true", help="replace existing files")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("preview", parents=[parent],
                       help="print the manifests as YAML on stdout (secrets masked), findings on stderr")
    p.add_argument("--all-files", action="store_true", help="print every generated file, not only manifests")
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("validate", help="check existing MachineConfig, Ignition or KMM Module files")
    p.add_argument("files", nargs="+", metavar="FILE", help="YAML or JSON manifests, or Dockerfiles ('-' for stdin)")
    p.add_argument("--kmm-version", metavar="X.Y", type=_kmm_version,
                   help="judge KMM objects by the rules of this operator version (e.g. 2.4)")
    p.add_argument("--openshift-version", metavar="X.Y", type=_openshift_version,
                   help="judge MachineConfigs by what this OpenShift release accepts (e.g. 4.14); without it "
                        "every release from 4.6 on is judged")
    p.add_argument("-n", "--namespace", metavar="NS",
                   help="the namespace files without metadata.namespace will be applied in (default: the "
                        "context's with --kubeconfig/--context, else default)")
    p.add_argument("--kubeconfig", metavar="FILE",
                   help="read the cluster's Module CRD (fields newer than kmwizard) and namespace; nothing changes")
    p.add_argument("--context", metavar="NAME",
                   help="kubeconfig context for --kubeconfig (implies reading the cluster)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("presets", help="list or show built-in and user presets")
    p.add_argument("action", choices=("list", "show"))
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("keys", help="list every answer key with its type, default and help")
    p.add_argument("--method", choices=("kvc", "kmm"))
    p.set_defaults(func=cmd_keys)
    if command in CORE_COMMANDS:
        return parser

    from kmwizard.cluster.commands import add_parsers as add_cluster_parsers
    from kmwizard.cli.imports import add_parsers as add_import_parsers
    from kmwizard.cli.kmm import add_parsers as add_kmm_parsers

    add_import_parsers(sub, parent)
    add_kmm_parsers(sub, parent)
    add_cluster_parsers(sub, parent)
    return parser


@contextlib.contextmanager
def _default_terminate_handlers():
    """The wizards install their own handling (Textual, questionary): give them the defaults."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                previous[sig] = signal.signal(sig, signal.SIG_DFL)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _terminate_like_ctrl_c(enabled: bool):
    """SIGTERM (`timeout`, a cancelled CI job) and SIGHUP (a closed terminal) take the Ctrl-C path,
    so the same cleanup runs: git/make stopped, verify pods deleted, temporary files removed."""
    previous = {}
    if enabled and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                previous[sig] = signal.signal(sig, _raise_interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


class StdoutError(KmwizardError):
    """Standard output is full, failing or closed (`> /dev/full`, `| head -c1`): reported, exit 2."""

    exit_code = EXIT_USAGE

    def __init__(self, exc: OSError, done: str = "") -> None:
        self.os_error = exc
        reason = ("it was closed before everything was written (e.g. by `| head`)"
                  if isinstance(exc, BrokenPipeError) else exc.strerror or str(exc))
        super().__init__(f"cannot write to standard output: {reason}" + (f"; {done}" if done else ""),
                         "" if isinstance(exc, BrokenPipeError) else
                         "write the output somewhere with space, e.g. kmwizard ... > FILE on another disk")


class _GuardedStdout:
    """sys.stdout for the commands: a failing write raises StdoutError where it happens, so every
    command reports a full or closed stdout the same way, without a traceback; and nothing it prints
    (a preset, a user's Dockerfile, a file name) can send terminal control sequences."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(printable(text))
        except OSError as exc:
            raise StdoutError(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise StdoutError(exc) from None

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def main(argv: Optional[Sequence[str]] = None, front_ends: Optional[Mapping[str, Callable]] = None) -> int:
    """Run one command line.  ``front_ends`` maps "tui" and "ask" to functions (answers -> exit
    code) that start the interactive wizards; kmwizard.main passes them."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].split("=", 1)[0] in ("--preset", "--answers", "-f", "--set"):
        argv = ["tui", *argv]  # `kmwizard --preset X` is `kmwizard tui --preset X`, as the README's table says
    interactive = not argv or argv[0] in ("tui", "ask")
    real_stdout = sys.stdout
    # SIGTERM and SIGHUP take the Ctrl-C path from the first moment on (tui and ask put them back).
    with _terminate_like_ctrl_c(True):
        if not interactive:
            sys.stdout = _GuardedStdout(real_stdout)
        try:
            code = _main(argv, front_ends)
            try:
                sys.stdout.flush()
            except StdoutError as exc:
                code = _report(exc)
            return code
        except KeyboardInterrupt:  # arrived between the handlers of _main
            sys.stderr.write("kmwizard: interrupted\n")
            return EXIT_INTERRUPTED
        finally:
            sys.stdout = real_stdout


def _main(argv: list[str], front_ends: Optional[Mapping[str, Callable]]) -> int:
    try:
        parser = build_parser(argv[0] if argv and argv[0] in CORE_COMMANDS else None)
        if not argv:
            if not _is_tty():
                sys.stderr.write(NO_TTY_MESSAGE + "\n")
                return EXIT_USAGE
            argv = ["tui"]
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors 2
            sys.stdout.flush()
            return int(exc.code or 0)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        args.front_ends = front_ends
        if args.command in ("tui", "ask"):  # the front end handles its own signals
            with _default_terminate_handlers():
                return int(args.func(args) or 0)
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a full stdout fails here, inside the handlers below
        return code
    except KmwizardError as exc:
        return _report(exc)
    except KeyboardInterrupt:
        sys.stderr.write("kmwizard: interrupted\n")
        return EXIT_INTERRUPTED


def _report(exc: KmwizardError) -> int:
    if isinstance(exc, StdoutError):
        # Python flushes stdout again at exit and would fail again: point it at /dev/null.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno())
        except (OSError, ValueError, AttributeError):
            pass
    findings = getattr(exc, "findings", None)
    sys.stderr.write(f"kmwizard: {exc.message}\n")
    if exc.fix and not findings:
        sys.stderr.write(f"  fix: {exc.fix}\n")
    return exc.exit_code
