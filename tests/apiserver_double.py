"""A Kubernetes API server TEST DOUBLE for kmwizard's tests (not a fake cluster, not for production).

It answers the official ``kubernetes`` Python client (37.0.2, ``DynamicClient`` over ``ApiClient``) the way
the real kube-apiserver v1.36.2 answered in ``../shared/reference/apiserver-transcripts/``;
``tests/test_apiserver_double.py`` replays every recorded exchange against it.  It is strict on purpose:
anything it does not implement answers an error, never a silent success.

Implemented:
- ``/version``; discovery ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>[/<version>]``: the 20 built-in
  groups of the recording, each with one or more real resources (the client caches only non-empty lists), plus
  the CRDs installed in this instance.  Core v1 serves Namespace (+ ``status``, ``finalize``), ConfigMap,
  Secret, ServiceAccount, Node (+ ``status``), Pod (+ ``log``, ``status``), Event.  The CRDs come from the real
  files in ``../shared/reference/crds`` (names, scope, versions, subresources, schemas) and are readable as
  CustomResourceDefinition objects; ClusterVersion and ClusterServiceVersion can be installed schema-less.
- Objects in memory: GET, LIST (``labelSelector``: ``k``, ``!k``, ``k=v``, ``k==v``, ``k!=v``, ``k in (..)``,
  ``k notin (..)``; ``fieldSelector`` on ``metadata.name``/``metadata.namespace`` and the fields each kind
  supports, e.g. Event ``involvedObject.name``, Pod ``spec.nodeName``; others answer 400), WATCH
  (``watch=true``, ``timeoutSeconds``, ``resourceVersion``; synthetic ADDED for existing objects, then
  ADDED/MODIFIED/DELETED, closed at the timeout without a closing event), POST (409 AlreadyExists,
  ``generateName``), DELETE (Status Success, 404 after; ``dryRun``; ``preconditions``), deletecollection, PUT
  (resourceVersion precondition, 409; required for custom resources, 422), PATCH with
  ``application/apply-patch+yaml`` (server-side apply), ``application/merge-patch+json``,
  ``application/json-patch+json``, and ``application/strategic-merge-patch+json`` (415 on custom resources
  as recorded; on core kinds applied as a JSON merge patch, see below); ``/status`` subresources (the main
  resource never writes status and the other way round).
- Server-side apply: ``fieldManager`` required, ``force``, ``dryRun=All``; 201 create / 200 update; identical
  re-apply is a no-op (same resourceVersion, generation, managedFields time); generation bumps on changes
  outside metadata/status; managedFields per manager in fieldsV1 form (typed structs, granular maps, atomic
  and associative lists, ``.`` members inside ``x-kubernetes-preserve-unknown-fields``); conflicts 409 with
  ``FieldManagerConflict`` causes and leading-dot paths (also against Update managers); ``force=true`` moves
  the conflicting fields; fields a manager stops applying are removed when nobody else owns them; a stale
  ``metadata.resourceVersion`` answers 409, ``metadata.managedFields`` 400; dry runs return the would-be
  object and store nothing.  Update-type writes (POST/PUT/merge and JSON patches) record managers with
  operation ``Update`` (default name from the User-Agent, as the server does) and take ownership of what they
  change.
- Admission and validation: namespaced writes into a missing namespace answer 404 ``namespaces "x" not
  found``; SSA type errors and unknown fields answer 500 "failed to create typed patch object (...)"; other
  writes drop unknown fields with a ``Warning: 299`` header, or answer 400 with ``fieldValidation=Strict``;
  schema errors (the CRD schemas as ``tests/crd_schema.py`` judges them) answer 422 Invalid with
  ``details.causes``, including the extra ``<nil>`` cause for CRDs that carry CEL rules; metadata.name must be
  a DNS-1123 subdomain (label for Namespaces); ConfigMap/Secret keys and Secret base64 are checked; defaults
  as recorded (CRD ``default:`` values, Namespace label/finalizer/phase) and as the server sets them (Secret
  type, a new Pod's ``Pending`` phase; Secret ``stringData`` is merged into ``data``).
- Authentication/authorization: bearer tokens mapped to identities (user, groups, rules or ``"admin"``),
  and with TLS client certificates signed by the double's CA (CN user, O groups; ``system:masters`` admin);
  401 for an unknown token; no credentials at all is ``system:anonymous`` (403 everywhere but ``/version`` and
  the health paths, with the "cannot get path" message for discovery); 403 bodies as recorded; discovery,
  ``/version`` and the self reviews (``selfsubjectreviews``, ``selfsubjectaccessreviews``,
  ``selfsubjectrulesreviews``, answered from the token's rules) are open to every authenticated user.
- Server-side apply that creates an object also needs the ``create`` right (403 with an empty reason).
- Admission: NamespaceLifecycle (a deleted Namespace stays ``Terminating`` for a while and creates inside it
  answer 403 with a ``NamespaceTerminating`` cause) and PodSecurity (a new Pod is checked against its
  namespace's ``pod-security.kubernetes.io/enforce`` level: privileged containers, hostPath volumes, runAsUser 0).
- Faults: ``fail_next()`` answers a status (500 by default), a 429 with ``Retry-After``, an ERROR event in a
  watch stream, hangs, or closes the connection for matching requests; ``stop()`` closes the listener and every open connection (clients then see connection refused);
  the server also stops by itself after ``max_lifetime``.  Optional TLS with a self-signed CA made at start
  (``cryptography``), and a second unrelated CA to show a failed verification.
- Helpers: ``write_kubeconfig()``, ``objects()``, ``get()``, ``put()``, ``remove()``, ``set_pod_log()``,
  ``on()`` (reactors that play a controller after a client write), ``requests`` (a log of every request,
  tokens never recorded), ``internal_errors`` (bugs in the double or a reactor; the fixtures fail the test on
  any), and the pytest fixtures ``apiserver`` and ``apiserver_factory``.

Not implemented (answers an error or is documented as different):
- Aggregated discovery, OpenAPI (``/openapi/v2``, ``/openapi/v3``: 404), protobuf, CBOR, table output.
- Admission beyond namespace existence; CEL rules (``x-kubernetes-validations``) are not evaluated; no
  request size limit (only the 1 MiB ConfigMap/Secret payload one); no quotas, no RBAC objects (Roles can be
  stored but the rules live in the token map), no impersonation.
- Controllers: nothing runs unless a test registers a reactor with ``on()``.  No garbage collection, no
  status writers, no default ServiceAccount; a Terminating Namespace goes with its contents after
  ``namespace_terminating_seconds`` (no finalizer protocol: ``spec.finalizers`` is not consulted).  Objects with finalizers get a deletionTimestamp and stay until an update
  clears the finalizers.
- Strategic merge patch on core kinds is applied as a JSON merge patch (lists replaced; ``$patch`` and other
  directives answer 400).  Pod, Node, Event, the built-in groups' kinds and the optional CRDs have no schema
  here (typed metadata, any other fields accepted, managedFields deduced); ``generation`` is kept for custom
  resources only.  Messages the recording does not show (enum, pattern, length errors; multi-conflict lists)
  follow the apiserver's source and may differ in wording.
- ``pods/exec``, ``attach``, ``portforward``, ``proxy``, ``scale``: not served (404).
- Watch bookmarks, ``allowWatchBookmarks``, ``sendInitialEvents``, 410 Gone for old resourceVersions (the last
  1000 events are kept); pagination (``limit``/``continue``: one page, ``continue: ""``); resourceVersion
  semantics on GET/LIST (always the latest).
"""
from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import http.server
import json
import re
import socket
import ssl
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

try:
    import crd_schema
except ImportError:  # imported from outside pytest's rootdir handling
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import crd_schema

SHARED = crd_schema.SHARED
CRD_DIR = crd_schema.CRD_DIR

SERVER_VERSION = {
    "major": "1", "minor": "36", "emulationMajor": "1", "emulationMinor": "36",
    "minCompatibilityMajor": "1", "minCompatibilityMinor": "35", "gitVersion": "v1.36.2",
    "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
    "buildDate": "1970-01-01T00:00:00Z", "goVersion": "go1.26.4", "compiler": "gc", "platform": "linux/amd64",
}

# The built-in groups of the recorded server, in its /apis order (all answer their v1; autoscaling prefers v2).
BUILTIN_GROUPS = [
    "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
    "autoscaling", "batch", "certificates.k8s.io", "networking.k8s.io", "policy", "rbac.authorization.k8s.io",
    "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
    "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "resource.k8s.io", "flowcontrol.apiserver.k8s.io",
]
DEFAULT_CRDS = frozenset({"machineconfigs", "machineconfigpools", "modules"})
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

ADMIN_TOKEN = "double-admin-token"
NORBAC_TOKEN = "double-norbac-token"

CORE_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
CRD_VERBS = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
SUB_VERBS = ["get", "patch", "update"]
CEL_NOT_CHECKED = ("some validation rules were not checked because the object was invalid; "
                   "correct the existing errors to complete validation")
DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                         "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
                         "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
                     "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
                     "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
UNSUPPORTED_PATCH_MSG = ("the body of the request was in an unknown format - accepted media types include: "
                         "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
UNSUPPORTED_PATCH_CORE_MSG = ("the body of the request was in an unknown format - accepted media types include: "
                              "application/json-patch+json, application/merge-patch+json, "
                              "application/apply-patch+yaml, application/strategic-merge-patch+json")


# ----------------------------------------------------------------------------------------------------------
# Identities


@dataclass(frozen=True)
class Identity:
    """Who a bearer token is.  ``rules`` is ``"admin"`` or a tuple of (verb, group, resource, namespace)
    tuples; ``"*"`` matches anything, resource may name a subresource (``"machineconfigpools/status"``),
    namespace ``""`` means cluster-scoped requests only."""

    user: str
    groups: tuple = ("system:authenticated",)
    rules: object = ()

    def allows(self, verb: str, group: str, resource: str, namespace: str) -> bool:
        if self.rules == "admin":
            return True
        for r_verb, r_group, r_resource, r_ns in self.rules:
            if (r_verb in ("*", verb) and r_group in ("*", group) and r_resource in ("*", resource)
                    and (r_ns == "*" or r_ns == namespace)):
                return True
        return False


# Who a request without credentials is (the anonymous authenticator), and the non-resource paths the default
# RBAC opens to it (ClusterRole system:public-info-viewer, bound to system:unauthenticated too).
ANONYMOUS = Identity("system:anonymous", ("system:unauthenticated",), ())
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")


def default_tokens() -> dict:
    return {
        ADMIN_TOKEN: Identity("kubernetes-admin", ("system:masters", "system:authenticated"), "admin"),
        NORBAC_TOKEN: Identity("system:serviceaccount:default:kmwizard-norbac",
                               ("system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated")),
    }


# ----------------------------------------------------------------------------------------------------------
# Resource types and schemas

_STR = {"type": "string"}
_STRMAP = {"type": "object", "additionalProperties": {"type": "string"}}
_OPEN = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}

