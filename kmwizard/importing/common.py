"""What every importer returns, and the clean-up of objects read from a cluster."""
from __future__ import annotations

import copy
from typing import Any

from kmwizard.findings import Finding
from kmwizard.records import field, record

# Set by the API server or by `kmwizard apply`, never part of what a user wrote.
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
                   "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "finalizers")
# kubectl's copy of the last apply, and kmwizard apply's mark on objects it created (cluster/objects.py
# CREATED_ANNOTATION; the cluster layer sits above this one, so the name is repeated, and a test pins it).
SERVER_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "kmwizard/created")
MANAGED_BY = ("app.kubernetes.io/managed-by", "kmwizard")


@record
class ImportResult:
    values: dict[str, Any] = field(default_factory=dict)        # flat answer key -> value
    path_values: dict[str, str] = field(default_factory=dict)   # answer key -> path inside the output dir
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # output-relative path -> (bytes, mode)
    findings: list[Finding] = field(default_factory=list)
    originals: list[tuple[str, dict]] = field(default_factory=list)    # (where, object) generating reproduces
    facts: dict[str, Any] = field(default_factory=dict)         # what migrate needs beyond the answers


def strip_server_fields(obj: dict) -> dict:
    """The object as its author wrote it: server-set metadata, status and kmwizard's own label removed."""
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        for key in SERVER_METADATA:
            meta.pop(key, None)
        for section, keys in (("annotations", SERVER_ANNOTATIONS), ("labels", (MANAGED_BY[0],))):
            values = meta.get(section)
            if isinstance(values, dict):
                for key in keys:
                    if key != MANAGED_BY[0] or values.get(key) == MANAGED_BY[1]:
                        values.pop(key, None)
                if not values:
                    meta.pop(section)
    return obj
