"""What the front ends share about a question: its choices, how an answer is shown and typed,
its help and default hint; and how a write plan reads.

``kmwizard ask`` and the Textual screens both use these, so a value typed in either becomes
the same answer.  No UI imports: the front ends import this module, never each other.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from kmwizard.answers import Answers, thaw
from kmwizard.flow import Question
from kmwizard.rendering import Rendering, dump_yaml

if TYPE_CHECKING:  # pragma: no cover
    from kmwizard.output import WritePlan

CHOICE_LABELS: dict[str, dict[Any, str]] = {
    "method": {"kvc": "KVC (MachineConfig)", "kmm": "KMM (Module)"},
    "day": {1: "day 1 (install)", 2: "day 2 (running)"},
    "entitlement.source": {"node": "node (already entitled)", "certs": "certs (entitlement)", "yum-repo": "yum-repo"},
    # The empty answer leaves the field out of the Module: a blank option looked like a missing label.
    "kmm.image_pull_policy": {"": "(not set: Kubernetes' default)"},
}
# Labels that differ by method: only KMM builds on the Driver Toolkit.
KMM_CHOICE_LABELS = {"entitlement.source": {"node": "node (entitled / Driver Toolkit)"}}


def choice_options(question: Question, answers: Optional[Answers] = None) -> list[tuple[str, Any]]:
    spec = question.spec
    values = (True, False) if spec.kind == "bool" else spec.choices
    labels = dict(CHOICE_LABELS.get(question.key, {}))
    if answers is not None and answers.get("method") == "kmm":
        labels.update(KMM_CHOICE_LABELS.get(question.key, {}))
    return [(labels.get(v, ("yes" if v else "no") if isinstance(v, bool) else str(v)), v) for v in values]


def is_choice(question: Question) -> bool:
    return question.widget == "select" and (bool(question.spec.choices) or question.spec.kind == "bool")


def is_multiline(question: Question) -> bool:
    return question.widget in ("multiline", "records") or question.spec.kind in ("records", "map")


def display_text(question: Question, answers: Answers) -> str:
    """The text of an explicit answer as a text prompt shows it; "" when the default applies."""
    if not answers.is_set(question.key):
        return ""
    value = answers.get(question.key)
    kind = question.spec.kind
    if kind == "list":
        return ", ".join(str(v) for v in value)
    if kind in ("records", "map"):
        return dump_yaml(thaw(value)) if value else ""
    return "" if value is None else str(value)


def default_text(question: Question, answers: Answers) -> str:
    """The value used when the answer is left empty, as text ("" when there is none)."""
    default = question.spec.default_for(answers)
    if default in (None, "", (), []):
        return ""
    if question.spec.kind in ("records", "map"):
        import yaml

        return yaml.safe_dump(thaw(default), default_flow_style=True, width=4096).strip()
    if isinstance(default, bool):
        return "yes" if default else "no"
    if isinstance(default, (tuple, list)):
        return ", ".join(str(v) for v in default)
    return str(default)


def example_text(question: Question, answers: Answers) -> str:
    """An example value, only shown, never used ("" when it would just repeat the default)."""
    example = question.spec.example or question.placeholder
    return "" if example == default_text(question, answers) else example


def default_hint(question: Question, answers: Answers) -> str:
    """What an empty answer means, as a prompt shows it: "default: X" for a real default,
    "e.g. X" for an example (which is not used), "" for neither."""
    default = default_text(question, answers)
    if default:
        return f"default: {default}"
    example = example_text(question, answers)
    return f"e.g. {example}" if example else ""


def apply_text(question: Question, text: str, answers: Answers) -> Answers:
    """The answers with this question set from typed text; empty text means "use the default".
    Raises AnswersError naming the key when the text is not a valid value."""
    if not text.strip():
        return answers.unset(question.key)
    return answers.set(question.key, text if is_multiline(question) else text.strip())


def field_help(question: Question, answers: Answers) -> str:
    spec = question.spec
    lines = [spec.help, f"Answer key: {spec.key}  (in answer files and --set {spec.key}=...)"]
    default = default_text(question, answers)  # as the prompts write it (YAML for tables), not a Python repr
    if default:
        lines.append(f"Default: {default}")
    if is_choice(question):  # as the front ends show them (an empty value has a label too)
        lines.append("Choices: " + ", ".join(label for label, _value in choice_options(question, answers)))
    elif spec.choices:
        lines.append("Choices: " + ", ".join(str(c) for c in spec.choices))
    if spec.example:
        lines.append(f"Example: {spec.example}")
    if spec.kind == "list":
        lines.append("Type the values separated by commas.")
    if spec.kind in ("records", "map"):
        lines.append("Type YAML: a list of mappings (records) or a mapping.")
    if spec.secret:
        lines.append("This points at key material: its contents are never shown.")
    if not is_choice(question):
        lines.append("Leave a text answer empty to use the default.")
    return "\n".join(lines)


def default_output_dir(answers: Answers, rendering: Rendering) -> str:
    """generate's choice: day 1 the install directory, otherwise a folder under the current one."""
    if rendering.install_subdir and answers.get("output.install_dir"):
        return str(answers.get("output.install_dir"))
    return "kmwizard-output"


def written_text(plan: "WritePlan") -> str:
    """What a write did, counting only the files it changed (the others were already up to date)."""
    changed = sum(1 for planned in plan.files if not planned.unchanged)
    same = len(plan.files) - changed
    if not changed:
        return f"Nothing to write into {plan.directory}: its {same} file(s) are already up to date."
    return f"Wrote {changed} file(s) into {plan.directory}" + (f" ({same} already up to date)." if same else ".")


def plan_text(plan: "WritePlan") -> str:
    lines = [f"Into {plan.directory}:"]
    for planned in plan.files:
        state = "unchanged" if planned.unchanged else ("REPLACES" if planned.exists else "new")
        secret = "  (secrets: 0600)" if planned.file.secret else ""
        lines.append(f"  {state:9} {planned.file.mode:04o} {planned.file.path}{secret}")
    return "\n".join(lines)


def replace_diff(plan: "WritePlan", max_lines: int = 60) -> str:
    """What writing would change in the files it replaces, as unified diffs (not for secrets)."""
    import difflib

    parts = []
    for planned in plan.overwrites:
        if planned.file.secret:
            parts.append(f"{planned.target}: holds secrets, its changes are not shown")
            continue
        try:
            old = planned.target.read_text(encoding="utf-8")
            new = planned.file.content.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            parts.append(f"{planned.target}: binary or unreadable, replaced whole")
            continue
        lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), f"{planned.target} (now)",
                                          f"{planned.target} (written)", n=2, lineterm=""))
        if len(lines) > max_lines:
            lines = lines[:max_lines] + [f"… {len(lines) - max_lines} more diff lines"]
        parts.append("\n".join(lines))
    return "\n".join(parts)
