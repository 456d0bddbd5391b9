"""CLI commands of the KMM method: ``kmwizard kernel-match``."""
from __future__ import annotations

import argparse
import json
import sys

from kmwizard.findings import UsageError
from kmwizard.textfiles import read_text_arg

KERNEL_HELP = ("a node kernel as `uname -r` or `oc get node -o jsonpath='{.status.nodeInfo.kernelVersion}'` shows "
               "it, e.g. 5.14.0-427.13.1.el9_4.x86_64 (repeatable)")


def add_parsers(subparsers, answer_parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "kernel-match", parents=[answer_parent],
        help="show which KMM kernel mapping a node kernel gets, the image it resolves to, and its build/sign",
        description="Resolve node kernels against the kernel mappings of a Module, as KMM does: the first "
                    "mapping that matches wins (regexps are Go's regexp, unanchored; the node kernel loses one "
                    "trailing '+'), variables such as ${KERNEL_FULL_VERSION} are substituted, and per-mapping "
                    "build/sign are merged over the "
                    "container-level ones. The Module comes from the answers (--preset/--answers/--set) or from "
                    "a Module FILE.",
        epilog="Exit codes: 0 every kernel matches a mapping, 1 some kernel matches none (KMM skips those nodes "
               "silently) or KMM fails for it (a regexp Go rejects, an unterminated ${, a kernel with fewer than "
               "three fields), 2 usage.")
    p.add_argument("--kernel", "-k", action="append", required=True, metavar="KERNEL", help=KERNEL_HELP)
    p.add_argument("file", nargs="?", metavar="FILE",
                   help="a YAML file holding a Module or ManagedClusterModule (instead of answers; '-' for stdin)")
    p.add_argument("--output", "-o", choices=("text", "json"), default="text", help="output format (default text)")
    p.add_argument("-n", "--namespace", metavar="NS",
                   help="the namespace a FILE's Module without metadata.namespace goes to (default: default); "
                        "it is ${MOD_NAMESPACE}")
    p.set_defaults(func=cmd_kernel_match)


def _dockerfiles(items: list) -> dict[str, str]:
    """ConfigMap name -> Dockerfile text, for the ConfigMaps next to the Module (KMM passes DTK_AUTO
    only when the Dockerfile names it)."""
    found = {}
    for item in items:
        data = item.get("data") if item.get("kind") == "ConfigMap" else None
        if isinstance(data, dict) and isinstance(data.get("dockerfile"), str):
            found[str((item.get("metadata") or {}).get("name"))] = data["dockerfile"]
    return found


def modules_from_file(name: str) -> tuple[list[dict], dict[str, str]]:
    """The Modules of a file, and the Dockerfiles of its ConfigMaps."""
    import yaml

    from kmwizard.safe_yaml import load_manifests

    text = read_text_arg(name)
    try:
        docs = [d for d in load_manifests(text, name) if isinstance(d, dict)]
    except yaml.YAMLError as exc:
        raise UsageError(f"{name} is not valid YAML: {exc}", "fix the syntax at the place shown") from None
    items = [i for d in docs for i in (d.get("items") if d.get("kind") == "List" else [d]) if isinstance(i, dict)]
    modules = [d for d in items if d.get("kind") in ("Module", "ManagedClusterModule")]
    if not modules:
        raise UsageError(f"{name} holds no Module or ManagedClusterModule",
                         "give the file with your Module, or use --preset/--answers")
    problems = [f for d in modules for f in _shape_findings(d, name)]
    if problems:  # the matcher reads these fields
        lines = "\n".join("  " + f.format() for f in problems)
        raise UsageError(f"{name} is not a well-formed Module:\n{lines}",
                         f"fix the fields named above (`kmwizard validate {name}` checks everything)")
    return modules, _dockerfiles(items)


def _shape_findings(doc: dict, name: str) -> list:
    from kmwizard.kmm.lint import MODULE_TYPES, type_findings

    findings = type_findings(doc.get("metadata"), {"name": str, "namespace": str}, f"{name}:$.metadata")
    if doc.get("kind") == "ManagedClusterModule":
        findings += type_findings(doc.get("spec"), {"moduleSpec": MODULE_TYPES}, f"{name}:$.spec")
    else:
        findings += type_findings(doc.get("spec"), MODULE_TYPES, f"{name}:$.spec")
    return findings


def modules_from_answers(args: argparse.Namespace) -> tuple[list[dict], dict[str, str]]:
    from kmwizard.inputs import answers_from_args
    from kmwizard.render import render

    answers = answers_from_args(args)
    if not answers.is_set("method"):
        answers = answers.set("method", "kmm")  # kernel-match is about KMM: no need to say so
    if answers.get("method") != "kmm":
        raise UsageError("kernel-match needs KMM answers, but method is kvc", "set method=kmm or give a Module FILE")
    rendering = render(answers)
    modules = [m for m in rendering.manifests if m.get("kind") in ("Module", "ManagedClusterModule")]
    if not modules:
        lines = "\n".join("  " + f.format() for f in rendering.findings)
        raise UsageError(f"the answers do not produce a Module:\n{lines}", "fix the findings above")
    return modules, _dockerfiles(rendering.manifests)


def cmd_kernel_match(args: argparse.Namespace) -> int:
    from kmwizard.kmm.kernel_match import match_kernel

    if args.file and (getattr(args, "preset", None) or getattr(args, "answers", None) or getattr(args, "sets", None)):
        raise UsageError("give either a Module FILE or answers (--preset/--answers/--set), not both",
                         "drop one of them")
    modules, dockerfiles = modules_from_file(args.file) if args.file else modules_from_answers(args)
    results, blocks = [], []
    for module in modules:
        meta = module.get("metadata") or {}
        if module.get("kind") == "Module" and not meta.get("namespace"):  # where `oc apply` puts it
            meta = {**meta, "namespace": args.namespace or "default"}
            module = {**module, "metadata": meta}
        label = f"{module.get('kind')} {meta.get('namespace', '') + '/' if meta.get('namespace') else ''}" \
                f"{meta.get('name', '?')}"
        matches = [match_kernel(module, kernel, dockerfiles) for kernel in args.kernel]
        results.append({"module": label, "kernels": [m.to_dict() for m in matches]})
        blocks.append(label + "\n" + "\n".join(m.format() for m in matches))
        all_ok = all(m.matched and not m.problems for m in matches)
        results[-1]["ok"] = all_ok
    if args.output == "json":
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
    else:
        sys.stdout.write("\n\n".join(blocks) + "\n")
    return 0 if all(r["ok"] for r in results) else 1
