"""`kmwizard import`, `kmwizard migrate` and `tui --from`: reading existing objects (files or a cluster) into
answers, and moving KVC to KMM.  The work is in the core (``kmwizard.importing``, ``kmwizard.migrate``); these
handlers read the inputs, print the findings and write through ``kmwizard.output``."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kmwizard.cli import EXIT_FINDINGS, EXIT_OK, _kmm_version, print_findings
from kmwizard.findings import Severity, UsageError, has_errors
from kmwizard.textfiles import read_text_arg


def add_tui_import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_files", action="append", default=[], metavar="FILE",
                   help="open the wizard on objects imported from FILE (a MachineConfig or Module, repeatable); "
                        "F10 shows what generating changes against them")
    p.add_argument("--from-cluster", nargs="*", metavar="KIND/NAME",
                   help="the same, with the objects read from the cluster (machineconfig/NAME, module/[NS/]NAME)")
    p.add_argument("--import-dir", metavar="DIR",
                   help="where the import keeps answers.yaml and the recovered fakeroot/ (default: the user cache)")
    p.add_argument("--force", action="store_true", help="with --import-dir: replace its files")
    _cluster_arguments(p)


def add_parsers(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("import", help="turn existing MachineConfigs or KMM Modules into an answer file")
    p.add_argument("files", nargs="*", metavar="FILE", help="YAML or JSON manifests ('-' for stdin)")
    p.add_argument("--from-cluster", nargs="*", metavar="KIND/NAME",
                   help="read the objects from the cluster instead (machineconfig/NAME, module/[NS/]NAME)")
    p.add_argument("--output-dir", "-o", metavar="DIR", required=True,
                   help="where answers.yaml (and fakeroot/, key files) go")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="sets",
                   help="override a recovered answer, e.g. --set openshift_version=4.16")
    p.add_argument("--force", action="store_true", help="replace existing files")
    _cluster_arguments(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("migrate", parents=[parent],
                       help="turn a KVC MachineConfig (or KVC answers) into a KMM Module, with the steps to switch")
    p.add_argument("machineconfig", nargs="?", metavar="FILE", help="the KVC MachineConfig (else: the answers)")
    p.add_argument("--output-dir", "-o", metavar="DIR", required=True, help="where the KMM answers and files go")
    p.add_argument("--kernel", action="append", default=[], metavar="RELEASE",
                   help="a node kernel (uname -r) to map, repeatable; default: every kernel")
    p.add_argument("--kmm-version", metavar="X.Y", type=_kmm_version, help="the target KMM operator version")
    p.add_argument("--source-repo", metavar="URL", help="git repository of the module's sources (for the build)")
    p.add_argument("--source-ref", metavar="REF", help="branch, tag or commit of --source-repo")
    p.add_argument("--namespace-kmm", dest="kmm_namespace", metavar="NS", default="openshift-kmm",
                   help="namespace of the Module (default openshift-kmm)")
    p.add_argument("--from-cluster", metavar="machineconfig/NAME",
                   help="read the KVC MachineConfig from the cluster instead of a file (read only)")
    p.add_argument("--openshift-version", metavar="X.Y",
                   help="the target OpenShift version (default: the answers', or the release the MachineConfig's "
                        "Ignition spec suggests)")
    p.add_argument("--kernels-from-cluster", action="store_true",
                   help="map the kernels the pool's nodes run (read from the cluster, nothing changed)")
    p.add_argument("--force", action="store_true", help="replace existing files")
    _cluster_arguments(p, namespace=False)
    p.set_defaults(func=cmd_migrate)



def tui_on_import(args: argparse.Namespace) -> int:
    """`tui --from FILE | --from-cluster KIND/NAME`: import into --import-dir (default: a directory of the
    user cache named after the input, which holds the recovered fakeroot), then open the wizard on it."""
    import hashlib
    import json

    from kmwizard import output

    run = (getattr(args, "front_ends", None) or {}).get("tui")
    if run is None:
        raise UsageError("this entry point cannot start `kmwizard tui`",
                         "run the kmwizard program: `kmwizard tui` or `python -m kmwizard tui`")
    pairs = _import_pairs(args, args.from_files)
    source = ", ".join(args.from_files) or "the cluster: " + (", ".join(args.from_cluster) or "its KVC object")
    out_dir = args.import_dir
    if not out_dir:
        digest = hashlib.sha256(json.dumps([w for w, _d in pairs] + [d for _w, d in pairs], sort_keys=True,
                                           default=str).encode()).hexdigest()[:16]
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        out_dir = str(Path(cache) / "kmwizard" / "imports" / digest)
    from kmwizard.importing import import_documents
    from kmwizard.inputs import parse_set

    plan = import_documents(pairs, out_dir, sets=[parse_set(s) for s in args.sets])
    print_findings(plan.findings, min_severity=Severity.WARNING)
    if not plan.ok:
        sys.stderr.write("kmwizard: the imported objects do not give answers: fix the errors above first.\n")
        return EXIT_FINDINGS
    output.write(output.plan(plan.rendering(), out_dir), force=bool(not args.import_dir or args.force))
    return run(plan.answers, imported=plan, imported_from=source)


def _cluster_objects(args: argparse.Namespace, refs: list) -> list:
    """(where, object) read from the cluster (GET and LIST only)."""
    from kmwizard.cluster import engine
    from kmwizard.cluster.reading import read_objects

    namespace = getattr(args, "namespace", None)
    with engine.connect(args.kubeconfig, args.context, namespace, request_timeout=args.request_timeout) as conn:
        return read_objects(conn, refs, namespace)


def _import_pairs(args: argparse.Namespace, files: list) -> list:
    """(where, object) from the files, or read from the cluster with --from-cluster."""
    if not files and getattr(args, "from_cluster", None) is not None:
        return _cluster_objects(args, args.from_cluster)
    import yaml

    from kmwizard.cli.validate import _DOCKERFILE_START, load_documents  # not for `tui` without --from
    from kmwizard.kvc import LISTING_HEADER

    pairs = []
    for name in files:
        text = read_text_arg(name)
        if text.startswith(LISTING_HEADER) or _DOCKERFILE_START.match(text):
            # generate's companions (<name>.files.txt, Dockerfile): `import out/*` reads the objects only
            sys.stderr.write(f"note: {name}: written by kmwizard generate for reading, not an object: skipped\n")
            continue
        try:
            pairs.extend(load_documents(Path(name), text))
        except (ValueError, yaml.YAMLError) as exc:
            raise UsageError(f"{name} is not valid YAML or JSON: {exc}", "fix the syntax at the place shown") from None
    return pairs


def cmd_import(args: argparse.Namespace) -> int:
    """Objects from files or a cluster -> DIR/answers.yaml (+ fakeroot/, key files); see kmwizard.importing."""
    from kmwizard import output
    from kmwizard.importing import import_documents
    from kmwizard.inputs import parse_set

    if bool(args.files) == (args.from_cluster is not None):
        raise UsageError("give either files to import or --from-cluster [KIND/NAME ...]",
                         "e.g. kmwizard import 99-simple-kmod.yaml -o imported/")
    pairs = _import_pairs(args, args.files)
    plan = import_documents(pairs, args.output_dir, sets=[parse_set(s) for s in args.sets])
    print_findings(plan.findings)
    if not plan.ok:
        sys.stderr.write("kmwizard: nothing was written: fix the errors above first.\n")
        return EXIT_FINDINGS
    written = output.write(output.plan(plan.rendering(), args.output_dir), force=args.force)
    for path in written[:1]:
        print(f"written   {path}")
    if len(written) > 1:
        print(f"written   {len(written) - 1} more file(s) under {Path(args.output_dir)}")
    sys.stderr.write(f"kmwizard: {len(plan.overlay)} field(s) kept in the overlay, {len(plan.changes)} change(s) "
                     f"generating makes; next: kmwizard preview --answers {Path(args.output_dir) / 'answers.yaml'}\n")
    if has_errors(plan.findings):
        sys.stderr.write("kmwizard: written, but the errors above need a decision (each names the field)\n")
        return EXIT_FINDINGS
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    """KVC (a MachineConfig file, or KVC answers) -> KMM files and MIGRATION.md; see kmwizard.migrate."""
    from kmwizard import output
    from kmwizard.inputs import answers_from_args
    from kmwizard.migrate import facts_from_answers, facts_from_machineconfig, plan_migration, steps_text
    from kmwizard.render import Rendering

    if args.machineconfig and args.from_cluster:
        raise UsageError("give a MachineConfig file or --from-cluster machineconfig/NAME, not both",
                         "drop one of them")
    if args.machineconfig or args.from_cluster:
        source = args.machineconfig or f"cluster:{args.from_cluster}"
        docs = [(w, d) for w, d in (_import_pairs(args, [args.machineconfig]) if args.machineconfig else
                                    _cluster_objects(args, [args.from_cluster]))
                if isinstance(d, dict) and d.get("kind") == "MachineConfig"]
        if not docs:
            raise UsageError(f"{source} holds no MachineConfig", "give the KVC MachineConfig")
        facts, findings = facts_from_machineconfig(*docs[0])
    else:
        facts, findings = facts_from_answers(answers_from_args(args))
    if facts is not None and args.openshift_version:
        facts.openshift_version = args.openshift_version
    kernels = list(args.kernel)
    if args.kernels_from_cluster:
        from kmwizard.cluster import engine
        from kmwizard.cluster.reading import node_kernels

        with engine.connect(args.kubeconfig, args.context, None, request_timeout=args.request_timeout) as conn:
            kernels += [k for k in node_kernels(conn, facts.role if facts else "worker") if k not in kernels]
    out = plan_migration(facts, args.output_dir, kernels=kernels, kmm_version=args.kmm_version,
                         source_repo=args.source_repo, source_ref=args.source_ref,
                         namespace=args.kmm_namespace) if facts is not None else None
    print_findings([*findings, *(out.findings if out else [])])
    if out is None or not out.ok:
        sys.stderr.write("kmwizard: nothing was written: fix the errors above first.\n")
        return EXIT_FINDINGS
    written = output.write(output.plan(Rendering(files=tuple(out.files)), args.output_dir), force=args.force)
    for path in written:
        print(f"written   {path}")
    sys.stdout.write("\n" + steps_text(out))
    return EXIT_OK


def _cluster_arguments(p: argparse.ArgumentParser, namespace: bool = True) -> None:
    group = p.add_argument_group("cluster connection (read only)")
    group.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig (default: $KUBECONFIG, ~/.kube/config)")
    group.add_argument("--context", metavar="NAME", help="kubeconfig context")
    if namespace:
        group.add_argument("-n", "--namespace", metavar="NS",
                           help="namespace of the Modules named (default openshift-kmm)")
    group.add_argument("--request-timeout", type=float, default=30.0, metavar="SECONDS",
                       help="give up on one API request after this long (default 30)")


