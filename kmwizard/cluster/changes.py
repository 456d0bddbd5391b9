"""Changing the cluster: server-side apply, plan (server dry run), diff, delete, reboot impact.

UI-neutral: results are plain dataclasses, progress goes through callbacks, every failure
is a ``ClusterError`` (see ``errors``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from kmwizard.findings import ClusterError

from . import errors as E
from .connection import Connection, get_or_none
from .objects import (FIELD_MANAGER, MANAGED_BY, ObjectRef, apply_order, created_by_kmwizard, delete_order,
                      is_managed, labelled, pool_of, ref_of, same_content, unified_diff, with_created_mark)

# Actions an ObjectResult reports.
CREATED, CONFIGURED, UNCHANGED = "created", "configured", "unchanged"
WOULD_CREATE, WOULD_CONFIGURE = "would be created", "would be configured"
FAILED, NOT_APPLIED = "failed", "not applied"
DELETED, WOULD_DELETE, ABSENT, KEPT, NOT_DELETED = "deleted", "would be deleted", "absent", "kept", "not deleted"


@dataclass
class ObjectResult:
    ref: ObjectRef
    action: str
    live: dict | None = None       # before
    result: dict | None = None     # what the server made of it (dry run: what it would make)
    error: ClusterError | None = None
    note: str = ""

    @property
    def changed(self) -> bool:
        return self.action in (CREATED, CONFIGURED, WOULD_CREATE, WOULD_CONFIGURE, DELETED, WOULD_DELETE)

    def diff(self) -> str:
        """Unified YAML diff, secrets masked (empty when unchanged)."""
        if self.action in (DELETED, WOULD_DELETE):
            return unified_diff(self.ref, self.live, None)
        if self.action in (FAILED, NOT_APPLIED) or self.result is None:
            return ""
        return unified_diff(self.ref, self.live, self.result)


@dataclass
class Report:
    results: list[ObjectResult]
    dry_run: bool = False
    error: ClusterError | None = None     # the failure that stopped the run, if any

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def changed(self) -> list[ObjectResult]:
        return [r for r in self.results if r.changed]

    @property
    def applied(self) -> list[ObjectResult]:
        return [r for r in self.results if r.action in (CREATED, CONFIGURED, UNCHANGED)]

    @property
    def not_applied(self) -> list[ObjectResult]:
        return [r for r in self.results if r.action in (FAILED, NOT_APPLIED)]


ResultCallback = Optional[Callable[[ObjectResult], None]]


def apply(conn: Connection, manifests: list[dict], *, dry_run: bool = False, force_conflicts: bool = False,
          progress: ResultCallback = None) -> Report:
    """Server-side apply, field manager ``kmwizard``, in dependency order; stops at the first failure.

    ``dry_run`` sends the same requests with ``dryRun=All``.  The report says, per object, what
    happened; after a failure every later object is reported as not applied.
    """
    ordered = [labelled(m) for m in apply_order(manifests)]
    report = Report([], dry_run=dry_run)
    new_namespaces: set[str] = set()
    for index, body in enumerate(ordered):
        ref = ref_of(body)
        try:
            result = _apply_one(conn, body, ref, dry_run=dry_run, force=force_conflicts,
                                new_namespaces=new_namespaces)
        except ClusterError as exc:
            report.error = exc
            report.results.append(ObjectResult(ref, FAILED, live=getattr(exc, "live", None), error=exc))
            if progress:
                progress(report.results[-1])
            for rest in ordered[index + 1:]:
                report.results.append(ObjectResult(ref_of(rest), NOT_APPLIED))
                if progress:
                    progress(report.results[-1])
            break
        if ref.kind == "Namespace" and result.action in (CREATED, WOULD_CREATE):
            new_namespaces.add(ref.name)
        report.results.append(result)
        if progress:
            progress(result)
    return report


def _apply_one(conn: Connection, body: dict, ref: ObjectRef, *, dry_run: bool, force: bool,
               new_namespaces: set[str]) -> ObjectResult:
    res = conn.resource(ref.api_version, ref.kind)
    live = get_or_none(conn, res, ref.name, ref.namespace, ref=ref)
    try:
        return _apply_live(conn, res, body, ref, live, dry_run=dry_run, force=force, new_namespaces=new_namespaces)
    except ClusterError as exc:
        exc.live = live    # the object exists (or not) whatever the apply said: status shows it
        raise


def _apply_live(conn: Connection, res, body: dict, ref: ObjectRef, live: dict | None, *, dry_run: bool, force: bool,
                new_namespaces: set[str]) -> ObjectResult:
    note = ""
    if live is not None and not is_managed(live):
        note = "existed before, not created by kmwizard: kmwizard now manages the fields it sets"
    if live is not None and ref.kind == "Module":
        _check_module_update(live, body, ref)
    if live is None or created_by_kmwizard(live):
        # Marks what kmwizard created, so delete never removes what it only took over (--force-conflicts).
        body = with_created_mark(body)  # kept on every later apply, or server-side apply would drop it
    try:
        out = conn.call(res.server_side_apply, body=body, name=ref.name, namespace=ref.namespace,
                        field_manager=FIELD_MANAGER, force_conflicts=True if force else None,
                        dry_run="All" if dry_run else None, action="dry-run apply of" if dry_run else "applying",
                        ref=ref).to_dict()
    except E.Missing as exc:
        # A server dry run cannot see a namespace that this same run would create.
        if dry_run and exc.kind == "Namespace" and exc.name in new_namespaces and live is None:
            return ObjectResult(ref, WOULD_CREATE, None, body,
                                note=f"not checked by the server: namespace {exc.name} does not exist yet "
                                     "(this apply creates it first)")
        raise
    if live is None:
        action = WOULD_CREATE if dry_run else CREATED
    elif dry_run:
        action = UNCHANGED if same_content(live, out) else WOULD_CONFIGURE
    else:
        same_version = (live.get("metadata") or {}).get("resourceVersion") == (out.get("metadata") or {}).get(
            "resourceVersion")
        action = UNCHANGED if same_version else CONFIGURED
    return ObjectResult(ref, action, live, out, note=note)


def _check_module_update(live: dict, body: dict, ref: ObjectRef) -> None:
    """KMM's webhook rule for updates, which a server dry run without the webhook would not show:
    the first (dry) run stops here, before anything is changed."""
    from kmwizard.kmm.lint import version_change_findings

    for finding in version_change_findings(live, body, str(ref)):
        raise E.Invalid(f"the KMM webhook would reject the update of {ref}: {finding.message}", finding.fix,
                        [("spec.moduleLoader.container.version", finding.message)])


def plan(conn: Connection, manifests: list[dict], *, force_conflicts: bool = False,
         progress: ResultCallback = None) -> Report:
    """What an apply would do, from the server's own dry run; changes nothing."""
    return apply(conn, manifests, dry_run=True, force_conflicts=force_conflicts, progress=progress)