OBJECT_META = {
    "type": "object",
    "properties": {
        "name": _STR, "generateName": _STR, "namespace": _STR, "selfLink": _STR, "uid": _STR,
        "resourceVersion": _STR, "generation": {"type": "integer"}, "creationTimestamp": _STR,
        "deletionTimestamp": _STR, "deletionGracePeriodSeconds": {"type": "integer"},
        "labels": _STRMAP, "annotations": _STRMAP,
        "ownerReferences": {
            "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["uid"],
            "items": {"type": "object", "required": ["apiVersion", "kind", "name", "uid"], "properties": {
                "apiVersion": _STR, "kind": _STR, "name": _STR, "uid": _STR,
                "controller": {"type": "boolean"}, "blockOwnerDeletion": {"type": "boolean"}}}},
        "finalizers": {"type": "array", "x-kubernetes-list-type": "set", "items": _STR},
        "managedFields": {"type": "array", "items": _OPEN},
    },
}
_META_IGNORED = ("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                 "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink", "generateName")


def _core_schema(**props) -> dict:
    return {"type": "object", "properties": {"apiVersion": _STR, "kind": _STR, "metadata": OBJECT_META, **props}}


CORE_SCHEMAS = {
    "Namespace": _core_schema(
        spec={"type": "object", "properties": {"finalizers": {"type": "array", "items": _STR}}},
        status={"type": "object", "properties": {"phase": _STR, "conditions": {"type": "array", "items": _OPEN}}}),
    "ConfigMap": _core_schema(data=_STRMAP, binaryData=_STRMAP, immutable={"type": "boolean"}),
    "Secret": _core_schema(data=_STRMAP, stringData=_STRMAP, type=_STR, immutable={"type": "boolean"}),
    # Kinds the double does not model field by field: typed metadata, any other content.
    "open": {**_core_schema(), "x-kubernetes-preserve-unknown-fields": True},
    "ServiceAccount": _core_schema(
        secrets={"type": "array", "items": _OPEN},
        imagePullSecrets={"type": "array", "items": {"type": "object", "properties": {"name": _STR}}},
        automountServiceAccountToken={"type": "boolean"}),
}
# Go struct field order of the core kinds (JSON of core objects follows it; map keys come sorted).
CORE_FIELD_ORDER = {
    "Namespace": ["spec", "status"], "ConfigMap": ["immutable", "data", "binaryData"],
    "Secret": ["immutable", "data", "stringData", "type"],
    "ServiceAccount": ["secrets", "imagePullSecrets", "automountServiceAccountToken"],
}
META_ORDER = ["name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
              "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
              "ownerReferences", "finalizers", "managedFields"]
MANAGED_ORDER = ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource"]


@dataclass
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    schema: dict | None          # openAPIV3Schema; None: any content (deduced)
    crd: bool = False
    short_names: list = field(default_factory=list)
    categories: list = field(default_factory=list)
    subresources: list = field(default_factory=list)  # e.g. ["status"], ["log", "status"]
    verbs: list = field(default_factory=lambda: list(CORE_VERBS))
    has_cel: bool = False
    virtual: bool = False        # a create-only review, never stored
    strict: dict | None = None   # the CRD schema as tests/crd_schema.py judges it (JSON Schema)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:  # modules.kmm.sigs.x-k8s.io, configmaps
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def group_kind(self) -> str:  # Module.kmm.sigs.x-k8s.io, ConfigMap
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def storage_hash(self) -> str:
        # Hash of the storage group/version/kind, which is not always the served one.
        group, version = STORAGE_VERSIONS.get((self.group, self.plural), (self.group, self.version))
        digest = hashlib.sha256(f"{group}/{version}/{self.kind}".encode()).digest()
        return base64.b64encode(digest[:8]).decode()

    def discovery_entries(self) -> list:
        main = {"name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
                "kind": self.kind, "verbs": list(self.verbs)}
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        if not self.virtual:
            main["storageVersionHash"] = self.storage_hash()
        entries = [main]
        for sub in self.subresources:
            verbs = {"log": ["get"], "finalize": ["update"]}.get(sub, SUB_VERBS)
            entries.append({"name": f"{self.plural}/{sub}", "singularName": "", "namespaced": self.namespaced,
                            "kind": self.kind, "verbs": verbs})
        return entries


def core_types() -> list:
    rt, open_ = ResourceType, CORE_SCHEMAS["open"]
    out = [
        rt("", "v1", "configmaps", "configmap", "ConfigMap", True, CORE_SCHEMAS["ConfigMap"], short_names=["cm"]),
        rt("", "v1", "events", "event", "Event", True, open_, short_names=["ev"]),
        rt("", "v1", "namespaces", "namespace", "Namespace", False, CORE_SCHEMAS["Namespace"], short_names=["ns"],
           subresources=["finalize", "status"], verbs=["create", "delete", "get", "list", "patch", "update", "watch"]),
        rt("", "v1", "nodes", "node", "Node", False, open_, short_names=["no"], subresources=["status"]),
        rt("", "v1", "pods", "pod", "Pod", True, open_, short_names=["po"], categories=["all"],
           subresources=["log", "status"]),
        rt("", "v1", "secrets", "secret", "Secret", True, CORE_SCHEMAS["Secret"]),
        rt("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, CORE_SCHEMAS["ServiceAccount"],
           short_names=["sa"]),
    ]
    # One or more real resources of every built-in group, stored without a schema.  The client caches a
    # group only when its list is not empty, so empty lists would change its traffic.
    for group, plural, kind, namespaced, short, categories, subs in BUILTIN_RESOURCES:
        out.append(rt(group, "v1", plural, kind.lower(), kind, namespaced, open_, short_names=short,
                      categories=categories, subresources=subs))
    for group, plural, kind, namespaced in REVIEW_RESOURCES:
        out.append(rt(group, "v1", plural, kind.lower(), kind, namespaced, open_, verbs=["create"], virtual=True))
    return out


# (group, plural, kind, namespaced, shortNames, categories, subresources) as the recorded server lists them.
BUILTIN_RESOURCES = [
    ("apiregistration.k8s.io", "apiservices", "APIService", False, [], ["api-extensions"], ["status"]),
    ("apps", "daemonsets", "DaemonSet", True, ["ds"], ["all"], ["status"]),
    ("apps", "deployments", "Deployment", True, ["deploy"], ["all"], ["status"]),
    ("events.k8s.io", "events", "Event", True, ["ev"], [], []),
    ("autoscaling", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ["hpa"], ["all"], ["status"]),
    ("batch", "jobs", "Job", True, [], ["all"], ["status"]),
    ("certificates.k8s.io", "certificatesigningrequests", "CertificateSigningRequest", False, ["csr"], [],
     ["status"]),
    ("networking.k8s.io", "networkpolicies", "NetworkPolicy", True, ["netpol"], [], []),
    ("policy", "poddisruptionbudgets", "PodDisruptionBudget", True, ["pdb"], [], ["status"]),
    ("rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding", False, [], [], []),
    ("rbac.authorization.k8s.io", "clusterroles", "ClusterRole", False, [], [], []),
    ("rbac.authorization.k8s.io", "rolebindings", "RoleBinding", True, [], [], []),
    ("rbac.authorization.k8s.io", "roles", "Role", True, [], [], []),
    ("storage.k8s.io", "storageclasses", "StorageClass", False, ["sc"], [], []),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False,
     [], ["api-extensions"], []),
    ("apiextensions.k8s.io", "customresourcedefinitions", "CustomResourceDefinition", False, ["crd", "crds"],
     ["api-extensions"], ["status"]),
    ("scheduling.k8s.io", "priorityclasses", "PriorityClass", False, ["pc"], [], []),
    ("coordination.k8s.io", "leases", "Lease", True, [], [], []),
    ("node.k8s.io", "runtimeclasses", "RuntimeClass", False, [], [], []),
    ("discovery.k8s.io", "endpointslices", "EndpointSlice", True, [], [], []),
    ("resource.k8s.io", "deviceclasses", "DeviceClass", False, [], [], []),
    ("flowcontrol.apiserver.k8s.io", "flowschemas", "FlowSchema", False, [], [], ["status"]),
]
STORAGE_VERSIONS = {("events.k8s.io", "events"): ("", "v1"), ("autoscaling", "horizontalpodautoscalers"):
                    ("autoscaling", "v2"), ("apiextensions.k8s.io", "customresourcedefinitions"):
                    ("apiextensions.k8s.io", "v1beta1")}
# Create-only reviews the double answers from the token map.
REVIEW_RESOURCES = [
    ("authentication.k8s.io", "selfsubjectreviews", "SelfSubjectReview", False),
    ("authorization.k8s.io", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False),
    ("authorization.k8s.io", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False),
]


