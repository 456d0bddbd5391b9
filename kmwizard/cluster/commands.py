"""``kmwizard apply | diff | status | verify | delete``: the cluster commands.

Diagnostics and progress go to stderr (``kmwizard.cluster.reporting`` writes them), diffs to
stdout.  Importing this module is cheap: the cluster modules (and with them ``kubernetes``) are
imported when a command runs.
Exit codes: 0 ok, 1 findings in the answers (diff: changes; verify: module not loaded),
2 usage, 3 cluster error, 4 verify could not check some node (and found none without the module),
130 interrupted.
"""
from __future__ import annotations

import argparse
import sys

from kmwizard.cluster.reporting import (ProgressPrinter, confirm, err, print_failure, print_findings,
                                        result_line)
from kmwizard.findings import KmwizardError, UsageError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_CLUSTER, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_UNCHECKED = 4   # verify: a node could not be checked (none was found without the module)


def seconds(text: str) -> float:
    """argparse type of a duration: a positive number (0 or -5 would time out at once or never)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds, e.g. 30")
    return value


def add_parsers(subparsers, answer_parent: argparse.ArgumentParser) -> None:
    cluster = argparse.ArgumentParser(add_help=False)
    group = cluster.add_argument_group("cluster connection")
    group.add_argument("--kubeconfig", metavar="FILE",
                       help="kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)")
    group.add_argument("--context", metavar="NAME", help="kubeconfig context (default: its current-context)")
    group.add_argument("-n", "--namespace", metavar="NS",
                       help="namespace of the KMM Module (sets kmm.namespace; must agree with the answers)")
    group.add_argument("--request-timeout", type=seconds, default=30.0, metavar="SECONDS",
                       help="give up on one API request after this long (default 30)")
    parents = [answer_parent, cluster]

    p = subparsers.add_parser("apply", parents=parents, help="server-side apply the manifests to the cluster")
    p.add_argument("--dry-run", choices=("none", "server"), default="none",
                   help="server: send the same requests with dryRun=All; nothing changes")
    p.add_argument("--force-conflicts", action="store_true",
                   help="take over fields that other field managers own (409 conflicts)")
    _wait_args(p)
    p.add_argument("--yes", "-y", action="store_true",
                   help="do not ask before a MachineConfig change that reboots the pool's nodes")
    p.set_defaults(func=cmd_apply)

    p = subparsers.add_parser("diff", parents=parents,
                              help="diff the live objects against a server dry run (exit 0 same, 1 changes, >1 error)")
    p.add_argument("--force-conflicts", action="store_true",
                   help="preview a forced apply (fields other managers own taken over), as apply --force-conflicts")
    p.set_defaults(func=cmd_diff)

    p = subparsers.add_parser("status", parents=parents,
                              help="what kmwizard applied: objects and rollout (all kmwizard objects without answers)")
    p.add_argument("--explain", action="store_true",
                   help="why isn't my module loaded? walk the chain (Module, NodeModulesConfigs, build/sign and "
                        "worker pods, node labels and kernels; or MachineConfig, pool, nodes) to the first broken link")
    p.add_argument("--journal", action="store_true",
                   help="with --explain for KVC: also read the kmods-via-containers service journal of one node "
                        "through a short-lived debug pod (privileged, read-only)")
    p.add_argument("--timeout", type=seconds, default=120.0, metavar="SECONDS",
                   help="how long status keeps retrying a busy API server, and --explain may take (default 120)")
    p.set_defaults(func=cmd_status)

    p = subparsers.add_parser("verify", parents=parents,
                              help="check with `lsmod` on each node (short-lived privileged pods) that the module is loaded")
    p.add_argument("--module", action="append", default=[], metavar="NAME",
                   help="kernel module name as lsmod shows it (repeatable; default: from the answers)")
    p.add_argument("--node", action="append", default=None, metavar="NODE",
                   help="check only these nodes (repeatable; default: every node of the pool or selector)")
    p.add_argument("--image", metavar="IMAGE", help="image of the verify pods (needs /bin/sh and chroot)")
    p.add_argument("--timeout", type=seconds, default=180.0, metavar="SECONDS",
                   help="how long to wait for the pods' results (default 180)")
    p.set_defaults(func=cmd_verify)

    p = subparsers.add_parser("delete", parents=parents, help="delete what kmwizard applied for these answers")
    p.add_argument("--dry-run", choices=("none", "server"), default="none",
                   help="server: send the same deletes with dryRun=All; nothing is removed")
    p.add_argument("--include-namespaces", action="store_true",
                   help="also delete Namespaces kmwizard created (and so everything in them)")
    _wait_args(p)
    p.add_argument("--yes", "-y", action="store_true",
                   help="do not ask before deleting a MachineConfig (reboots the pool's nodes)")
    p.set_defaults(func=cmd_delete)


def _wait_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", action="store_true",
                   help="follow the rollout (pool update, module load or unload) with a progress bar")
    p.add_argument("--timeout", type=seconds, default=1800.0, metavar="SECONDS",
                   help="how long --wait waits, and retries of a busy server last (default 1800; a Terminating "
                        "namespace is waited for up to 300 s of it)")
    p.add_argument("--poll", type=int, default=5, metavar="SECONDS", help=argparse.SUPPRESS)


# --- shared steps -------------------------------------------------------------------

def _answers(args):
    from kmwizard.inputs import answers_from_args

    answers = answers_from_args(args)
    if args.namespace and answers.get("method") == "kmm":
        if answers.is_set("kmm.namespace") and answers.get("kmm.namespace") != args.namespace:
            raise UsageError(f"-n {args.namespace} disagrees with kmm.namespace={answers.get('kmm.namespace')} "
                             "in the answers", "drop -n, or change kmm.namespace")
        answers = answers.set("kmm.namespace", args.namespace)
    return answers


def _answers_given(args) -> bool:
    return bool(getattr(args, "preset", None) or getattr(args, "answers", None) or getattr(args, "sets", None))


def _fill_from_cluster(answers, facts):
    from kmwizard.cluster import discovery

    print_findings(discovery.version_mismatches(answers, facts))
    answers, notes = discovery.fill_answer_defaults(answers, facts)
    for note in notes:
        err(f"note: {note}")
    return answers


def render_manifests(answers) -> list[dict]:
    """The manifests to apply; raises with exit 1 when the answers have errors."""
    from kmwizard.findings import has_errors
    from kmwizard.render import render

    rendering = render(answers)
    print_findings(rendering.findings)
    if has_errors(rendering.findings):
        raise KmwizardError("the answers have errors: nothing was sent to the cluster", "fix the errors above")
    if answers.get("method") == "kvc" and answers.get("day") == 1:
        raise UsageError("day 1 MachineConfigs go into the openshift-install directory, not to a running cluster",
                         "use `kmwizard generate --output-dir <install dir>`, or --set day=2")
    return rendering.manifests


def _connect(args):
    from kmwizard.cluster import connection

    # A server that asks to come back later (429 after a restart) is retried for the command's --timeout.
    conn = connection.connect(args.kubeconfig, args.context, args.namespace, request_timeout=args.request_timeout,
                              retry_for=getattr(args, "timeout", None) or connection.DEFAULT_RETRY_FOR,
                              notify=lambda message: err(f"note: {message}"))
    err("kmwizard: target cluster")
    for line in conn.describe().splitlines():
        err(f"  {line}")
    return conn


def _prepare(args, *, need_answers: bool = True, for_apply: bool = False, rights: str | None = None):
    """answers -> connect -> discover -> fill defaults -> render -> preflight -> rights.

    A missing Secret or ConfigMap stops only an apply: status, diff, verify and delete must
    work on what was applied even after something it needs went away.  ``rights``: the command
    whose rights are asked up front, so every missing one is listed in one run."""
    from kmwizard.cluster import discovery, objects, rbac
    from kmwizard.findings import has_errors

    answers = _answers(args) if (need_answers or _answers_given(args)) else None
    conn = _connect(args)
    try:
        manifests = []
        if answers is not None:
            facts = discovery.discover(conn)
            print_findings(facts.findings)
            manifests = render_manifests(_fill_from_cluster(answers, facts))
            local = objects.local_problems(manifests)
            print_findings(local)
            if has_errors(local):
                raise KmwizardError("the manifests have errors: nothing was sent to the cluster",
                                    "fix the errors above")
            problems = discovery.preflight(conn, manifests, facts)
            terminating = [f.where.split(" ", 1)[1] for f in problems if f.code == "cluster-namespace-terminating"]
            if for_apply and terminating:
                # A namespace being deleted (e.g. by `delete --include-namespaces` just before) goes within
                # seconds or minutes: wait for it, then look again.
                seconds = min(getattr(args, "timeout", 300.0), 300.0)
                err(f"note: namespace {', '.join(terminating)} is being deleted (Terminating); waiting up to "
                    f"{seconds:.0f} s for it to go before applying")
                if not discovery.wait_until_gone(conn, terminating, seconds):
                    problems = discovery.preflight(conn, manifests, facts)
            print_findings(problems)
            denied = rbac.access_findings(conn, rights, manifests, {n for n, present in facts.namespaces.items()
                                                                    if present}, wait=getattr(args, "wait", False)
                                          ) if rights else []
            print_findings(denied)
            if (for_apply and has_errors(problems)) or denied:
                raise _cluster_error("the cluster is not ready for these manifests: nothing was changed",
                                     "fix the errors above")
        return answers, conn, manifests
    except BaseException:
        conn.close()
        raise


def _cluster_error(message, fix=""):
    from kmwizard.findings import ClusterError

    return ClusterError(message, fix)


def _wait(conn, manifests, args, *, removed: bool = False, base=None) -> int:
    from kmwizard.cluster import watch

    if not any(m.get("kind") in ("MachineConfig", "Module") for m in manifests):
        return EXIT_OK
    verb = "deleted" if removed else "applied"
    err(f"waiting for the rollout (up to {args.timeout:.0f} s; Ctrl-C stops waiting, not the rollout)")
    from kmwizard.findings import ClusterError

    try:
        state = watch.watch_rollout(conn, manifests, progress=ProgressPrinter(), timeout=args.timeout,
                                    poll=args.poll, removed=removed, base=base,
                                    notify=lambda message: err(f"note: {message}"))
    except ClusterError as exc:
        err(f"error: {exc.message}")
        if exc.fix:
            err(f"  fix: {exc.fix}")
        err(f"the objects were {verb} (see above); only following the rollout failed")
        return EXIT_CLUSTER
    failed = [p for p in state if p.failed]
    if failed:
        for p in failed:
            err(f"error: {p.failed}")
        err(f"the objects were {verb}; the rollout failed in the cluster")
        return EXIT_CLUSTER
    pending = [p for p in state if not p.done]
    if pending:
        err(f"error: timed out after {args.timeout:.0f} s; still pending:")
        for p in pending:
            for item in p.pending or [p.detail]:
                err(f"  - {item}")
        err(f"the objects were {verb} (see above); only following the rollout stopped: check later with "
            "`kmwizard status`")
        return EXIT_CLUSTER
    unfollowed = [p.unfollowed for p in state if p.unfollowed]
    for text in unfollowed:
        err(f"note: {text}")
    err("rollout complete" if not unfollowed else "rollout complete as far as kmwizard can follow it (see notes)")
    return EXIT_OK


# --- commands -------------------------------------------------------------------------

def cmd_apply(args) -> int:
    from kmwizard.cluster import changes, watch

    _answers_, conn, manifests = _prepare(args, for_apply=True, rights="apply")
    with conn:
        dry = args.dry_run == "server"
        printer = (lambda r: err(result_line(r))) if dry else None
        planned = changes.plan(conn, manifests, force_conflicts=args.force_conflicts, progress=printer)
        if planned.error:
            print_failure(planned)
            err("nothing was applied: the server's dry run rejected the object above")
            return EXIT_CLUSTER
        if dry:
            changes = len(planned.changed)
            err(f"dry run: {changes} object(s) would change, {len(planned.results) - changes} unchanged; "
                "nothing was changed")
            return EXIT_OK
        confirm(changes.reboot_warnings(conn, planned.results), args)
        # Before anything changes: what the pools target now, so the wait can tell a new rollout from the old.
        base = watch.baseline(conn, manifests) if args.wait else None
        try:
            report = changes.apply(conn, manifests, force_conflicts=args.force_conflicts,
                                   progress=lambda r: err(result_line(r)))
        except KeyboardInterrupt:
            err("interrupted: the objects listed above as created/configured/unchanged were applied; "
                "the others were not")
            raise
        if report.error:
            print_failure(report)
            return EXIT_CLUSTER
        changed = len(report.changed)
        err(f"applied: {changed} changed, {len(report.results) - changed} unchanged")
        return _wait(conn, manifests, args, base=watch.note_changes(base, report.results)) if args.wait else EXIT_OK


def cmd_diff(args) -> int:
    from kmwizard.cluster import changes

    try:
        _answers_, conn, manifests = _prepare(args)
    except KmwizardError as exc:
        # diff's own codes: 1 means "changes", so every failure is >1 (re-raised as it is: not every
        # error's constructor takes (message, fix), AnswersError takes its findings)
        if exc.exit_code > 1:
            raise
        raise UsageError(exc.message, exc.fix) from None
    with conn:
        diffs, failure = changes.diff(conn, manifests, force_conflicts=args.force_conflicts)
        changed = 0
        for d in diffs:
            if d.text:
                changed += 1
                sys.stdout.write(d.text if d.text.endswith("\n") else d.text + "\n")
            if d.note:
                err(f"note: {d.ref}: {d.note}")
        sys.stdout.flush()
        if failure:
            err(f"error: {failure.message}")
            if failure.fix:
                err(f"  fix: {failure.fix}")
            return EXIT_CLUSTER
        err(f"{changed} object(s) differ, {len(diffs) - changed} unchanged")
        return EXIT_FINDINGS if changed else EXIT_OK


def cmd_status(args) -> int:
    from kmwizard.cluster import status as cluster_status

    if args.journal and not args.explain:
        raise UsageError("--journal belongs to --explain", "add --explain")

    _answers_, conn, manifests = _prepare(args, need_answers=False)
    with conn:
        report = cluster_status.status(conn, manifests or None)
        for note in report.notes:
            err(f"note: {note}")
        if not report.objects:
            print("no object labelled app.kubernetes.io/managed-by=kmwizard in this cluster")
        for o in report.objects:
            state = ("unknown" if o.present is None else "absent" if not o.present else
                     "managed by kmwizard" if o.managed else "present, not kmwizard's")
            sync = {True: ", in sync", False: ", differs from the answers (see `kmwizard diff`)", None: ""}[o.in_sync]
            print(f"{str(o.ref):50} {state}{sync}{'  (' + o.note + ')' if o.note else ''}")
        for p in report.rollout:
            print(f"{p.detail}{' (done)' if p.done else ''}")
            if p.failed:
                print(f"  failed: {p.failed}")
            for item in p.pending if not p.done else []:
                print(f"  pending: {item}")
            for ev in p.events[-5:]:
                print(f"  event: {ev}")
            if p.unfollowed:
                print(f"  note: {p.unfollowed}")
        if args.explain:
            return _explain(conn, manifests, args)
        return EXIT_OK


def _explain(conn, manifests, args) -> int:
    """``status --explain``: the chain of each Module / MachineConfig, up to the first broken link."""
    from kmwizard.cluster import explain
    from kmwizard.cluster import status as cluster_status

    skipped: list[str] = []
    targets = [m for m in manifests if m.get("kind") in ("Module", "MachineConfig")] or [
        m for m in cluster_status.managed_objects(conn, skipped) if m.get("kind") in ("Module", "MachineConfig")]
    if not targets:
        print("nothing to explain: no Module or MachineConfig (give the answers, or apply first)")
        return EXIT_OK
    print()
    results = explain.explain(conn, targets, timeout=args.timeout, journal=args.journal,
                              progress=lambda message: err(message))
    for ex in results:
        for line in explain.format_explanation(ex):
            print(line)
    return EXIT_FINDINGS if any(ex.broken for ex in results) else EXIT_OK


def cmd_verify(args) -> int:
    from kmwizard.cluster import verify as cluster_verify

    answers, conn, manifests = _prepare(args, rights="verify")
    with conn:
        modules = list(args.module)
        if not modules and answers.get("method") == "kvc":
            # The KVC instance name is the module's name in the docs' examples (simple-kmod -> simple_kmod).
            modules = [answers.get("kvc.module_name")]
        err(f"verify runs one short-lived PRIVILEGED pod per node (host / mounted read-only, `chroot /host lsmod`) "
            f"in namespace {cluster_verify.VERIFY_NAMESPACE}; the pods are deleted afterwards")
        checks = cluster_verify.verify(conn, manifests, modules=modules, nodes=args.node,
                                       image=args.image or cluster_verify.VERIFY_IMAGE, timeout=args.timeout,
                                       progress=lambda msg: err(msg))
        bad = unknown = 0
        for c in checks:
            if c.error:
                bad += 1
                unknown += 1
                print(f"{c.node}: ERROR {c.error}")
            elif c.missing:
                bad += 1
                print(f"{c.node}: NOT LOADED {', '.join(c.missing)}"
                      + (f" (loaded: {', '.join(c.loaded)})" if c.loaded else ""))
            else:
                print(f"{c.node}: loaded {', '.join(c.loaded)}")
        err(f"{len(checks) - bad}/{len(checks)} node(s) have the module loaded"
            + (f"; {unknown} could not be checked (ERROR above)" if unknown else ""))
        if bad > unknown:
            return EXIT_FINDINGS        # a node runs without the module: that is the answer
        return EXIT_UNCHECKED if unknown else EXIT_OK


def cmd_delete(args) -> int:
    from kmwizard.cluster import changes, objects

    _answers_, conn, manifests = _prepare(args, rights="delete")
    with conn:
        planned = changes.delete(conn, manifests, dry_run=True, include_namespaces=args.include_namespaces,
                                 progress=(lambda r: err(result_line(r))) if args.dry_run == "server" else None)
        if planned.error:
            print_failure(planned, "deleted")
            err("nothing was deleted: the server's dry run rejected the request above")
            return EXIT_CLUSTER
        if args.dry_run == "server":
            err(f"dry run: {len(planned.changed)} object(s) would be deleted; nothing was changed")
            return EXIT_OK
        confirm(changes.reboot_warnings(conn, planned.results), args)
        report = changes.delete(conn, manifests, include_namespaces=args.include_namespaces,
                                progress=lambda r: err(result_line(r)))
        if report.error:
            print_failure(report, "deleted")
            return EXIT_CLUSTER
        err(f"deleted: {len(report.changed)} object(s)")
        if args.wait:
            gone = [m for m, r in zip(objects.delete_order(manifests), report.results) if r.action == "deleted"]
            return _wait(conn, gone, args, removed=True)
        return EXIT_OK