@dataclass
class ObjectDiff:
    ref: ObjectRef
    action: str
    text: str        # unified diff, secrets masked
    note: str = ""


def diff(conn: Connection, manifests: list[dict], *, force_conflicts: bool = False
         ) -> tuple[list[ObjectDiff], ClusterError | None]:
    """Server dry run against the live objects: one diff per object (empty text when unchanged).
    ``force_conflicts`` previews a forced apply, as ``kubectl diff --server-side --force-conflicts``."""
    report = plan(conn, manifests, force_conflicts=force_conflicts)
    diffs = [ObjectDiff(r.ref, r.action, r.diff(), r.note) for r in report.results if r.action != NOT_APPLIED]
    return diffs, report.error


# --- reboot impact -------------------------------------------------------------------

@dataclass
class RebootWarning:
    machineconfig: str
    pool: str
    nodes: int | None     # None when the pool is unreadable
    change: str           # an action: would be created / would be configured / would be deleted

    def message(self) -> str:
        count = f"{self.nodes} node(s)" if self.nodes is not None else "an unknown number of nodes"
        verb = {"would be deleted": "Deleting"}.get(self.change, "Applying")
        return (f"{verb} MachineConfig {self.machineconfig} makes the Machine Config Operator drain and reboot "
                f"every node of pool {self.pool}, one at a time: {count}. Workloads move while each node "
                "reboots.")


