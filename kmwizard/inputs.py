"""Where a run's answers come from: a preset, an answer file, and --set overrides.

Shared by every command that renders (generate, preview, apply, diff, ...), so each
reads its answers the same way: built-in defaults, then the preset or answer file,
then each --set in order.
"""
from __future__ import annotations

import argparse

from kmwizard.answers import Answers, AnswersError
from kmwizard.findings import UsageError
from kmwizard.textfiles import read_text_arg  # noqa: F401 (re-exported: the CLI reads its files with it)


def add_answer_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("answers (defaults, then a preset or answer file, then --set)")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--preset", metavar="NAME", help="start from a preset (see `kmwizard presets list`)")
    source.add_argument("--answers", "-f", metavar="FILE", help="start from an answer file (YAML)")
    group.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="sets",
                       help="set one answer, e.g. --set role=master (repeatable; see `kmwizard keys`)")


def answer_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    add_answer_arguments(parent)
    return parent


def parse_set(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--set {item!r} is not KEY=VALUE", "write it like --set kvc.module_name=simple-kmod")
    return key.strip(), value


def answers_from_args(args: argparse.Namespace) -> Answers:
    """The answers for this run; raises UsageError/AnswersError naming the bad key."""
    if getattr(args, "preset", None):
        from kmwizard.preset_store import load_preset

        answers = load_preset(args.preset)
    elif getattr(args, "answers", None):
        answers = Answers.load(args.answers)
    else:
        answers = Answers()
    problems = []
    for item in getattr(args, "sets", None) or []:
        key, value = parse_set(item)
        try:
            answers = answers.set(key, value)
        except AnswersError as exc:
            problems.extend(exc.findings)
    if problems:
        raise AnswersError(problems, "--set")
    return answers
