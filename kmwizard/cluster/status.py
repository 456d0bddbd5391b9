"""``status``: what kmwizard applied, per object present / managed / in sync, and the rollout."""
from __future__ import annotations

from dataclasses import dataclass

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


MANAGED_KINDS = (("machineconfiguration.openshift.io/v1", "MachineConfig"), ("kmm.sigs.x-k8s.io/v1beta1", "Module"))


def managed_objects(conn: Connection) -> list[dict]:
    """Every MachineConfig and Module labelled as kmwizard's (kinds the cluster lacks are skipped)."""
    found = []
    for api_version, kind in MANAGED_KINDS:
        try:
            res = conn.resource(api_version, kind)
        except E.NotInstalled:
            continue
        items = conn.call(res.get, label_selector=f"{MANAGED_BY}={FIELD_MANAGER}", action=f"listing {kind}s")
        found.extend(items.to_dict().get("items") or [])
    return found


def status(conn: Connection, manifests: list[dict] | None = None) -> StatusReport:
    """What kmwizard applied: per object present / managed / in sync, and the rollout state.

    Without manifests, everything labelled as kmwizard's (MachineConfigs and Modules).  Each object
    is read and dry-run on its own: a failed dry run (a conflict, a 403, a 422) is reported on that
    object, which still counts as present when it exists, and the others are still checked.
    """
    if not manifests:
        live = managed_objects(conn)
        objects = [ObjectStatus(ref_of(o), True, True) for o in live]
        return StatusReport(objects, snapshot(conn, live))
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