def _has_cel(node) -> bool:
    if isinstance(node, dict):
        return "x-kubernetes-validations" in node or any(_has_cel(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_cel(v) for v in node)
    return False


_CRD_CACHE: dict = {}
_CRD_DOCS: dict = {}


def _optional_types() -> dict:
    """CRDs of OpenShift, OLM and KMM that kmwizard reads, without a schema (no CRD file is in ../shared)."""
    open_ = CORE_SCHEMAS["open"]
    return {
        "clusterversions": ResourceType("config.openshift.io", "v1", "clusterversions", "clusterversion",
                                        "ClusterVersion", False, open_, crd=True, subresources=["status"],
                                        verbs=list(CRD_VERBS)),
        "clusterserviceversions": ResourceType("operators.coreos.com", "v1alpha1", "clusterserviceversions",
                                               "clusterserviceversion", "ClusterServiceVersion", True, open_,
                                               crd=True, short_names=["csv", "csvs"], categories=["olm"],
                                               subresources=["status"], verbs=list(CRD_VERBS)),
        # KMM's per-node and per-Module bookkeeping (api/v1beta1 nodemodulesconfig_types.go: cluster-scoped,
        # shortName nmc; moduleimagesconfig_types.go: namespaced, shortName mic); no CRD file in ../shared.
        "nodemodulesconfigs": ResourceType("kmm.sigs.x-k8s.io", "v1beta1", "nodemodulesconfigs", "nodemodulesconfig",
                                           "NodeModulesConfig", False, open_, crd=True, short_names=["nmc"],
                                           subresources=["status"], verbs=list(CRD_VERBS)),
        "moduleimagesconfigs": ResourceType("kmm.sigs.x-k8s.io", "v1beta1", "moduleimagesconfigs",
                                            "moduleimagesconfig", "ModuleImagesConfig", True, open_, crd=True,
                                            short_names=["mic"], subresources=["status"], verbs=list(CRD_VERBS)),
    }


def crd_types() -> dict:
    """plural -> ResourceType for every CRD file in ../shared/reference/crds (served versions only), plus the
    schema-less optional ones (clusterversions, clusterserviceversions)."""
    if not _CRD_CACHE:
        _CRD_CACHE.update(_optional_types())
        crd_schema.require_crds()
        for path in sorted(CRD_DIR.glob("*/*.yaml")):
            crd = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            spec, names = crd["spec"], crd["spec"]["names"]
            _CRD_DOCS[names["plural"]] = crd
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                schema.setdefault("properties", {})["metadata"] = OBJECT_META
                _CRD_CACHE[names["plural"]] = ResourceType(
                    spec["group"], version["name"], names["plural"], names.get("singular", names["kind"].lower()),
                    names["kind"], spec["scope"] == "Namespaced", schema, crd=True,
                    short_names=names.get("shortNames") or [], categories=names.get("categories") or [],
                    subresources=sorted((version.get("subresources") or {}).keys()), verbs=list(CRD_VERBS),
                    has_cel=_has_cel(version["schema"]),
                    strict=crd_schema._strict(version["schema"]["openAPIV3Schema"]))
    return _CRD_CACHE


# ----------------------------------------------------------------------------------------------------------
# Schema walking: typed-patch checks, pruning, field sets, merging


def _node(schema):
    """Classify an openAPI node the way structured-merge-diff sees it."""
    if not schema:
        return "deduced"
    if schema.get("x-kubernetes-int-or-string") or schema.get("type") in ("string", "integer", "number", "boolean"):
        return "scalar"
    if schema.get("type") == "array":
        return {"map": "listmap", "set": "listset"}.get(schema.get("x-kubernetes-list-type"), "atomic")
    if schema.get("x-kubernetes-map-type") == "atomic":
        return "atomic"
    if "properties" in schema:
        return "struct"
    if isinstance(schema.get("additionalProperties"), dict):
        return "map"
    if schema.get("x-kubernetes-preserve-unknown-fields") or schema.get("type") != "object":
        return "open"  # an object whose children are deduced
    return "struct"


def _child(schema, key):
    """Schema of a map/struct child; None when the child is deduced (any content); False when undeclared."""
    if not schema:
        return None
    extra = schema.get("additionalProperties")
    props = schema.get("properties")
    if props is not None:
        if key in props:
            return props[key]
        if isinstance(extra, dict):
            return extra
        return None if schema.get("x-kubernetes-preserve-unknown-fields") else False
    return extra if isinstance(extra, dict) else None


def _go(value) -> str:
    """Go's %v of an unstructured value, as structured-merge-diff prints it inside ``&{...}``."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _go_type(value) -> str:
    return {bool: "bool", str: "string", int: "int64", float: "float64", list: "[]interface {}",
            dict: "map[string]interface {}"}.get(type(value), "<nil>")


def typed_patch_errors(value, schema, path="") -> list:
    """Errors structured-merge-diff reports when it converts an apply patch to its typed form."""
    kind = _node(schema)
    if value is None or kind == "deduced":
        return []
    if kind == "scalar":
        if schema.get("x-kubernetes-int-or-string"):
            ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
            return [] if ok else [f"{path}: expected scalar, got &{{{_go(value)}}}"]
        expected = schema["type"]
        if expected == "string" and not isinstance(value, str):
            return [f"{path}: expected string, got &value.valueUnstructured{{Value:{_go(value)}}}"]
        if expected in ("integer", "number") and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return [f"{path}: expected numeric (int or float), got {_go_type(value)}"]
        if expected == "boolean" and not isinstance(value, bool):
            return [f"{path}: expected boolean, got &{{{_go(value)}}}"]
        return []
    if schema.get("type") == "array":
        if not isinstance(value, list):
            return [f"{path}: expected list, got &{{{_go(value)}}}"]
        errors = []
        for i, item in enumerate(value):
            errors += typed_patch_errors(item, schema.get("items"), f"{path}[{i}]")
        return errors
    if not isinstance(value, dict):
        return [f"{path}: expected map, got &{{{_go(value)}}}"]
    errors = []
    for key, item in value.items():
        sub = _child(schema, key)
        if sub is False:
            errors.append(f"{path}.{key}: field not declared in schema")
        elif sub:
            errors += typed_patch_errors(item, sub, f"{path}.{key}")
    return errors


def prune_unknown(value, schema, path="") -> list:
    """Drop undeclared fields (and nulls of non-nullable fields) in place; return the dropped field paths."""
    kind = _node(schema)
    dropped = []
    if kind in ("deduced", "open", "scalar") or value is None:
        return dropped
    if schema.get("type") == "array":
        if isinstance(value, list):
            for i, item in enumerate(value):
                dropped += prune_unknown(item, schema.get("items"), f"{path}[{i}]")
        return dropped
    if not isinstance(value, dict):
        return dropped
    for key in list(value):
        sub = _child(schema, key)
        where = f"{path}.{key}" if path else key
        if sub is False:
            dropped.append(where)
            del value[key]
        elif sub:
            if value[key] is None and not sub.get("nullable") and kind == "struct":
                del value[key]
                continue
            dropped += prune_unknown(value[key], sub, where)
    return dropped


def _fkey(item: dict, keys: list) -> str:
    return "k:" + json.dumps({k: item.get(k) for k in sorted(keys)}, separators=(",", ":"))


def _vkey(item) -> str:
    return "v:" + json.dumps(item, separators=(",", ":"))


def field_paths(value, schema, path=(), out=None, update=False, deduced=False):
    """The fieldsV1 paths of ``value``: {path: leaf value or MEMBER}.

    Apply sets (update=False) hold leaves, list-map items and ``.`` members inside
    preserve-unknown-fields; Update sets (update=True) also hold every map/struct as a member."""
    out = {} if out is None else out
    kind = "deduced" if deduced else _node(schema)
    is_root_meta = path in ((), ("f:metadata",))
    if kind in ("scalar", "atomic") or value is None or isinstance(value, list) and kind in ("deduced", "open"):
        if path:
            out[path] = value
        return out
    if kind in ("listset", "listmap"):
        if not isinstance(value, list) or not value:
            out[path] = value
            return out
        for item in value:
            if kind == "listset":
                out[path + (_vkey(item),)] = item
            else:
                keys = schema.get("x-kubernetes-list-map-keys") or []
                ipath = path + (_fkey(item, keys),)
                out[ipath] = MEMBER
                field_paths(item, schema.get("items"), ipath, out, update)
        return out
    if not isinstance(value, dict) or not value:
        if path:
            out[path] = value
        return out
    if path and not is_root_meta and (update or kind == "deduced"):
        out[path] = MEMBER
    for key, item in value.items():
        if not path and key in ("apiVersion", "kind"):
            continue
        if path == ("f:metadata",) and key in _META_IGNORED:
            continue
        if kind in ("deduced", "open"):
            field_paths(item, None, path + (f"f:{key}",), out, update, deduced=True)
        else:
            sub = _child(schema, key)
            field_paths(item, sub or None, path + (f"f:{key}",), out, update, deduced=not sub)
    return out


class _Member:
    def __repr__(self):
        return "MEMBER"


MEMBER = _Member()


def fields_v1(paths) -> dict:
    """Render a set of paths as the fieldsV1 JSON tree (``.`` marks a member that also has children)."""
    tree: dict = {}
    for p in paths:
        node = tree
        for elem in p:
            node = node.setdefault(elem, {})
    for p in paths:
        node = tree
        for elem in p:
            node = node[elem]
        if node:
            node["."] = {}
    return _sort_fields(tree)


def _sort_fields(tree: dict) -> dict:
    rank = {".": 0, "f": 1, "k": 2, "v": 3, "i": 4}
    return {k: _sort_fields(tree[k]) for k in sorted(tree, key=lambda k: (rank.get(k[0], 9), k))}


def paths_from_fields_v1(tree: dict, prefix=()) -> set:
    out = set()
    for key, sub in tree.items():
        if key == ".":
            out.add(prefix)
            continue
        if not sub:
            out.add(prefix + (key,))
        else:
            out |= paths_from_fields_v1(sub, prefix + (key,))
    return out


def path_string(p) -> str:
    """structured-merge-diff's path notation: .spec.a[name="x"].b, [="v"]."""
    out = ""
    for elem in p:
        if elem.startswith("f:"):
            out += "." + elem[2:]
        elif elem.startswith("k:"):
            keys = json.loads(elem[2:])
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
        elif elem.startswith("v:"):
            out += "[=" + elem[2:] + "]"
    return out


def merge_applied(live, applied, schema, deduced=False):
    """Merge an applied configuration into the live object (granular maps, associative lists)."""
    kind = "deduced" if deduced else _node(schema)
    if isinstance(applied, dict) and isinstance(live, dict) and kind in ("struct", "map", "open", "deduced"):
        out = copy.deepcopy(live)
        for key, item in applied.items():
            sub = None if kind in ("open", "deduced") else (_child(schema, key) or None)
            out[key] = merge_applied(live.get(key), item, sub, deduced=sub is None)
        return out
    if isinstance(applied, list) and isinstance(live, list) and kind == "listset":
        return copy.deepcopy(live) + [copy.deepcopy(v) for v in applied if v not in live]
    if isinstance(applied, list) and isinstance(live, list) and kind == "listmap":
        keys = schema.get("x-kubernetes-list-map-keys") or []
        out = copy.deepcopy(live)
        for item in applied:
            match = [i for i, cur in enumerate(out) if _fkey(cur, keys) == _fkey(item, keys)]
            if match:
                out[match[0]] = merge_applied(out[match[0]], item, schema.get("items"))
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(applied)


def remove_path(obj, p) -> None:
    """Remove the field at path ``p`` (fieldsV1 elements) from obj, if present."""
    node = obj
    for depth, elem in enumerate(p):
        last = depth == len(p) - 1
        if elem.startswith("f:"):
            if not isinstance(node, dict) or elem[2:] not in node:
                return
            if last:
                del node[elem[2:]]
                return
            node = node[elem[2:]]
        else:
            if not isinstance(node, list):
                return
            if elem.startswith("k:"):
                want = json.loads(elem[2:])
                idx = [i for i, it in enumerate(node) if isinstance(it, dict)
                       and all(it.get(k) == v for k, v in want.items())]
            else:
                want = json.loads(elem[2:])
                idx = [i for i, it in enumerate(node) if it == want]
            if not idx:
                return
            if last:
                del node[idx[0]]
                return
            node = node[idx[0]]


def json_merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = json_merge_patch(out.get(key), value)
    return out


def json_patch(target, ops):
    """RFC 6902 (add, remove, replace, test, copy, move)."""
    doc = copy.deepcopy(target)

    def split(pointer):
        if not pointer.startswith("/"):
            raise ValueError(f"invalid JSON pointer {pointer!r}")
        return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]

    def walk(tokens):
        node = doc
        for tok in tokens[:-1]:
            node = node[int(tok)] if isinstance(node, list) else node[tok]
        return node, tokens[-1]

    def get(pointer):
        node = doc
        for tok in split(pointer):
            node = node[int(tok)] if isinstance(node, list) else node[tok]
        return node

    for op in ops:
        name, tokens = op.get("op"), split(op.get("path", ""))
        parent, last = walk(tokens)
        if name in ("add", "replace", "copy", "move"):
            value = copy.deepcopy(op["value"]) if name in ("add", "replace") else copy.deepcopy(get(op["from"]))
            if name == "move":
                fparent, flast = walk(split(op["from"]))
                del fparent[int(flast) if isinstance(fparent, list) else flast]
            if isinstance(parent, list):
                if name == "replace":
                    parent[int(last)] = value
                else:
                    parent.insert(len(parent) if last == "-" else int(last), value)
            else:
                if name == "replace" and last not in parent:
                    raise KeyError(op["path"])
                parent[last] = value
        elif name == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif name == "test":
            if get(op["path"]) != op.get("value"):
                raise ValueError(f"testing value {op['path']} failed")
        else:
            raise ValueError(f"unknown JSON patch op {name!r}")
    return doc


# ----------------------------------------------------------------------------------------------------------
# Status bodies


class ApiError(Exception):
    def __init__(self, code: int, reason: str | None, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def body(self) -> dict:
        out = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message}
        if self.reason:
            out["reason"] = self.reason
        if self.details is not None:
            out["details"] = self.details
        out["code"] = self.code
        return out


def _details(name=None, group=None, kind=None, uid=None, causes=None) -> dict:
    out = {}
    for key, value in (("name", name), ("group", group), ("kind", kind), ("uid", uid), ("causes", causes)):
        if value:
            out[key] = value
    return out


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.qualified} "{name}" not found',
                    _details(name=name, group=rt.group, kind=rt.plural))


def namespace_not_found(ns: str) -> ApiError:
    return ApiError(404, "NotFound", f'namespaces "{ns}" not found', _details(name=ns, kind="namespaces"))


def invalid(rt: ResourceType, name: str, causes: list) -> ApiError:
    parts = [f"{c['field']}: {c['message']}" for c in causes]
    text = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return ApiError(422, "Invalid", f'{rt.group_kind} "{name}" is invalid: {text}',
                    _details(name=name, group=rt.group, kind=rt.kind, causes=causes))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _go_value(value) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "null"
    return json.dumps(value, separators=(",", ":"))


def _type_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}[type(value)]


def _field_path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def schema_causes(rt: ResourceType, obj: dict) -> list:
    """422 causes for obj against the CRD schema (kube-openapi wording), via tests/crd_schema.py."""
    import jsonschema

    if rt.strict is None:
        return []
    strict = rt.strict
    body = {k: v for k, v in obj.items() if k != "metadata"}
    schema = {k: v for k, v in strict.items()}
    schema["properties"] = {k: v for k, v in (strict.get("properties") or {}).items() if k != "metadata"}
    causes = []
    validator = jsonschema.Draft202012Validator(schema)
    for err in validator.iter_errors(body):
        where = _field_path(list(err.absolute_path))
        inst, kind, arg = err.instance, err.validator, err.validator_value
        if kind == "required":
            missing = [p for p in arg if isinstance(inst, dict) and p not in inst]
            for prop in missing:
                causes.append({"reason": "FieldValueRequired", "message": "Required value",
                               "field": f"{where}.{prop}" if where else prop})
            continue
        if kind == "type" or kind == "anyOf" and isinstance(arg, list) and all("type" in a for a in arg):
            if inst is None and _nullable_at(rt, list(err.absolute_path)):
                continue
            expected = arg if kind == "type" else ",".join(a["type"] for a in arg)
            actual = _type_name(inst)
            causes.append({"reason": "FieldValueTypeInvalid",
                           "message": f'Invalid value: "{actual}": {where} in body must be of type {expected}: '
                                      f'"{actual}"', "field": where})
        elif kind == "enum":
            allowed = ", ".join(_go_value(v) for v in arg)
            causes.append({"reason": "FieldValueNotSupported",
                           "message": f"Unsupported value: {_go_value(inst)}: supported values: {allowed}",
                           "field": where})
        elif kind == "pattern":
            causes.append({"reason": "FieldValueInvalid",
                           "message": f"Invalid value: {_go_value(inst)}: {where} in body should match '{arg}'",
                           "field": where})
        elif kind == "maxLength":
            causes.append({"reason": "FieldValueTooLong", "message": f"Too long: may not be more than {arg} bytes",
                           "field": where})
        elif kind == "maxItems":
            causes.append({"reason": "FieldValueTooMany",
                           "message": f"Too many: {len(inst)}: must have at most {arg} items", "field": where})
        elif kind in ("minimum", "maximum", "minLength", "minItems"):
            word = {"minimum": "greater than or equal to", "maximum": "less than or equal to",
                    "minLength": "at least", "minItems": "at least"}[kind]
            unit = {"minLength": " chars long", "minItems": " items"}.get(kind, "")
            causes.append({"reason": "FieldValueInvalid",
                           "message": f"Invalid value: {_go_value(inst)}: {where} in body should be {word} "
                                      f"{arg}{unit}", "field": where})
        else:
            causes.append({"reason": "FieldValueInvalid", "message": f"Invalid value: {_go_value(inst)}: "
                           f"{err.message}", "field": where})
    causes.sort(key=lambda c: c["field"])
    blocking = {"FieldValueRequired", "FieldValueTypeInvalid", "FieldValueNotSupported", "FieldValueTooLong",
                "FieldValueTooMany"}
    if rt.has_cel and any(c["reason"] in blocking for c in causes):
        causes.append({"reason": "FieldValueInvalid", "message": f"Invalid value: null: {CEL_NOT_CHECKED}",
                       "field": "<nil>"})
    return causes


