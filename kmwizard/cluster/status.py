"""``status``: what kmwizard applied, per object present / managed / in sync, and the rollout."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import errors as E
from .changes import FAILED, UNCHANGED, plan
from .connection import Connection
from .objects import FIELD_MANAGER, MANAGED_BY, ObjectRef, apply_order, is_managed, ref_of
from .rollout import Progress
from .watch import snapshot


@dataclass
class ObjectStatus:
    ref: ObjectRef
    present: bool | None           # None: could not be read
    managed: bool = False          # carries kmwizard's label
    in_sync: bool | None = None    # a dry run of the manifest would change nothing (None: not checked)
    note: str = ""


@dataclass
class StatusReport:
    objects: list[ObjectStatus]
    rollout: list[Progress]
    notes: list[str] = field(default_factory=list)    # what could not be looked at, and why


MANAGED_KINDS = (("machineconfiguration.openshift.io/v1", "MachineConfig"), ("kmm.sigs.x-k8s.io/v1beta1", "Module"))


def managed_objects(conn: Connection, notes: list[str] | None = None) -> list[dict]:
    """Every MachineConfig and Module labelled as kmwizard's (kinds the cluster lacks are skipped).

    A user who may not list a kind cluster-wide gets the Modules of the context's namespace, and
    ``notes`` says what was skipped."""
    found = []
    for api_version, kind in MANAGED_KINDS:
        try:
            res = conn.resource(api_version, kind)
        except E.NotInstalled:
            continue
        selector = f"{MANAGED_BY}={FIELD_MANAGER}"
        try:
            items = conn.call(res.get, label_selector=selector, action=f"listing {kind}s")
        except E.Forbidden as exc:
            namespace = conn.target.namespace if res.namespaced else ""
            if not namespace:
                if notes is not None:
                    notes.append(f"{kind}s skipped: {exc.message}")
                    continue
                raise
            items = conn.call(res.get, namespace=namespace, label_selector=selector,
                              action=f"listing {kind}s in namespace {namespace}")
            if notes is not None:
                notes.append(f"{kind}s: only namespace {namespace} was listed (no right to list them cluster-wide)")
        found.extend(items.to_dict().get("items") or [])
    return found


def status(conn: Connection, manifests: list[dict] | None = None) -> StatusReport:
    """What kmwizard applied: per object present / managed / in sync, and the rollout state.

    Without manifests, everything labelled as kmwizard's (MachineConfigs and Modules).  Each object
    is read and dry-run on its own: a failed dry run (a conflict, a 403, a 422) is reported on that
    object, which still counts as present when it exists, and the others are still checked.
    """
    if not manifests:
        notes: list[str] = []
        live = managed_objects(conn, notes)
        objects = [ObjectStatus(ref_of(o), True, True) for o in live]
        return StatusReport(objects, snapshot(conn, live), notes)
    objects = []
    ordered = apply_order(manifests)
    for manifest in ordered:
        r = plan(conn, [manifest]).results[0]
        if r.action == FAILED:
            known = hasattr(r.error, "live")     # the GET succeeded; the dry run failed
            objects.append(ObjectStatus(r.ref, (r.live is not None) if known else None, is_managed(r.live), None,
                                        note=("dry run failed: " if known else "could not read: ")
                                        + (r.error.message if r.error else "")))
        else:
            objects.append(ObjectStatus(r.ref, r.live is not None, is_managed(r.live),
                                        r.action == UNCHANGED, note=r.note))
    present = [m for m, o in zip(ordered, objects) if o.present]
    return StatusReport(objects, snapshot(conn, present))
