"""What the cluster is and whether it is ready for the manifests: discover, preflight, versions.

Read-only.  ``discover`` tells OpenShift from plain Kubernetes and reads the KMM and
OpenShift versions; ``preflight`` lists what the manifests need that the cluster lacks.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kmwizard.findings import ClusterError, Finding, error, info

from . import errors as E
from .connection import Connection, get_or_none
from .objects import module_references, pool_of, ref_of

@dataclass
class ClusterFacts:
    server_version: str = ""
    openshift: bool = False            # the Machine Config Operator serves MachineConfigs
    kmm_installed: bool = False        # the KMM operator serves Modules
    kmm_version: str | None = None     # from the operator's ClusterServiceVersion, when readable
    openshift_version: str | None = None   # ClusterVersion "version", x.y.z
    pools: dict[str, dict] = field(default_factory=dict)   # name -> {"machineCount", "nodeSelector"}
    namespaces: dict[str, bool] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)  # what the cluster lacks, what could not be read

    def answer_defaults(self) -> dict[str, str]:
        """Answer values the cluster tells (x.y), for answers the user did not give."""
        out = {}
        if self.openshift_version:
            out["openshift_version"] = ".".join(self.openshift_version.split(".")[:2])
        if self.kmm_version:
            out["kmm.kmm_version"] = ".".join(self.kmm_version.split(".")[:2])
        return out


def fill_answer_defaults(answers, facts: ClusterFacts):
    """(answers, notes): the versions the cluster reports fill the answers the user left unset.

    A value the answer's own validator rejects (a version kmwizard does not know) is left out.
    """
    from kmwizard.keys import spec_for

    notes = []
    for key, value in facts.answer_defaults().items():
        if key not in answers.relevant_keys() or answers.is_set(key):
            continue
        spec = spec_for(key)
        if spec.validate is not None and spec.validate(value, answers):
            notes.append(f"the cluster reports {key} {value}, which kmwizard does not know: kept the default "
                         f"{answers.get(key)}")
            continue
        answers = answers.set(key, value)
        notes.append(f"{key}={value} (from the cluster)")
    return answers, notes


def discover(conn: Connection) -> ClusterFacts:
    """What the cluster is (OpenShift or not, KMM and versions), read without changing anything."""
    facts = ClusterFacts()
    version = conn.dyn.version or {}
    facts.server_version = (version.get("kubernetes") or {}).get("gitVersion", "")
    groups = {g["name"] for g in conn.call(conn.dyn.request, "get", "/apis", action="discovery").to_dict()
              .get("groups", [])}

    facts.openshift = "machineconfiguration.openshift.io" in groups
    facts.kmm_installed = "kmm.sigs.x-k8s.io" in groups
    if facts.kmm_installed:
        try:
            conn.resource("kmm.sigs.x-k8s.io/v1beta1", "Module")
        except E.NotInstalled:
            facts.kmm_installed = False

    if "config.openshift.io" in groups:
        try:
            cv = get_or_none(conn, conn.resource("config.openshift.io/v1", "ClusterVersion"), "version")
            facts.openshift_version = _cluster_version(cv)
        except ClusterError as exc:
            facts.findings.append(info("cluster", f"could not read ClusterVersion version: {exc.message}",
                                       "set openshift_version in the answers", code="cluster-version-unread"))

    if facts.kmm_installed and "operators.coreos.com" in groups:
        facts.kmm_version = _kmm_operator_version(conn, facts)
    conn.versions = ", ".join(v for v in (f"KMM {facts.kmm_version}" if facts.kmm_version else "",
                                          f"OpenShift {facts.openshift_version}" if facts.openshift_version else "",
                                          f"Kubernetes {facts.server_version}" if facts.server_version else "") if v)
    return facts


def version_mismatches(answers, facts: ClusterFacts) -> list[Finding]:
    """Answers that name another KMM/OpenShift version than the cluster runs: the manifests follow the
    answers, the cluster's operator judges them."""
    from kmwizard.findings import warning

    found = []
    for key, value in facts.answer_defaults().items():
        if key not in answers.relevant_keys() or not answers.is_set(key):
            continue
        given = str(answers.get(key))
        if ".".join(given.split(".")[:2]) != value:
            name = "the KMM operator" if key.startswith("kmm.") else "OpenShift"
            full = facts.kmm_version if key.startswith("kmm.") else facts.openshift_version
            found.append(warning(key, f"the cluster runs {name} {full} (x.y {value}) but the answers say {key}="
                                 f"{given}: the manifests are made for {given} and judged by the cluster's {value}",
                                 f"set {key}={value} (or leave it unset: kmwizard then takes the cluster's)",
                                 code="cluster-version-mismatch"))
    return found