def _nullable_at(rt: ResourceType, parts) -> bool:
    node = rt.schema
    for part in parts:
        if node is None:
            return False
        node = node.get("items") if isinstance(part, int) else (_child(node, part) or None)
    return bool(node and node.get("nullable"))


def metadata_causes(rt: ResourceType, obj: dict) -> list:
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    causes = []
    if not name:
        causes.append({"reason": "FieldValueRequired", "message": "Required value: name or generateName is required",
                       "field": "metadata.name"})
    elif rt.kind == "Namespace" and (len(name) > 63 or not crd_schema.DNS1123_LABEL.match(name)):
        causes.append({"reason": "FieldValueInvalid", "message": f"Invalid value: {json.dumps(name)}: "
                       f"{DNS1123_LABEL_MSG}", "field": "metadata.name"})
    elif len(name) > 253 or not crd_schema.DNS1123_SUBDOMAIN.match(name):
        causes.append({"reason": "FieldValueInvalid", "message": f"Invalid value: {json.dumps(name)}: "
                       f"{DNS1123_SUBDOMAIN_MSG}", "field": "metadata.name"})
    return causes


def _payload_size(rt: ResourceType, obj: dict) -> int:
    """Bytes of a ConfigMap's or Secret's values (base64 sections counted decoded)."""
    size = 0
    for section in ("data", "binaryData"):
        for value in (obj.get(section) or {}).values():
            if not isinstance(value, str):
                continue
            if rt.kind == "ConfigMap" and section == "data":
                size += len(value.encode())
            else:
                try:
                    size += len(base64.b64decode(value, validate=True))
                except (ValueError, TypeError):
                    pass  # reported as illegal base64 data
    return size


def core_causes(rt: ResourceType, obj: dict) -> list:
    causes = []
    if rt.kind in ("ConfigMap", "Secret"):
        for section in ("data", "binaryData", "stringData"):
            for key in (obj.get(section) or {}):
                if not crd_schema.CONFIGMAP_KEY.match(key) or len(key) > 253:
                    causes.append({"reason": "FieldValueInvalid", "field": f"{section}[{key}]",
                                   "message": f"Invalid value: {json.dumps(key)}: a valid config key must consist "
                                              "of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
                                              "'KEY_NAME',  or 'key-name', regex used for validation is "
                                              "'[-._a-zA-Z0-9]+')"})
    if rt.kind in ("ConfigMap", "Secret") and _payload_size(rt, obj) > 1024 * 1024:  # 1 MiB at most
        causes.append({"reason": "FieldValueTooLong", "field": "[]",
                       "message": f"Too long: may not be more than {1024 * 1024} bytes"})
    if rt.kind == "Secret":
        for key, value in (obj.get("data") or {}).items():
            try:
                base64.b64decode(value, validate=True)
            except (ValueError, TypeError):
                causes.append({"reason": "FieldValueInvalid", "field": f"data[{key}]",
                               "message": "Invalid value: \"<secret contents redacted>\": illegal base64 data"})
    return causes


# ----------------------------------------------------------------------------------------------------------
# Stored objects and managed fields


@dataclass
class Manager:
    manager: str
    operation: str
    api_version: str
    time: str
    fields: set
    subresource: str = ""

    def render(self) -> dict:
        out = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version,
               "time": self.time, "fieldsType": "FieldsV1", "fieldsV1": fields_v1(self.fields)}
        if self.subresource:
            out["subresource"] = self.subresource
        return out


@dataclass
class Stored:
    rt: ResourceType
    obj: dict
    managers: list


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sorted(value):
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _ordered(d: dict, order: list) -> dict:
    out = {k: d[k] for k in order if k in d}
    out.update({k: v for k, v in d.items() if k not in out})
    return out


def render_object(rt: ResourceType, obj: dict, managers: list, with_type: bool = True) -> dict:
    """The JSON the server sends: custom resources with sorted keys, core kinds in Go struct order."""
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    if managers:
        meta["managedFields"] = [m.render() for m in managers]
    if rt.crd:
        out = _sorted(out)
        if not with_type:
            out.pop("kind", None), out.pop("apiVersion", None)
        return out
    for key in ("labels", "annotations"):
        if key in meta:
            meta[key] = dict(sorted(meta[key].items()))
    meta["managedFields"] = [_ordered(m, MANAGED_ORDER) for m in meta.get("managedFields", [])] or None
    if meta["managedFields"] is None:
        del meta["managedFields"]
    head = {"kind": rt.kind, "apiVersion": rt.api_version} if with_type else {}
    head["metadata"] = _ordered(meta, META_ORDER)
    for key in ("data", "binaryData", "stringData"):
        if rt.kind in ("ConfigMap", "Secret") and isinstance(out.get(key), dict):
            out[key] = dict(sorted(out[key].items()))
    rest = {k: v for k, v in out.items() if k not in ("kind", "apiVersion", "metadata")}
    head.update(_ordered(rest, CORE_FIELD_ORDER.get(rt.kind, [])))
    return head


# ----------------------------------------------------------------------------------------------------------
# Requests, faults, the server


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict
    content_type: str
    user_agent: str
    user: str | None
    body: object
    status: int | None = None


@dataclass
class Fault:
    action: str            # "status", "hang" or "close"
    method: str | None
    path: str | None       # substring of the request path
    status: int
    times: int
    hang_seconds: float
    message: str
    retry_after: int = 1


def _label_selector(selector: str):
    """Parse a label selector into a predicate over a labels dict."""
    reqs = []
    for part in re.findall(r"(?:[^,(]|\([^)]*\))+", selector or ""):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", part)
        if m:
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            reqs.append((m.group(1), m.group(2), values))
            continue
        m = re.fullmatch(r"([\w./-]+)\s*(==|!=|=)\s*([\w./-]*)", part)
        if m:
            reqs.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
            continue
        m = re.fullmatch(r"(!?)([\w./-]+)", part)
        if not m:
            raise bad_request(f"unable to parse requirement: found '{part}', expected: identifier")
        reqs.append((m.group(2), "!" if m.group(1) else "exists", None))

    def match(labels: dict) -> bool:
        for key, op, want in reqs:
            have = labels.get(key)
            if op == "exists" and key not in labels or op == "!" and key in labels:
                return False
            if op == "=" and have != want or op == "!=" and have == want:
                return False
            if op == "in" and have not in want or op == "notin" and have in want:
                return False
        return True

    return match


# Field selectors each kind supports besides metadata.name and metadata.namespace (as the real server).
FIELD_LABELS = {
    "Event": ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
              "reportingComponent", "source", "type"],
    "Pod": ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"],
    "Node": ["spec.unschedulable"],
    "Secret": ["type"],
    "Namespace": ["status.phase"],
}


def _field_selector(selector: str, kind: str):
    """Parse a field selector into a predicate over an object; unsupported fields answer 400."""
    reqs = []
    for part in filter(None, (p.strip() for p in (selector or "").split(","))):
        m = re.fullmatch(r"([\w.]+)\s*(==|!=|=)\s*(.*)", part)
        label = m.group(1) if m else part
        if not m or label not in ["metadata.name", "metadata.namespace"] + FIELD_LABELS.get(kind, []):
            raise bad_request(f"field label not supported: {label}")
        reqs.append((label.split("."), m.group(2) == "!=", m.group(3)))

    def value(obj, path):
        for key in path:
            obj = obj.get(key) if isinstance(obj, dict) else None
        if isinstance(obj, bool):
            return "true" if obj else "false"
        return "" if obj is None else str(obj)

    return lambda obj: all((value(obj, path) == want) != negate for path, negate, want in reqs)