def reboot_warnings(conn: Connection, results: list[ObjectResult]) -> list[RebootWarning]:
    """For each MachineConfig that would change: the pool that reboots and how many nodes it has."""
    out = []
    for r in results:
        if r.ref.kind != "MachineConfig" or r.action not in (WOULD_CREATE, WOULD_CONFIGURE, WOULD_DELETE,
                                                               CREATED, CONFIGURED, DELETED):
            continue
        pool = pool_of(r.result or r.live or {}) or "?"
        nodes = None
        try:
            mcp = get_or_none(conn, conn.resource("machineconfiguration.openshift.io/v1", "MachineConfigPool"),
                               pool)
            nodes = ((mcp or {}).get("status") or {}).get("machineCount")
        except ClusterError:
            pass
        out.append(RebootWarning(r.ref.name, pool, nodes, r.action))
    return out


# --- delete --------------------------------------------------------------------------

def delete(conn: Connection, manifests: list[dict], *, dry_run: bool = False, include_namespaces: bool = False,
           progress: ResultCallback = None) -> Report:
    """Delete what kmwizard applied for these manifests, in reverse dependency order.

    Objects without kmwizard's managed-by label are left alone (someone else made them), and
    Namespaces are kept unless ``include_namespaces``: deleting one deletes everything in it.
    """
    ordered = delete_order(manifests)
    report = Report([], dry_run=dry_run)
    for index, manifest in enumerate(ordered):
        ref = ref_of(manifest)
        try:
            res = conn.resource(ref.api_version, ref.kind)
            live = get_or_none(conn, res, ref.name, ref.namespace, ref=ref)
            if live is None:
                result = ObjectResult(ref, ABSENT)
            elif not is_managed(live):
                result = ObjectResult(ref, KEPT, live, note=f"not labelled {MANAGED_BY}=kmwizard: not kmwizard's")
            elif ref.kind == "Namespace" and _system_namespace(ref.name):
                result = ObjectResult(ref, KEPT, live, note="a system namespace (the KMM operator may live here): "
                                                            "kmwizard never deletes it")
            elif ref.kind == "Namespace" and not include_namespaces:
                result = ObjectResult(ref, KEPT, live, note="namespaces are kept (deleting one deletes everything "
                                                            "in it); pass --include-namespaces to delete it")
            elif ref.kind == "Namespace" and not created_by_kmwizard(live):
                result = ObjectResult(ref, KEPT, live, note="it existed before kmwizard applied it, so it may hold "
                                                            "more than kmwizard's objects: delete it yourself "
                                                            f"(`oc delete namespace {ref.name}`) if you mean to")
            elif not created_by_kmwizard(live):
                where = f" -n {ref.namespace}" if ref.namespace else ""
                result = ObjectResult(ref, KEPT, live, note="it existed before kmwizard applied it (taken over, e.g. "
                                                            "with --force-conflicts): kmwizard leaves it; delete it "
                                                            f"yourself (`oc delete {ref.kind.lower()} {ref.name}{where}`) "
                                                            "if you mean to")
            else:
                conn.call(res.delete, name=ref.name, namespace=ref.namespace, dry_run="All" if dry_run else None,
                          action="deleting", ref=ref)
                result = ObjectResult(ref, WOULD_DELETE if dry_run else DELETED, live)
        except E.Missing:
            result = ObjectResult(ref, ABSENT)
        except ClusterError as exc:
            report.error = exc
            report.results.append(ObjectResult(ref, FAILED, error=exc))
            report.results.extend(ObjectResult(ref_of(m), NOT_DELETED) for m in ordered[index + 1:])
            if progress:
                for r in report.results[-(len(ordered) - index):]:
                    progress(r)
            break
        report.results.append(result)
        if progress:
            progress(result)
    return report


def _system_namespace(name: str) -> bool:
    # A Namespace manifest for openshift-kmm gets kmwizard's label on apply even though the cluster
    # made it: never delete such namespaces, whatever the label says.
    return name == "default" or name.startswith(("openshift", "kube-"))