def preflight(conn: Connection, manifests: list[dict], facts: ClusterFacts) -> list[Finding]:
    """What the manifests need that the cluster lacks: the operators, the pool, the namespace,
    and the Secrets/ConfigMaps/ServiceAccounts a Module names."""
    found: list[Finding] = []
    wants_mc = any(m.get("kind") == "MachineConfig" for m in manifests)
    wants_module = any(m.get("kind") == "Module" for m in manifests)
    if wants_mc and not facts.openshift:
        found.append(error("cluster", E.MISSING_KIND["MachineConfig"][0], E.MISSING_KIND["MachineConfig"][1],
                           code="cluster-no-mco"))
    if wants_module and not facts.kmm_installed:
        found.append(error("cluster", E.MISSING_KIND["Module"][0], E.MISSING_KIND["Module"][1],
                           code="cluster-no-kmm"))

    if facts.openshift:
        for mc in (m for m in manifests if m.get("kind") == "MachineConfig"):
            pool = pool_of(mc)
            if pool and pool not in facts.pools:
                mcp = get_or_none(conn, conn.resource("machineconfiguration.openshift.io/v1", "MachineConfigPool"),
                                   pool)
                if mcp is None:
                    found.append(error(
                        str(ref_of(mc)), f"no MachineConfigPool named {pool!r}: the MachineConfig's role label "
                        f"machineconfiguration.openshift.io/role={pool} selects no pool, so nothing would happen",
                        "set role to an existing pool (`oc get mcp`)", code="cluster-no-pool"))
                else:
                    facts.pools[pool] = {"machineCount": (mcp.get("status") or {}).get("machineCount"),
                                         "nodeSelector": (mcp.get("spec") or {}).get("nodeSelector") or {}}

    creating = {m["metadata"]["name"] for m in manifests if m.get("kind") == "Namespace"}
    ns_res = conn.resource("v1", "Namespace")
    for ns in sorted({(m.get("metadata") or {}).get("namespace") for m in manifests} - {None, ""}):
        try:
            live = get_or_none(conn, ns_res, ns)
        except E.Forbidden as exc:
            # A user limited to one namespace often may not read the Namespace object itself.
            found.append(info(f"namespace {ns}", f"could not check that namespace {ns} exists: {exc.message}",
                              code="cluster-namespace-unchecked"))
            continue
        present = live is not None
        facts.namespaces[ns] = present
        if present and (live.get("metadata") or {}).get("deletionTimestamp"):
            # NamespaceLifecycle admission refuses every new object in it until it is gone.
            found.append(error(f"namespace {ns}", f"namespace {ns} is being deleted (Terminating): the server "
                               "accepts nothing new in it until it is gone",
                               f"wait until `oc get namespace {ns}` answers NotFound, then apply again",
                               code="cluster-namespace-terminating"))
        if not present and ns not in creating:
            found.append(error(f"namespace {ns}", f"namespace {ns} does not exist and the manifests do "
                               "not create it", f"create it first (`oc create namespace {ns}`)",
                               code="cluster-no-namespace"))
    if wants_module and facts.kmm_installed:
        found.extend(check_references(conn, manifests, facts.namespaces))
    return found


def _cluster_version(cv: dict | None) -> str | None:
    if not cv:
        return None
    status = cv.get("status") or {}
    for entry in status.get("history") or []:
        if entry.get("state") == "Completed" and entry.get("version"):
            return entry["version"]
    return (status.get("desired") or {}).get("version")


def _kmm_operator_version(conn: Connection, facts: ClusterFacts) -> str | None:
    try:
        res = conn.resource("operators.coreos.com/v1alpha1", "ClusterServiceVersion")
    except ClusterError:
        return None
    # Cluster-wide first; a user limited to the operator's namespace can still read it there.
    for namespace in (None, "openshift-kmm"):
        try:
            items = conn.call(res.get, namespace=namespace, action="reading").to_dict().get("items", [])
        except ClusterError:
            continue
        for csv in items:
            name = (csv.get("metadata") or {}).get("name", "")
            if name.startswith("kernel-module-management") and "hub" not in name:
                return (csv.get("spec") or {}).get("version")
        return None
    facts.findings.append(info("cluster", "the KMM operator version is not readable (no access to its "
                               "ClusterServiceVersion)", "set kmm.kmm_version in the answers",
                               code="cluster-kmm-version-unread"))
    return None


def check_references(conn: Connection, manifests: list[dict], namespaces: dict[str, bool] | None = None
                     ) -> list[Finding]:
    """Secrets, ConfigMaps and ServiceAccounts a Module names that neither the manifests nor the
    cluster provide: KMM would wait on them silently."""
    provided = {(m.get("kind"), (m.get("metadata") or {}).get("namespace"), (m.get("metadata") or {}).get("name"))
                for m in manifests}
    found: list[Finding] = []
    for module in (m for m in manifests if m.get("kind") == "Module"):
        for ref in module_references(module):
            if (ref.kind, ref.namespace, ref.name) in provided:
                continue
            where = f"Module {ref.module}:{ref.where}"
            if namespaces is not None and namespaces.get(ref.namespace) is False:
                found.append(error(where, f"the Module needs {ref.kind} {ref.name} in namespace {ref.namespace}; "
                                   f"that namespace does not exist yet and the manifests do not create the "
                                   f"{ref.kind}", f"create {ref.kind} {ref.name} in {ref.namespace} after the "
                                   "namespace and before applying the Module",
                                   code="cluster-missing-reference"))
                continue
            try:
                live = get_or_none(conn, conn.resource("v1", ref.kind), ref.name, ref.namespace)
            except E.Forbidden as exc:
                found.append(info(where, f"could not check {ref.kind} {ref.namespace}/{ref.name}: {exc.message}",
                                  code="cluster-reference-unchecked"))
                continue
            if live is None:
                found.append(error(where, f"{ref.kind} {ref.name} does not exist in namespace {ref.namespace}; "
                                   "KMM would wait for it and never load the module",
                                   f"create {ref.kind} {ref.name} in {ref.namespace} first",
                                   code="cluster-missing-reference"))
    return found


def wait_until_gone(conn: Connection, namespaces: list[str], seconds: float, poll: float = 1.0) -> list[str]:
    """Wait for Terminating namespaces to go (the namespace controller empties them first); those still
    there after ``seconds``."""
    import time

    res = conn.resource("v1", "Namespace")
    deadline = time.monotonic() + seconds
    left = list(namespaces)
    while left:
        left = [ns for ns in left if get_or_none(conn, res, ns) is not None]
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(poll)
    return left