class ApiServerDouble:
    """A local HTTP(S) server that answers like kube-apiserver v1.36.2 (see the module docstring).

    ``crds``: plurals of the installed CRDs (default: machineconfigs, machineconfigpools, modules); any CRD
    file of ../shared/reference/crds, plus "clusterversions" (config.openshift.io/v1 ClusterVersion),
    "clusterserviceversions" (operators.coreos.com/v1alpha1 ClusterServiceVersion), "nodemodulesconfigs" and
    "moduleimagesconfigs" (kmm.sigs.x-k8s.io/v1beta1), which have no schema here.
    ``tokens``: bearer token -> Identity (default: ADMIN_TOKEN admin, NORBAC_TOKEN without rights).
    ``tls``: serve HTTPS with a self-signed CA generated at start (``ca_file``).
    ``max_lifetime``: seconds after which the server stops by itself.
    ``max_watch_seconds``: the longest a watch stays open (a client without timeoutSeconds gets this).
    ``anonymous_auth``: a request without credentials is ``system:anonymous`` (the server's default,
    ``--anonymous-auth=true``); False answers 401 as ``--anonymous-auth=false`` does.
    ``namespace_terminating_seconds``: how long a deleted Namespace stays ``Terminating`` (the namespace
    controller empties it first); creates inside it answer 403 NamespaceTerminating meanwhile.  ``None``: it
    stays Terminating until ``finish_namespace_deletion()``.
    ``pod_security_default``: the Pod Security level enforced where a namespace has no
    ``pod-security.kubernetes.io/enforce`` label (vanilla Kubernetes: privileged; OpenShift syncs restricted).
    """

    def __init__(self, crds=DEFAULT_CRDS, tokens=None, tls: bool = False, namespaces=DEFAULT_NAMESPACES,
                 max_lifetime: float = 300.0, max_watch_seconds: float = 10.0, anonymous_auth: bool = True,
                 namespace_terminating_seconds: float = 0.3, pod_security_default: str = "privileged"):
        self.tokens = dict(default_tokens() if tokens is None else tokens)
        self.anonymous_auth = anonymous_auth
        self.namespace_terminating_seconds = namespace_terminating_seconds
        self.pod_security_default = pod_security_default
        self._finalizing: list = []      # timers that finish deleting Terminating namespaces
        self.tls = tls
        self.max_lifetime = max_lifetime
        self.max_watch_seconds = max_watch_seconds
        self.requests: list = []
        self.internal_errors: list = []  # tracebacks of bugs in the double; the fixtures fail on any
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._store: dict = {}           # (plural, group, namespace, name) -> Stored
        self._events: list = []          # (rv, type, plural, group, namespace, rendered object)
        self._rv = 200
        self._faults: list = []
        self._pod_logs: dict = {}
        self._reactors: list = []
        self._local = threading.local()  # .reactions: what the current request's writes set off
        self._stopping = threading.Event()
        self._conns: set = set()
        self._server = None
        self._thread = None
        self._timer = None
        self.ca_file = None
        self.wrong_ca_file = None
        self._ca = None
        self.cert_rules: dict = {}       # client-certificate user -> rules
        self._tmp = tempfile.TemporaryDirectory(prefix="apiserver-double-")
        self._types = {(t.group, t.plural): t for t in core_types()}
        self.set_crds(crds)
        for ns in namespaces:
            self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    # -- configuration -----------------------------------------------------------------------------------

    def set_crds(self, plurals) -> None:
        """Install exactly these CRDs (by plural); objects of removed CRDs disappear with them."""
        available = crd_types()
        unknown = set(plurals) - set(available)
        if unknown:
            raise ValueError(f"no CRD file for {sorted(unknown)}; known: {sorted(available)}")
        with self._lock:
            for key in [k for k, t in self._types.items() if t.crd]:
                del self._types[key]
            # The recording lists machineconfigs before machineconfigpools: shorter plural first.
            for plural in sorted(plurals, key=lambda p: (len(p), p)):
                rt = available[plural]
                self._types[(rt.group, rt.plural)] = rt
            for key in [k for k, s in self._store.items() if (s.rt.group, s.rt.plural) not in self._types]:
                del self._store[key]
            # The CRD objects themselves, readable under apiextensions.k8s.io as on a real cluster.
            for plural, doc in _CRD_DOCS.items():
                name = doc["metadata"]["name"]
                if plural not in plurals:
                    self.remove("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
                elif self.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name) is None:
                    self.put(_established(doc), manager="kube-apiserver")

    def add_token(self, token: str, user: str, groups=("system:authenticated",), rules=()) -> None:
        self.tokens[token] = Identity(user, tuple(groups), rules if rules == "admin" else tuple(rules))

    def fail_next(self, action: str = "status", *, method: str | None = None, path: str | None = None,
                  status: int = 500, times: int = 1, hang_seconds: float = 30.0,
                  message: str = "injected fault", retry_after: int = 1) -> None:
        """Make the next ``times`` matching requests fail.

        action: ``"status"`` answers ``status`` with a Status body (500 InternalError by default),
        ``"hang"`` answers nothing for ``hang_seconds`` (or until stop()) and then closes the connection,
        ``"close"`` closes the connection without an answer.  ``"throttle"`` answers 429 as the max-in-flight
        and priority-and-fairness filters do (plain text, ``Retry-After: retry_after``; filters/maxinflight.go
        tooManyRequests).  ``"watch-error"``: a matching watch answers 200 and streams one ERROR event, then ends,
        as the watch cache's errWatcher does (``status`` 504: "Too large resource version", seen after a restart;
        410: "too old resource version").  ``method``/``path`` (a substring of the URL
        path) narrow which requests match.  The kubernetes client (urllib3) retries a GET, PUT or DELETE
        3 times after a timeout or a closed connection: use ``times=4`` to make such a call fail."""
        if action not in ("status", "hang", "close", "throttle", "watch-error"):
            raise ValueError(f"fault action must be status, hang, close, throttle or watch-error, not {action!r}")
        with self._lock:
            self._faults.append(Fault(action, method, path, status, times, hang_seconds, message, retry_after))

    def on(self, kind: str, callback, events=("ADDED",)) -> None:
        """Simulate a controller: call ``callback(double, event_type, obj)`` after every client write that
        produces one of ``events`` (ADDED, MODIFIED, DELETED) for ``kind``.  It runs in the request's
        thread after the answer is made and before it is sent, so every later request sees its effect; it may
        call ``put()``, ``remove()`` or ``set_pod_log()`` (and those may trigger further reactions)."""
        with self._lock:
            self._reactors.append((kind, callback, tuple(events)))

    def finish_namespace_deletion(self, name: str) -> None:
        """Let the namespace controller finish: a Terminating namespace and its contents go now."""
        with self._lock:
            key = ("namespaces", "", "", name)
            if key in self._store:
                self._delete_now(key)

    def set_pod_log(self, namespace: str, name: str, text: str) -> None:
        with self._lock:
            self._pod_logs[(namespace, name)] = text

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> "ApiServerDouble":
        double = self

        class Handler(_Handler):
            pass

        Handler.double = double
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.double = double
        if self.tls:
            self._setup_tls()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="apiserver-double", daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.max_lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop listening and drop every open connection: clients then get 'connection refused'."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        with self._lock:
            self._changed.notify_all()
        if self._timer:
            self._timer.cancel()
        for timer in self._finalizing:
            timer.cancel()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        for conn in list(self._conns):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def _setup_tls(self) -> None:
        self._ca = _CA("apiserver-double-ca")
        cert, key = self._ca.issue("kube-apiserver", server=True)
        tmp = Path(self._tmp.name)
        (tmp / "server.crt").write_bytes(cert)
        (tmp / "server.key").write_bytes(key)
        self.ca_file = str(tmp / "ca.crt")
        Path(self.ca_file).write_bytes(self._ca.pem)
        self.wrong_ca_file = str(tmp / "wrong-ca.crt")
        Path(self.wrong_ca_file).write_bytes(_CA("some-other-ca").pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tmp / "server.crt", tmp / "server.key")
        ctx.load_verify_locations(self.ca_file)  # client certificates signed by our CA identify users
        ctx.verify_mode = ssl.CERT_OPTIONAL
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)

    def client_certificate(self, user: str, groups=()) -> tuple:
        """(cert_pem, key_pem) signed by the double's CA: CN=user, O=groups, as kube-apiserver reads them.
        ``system:masters`` in groups makes an admin; other users get the rules given to ``add_cert_user``."""
        if not self.tls:
            raise ValueError("client certificates need ApiServerDouble(tls=True)")
        return self._ca.issue(user, organizations=groups)

    def add_cert_user(self, user: str, rules=()) -> None:
        """Rules for a client-certificate user (see Identity)."""
        self.cert_rules[user] = rules if rules == "admin" else tuple(rules)

    # -- kubeconfig --------------------------------------------------------------------------------------

    def kubeconfig(self, token: str | None = ADMIN_TOKEN, context: str = "double", namespace: str | None = None,
                   ca: str = "double", user: str = "double-user", client_cert: tuple | None = None) -> dict:
        """A kubeconfig dict pointing at the double.  ca: "double" (the right CA), "wrong" (an unrelated CA),
        "none" (no CA: the system trust store), "insecure" (insecure-skip-tls-verify).  client_cert:
        (user, groups) to authenticate with an embedded client certificate and key instead of a token."""
        cluster = {"server": self.url}
        if self.tls and ca == "double":
            cluster["certificate-authority"] = self.ca_file
        elif self.tls and ca == "wrong":
            cluster["certificate-authority"] = self.wrong_ca_file
        elif ca == "insecure":
            cluster["insecure-skip-tls-verify"] = True
        ctx = {"cluster": "double-cluster", "user": user}
        if namespace:
            ctx["namespace"] = namespace
        credentials = {"token": token} if token else {}
        if client_cert:
            cert, key = self.client_certificate(*client_cert)
            credentials = {"client-certificate-data": base64.b64encode(cert).decode(),
                           "client-key-data": base64.b64encode(key).decode()}
        return {"apiVersion": "v1", "kind": "Config", "preferences": {},
                "clusters": [{"name": "double-cluster", "cluster": cluster}],
                "users": [{"name": user, "user": credentials}],
                "contexts": [{"name": context, "context": ctx}], "current-context": context}

    def write_kubeconfig(self, path, token: str | None = ADMIN_TOKEN, context: str = "double",
                         namespace: str | None = None, ca: str = "double", client_cert: tuple | None = None) -> Path:
        """Write ``kubeconfig(...)`` to path (mode 0600) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        config = self.kubeconfig(token, context, namespace, ca, client_cert=client_cert)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path

    # -- direct store access for tests (no auth, no validation; watch events are sent) --------------------

    def _type_for(self, api_version: str, kind: str) -> ResourceType:
        group, _, version = api_version.rpartition("/")
        for rt in self._types.values():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        raise KeyError(f"the double serves no {kind} in {api_version} (installed CRDs: "
                       f"{sorted(t.plural for t in self._types.values() if t.crd)})")

    def put(self, obj: dict, manager: str = "apiserver-double-seed") -> dict:
        """Create or replace an object as a controller would (Update manager); returns what GET would.
        Server defaults apply (Namespace, Secret, CRD ``default:``); nothing is validated."""
        rt = self._type_for(obj["apiVersion"], obj["kind"])
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.pop("managedFields", None)  # an object read with get() carries them; the store keeps its own
        ns = meta.get("namespace", "") if rt.namespaced else ""
        with self._lock:
            key = (rt.plural, rt.group, ns, meta["name"])
            old = self._store.get(key)
            _defaults(rt, obj)
            if old is None:
                stored = self._new_stored(rt, obj, [])
            else:
                stored = Stored(rt, obj, copy.deepcopy(old.managers))
                for k in ("uid", "creationTimestamp", "generation"):
                    if k in old.obj["metadata"]:
                        meta[k] = old.obj["metadata"][k]
            self._record_update(stored, old.obj if old else {}, manager, "")
            if "status" in rt.subresources:  # as a controller writing both would own them
                self._record_update(stored, old.obj if old else {}, manager, "status")
            self._commit(key, stored, "ADDED" if old is None else "MODIFIED")
            return render_object(rt, stored.obj, stored.managers)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        rt = self._type_for(api_version, kind)
        with self._lock:
            stored = self._store.get((rt.plural, rt.group, namespace or "" if rt.namespaced else "", name))
            return render_object(rt, stored.obj, stored.managers) if stored else None

    def remove(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        rt = self._type_for(api_version, kind)
        with self._lock:
            key = (rt.plural, rt.group, namespace or "" if rt.namespaced else "", name)
            if key not in self._store:
                return False
            self._delete_now(key)
            return True

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list:
        """Every stored object (as GET would answer), optionally filtered by kind and namespace."""
        with self._lock:
            return [render_object(s.rt, s.obj, s.managers) for key, s in sorted(self._store.items())
                    if (kind is None or s.rt.kind == kind) and (namespace is None or key[2] == namespace)]

    # -- store internals ---------------------------------------------------------------------------------

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _new_stored(self, rt: ResourceType, obj: dict, managers: list) -> Stored:
        meta = obj.setdefault("metadata", {})
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        if rt.crd:
            meta["generation"] = 1
        if not rt.namespaced:
            meta.pop("namespace", None)
        return Stored(rt, obj, managers)

    def _commit(self, key, stored: Stored, event: str) -> None:
        stored.obj["metadata"]["resourceVersion"] = self._next_rv()
        self._store[key] = stored
        self._emit(event, stored)

    def _emit(self, event: str, stored: Stored) -> None:
        meta = stored.obj["metadata"]
        rendered = render_object(stored.rt, stored.obj, stored.managers)
        self._events.append((self._rv, event, stored.rt.plural, stored.rt.group, meta.get("namespace", ""),
                             rendered))
        queue = getattr(self._local, "reactions", None)
        if queue is not None:  # a client write (or a reaction to one)
            queue += [(cb, event, rendered) for kind, cb, events in self._reactors
                      if kind == stored.rt.kind and event in events]
        del self._events[:-1000]
        self._changed.notify_all()

    def _delete_now(self, key) -> Stored:
        stored = self._store.pop(key)
        stored.obj["metadata"]["resourceVersion"] = self._next_rv()
        self._emit("DELETED", stored)
        if stored.rt.kind == "Namespace":
            for k in [k for k in self._store if k[2] == key[3] and self._store[k].rt.namespaced]:
                self._delete_now(k)
        return stored

    def _record_update(self, stored: Stored, old_obj: dict, manager: str, subresource: str) -> None:
        """Ownership for an Update-type write: the writer takes what it added or changed."""
        rt = stored.rt
        before = field_paths(old_obj, rt.schema, update=True) if old_obj else {}
        after = field_paths(stored.obj, rt.schema, update=True)
        changed = {p for p in after if p not in before or (after[p] is not MEMBER and before[p] != after[p])}
        removed = set(before) - set(after)
        if subresource == "status":
            changed = {p for p in changed if p[:1] == ("f:status",)}
        elif "status" in rt.subresources:
            changed = {p for p in changed if p[:1] != ("f:status",)}
        if not changed and not removed:
            return
        for m in stored.managers:
            m.fields -= changed | removed
        entry = next((m for m in stored.managers if (m.manager, m.operation, m.subresource)
                      == (manager, "Update", subresource)), None)
        if entry is None and changed:
            entry = Manager(manager, "Update", rt.api_version, _now(), set(), subresource)
            stored.managers.append(entry)
        if entry is not None:
            entry.fields |= changed
            entry.time = _now()
        stored.managers = [m for m in stored.managers if m.fields]

    def _match_fault(self, method: str, path: str, watch: bool = False):
        with self._lock:
            for fault in self._faults:
                if fault.action == "watch-error" and not watch:
                    continue
                if (fault.method in (None, method)) and (fault.path is None or fault.path in path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- discovery ---------------------------------------------------------------------------------------

    def _groups(self) -> list:
        """(group, [versions], preferred) in the order /apis lists them."""
        out = [(g, ["v2", "v1"] if g == "autoscaling" else ["v1"], "v2" if g == "autoscaling" else "v1")
               for g in BUILTIN_GROUPS]
        crd_groups: dict = {}
        for rt in self._types.values():
            if rt.crd:
                crd_groups.setdefault(rt.group, [])
                if rt.version not in crd_groups[rt.group]:
                    crd_groups[rt.group].append(rt.version)
        # CRD groups follow the built-in ones; MCO's was installed before KMM's in the recording.
        for group in sorted(crd_groups, key=lambda g: (not g.startswith("machineconfiguration"), g)):
            out.append((group, crd_groups[group], crd_groups[group][0]))
        return out

    def discovery(self, path: str):
        if path == "/version":
            return dict(SERVER_VERSION)
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}]}
        if path == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in versions],
                 "preferredVersion": {"groupVersion": f"{g}/{pref}", "version": pref}}
                for g, versions, pref in self._groups()]}
        parts = path.strip("/").split("/")
        if parts == ["api", "v1"]:
            resources = [e for rt in sorted(self._types.values(), key=lambda t: t.plural) if rt.group == ""
                         for e in rt.discovery_entries()]
            return {"kind": "APIResourceList", "groupVersion": "v1", "resources": resources}
        if len(parts) == 3 and parts[0] == "apis":
            group, version = parts[1], parts[2]
            if not any(g == group and version in vs for g, vs, _ in self._groups()):
                return None
            types = [rt for rt in self._types.values() if rt.group == group and rt.version == version]
            if not any(rt.crd for rt in types):
                types.sort(key=lambda rt: rt.plural)
            resources = [e for rt in types for e in rt.discovery_entries()]
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}",
                    "resources": resources}
        if len(parts) == 2 and parts[0] == "apis":
            for g, versions, pref in self._groups():
                if g == parts[1]:
                    return {"kind": "APIGroup", "apiVersion": "v1", "name": g,
                            "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in versions],
                            "preferredVersion": {"groupVersion": f"{g}/{pref}", "version": pref}}
        return None


def _defaults(rt: ResourceType, obj: dict) -> None:
    """What the server fills in or converts before validation."""
    if rt.kind == "Namespace":
        _namespace_defaults(obj)
    if rt.kind == "Secret":
        obj.setdefault("type", "Opaque")
        # stringData is write-only: the server merges it into data (base64) and never stores it.
        for key, value in (obj.pop("stringData", None) or {}).items():
            if isinstance(value, str):
                obj.setdefault("data", {})[key] = base64.b64encode(value.encode()).decode()
    if rt.kind == "Pod" and not obj.get("status"):
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}  # what pod creation sets
    if rt.crd:
        crd_schema.apply_defaults(rt.schema, obj)


def _established(crd: dict) -> dict:
    obj = copy.deepcopy(crd)
    now = _now()
    storage = [v["name"] for v in obj["spec"]["versions"] if v.get("storage")]
    obj["status"] = {"acceptedNames": obj["spec"]["names"], "storedVersions": storage, "conditions": [
        {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts",
         "message": "no conflicts found"},
        {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted",
         "message": "the initial names have been accepted"}]}
    return obj


def _namespace_defaults(obj: dict) -> None:
    name = obj["metadata"]["name"]
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


class _CA:
    """A throwaway certificate authority (``cryptography``) that signs the server's and clients' certificates."""

    def __init__(self, common_name: str):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self._x509, self._hashes, self._ser, self._ec, self._oid = x509, hashes, serialization, ec, NameOID
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                              data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                              encipher_only=False, decipher_only=False)
        self.cert = (self._builder(self.name, self.key.public_key())
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(usage, critical=True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
                     .sign(self.key, hashes.SHA256()))
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def _builder(self, subject, public_key):
        now = datetime.datetime.now(datetime.timezone.utc)
        return (self._x509.CertificateBuilder().subject_name(subject).issuer_name(self.name).public_key(public_key)
                .serial_number(self._x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1)))

    def issue(self, common_name: str, organizations=(), server: bool = False):
        """(cert_pem, key_pem) for a server (127.0.0.1, localhost) or a client (CN=user, O=groups)."""
        import ipaddress

        x509 = self._x509
        key = self._ec.generate_private_key(self._ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(self._oid.ORGANIZATION_NAME, o) for o in organizations]
                            + [x509.NameAttribute(self._oid.COMMON_NAME, common_name)])
        usage = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH if server else x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (self._builder(subject, key.public_key())
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                                  critical=False)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        cert = builder.sign(self.key, self._hashes.SHA256())
        pem = self._ser.Encoding.PEM
        return cert.public_bytes(pem), key.private_bytes(pem, self._ser.PrivateFormat.PKCS8,
                                                         self._ser.NoEncryption())


# ----------------------------------------------------------------------------------------------------------
# HTTP handling


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    double: ApiServerDouble = None

    def handle_error(self, request, client_address):
        """Dropped connections and failed TLS handshakes are the client's business; anything else is a bug."""
        err = sys.exc_info()[1]
        if not isinstance(err, (ConnectionError, ssl.SSLError, socket.timeout)):
            self.double.internal_errors.append(traceback.format_exc())


