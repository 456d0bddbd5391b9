"""Pure helpers on Kubernetes objects: identity, apply order, masking, diffs, references.

Nothing here talks to a cluster or imports ``kubernetes``: these are the parts of the
apply engine that can be judged on plain dicts (recorded server answers, hand-written
manifests).
"""
from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass

from kmwizard.regexps import lazy
from kmwizard.rendering import dump_yaml

FIELD_MANAGER = "kmwizard"
MANAGED_BY = "app.kubernetes.io/managed-by"

# Apply order: what others refer to comes first (a Module needs its namespace, its
# Dockerfile ConfigMap and its secrets; KMM reads them when the Module appears).
# A MachineConfig stands alone: it goes last so a failure elsewhere cannot leave a
# half-configured pool rebooting.
_KIND_RANK = {
    "Namespace": 0,
    "ServiceAccount": 1,
    "Secret": 2,
    "ConfigMap": 3,
    "Module": 5,
    "MachineConfig": 9,
}
_OTHER_RANK = 4

# Fields the server owns: they never take part in a diff.
_SERVER_METADATA = ("managedFields", "resourceVersion", "uid", "creationTimestamp",
                    "generation", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds")

MASK = "*** (masked)"
MASK_BEFORE = "*** (masked, before)"
MASK_AFTER = "*** (masked, after)"

# MachineConfig files that hold private keys (RHSM entitlements, signing keys).
_SECRET_FILE = lazy(r"^/etc/pki/entitlement(-host)?/|^/etc/rhsm/|(^|[/_.-])key(\.pem)?$|\.key$")


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


def ref_of(obj: dict) -> ObjectRef:
    meta = obj.get("metadata") or {}
    return ObjectRef(obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("name", ""),
                     meta.get("namespace") or None)


def apply_order(manifests: list[dict]) -> list[dict]:
    """Dependency order, stable within a kind (the renderer's own order is kept)."""
    return sorted(manifests, key=lambda m: _KIND_RANK.get(m.get("kind", ""), _OTHER_RANK))


def delete_order(manifests: list[dict]) -> list[dict]:
    return list(reversed(apply_order(manifests)))


def labelled(obj: dict) -> dict:
    """A copy of obj carrying ``app.kubernetes.io/managed-by: kmwizard``."""
    out = copy.deepcopy(obj)
    labels = out.setdefault("metadata", {}).setdefault("labels", {}) or {}
    labels[MANAGED_BY] = FIELD_MANAGER
    out["metadata"]["labels"] = labels
    return out


# On a Namespace kmwizard created (not one it applied over): only those may go with
# `delete --include-namespaces`, as deleting a namespace deletes everything in it.
CREATED_ANNOTATION = "kmwizard/created"


def created_by_kmwizard(obj: dict | None) -> bool:
    return bool(obj) and ((obj.get("metadata") or {}).get("annotations") or {}).get(CREATED_ANNOTATION) == "true"


def with_created_mark(obj: dict) -> dict:
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    meta["annotations"] = {**(meta.get("annotations") or {}), CREATED_ANNOTATION: "true"}
    return out


def is_managed(obj: dict | None) -> bool:
    return bool(obj) and ((obj.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY) == FIELD_MANAGER


def normalized(obj: dict | None) -> dict | None:
    """The parts of an object a user manages: no server metadata, no status."""
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in _SERVER_METADATA:
        meta.pop(key, None)
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    return out


def mask_pair(before: dict | None, after: dict | None) -> tuple[dict | None, dict | None]:
    """Mask secret values in both versions; a changed value shows as before/after marks.

    Secrets' ``data``/``stringData`` and MachineConfig files holding keys are masked,
    so a diff tells *that* a secret changed, never what it is.
    """
    before, after = copy.deepcopy(before), copy.deepcopy(after)

    def secret_maps(obj):
        if obj and obj.get("kind") == "Secret":
            return {k: obj.get(k) or {} for k in ("data", "stringData")}
        return {}

    b_maps, a_maps = secret_maps(before), secret_maps(after)
    for field in set(b_maps) | set(a_maps):
        b, a = b_maps.get(field, {}), a_maps.get(field, {})
        for key in set(b) | set(a):
            same = b.get(key) == a.get(key)
            if key in b:
                before[field][key] = MASK if same else MASK_BEFORE
            if key in a:
                after[field][key] = MASK if same else MASK_AFTER

    def mc_files(obj):
        if not obj or obj.get("kind") != "MachineConfig":
            return {}
        files = (((obj.get("spec") or {}).get("config") or {}).get("storage") or {}).get("files") or []
        return {f.get("path"): f for f in files if isinstance(f, dict) and _SECRET_FILE.search(str(f.get("path", "")))}

    b_files, a_files = mc_files(before), mc_files(after)
    for path in set(b_files) | set(a_files):
        b, a = b_files.get(path), a_files.get(path)
        same = b is not None and a is not None and b.get("contents") == a.get("contents")
        for entry, mark in ((b, MASK_BEFORE), (a, MASK_AFTER)):
            if entry is not None and isinstance(entry.get("contents"), dict):
                entry["contents"] = {**entry["contents"], "source": MASK if same else mark}
    return before, after


def masked(obj: dict | None) -> dict | None:
    """One object with its secret values masked (for previews and logs)."""
    return mask_pair(obj, obj)[0]


def to_yaml(obj: dict | None) -> str:
    if obj is None:
        return ""
    return dump_yaml(obj, sort_keys=True)  # a Dockerfile or unit stays a readable block in diffs


def unified_diff(ref: ObjectRef, live: dict | None, merged: dict | None) -> str:
    """``diff -u`` of the live object against what the apply would make of it, secrets masked.

    Keys are sorted on both sides: custom resources come back from the server with
    their keys sorted, core objects in Go struct order; sorting keeps the diff to
    real changes.
    """
    before, after = mask_pair(normalized(live), normalized(merged))
    label = f"{ref.kind}/{ref.namespace}/{ref.name}" if ref.namespace else f"{ref.kind}/{ref.name}"
    lines = difflib.unified_diff(to_yaml(before).splitlines(keepends=True),
                                 to_yaml(after).splitlines(keepends=True),
                                 fromfile=f"live/{label}" if live is not None else "/dev/null",
                                 tofile=f"applied/{label}" if merged is not None else "/dev/null")
    return "".join(lines)


def same_content(live: dict | None, merged: dict | None) -> bool:
    return normalized(live) == normalized(merged)


@dataclass(frozen=True)
class Reference:
    """Something a Module needs in its namespace that may not be in the manifests."""

    kind: str          # Secret, ConfigMap or ServiceAccount
    name: str
    namespace: str
    where: str         # JSON path in the Module, e.g. $.spec.imageRepoSecret.name
    module: str        # namespace/name of the Module


def module_references(module: dict) -> list[Reference]:
    """The Secrets, ConfigMaps and ServiceAccounts a KMM Module refers to by name."""
    meta = module.get("metadata") or {}
    ns, mod = meta.get("namespace") or "", f"{meta.get('namespace')}/{meta.get('name')}"
    spec = module.get("spec") or {}
    found: list[Reference] = []

    def add(kind, node, where):
        name = node.get("name") if isinstance(node, dict) else None
        if name:
            found.append(Reference(kind, name, ns, where, mod))

    add("Secret", spec.get("imageRepoSecret"), "$.spec.imageRepoSecret.name")
    loader = spec.get("moduleLoader") or {}
    if loader.get("serviceAccountName"):
        found.append(Reference("ServiceAccount", loader["serviceAccountName"], ns,
                               "$.spec.moduleLoader.serviceAccountName", mod))
    plugin = spec.get("devicePlugin") or {}
    if plugin.get("serviceAccountName"):
        found.append(Reference("ServiceAccount", plugin["serviceAccountName"], ns,
                               "$.spec.devicePlugin.serviceAccountName", mod))
    container = loader.get("container") or {}

    def build_and_sign(node, base):
        build = node.get("build") or {}
        add("ConfigMap", build.get("dockerfileConfigMap"), f"{base}.build.dockerfileConfigMap.name")
        for i, secret in enumerate(build.get("secrets") or []):
            add("Secret", secret, f"{base}.build.secrets[{i}].name")
        sign = node.get("sign") or {}
        add("Secret", sign.get("keySecret"), f"{base}.sign.keySecret.name")
        add("Secret", sign.get("certSecret"), f"{base}.sign.certSecret.name")

    build_and_sign(container, "$.spec.moduleLoader.container")
    for i, mapping in enumerate(container.get("kernelMappings") or []):
        build_and_sign(mapping, f"$.spec.moduleLoader.container.kernelMappings[{i}]")
    return found


def local_problems(manifests: list[dict]) -> list:
    """What is wrong with the manifests before any request: objects without a name, and references a
    Module makes by an empty name (the client would fail on them with its own ValueError, or KMM would
    look for a Secret called "")."""
    from kmwizard.findings import error

    found = []
    for m in manifests:
        meta = m.get("metadata") or {}
        if not str(meta.get("name") or "").strip():
            found.append(error(f"{m.get('kind', '?')} (no name)", f"a {m.get('kind', '?')} manifest has an empty "
                               "metadata.name: the API server cannot store an object without a name",
                               "give it a name in the answers", code="cluster-empty-name"))
        if m.get("kind") != "Module":
            continue
        spec = m.get("spec") or {}
        for where, node in _named_nodes(spec):
            if isinstance(node, dict) and "name" in node and not str(node.get("name") or "").strip():
                found.append(error(f"Module {meta.get('namespace')}/{meta.get('name')}:{where}",
                                   f"{where} is empty: the Module names a Secret or ConfigMap without a name",
                                   "set the name in the answers, or leave the reference out", code="cluster-empty-name"))
    return found


def _named_nodes(spec: dict):
    """(JSON path, node) of every by-name reference in a Module spec."""
    yield "$.spec.imageRepoSecret.name", spec.get("imageRepoSecret")
    container = (spec.get("moduleLoader") or {}).get("container") or {}
    bases = [("$.spec.moduleLoader.container", container)] + [
        (f"$.spec.moduleLoader.container.kernelMappings[{i}]", mp) for i, mp in
        enumerate(container.get("kernelMappings") or []) if isinstance(mp, dict)]
    for base, node in bases:
        build, sign = node.get("build") or {}, node.get("sign") or {}
        yield f"{base}.build.dockerfileConfigMap.name", build.get("dockerfileConfigMap")
        for i, secret in enumerate(build.get("secrets") or []):
            yield f"{base}.build.secrets[{i}].name", secret
        yield f"{base}.sign.keySecret.name", sign.get("keySecret")
        yield f"{base}.sign.certSecret.name", sign.get("certSecret")


def pool_of(machineconfig: dict) -> str | None:
    """The MachineConfigPool a MachineConfig lands in: by convention the pool named after its role."""
    return ((machineconfig.get("metadata") or {}).get("labels") or {}).get("machineconfiguration.openshift.io/role")