class _Handler(http.server.BaseHTTPRequestHandler):
    double: ApiServerDouble = None
    protocol_version = "HTTP/1.1"
    server_version = "apiserver-double"
    timeout = 30  # an idle keep-alive connection ends after this

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(5)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                self.request.close()
                raise ConnectionAbortedError("TLS handshake failed")
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK cost 40 ms each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.double._conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.double._conns.discard(self.connection)

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            pass

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_PATCH(self):
        self._serve("PATCH")

    def do_DELETE(self):
        self._serve("DELETE")

    # -- plumbing ----------------------------------------------------------------------------------------

    def _send(self, status: int, body, content_type: str = "application/json", headers=()):
        data = body if isinstance(body, bytes) else (json.dumps(body, separators=(",", ":")).encode()
                                                     if content_type == "application/json" else body.encode())
        self._react()  # the answer is rendered; controllers act before the client can send anything else
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if self.record:
            self.record.status = status

    def _serve(self, method: str):
        double = self.double
        if double._stopping.is_set():
            self.close_connection = True
            return
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"  # /version/ is /version
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        identity = self._identity()
        self.record = RequestRecord(method, path, query, ctype, self.headers.get("User-Agent", ""),
                                    identity.user if identity else None, _parse_body(raw, ctype))
        with double._lock:
            double.requests.append(self.record)
        double._local.reactions = []
        fault = double._match_fault(method, path, watch=query.get("watch") in ("true", "1"))
        if fault:
            double._local.reactions = None
            return self._fault(fault)
        try:
            if identity is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            self._route(method, path, query, raw, ctype, identity)
        except ApiError as err:
            self._send(err.code, err.body())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as err:  # a bug in the double: answer, and fail the test at teardown
            double.internal_errors.append(traceback.format_exc())
            self._send(500, ApiError(500, "InternalError", f"bug in the API server test double: {err!r}").body())
        self._react()

    def _react(self):
        """Run the reactions the request caused (and those they cause), at most 100 rounds."""
        local = self.double._local
        if getattr(local, "reactions", None) is None:
            return
        try:
            for _ in range(100):
                batch, local.reactions = local.reactions, []
                if not batch:
                    return
                for callback, event, obj in batch:
                    try:
                        callback(self.double, event, copy.deepcopy(obj))
                    except Exception:  # a broken reactor must fail the test, not vanish in a thread
                        self.double.internal_errors.append(traceback.format_exc())
        finally:
            local.reactions = None

    def _fault(self, fault: Fault):
        if fault.action == "throttle":
            # http.Error: text/plain, the message and a newline; the header tells when to come back.
            return self._send(429, "Too many requests, please try again later.\n", "text/plain; charset=utf-8",
                              headers=[("Retry-After", str(fault.retry_after)),
                                       ("X-Content-Type-Options", "nosniff")])
        if fault.action == "watch-error":
            return self._watch_error(fault)
        if fault.action == "status":
            reasons = {500: "InternalError", 503: "ServiceUnavailable", 429: "TooManyRequests",
                       504: "Timeout", 502: "InternalError"}
            reason = reasons.get(fault.status, "InternalError")
            message = f"Internal error occurred: {fault.message}" if fault.status == 500 else fault.message
            details = {"causes": [{"message": fault.message}]} if fault.status == 500 else None
            return self._send(fault.status, ApiError(fault.status, reason, message, details).body())
        if fault.action == "hang":
            self.double._stopping.wait(fault.hang_seconds)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _identity(self):
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            return self.double.tokens.get(auth[len("Bearer "):].strip())
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        if not peer:
            # No credentials at all: the anonymous authenticator (--anonymous-auth=true, the default).
            return ANONYMOUS if self.double.anonymous_auth else None
        fields = [pair for rdn in peer.get("subject", ()) for pair in rdn]
        user = next((v for k, v in fields if k == "commonName"), "")
        groups = tuple(v for k, v in fields if k == "organizationName") + ("system:authenticated",)
        rules = "admin" if "system:masters" in groups else self.double.cert_rules.get(user, ())
        return Identity(user, groups, rules)

    # -- routing -----------------------------------------------------------------------------------------

    def _route(self, method, path, query, raw, ctype, identity):
        double = self.double
        self.identity = identity
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        if identity is ANONYMOUS and not (method == "GET" and path in PUBLIC_PATHS) and not (
                parts[:1] in (["api"], ["apis"]) and len(parts) > 3 - (parts[:1] == ["api"])):
            # Non-resource paths other than the public-info ones are closed to anonymous users
            # (system:discovery is bound to system:authenticated only): forbiddenMessage's "path" form.
            raise ApiError(403, "Forbidden", f'forbidden: User "{identity.user}" cannot '
                           f'{method.lower() if method != "GET" else "get"} path "{path}"', {})
        if method == "GET" and (path in ("/version", "/api", "/apis") or parts[:1] == ["api"] and len(parts) == 2
                                or parts[:1] == ["apis"] and len(parts) in (2, 3)):
            with double._lock:
                body = double.discovery(path.rstrip("/"))
            if body is None:
                return self._send(404, "404 page not found\n", "text/plain; charset=utf-8")
            return self._send(200, body)
        if parts[:1] == ["api"] and parts[1:2] == ["v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return self._send(404, "404 page not found\n", "text/plain; charset=utf-8")
        namespace, name, sub = "", None, None
        if rest[:1] == ["namespaces"] and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            namespace, rest = rest[1], rest[2:]
        plural = rest[0] if rest else ""
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        with double._lock:
            if group and not any(g == group and version in vs for g, vs, _ in double._groups()):
                return self._send(404, "404 page not found\n", "text/plain; charset=utf-8")
            rt = double._types.get((group, plural))
        if rt is None or rt.version != version or len(rest) > 3 or (rt.namespaced and not namespace and name) \
                or (not rt.namespaced and namespace) or (sub and sub not in rt.subresources):
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        watch = query.get("watch") in ("true", "1")
        verb = {"GET": "watch" if watch else ("get" if name else "list"), "POST": "create", "PUT": "update",
                "PATCH": "patch", "DELETE": "delete" if name else "deletecollection"}[method]
        if method == "POST" and name:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                           "resource", {})
        # Reviews of one's own rights are open to every authenticated user (system:basic-user).
        if (not rt.virtual or identity is ANONYMOUS) and not identity.allows(verb, group, f"{plural}/{sub}" if sub else plural, namespace):
            resource = f"{plural}/{sub}" if sub else plural
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            reason = (f'User "{identity.user}" cannot {verb} resource "{resource}" in API group "{group}" {scope}')
            prefix = f'{rt.qualified} "{name}"' if name else rt.qualified
            raise ApiError(403, "Forbidden", f"{prefix} is forbidden: {reason}",
                           _details(name=name, group=group, kind=plural))
        if rt.virtual:
            if verb != "create":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                               "resource", {})
            return self._review(rt, raw, ctype, identity)
        if verb == "watch":
            return self._watch(rt, namespace, name, query)
        if verb == "list":
            return self._send(200, self._list(rt, namespace, query))
        if verb == "get":
            return self._get(rt, namespace, name, sub, query)
        if verb == "create":
            return self._create(rt, namespace, query, raw, ctype, identity)
        if verb == "update":
            return self._update(rt, namespace, name, sub, query, raw, ctype)
        if verb == "patch":
            return self._patch(rt, namespace, name, sub, query, raw, ctype)
        if verb == "delete":
            return self._delete(rt, namespace, name, query, raw)
        return self._delete_collection(rt, namespace, query)

    # -- reads -------------------------------------------------------------------------------------------

    def _matching(self, rt, namespace, query):
        labels = _label_selector(query.get("labelSelector", ""))
        fields = _field_selector(query.get("fieldSelector", ""), rt.kind)
        return [s for key, s in sorted(self.double._store.items())
                if key[:2] == (rt.plural, rt.group) and (not namespace or key[2] == namespace)
                and labels(s.obj["metadata"].get("labels") or {}) and fields(s.obj)]

    def _list(self, rt, namespace, query) -> dict:
        with self.double._lock:
            items = [render_object(rt, s.obj, s.managers, with_type=rt.crd)
                     for s in self._matching(rt, namespace, query)]
            rv = str(self.double._rv)
        if rt.crd:
            return {"apiVersion": rt.api_version, "items": items, "kind": f"{rt.kind}List",
                    "metadata": {"continue": "", "resourceVersion": rv}}
        return {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": {"resourceVersion": rv},
                "items": items}

    def _get(self, rt, namespace, name, sub, query):
        with self.double._lock:
            stored = self.double._store.get((rt.plural, rt.group, namespace, name))
            if stored is None:
                raise not_found(rt, name)
            if sub == "log":
                text = self.double._pod_logs.get((namespace, name), "")
                return self._send(200, text, "text/plain")
            return self._send(200, render_object(rt, stored.obj, stored.managers))

    def _watch(self, rt, namespace, name, query):
        double = self.double
        fields = _field_selector(query.get("fieldSelector", "") or (f"metadata.name={name}" if name else ""),
                                 rt.kind)
        labels = _label_selector(query.get("labelSelector", ""))
        timeout = min(float(query.get("timeoutSeconds") or double.max_watch_seconds), double.max_watch_seconds)
        deadline = time.monotonic() + timeout
        since = query.get("resourceVersion")
        with double._lock:
            if since in (None, "", "0"):
                initial = [render_object(rt, s.obj, s.managers) for s in self._matching(rt, namespace, query)
                           if fields(s.obj)]
                cursor = double._rv
            else:
                initial, cursor = [], int(since)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.record.status = 200

        def chunk(data: bytes):
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        try:
            for obj in initial:
                chunk(json.dumps({"type": "ADDED", "object": obj}, separators=(",", ":")).encode() + b"\n")
            while not double._stopping.is_set():
                with double._lock:
                    pending = [e for e in double._events if e[0] > cursor]
                    if not pending:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        double._changed.wait(min(left, 0.5))
                        continue
                    cursor = pending[-1][0]
                for _rv, event, plural, group, ns, obj in pending:
                    if (plural, group) == (rt.plural, rt.group) and (not namespace or ns == namespace) \
                            and fields(obj) and labels(obj["metadata"].get("labels") or {}):
                        chunk(json.dumps({"type": event, "object": obj}, separators=(",", ":")).encode() + b"\n")
            if not double._stopping.is_set():
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _watch_error(self, fault: Fault):
        """One ERROR event in a 200 stream, then the end (apiserver storage/cacher newErrWatcher)."""
        if fault.status == 410:
            status = ApiError(410, "Expired", f"too old resource version: 1 ({self.double._rv})")
        else:
            status = ApiError(504, "Timeout", f"Timeout: Too large resource version: {self.double._rv + 1000}, "
                              f"current: {self.double._rv}", {"causes": [
                                  {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                                  "retryAfterSeconds": 1})
        data = json.dumps({"type": "ERROR", "object": status.body()}, separators=(",", ":")).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n")
        self.wfile.flush()
        if self.record:
            self.record.status = 200

    # -- writes ------------------------------------------------------------------------------------------

    def _body(self, raw, ctype):
        try:
            if ctype == "application/apply-patch+yaml":
                return yaml.safe_load(raw.decode() or "null")
            return json.loads(raw.decode() or "null")
        except (ValueError, yaml.YAMLError) as err:
            raise bad_request(f"error decoding request body: {err}")

    def _check_identity(self, rt, obj, namespace, name=None):
        if not isinstance(obj, dict):
            raise bad_request(f"Object 'Kind' is missing in '{json.dumps(obj)}'")
        if obj.get("kind") != rt.kind or obj.get("apiVersion") != rt.api_version:
            if not obj.get("kind"):
                raise bad_request(f"Object 'Kind' is missing in '{json.dumps(obj, separators=(',', ':'))}'")
            raise bad_request(f"the API version in the data ({obj.get('apiVersion')}) does not match the expected "
                              f"API version ({rt.api_version})")
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if name is not None and meta.get("name") not in (None, name):
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                              f"({name})")
        if rt.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
            meta["namespace"] = namespace
        meta.pop("managedFields", None)

    def _require_namespace(self, rt, namespace):
        if rt.namespaced and ("namespaces", "", "", namespace) not in self.double._store:
            raise namespace_not_found(namespace)

    def _admit_create(self, rt, namespace, name):
        """NamespaceLifecycle: no new objects in a Terminating namespace (admission/plugin/namespace/lifecycle
        Admit; the Forbidden status gains a NamespaceTerminating cause)."""
        if not rt.namespaced:
            return
        ns = self.double._store.get(("namespaces", "", "", namespace))
        if ns is not None and (ns.obj.get("status") or {}).get("phase") == "Terminating":
            prefix = f'{rt.qualified} "{name}"' if name else rt.qualified
            raise ApiError(403, "Forbidden", f"{prefix} is forbidden: unable to create new content in namespace "
                           f"{namespace} because it is being terminated",
                           _details(name=name, group=rt.group, kind=rt.plural, causes=[
                               {"reason": "NamespaceTerminating", "message": f"namespace {namespace} is being "
                                "terminated", "field": "metadata.namespace"}]))

    def _admit_pod_security(self, rt, obj, namespace):
        """PodSecurity admission of a new Pod against its namespace's enforce level (pod-security-admission
        policy checks privileged, hostPath volumes and runAsUser=0 only; the real list is longer)."""
        if rt.kind != "Pod" or rt.group:
            return
        ns = self.double._store.get(("namespaces", "", "", namespace))
        labels = (ns.obj["metadata"].get("labels") or {}) if ns else {}
        level = labels.get("pod-security.kubernetes.io/enforce", self.double.pod_security_default)
        if level == "privileged":
            return
        spec = obj.get("spec") or {}
        found = []
        for c in spec.get("containers") or []:
            sc = c.get("securityContext") or {}
            if sc.get("privileged"):
                found.append(f'privileged (container "{c.get("name")}" must not set securityContext.privileged=true)')
        volumes = [v.get("name") for v in spec.get("volumes") or [] if "hostPath" in v]
        if volumes:
            if level == "restricted":
                found.append("restricted volume types (" + ", ".join(
                    f'volume "{v}" uses restricted volume type "hostPath"' for v in volumes) + ")")
            else:
                found.append("hostPath volumes (" + ", ".join(f'volume "{v}"' for v in volumes) + ")")
        if level == "restricted":
            root = [c.get("name") for c in spec.get("containers") or []
                    if (c.get("securityContext") or {}).get("runAsUser") == 0]
            if root:
                found.append("runAsUser=0 (" + ", ".join(f'container "{n}" must not set runAsUser=0' for n in root)
                             + ")")
        if found:
            name = obj["metadata"].get("name", "")
            raise ApiError(403, "Forbidden", f'pods "{name}" is forbidden: violates PodSecurity "{level}:latest": '
                           + ", ".join(found), _details(name=name, kind="pods"))

    def _terminate_namespace(self, key, obj):
        """The namespace controller's part: the Namespace stays Terminating, then goes with its contents."""
        double = self.double

        def finish():
            with double._lock:
                if key in double._store:
                    double._delete_now(key)

        seconds = double.namespace_terminating_seconds
        if seconds is not None:
            timer = threading.Timer(seconds, finish)
            timer.daemon = True
            double._finalizing.append(timer)
            timer.start()

    def _decode_fields(self, rt, obj, query) -> list:
        """Unknown fields on a non-apply write: 400 with fieldValidation=Strict, else pruned with warnings."""
        if rt.schema is None:
            return []
        dropped = prune_unknown(obj, rt.schema)
        mode = query.get("fieldValidation", "Warn")
        if dropped and mode == "Strict":
            listing = ", ".join(f'unknown field "{d}"' for d in dropped)
            raise bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: strict '
                              f"decoding error: {listing}")
        return [] if mode == "Ignore" else [("Warning", f'299 - "unknown field \\"{d}\\""') for d in dropped]

    def _finish(self, rt, obj):
        """Defaults and validation before storing (422 on errors)."""
        _defaults(rt, obj)
        name = obj["metadata"].get("name", "")
        causes = metadata_causes(rt, obj) + core_causes(rt, obj)
        if rt.crd:
            causes += schema_causes(rt, obj)
        if causes:
            raise invalid(rt, name, causes)

    def _create(self, rt, namespace, query, raw, ctype, identity):
        double = self.double
        obj = self._body(raw, ctype)
        self._check_identity(rt, obj, namespace)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        warnings = self._decode_fields(rt, obj, query)
        with double._lock:
            self._require_namespace(rt, namespace)
            self._admit_create(rt, namespace, meta.get("name", ""))
            self._finish(rt, obj)
            self._admit_pod_security(rt, obj, namespace)
            key = (rt.plural, rt.group, namespace, meta["name"])
            if key in double._store:
                raise ApiError(409, "AlreadyExists", f'{rt.qualified} "{meta["name"]}" already exists',
                               _details(name=meta["name"], group=rt.group, kind=rt.plural))
            for k in ("uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp"):
                meta.pop(k, None)
            if "status" in rt.subresources and rt.crd:
                obj.pop("status", None)
            stored = double._new_stored(rt, obj, [])
            double._record_update(stored, {}, query.get("fieldManager") or self._agent(), "")
            if query.get("dryRun") == "All":
                return self._send(201, render_object(rt, stored.obj, stored.managers), headers=warnings)
            double._commit(key, stored, "ADDED")
            return self._send(201, render_object(rt, stored.obj, stored.managers), headers=warnings)

    def _agent(self) -> str:
        return (self.headers.get("User-Agent") or "unknown").split("/")[0]

    def _update(self, rt, namespace, name, sub, query, raw, ctype):
        double = self.double
        obj = self._body(raw, ctype)
        self._check_identity(rt, obj, namespace, name)
        warnings = self._decode_fields(rt, obj, query)
        with double._lock:
            key = (rt.plural, rt.group, namespace, name)
            old = double._store.get(key)
            if old is None:
                raise not_found(rt, name)
            want_rv = obj["metadata"].get("resourceVersion")
            if not want_rv and rt.crd:  # custom resources do not allow unconditional updates
                raise invalid(rt, name, [{"reason": "FieldValueInvalid", "field": "metadata.resourceVersion",
                                          "message": "Invalid value: 0x0: must be specified for an update"}])
            if want_rv and want_rv != old.obj["metadata"]["resourceVersion"]:
                raise _modified(rt, name)
            if sub == "finalize":  # only spec.finalizers changes
                new = copy.deepcopy(old.obj)
                new["spec"]["finalizers"] = (obj.get("spec") or {}).get("finalizers") or []
            else:
                new = self._split_status(rt, old.obj, obj, sub)
            return self._write(rt, key, old, new, query, warnings, query.get("fieldManager") or self._agent(),
                               sub or "")

    def _split_status(self, rt, old_obj, new_obj, sub):
        """The status subresource writes only status; the main resource never writes status."""
        if "status" not in rt.subresources:
            return new_obj
        if sub == "status":
            out = copy.deepcopy(old_obj)
            if "status" in new_obj:
                out["status"] = new_obj["status"]
            else:
                out.pop("status", None)
            out["metadata"] = copy.deepcopy(old_obj["metadata"])
            return out
        out = copy.deepcopy(new_obj)
        if "status" in old_obj:
            out["status"] = copy.deepcopy(old_obj["status"])
        else:
            out.pop("status", None)
        return out

    def _write(self, rt, key, old: Stored, new_obj, query, warnings, manager, subresource, managers=None):
        """Store an updated object (Update semantics unless ``managers`` is given); no-ops are not written."""
        double = self.double
        meta = new_obj["metadata"]
        for k in ("uid", "creationTimestamp", "generation", "resourceVersion", "deletionTimestamp"):
            if k in old.obj["metadata"]:
                meta[k] = old.obj["metadata"][k]
            else:
                meta.pop(k, None)
        if not rt.namespaced:
            meta.pop("namespace", None)
        self._finish(rt, new_obj)
        stored = Stored(rt, new_obj, copy.deepcopy(old.managers) if managers is None else managers)
        if managers is None:
            double._record_update(stored, old.obj, manager, subresource)
        if rt.crd and _spec_changed(rt, old.obj, new_obj):
            meta["generation"] = old.obj["metadata"].get("generation", 1) + 1
        unchanged = new_obj == old.obj and [m.render() for m in stored.managers] == \
            [m.render() for m in old.managers]
        if unchanged:
            return self._send(200, render_object(rt, old.obj, old.managers), headers=warnings)
        if query.get("dryRun") == "All":
            return self._send(200, render_object(rt, new_obj, stored.managers), headers=warnings)
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and rt.kind != "Namespace":
            # (a Terminating Namespace is held by its spec.finalizers until the namespace controller is done)
            double._store[key] = stored
            double._delete_now(key)
            return self._send(200, render_object(rt, new_obj, stored.managers), headers=warnings)
        double._commit(key, stored, "MODIFIED")
        return self._send(200, render_object(rt, stored.obj, stored.managers), headers=warnings)

    def _patch(self, rt, namespace, name, sub, query, raw, ctype):
        if ctype == "application/apply-patch+yaml":
            return self._apply(rt, namespace, name, sub, query, raw, ctype)
        if ctype == "application/strategic-merge-patch+json" and rt.crd:
            raise ApiError(415, "UnsupportedMediaType", UNSUPPORTED_PATCH_MSG)
        if ctype not in ("application/merge-patch+json", "application/json-patch+json",
                         "application/strategic-merge-patch+json"):
            raise ApiError(415, "UnsupportedMediaType",
                           UNSUPPORTED_PATCH_MSG if rt.crd else UNSUPPORTED_PATCH_CORE_MSG)
        patch = self._body(raw, ctype)
        if ctype == "application/strategic-merge-patch+json" and "$patch" in json.dumps(patch) or \
                "$setElementOrder" in json.dumps(patch) or "$retainKeys" in json.dumps(patch):
            raise bad_request("the API server test double does not implement strategic merge directives")
        double = self.double
        with double._lock:
            key = (rt.plural, rt.group, namespace, name)
            old = double._store.get(key)
            if old is None:
                raise not_found(rt, name)
            try:
                if ctype == "application/json-patch+json":
                    new = json_patch(old.obj, patch)
                else:
                    new = json_merge_patch(old.obj, patch)
            except (KeyError, IndexError, ValueError, TypeError) as err:
                raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                               f"{err}", {})
            warnings = self._decode_fields(rt, new, query)
            new = self._split_status(rt, old.obj, new, sub)
            return self._write(rt, key, old, new, query, warnings, query.get("fieldManager") or self._agent(),
                               sub or "")

    def _apply(self, rt, namespace, name, sub, query, raw, ctype):
        """Server-side apply."""
        double = self.double
        manager = query.get("fieldManager")
        if not manager:
            raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                           "is required for apply patch", _details(group="meta.k8s.io", kind="PatchOptions", causes=[
                               {"reason": "FieldValueRequired", "message": "Required value: is required for apply "
                                "patch", "field": "fieldManager"}]))
        applied = self._body(raw, ctype)
        if isinstance(applied, dict) and (applied.get("metadata") or {}).get("managedFields") is not None:
            raise bad_request("metadata.managedFields must be nil")
        self._check_identity(rt, applied, namespace, name)
        applied["metadata"].setdefault("name", name)
        want_rv = applied["metadata"].get("resourceVersion")
        ident = f"{namespace}/{name}; {rt.group}/{rt.version}, Kind={rt.kind}"
        if rt.schema is not None:
            errors = typed_patch_errors(applied, rt.schema)
            if errors:
                text = errors[0] if len(errors) == 1 else "errors:\n" + "\n".join("  " + e for e in errors)
                raise ApiError(500, None, f"failed to create typed patch object ({ident}): {text}")
        if sub == "status":
            applied = {k: v for k, v in applied.items() if k in ("apiVersion", "kind", "metadata", "status")}
        elif "status" in rt.subresources:
            applied.pop("status", None)
        for k in _META_IGNORED:
            if k not in ("name", "namespace"):
                applied["metadata"].pop(k, None)
        applied_set = field_paths(applied, rt.schema)
        force = query.get("force") in ("true", "1")
        dry = query.get("dryRun") == "All"
        with double._lock:
            key = (rt.plural, rt.group, namespace, name)
            old = double._store.get(key)
            if old is None:
                if sub:
                    raise not_found(rt, name)
                self._require_namespace(rt, namespace)
                self._admit_create(rt, namespace, name)
                obj = merge_applied({}, applied, rt.schema)
                self._finish(rt, obj)
                if not self.identity.allows("create", rt.group, rt.plural, namespace):
                    # An apply that creates is authorized as a create too, after validation and with the
                    # RBAC authorizer's empty reason (endpoints/handlers/patch.go withAuthorization).
                    raise ApiError(403, "Forbidden", f'{rt.qualified} "{name}" is forbidden: ',
                                   _details(name=name, group=rt.group, kind=rt.plural))
                self._admit_pod_security(rt, obj, namespace)
                stored = double._new_stored(rt, obj, [Manager(manager, "Apply", rt.api_version, _now(),
                                                              set(applied_set), sub or "")])
                if not dry:
                    double._commit(key, stored, "ADDED")
                return self._send(201, render_object(rt, stored.obj, stored.managers))
            if want_rv and want_rv != old.obj["metadata"]["resourceVersion"]:
                raise _modified(rt, name)
            managers = copy.deepcopy(old.managers)
            mine = next((m for m in managers if (m.manager, m.operation, m.subresource) ==
                         (manager, "Apply", sub or "")), None)
            merged = merge_applied(old.obj, applied, rt.schema)
            previous = set(mine.fields) if mine else set()
            others = [m for m in managers if m is not mine]
            for p in sorted(previous - set(applied_set), key=len, reverse=True):
                if not any(p in m.fields for m in others):
                    remove_path(merged, p)
            if not rt.namespaced:
                merged["metadata"].pop("namespace", None)
            _defaults(rt, merged)
            before = field_paths(old.obj, rt.schema, update=True)
            after = field_paths(merged, rt.schema, update=True)
            modified = {p for p in before if p in after and before[p] is not MEMBER and before[p] != after[p]}
            conflicts = [(m, p) for m in others for p in sorted(m.fields & modified & set(applied_set))]
            if conflicts and not force:
                raise _conflict_error(conflicts)
            for m, p in conflicts:
                m.fields.discard(p)
            if mine is None:
                mine = Manager(manager, "Apply", rt.api_version, _now(), set(), sub or "")
                managers.append(mine)
            mine.fields = set(applied_set)
            managers = [m for m in managers if m.fields]
            # An apply that changes neither the object nor any ownership is not written (same RV and time).
            same = next((o for o in old.managers if (o.manager, o.operation, o.subresource) ==
                         (manager, "Apply", sub or "")), None)
            mine.time = same.time if same else _now()
            if merged == old.obj and [m.render() for m in managers] == [m.render() for m in old.managers]:
                return self._send(200, render_object(rt, old.obj, old.managers))
            mine.time = _now()
            return self._write(rt, key, old, merged, query, [], manager, sub or "", managers=managers)

    def _delete(self, rt, namespace, name, query, raw):
        double = self.double
        options = self._body(raw, "application/json") if raw else {}
        dry = query.get("dryRun") == "All" or "All" in ((options or {}).get("dryRun") or [])
        with double._lock:
            key = (rt.plural, rt.group, namespace, name)
            stored = double._store.get(key)
            if stored is None:
                raise not_found(rt, name)
            meta = stored.obj["metadata"]
            pre = (options or {}).get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != meta.get("uid"):
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} "{name}": '
                               f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: "
                               f"{meta.get('uid')}", _details(name=name, group=rt.group, kind=rt.plural))
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} "{name}": '
                               "Precondition failed: ResourceVersion in precondition: "
                               f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                               f"{meta.get('resourceVersion')}", _details(name=name, group=rt.group, kind=rt.plural))
            if rt.kind == "Namespace" or meta.get("finalizers"):
                # Graceful deletion answers the object.  A Namespace stays Terminating for
                # namespace_terminating_seconds, then goes with everything in it (the namespace controller).
                obj = copy.deepcopy(stored.obj)
                obj["metadata"].setdefault("deletionTimestamp", _now())
                obj["metadata"].setdefault("deletionGracePeriodSeconds", 0)
                if rt.kind == "Namespace":
                    obj["status"] = {"phase": "Terminating"}
                body = render_object(rt, obj, stored.managers)
                if not dry:
                    if rt.kind == "Namespace":
                        if (stored.obj.get("status") or {}).get("phase") != "Terminating":
                            double._commit(key, Stored(rt, obj, stored.managers), "MODIFIED")
                            body = render_object(rt, obj, stored.managers)
                            self._terminate_namespace(key, obj)
                    else:
                        double._commit(key, Stored(rt, obj, stored.managers), "MODIFIED")
                        body = render_object(rt, obj, stored.managers)
                return self._send(200, body)
            if not dry:
                double._delete_now(key)
            return self._send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                    "details": _details(name=name, group=rt.group, kind=rt.plural,
                                                        uid=meta.get("uid"))})

    def _delete_collection(self, rt, namespace, query):
        double = self.double
        with double._lock:
            victims = self._matching(rt, namespace, query)
            items = [render_object(rt, s.obj, s.managers, with_type=rt.crd) for s in victims]
            if query.get("dryRun") != "All":
                for s in victims:
                    double._delete_now((rt.plural, rt.group, s.obj["metadata"].get("namespace", ""),
                                        s.obj["metadata"]["name"]))
            rv = str(double._rv)
        if rt.crd:
            return self._send(200, {"apiVersion": rt.api_version, "items": items, "kind": f"{rt.kind}List",
                                    "metadata": {"continue": "", "resourceVersion": rv}})
        return self._send(200, {"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                                "metadata": {"resourceVersion": rv}, "items": items})

    def _review(self, rt, raw, ctype, identity):
        """SelfSubjectReview, SelfSubjectAccessReview, SelfSubjectRulesReview answered from the token map."""
        review = self._body(raw, ctype) or {}
        spec = review.get("spec") or {}
        kind = rt.kind
        if kind == "SelfSubjectReview":
            return self._send(201, {"kind": kind, "apiVersion": rt.api_version, "metadata": {"creationTimestamp": None},
                                    "status": {"userInfo": {"username": identity.user,
                                                            "groups": list(identity.groups)}}})
        if kind == "SelfSubjectAccessReview":
            attrs = spec.get("resourceAttributes")
            if attrs:
                resource = attrs.get("resource", "")
                if attrs.get("subresource"):
                    resource += "/" + attrs["subresource"]
                allowed = identity.allows(attrs.get("verb", ""), attrs.get("group", ""), resource,
                                          attrs.get("namespace", ""))
            else:
                allowed = bool(spec.get("nonResourceAttributes"))
            status = {"allowed": allowed}
        else:
            if identity.rules == "admin":
                rules = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
            else:
                ns = spec.get("namespace", "")
                rules = [{"verbs": [v], "apiGroups": [g], "resources": [r]} for v, g, r, rns in identity.rules
                         if rns in ("*", ns, "")]
            status = {"resourceRules": rules, "nonResourceRules": [
                {"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/version"]}],
                "incomplete": False}
        self._send(201, {"kind": kind, "apiVersion": rt.api_version,
                         "metadata": {"creationTimestamp": None}, "spec": spec, "status": status})


def _modified(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has '
                    "been modified; please apply your changes to the latest version and try again",
                    _details(name=name, group=rt.group, kind=rt.plural))


def _spec_changed(rt, old_obj, new_obj) -> bool:
    skip = {"metadata"} | ({"status"} if "status" in rt.subresources else set())
    return {k: v for k, v in old_obj.items() if k not in skip} != {k: v for k, v in new_obj.items() if k not in skip}


def _conflict_error(conflicts) -> ApiError:
    def who(m):
        name = json.dumps(m.manager)
        if m.subresource:
            name += f" with subresource {json.dumps(m.subresource)}"
        if m.operation == "Update":
            name += f" using {m.api_version}"
        return name

    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {who(m)}", "field": path_string(p)}
              for m, p in conflicts]
    if len(conflicts) == 1:
        m, p = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {who(m)}: {path_string(p)}"
    else:
        lines = []
        for m in sorted({id(m): m for m, _ in conflicts}.values(), key=lambda m: m.manager):
            lines.append(f"conflicts with {who(m)}:")
            lines += [f"- {path_string(p)}" for mm, p in conflicts if mm is m]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, {"causes": causes})


def _parse_body(raw: bytes, ctype: str):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError:
            return raw.decode(errors="replace")


# ----------------------------------------------------------------------------------------------------------
# pytest fixtures


@pytest.fixture
def apiserver_factory(tmp_path, monkeypatch):
    """Start doubles with non-default settings: ``apiserver_factory(crds={"modules"}, tls=True)``.

    Every double started here is stopped at teardown.  HOME and KUBECONFIG point into tmp_path, so nothing
    can read the user's real kubeconfig; KUBECONFIG names the last started double's admin kubeconfig."""
    crd_schema.require_crds()
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    started = []

    def make(**kwargs) -> ApiServerDouble:
        double = ApiServerDouble(**kwargs).start()
        started.append(double)
        path = double.write_kubeconfig(tmp_path / f"kubeconfig-{len(started)}")
        monkeypatch.setenv("KUBECONFIG", str(path))
        double.kubeconfig_path = path
        return double

    yield make
    for double in started:
        double.close()
    bugs = [e for double in started for e in double.internal_errors]
    assert not bugs, "the API server test double failed internally:\n" + "\n".join(bugs)


@pytest.fixture
def apiserver(apiserver_factory) -> ApiServerDouble:
    """A running double with the default CRDs and tokens; ``apiserver.kubeconfig_path`` (also $KUBECONFIG)
    is an admin kubeconfig for it."""
    return apiserver_factory()
