"""The apply engine: connect, discover, plan (server dry run), diff, apply, watch, status, delete.

UI-neutral: no printing, results are plain dataclasses, progress goes through callbacks,
every failure is a ``ClusterError`` in the user's terms (see ``errors``).  The CLI
(``commands``) and the Textual app (from a worker thread) both call these functions.

``kubernetes`` is imported only inside ``connect``: importing this module stays cheap.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from kmwizard.findings import ClusterError, Finding, UsageError, error, info

from . import errors as E
from .errors import Target, translate
from .objects import (FIELD_MANAGER, MANAGED_BY, ObjectRef, apply_order, created_by_kmwizard, delete_order,
                      is_managed, labelled, module_references, pool_of, ref_of, same_content, unified_diff,
                      with_created_mark)
from .rollout import READY_LABEL, Progress, module_progress, pool_progress

DEFAULT_REQUEST_TIMEOUT = 30.0


# --- connecting ---------------------------------------------------------------------

@dataclass
class Connection:
    target: Target
    api_client: object
    dyn: object
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    tls_verify: bool = True            # False only when the kubeconfig itself says so
    source: str = ""                   # kubeconfig path(s), or "in-cluster"
    _resources: dict = field(default_factory=dict)
    _tmp: Optional[tempfile.TemporaryDirectory] = None

    def describe(self) -> str:
        """Which cluster and identity a change goes to: for the user to read before anything changes."""
        t = self.target
        lines = [f"cluster: {t.server}",
                 f"context: {t.context or '(in-cluster service account)'}"
                 + (f" (cluster {t.cluster})" if t.cluster and t.cluster != t.context else ""),
                 f"user: {t.user or '(service account token)'}",
                 f"config: {self.source}"]
        if not self.tls_verify:
            lines.append("warning: this kubeconfig turns TLS verification off (insecure-skip-tls-verify)")
        return "\n".join(lines)

    def resource(self, api_version: str, kind: str):
        """The dynamic client's Resource for a kind; NotInstalled when the cluster does not serve it."""
        key = (api_version, kind)
        if key not in self._resources:
            group = api_version.rpartition("/")[0]
            try:
                if group:
                    res = self.dyn.resources.get(api_version=api_version, kind=kind)
                else:
                    # prefix="api" keeps the lookup in the core group: without it the client
                    # fetches every API group that has a "v1" version.
                    res = self.dyn.resources.get(prefix="api", api_version=api_version, kind=kind)
            except Exception as exc:  # noqa: BLE001 - translated below
                if type(exc).__name__ == "ResourceNotFoundError":
                    raise E.missing_kind(api_version, kind) from None
                raise translate(exc, target=self.target, action=f"looking up {kind}") from None
            self._resources[key] = res
        return self._resources[key]

    def call(self, fn, *args, action: str = "", ref: ObjectRef | None = None, **kwargs):
        """Call the client with this connection's timeout; any failure becomes a ClusterError."""
        kwargs.setdefault("_request_timeout", self.request_timeout)
        try:
            return fn(*args, **kwargs)
        except ClusterError:
            raise
        except Exception as exc:  # noqa: BLE001 - every client failure is translated
            raise translate(exc, target=self.target, action=action, ref=ref) from None

    def close(self) -> None:
        try:
            self.api_client.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def resolve_kubeconfig(kubeconfig: str | None = None, environ=None) -> str | None:
    """``--kubeconfig`` > ``$KUBECONFIG`` > ``~/.kube/config``; None when none exists (in-cluster)."""
    environ = os.environ if environ is None else environ
    if kubeconfig:
        if not Path(kubeconfig).expanduser().is_file():
            raise UsageError(f"--kubeconfig {kubeconfig}: no such file", "give the path of a kubeconfig file")
        return str(Path(kubeconfig).expanduser())
    env = environ.get("KUBECONFIG", "")
    if env:
        paths = [p for p in env.split(os.pathsep) if p]
        if not any(Path(p).expanduser().is_file() for p in paths):
            raise UsageError(f"KUBECONFIG={env}: no such file", "fix $KUBECONFIG or pass --kubeconfig")
        return os.pathsep.join(str(Path(p).expanduser()) for p in paths if Path(p).expanduser().is_file())
    home = environ.get("HOME") or str(Path.home())
    default = Path(home) / ".kube" / "config"
    return str(default) if default.is_file() else None


def _check_kubeconfig_files(paths: str) -> None:
    """Before the client's loader sees them: regular files of sane size whose YAML has no alias bomb
    (the loader reads FIFOs until a writer comes, and expands aliases without limit)."""
    import yaml

    from kmwizard.safe_yaml import load_manifests
    from kmwizard.textfiles import MANIFEST_MAX, InputFileError, read_text_file

    for path in paths.split(os.pathsep):
        try:
            text = read_text_file(path, what="kubeconfig", limit=MANIFEST_MAX)
        except InputFileError as exc:
            raise UsageError(exc.message, "check it with `oc config view`, or give the path of a kubeconfig "
                                          "file") from None
        try:
            load_manifests(text, path)
        except yaml.YAMLError as exc:
            raise UsageError(f"kubeconfig {path} is not usable: {str(exc).splitlines()[0]}",
                             "check it with `oc config view`") from None


def _config_problem(exc: Exception, path: str) -> str:
    """The loader's message without the object it quotes after the file name (it may hold a token)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    if path in text:
        text = text[:text.index(path) + len(path)]
    return text[:200]


def connect(kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None, *,
            request_timeout: float = DEFAULT_REQUEST_TIMEOUT, environ=None) -> Connection:
    """Load the kubeconfig (or the in-cluster service account) and open a client.

    TLS settings are used exactly as the kubeconfig gives them.  Sends ``GET /version`` and
    ``GET /apis`` (the dynamic client's start), so an unreachable server fails here.
    """
    environ = os.environ if environ is None else environ
    import urllib3
    import yaml
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException

    cfg = k8s.Configuration()
    # One quick retry for connection setup only: a request that reached the server is never
    # replayed (patches are not idempotent), and a dead server fails fast.
    cfg.retries = urllib3.Retry(total=1, connect=1, read=0, status=0, redirect=0, other=0)
    path = resolve_kubeconfig(kubeconfig, environ)
    if path is None:
        if not environ.get("KUBERNETES_SERVICE_HOST"):
            home = environ.get("HOME") or str(Path.home())
            raise UsageError(f"no kubeconfig: --kubeconfig not given, $KUBECONFIG not set, "
                             f"{Path(home) / '.kube' / 'config'} absent, and not running in a pod",
                             "log in (`oc login ...`) or pass --kubeconfig FILE")
        try:
            k8s_config.load_incluster_config(client_configuration=cfg)
        except ConfigException as exc:
            raise ClusterError(f"in-cluster configuration unusable: {exc}",
                               "run inside a pod with a service account token, or pass --kubeconfig") from None
        ns_file = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        target = Target(server=cfg.host, namespace=namespace or (ns_file.read_text().strip()
                                                                 if ns_file.is_file() else "default"))
        source = "in-cluster"
    else:
        _check_kubeconfig_files(path)
        try:
            contexts, active = k8s_config.list_kube_config_contexts(config_file=path)
            chosen = active
            if context:
                chosen = next((c for c in contexts if c.get("name") == context), None)
                if chosen is None:
                    names = ", ".join(c.get("name", "?") for c in contexts) or "none"
                    raise UsageError(f"--context {context}: no such context in {path}",
                                     f"use one of: {names}")
            k8s_config.load_kube_config(config_file=path, context=context, client_configuration=cfg,
                                        persist_config=False)
        except UsageError:
            raise
        except (ConfigException, yaml.YAMLError, OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
            # The client's loader raises whatever a malformed file provokes: all mean the same to the user.
            raise UsageError(f"kubeconfig {path} is not usable: {type(exc).__name__}: {_config_problem(exc, path)}",
                             "check it with `oc config view`, or pick another --context") from None
        ctx = (chosen or {}).get("context") or {}
        target = Target(server=cfg.host, context=(chosen or {}).get("name", ""), cluster=ctx.get("cluster", ""),
                        user=ctx.get("user", ""), namespace=namespace or ctx.get("namespace") or "default")
        source = path

    if not cfg.verify_ssl:
        # The kubeconfig's own choice, reported once by describe(); urllib3 would repeat it per request.
        import warnings

        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
    api_client = k8s.ApiClient(configuration=cfg)
    _default_timeout(api_client, request_timeout)
    tmp = tempfile.TemporaryDirectory(prefix="kmwizard-discovery-")
    try:
        from kubernetes.dynamic import DynamicClient

        # A private discovery cache: never a stale one from an earlier run or another tool.
        dyn = DynamicClient(api_client, cache_file=os.path.join(tmp.name, "discovery.json"))
    except Exception as exc:  # noqa: BLE001
        tmp.cleanup()
        api_client.close()
        raise translate(exc, target=target, action="connecting") from None
    return Connection(target=target, api_client=api_client, dyn=dyn, request_timeout=request_timeout,
                      tls_verify=bool(cfg.verify_ssl), source=source, _tmp=tmp)


def _default_timeout(api_client, seconds: float) -> None:
    """Give every request a timeout, including the dynamic client's discovery requests,
    which pass none (urllib3 would then wait forever on a hung server)."""
    rest = api_client.rest_client
    original = rest.request

    def request(*args, _request_timeout=None, **kwargs):
        return original(*args, _request_timeout=_request_timeout or seconds, **kwargs)

    rest.request = request


# --- discovery ----------------------------------------------------------------------

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


def _get_or_none(conn: Connection, res, name: str, namespace: str | None = None, *, ref=None):
    """GET one object as a dict; None on 404."""
    try:
        return conn.call(res.get, name=name, namespace=namespace, action="reading", ref=ref).to_dict()
    except E.Missing:
        return None


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
            cv = _get_or_none(conn, conn.resource("config.openshift.io/v1", "ClusterVersion"), "version")
            facts.openshift_version = _cluster_version(cv)
        except ClusterError as exc:
            facts.findings.append(info("cluster", f"could not read ClusterVersion version: {exc.message}",
                                       "set openshift_version in the answers", code="cluster-version-unread"))

    if facts.kmm_installed and "operators.coreos.com" in groups:
        facts.kmm_version = _kmm_operator_version(conn, facts)
    return facts


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
                mcp = _get_or_none(conn, conn.resource("machineconfiguration.openshift.io/v1", "MachineConfigPool"),
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
        present = _get_or_none(conn, ns_res, ns) is not None
        facts.namespaces[ns] = present
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
                live = _get_or_none(conn, conn.resource("v1", ref.kind), ref.name, ref.namespace)
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


# --- apply, plan, diff --------------------------------------------------------------

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
            report.results.append(ObjectResult(ref, FAILED, error=exc))
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
    live = _get_or_none(conn, res, ref.name, ref.namespace, ref=ref)
    note = ""
    if live is not None and not is_managed(live):
        note = "existed before, not created by kmwizard: kmwizard now manages the fields it sets"
    if live is not None and ref.kind == "Module":
        _check_module_update(live, body, ref)
    if ref.kind == "Namespace" and (live is None or created_by_kmwizard(live)):
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


def diff(conn: Connection, manifests: list[dict]) -> tuple[list[ObjectDiff], ClusterError | None]:
    """Server dry run against the live objects: one diff per object (empty text when unchanged)."""
    report = plan(conn, manifests)
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
            mcp = _get_or_none(conn, conn.resource("machineconfiguration.openshift.io/v1", "MachineConfigPool"),
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
            live = _get_or_none(conn, res, ref.name, ref.namespace, ref=ref)
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


# --- rollout --------------------------------------------------------------------------

ProgressCallback = Optional[Callable[[Progress], None]]


def _events_for(conn: Connection, namespace: str, kind: str, name: str, since: float | None) -> list[dict]:
    try:
        items = conn.call(conn.resource("v1", "Event").get, namespace=namespace, action="reading events").to_dict()
    except ClusterError:
        return []
    out = []
    for ev in items.get("items") or []:
        inv = ev.get("involvedObject") or {}
        if inv.get("kind") != kind or inv.get("name") != name:
            continue
        stamp = ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("metadata") or {}).get("creationTimestamp")
        if since is not None and stamp and _parse_time(stamp) < since - 5:
            continue
        out.append(ev)
    return sorted(out, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")


def _parse_time(stamp: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def snapshot(conn: Connection, manifests: list[dict], *, removed: bool = False,
             since: float | None = None) -> list[Progress]:
    """The rollout state of every MachineConfig pool and Module in the manifests, read once."""
    out = []
    seen_pools = set()
    for m in manifests:
        ref = ref_of(m)
        if m.get("kind") == "MachineConfig":
            pool = pool_of(m)
            if not pool or pool in seen_pools:
                continue
            seen_pools.add(pool)
            mcp = _get_or_none(conn, conn.resource("machineconfiguration.openshift.io/v1", "MachineConfigPool"),
                               pool)
            if mcp is None:
                out.append(Progress(target=f"MachineConfigPool {pool}", failed=f"MachineConfigPool {pool} does not "
                                    "exist: the MachineConfig's role selects no pool"))
            else:
                out.append(pool_progress(mcp, ref.name, removed=removed))
        elif m.get("kind") == "Module":
            target = f"Module {ref.namespace}/{ref.name}"
            module = _get_or_none(conn, conn.resource(ref.api_version, "Module"), ref.name, ref.namespace)
            label = READY_LABEL.format(namespace=ref.namespace, name=ref.name)
            nodes = conn.call(conn.resource("v1", "Node").get, label_selector=label,
                              action="listing nodes").to_dict().get("items") or []
            ready = sorted((n.get("metadata") or {}).get("name", "") for n in nodes)
            if removed:
                # KMM unloads the module and removes the ready label from each node before the Module goes.
                prog = Progress(target=target, done=module is None and not ready,
                                detail=f"{target}: " + ("deleted" if module is None else "being deleted")
                                + f", {len(ready)} node(s) still labelled ready")
                if ready:
                    prog.pending.append(f"KMM has not unloaded the module from {', '.join(ready)} yet")
                out.append(prog)
            elif module is None:
                out.append(Progress(target=target, detail=f"{target}: absent", failed=f"{target} does not exist"))
            else:
                out.append(module_progress(module, ready, _events_for(conn, ref.namespace, "Module", ref.name,
                                                                      since)))
    return out


def watch_rollout(conn: Connection, manifests: list[dict], *, progress: ProgressCallback = None,
                  timeout: float = 1800.0, poll: int = 5, removed: bool = False) -> list[Progress]:
    """Follow the rollout until every pool/Module is done, one fails, or ``timeout`` passes.

    Reads the state, then waits for the next change with a watch on the pool or Module
    (``timeoutSeconds=poll``, so node labels and events are re-read at least that often).
    Returns the last snapshot; the caller tells done / failed / still pending from it.
    """
    started = time.time()
    deadline = started + timeout
    watched = [m for m in manifests if m.get("kind") in ("MachineConfig", "Module")]
    while True:
        state = snapshot(conn, watched, removed=removed, since=started)
        if progress:
            for p in state:
                progress(p)
        if all(p.done for p in state) or any(p.failed for p in state) or time.time() >= deadline:
            return state
        remaining = deadline - time.time()
        _wait_for_change(conn, watched, [p for p in state if not p.done], max(1, min(poll, int(remaining + 0.999))))


def _wait_for_change(conn: Connection, manifests: list[dict], pending: list[Progress], seconds: int) -> None:
    """Block until the first pending pool/Module changes, or ``seconds`` pass."""
    first = pending[0].target if pending else ""
    kind, _, name = first.partition(" ")
    if kind == "MachineConfigPool":
        res, namespace = conn.resource("machineconfiguration.openshift.io/v1", "MachineConfigPool"), None
    else:
        namespace, _, name = name.partition("/")
        ref = next((ref_of(m) for m in manifests if m.get("kind") == "Module"), None)
        if ref is None:
            time.sleep(seconds)
            return
        res = conn.resource(ref.api_version, "Module")
    # The watch begins with an ADDED event per existing object; a MODIFIED/DELETED one is the news.
    stream = None
    try:
        stream = res.watch(namespace=namespace, timeout=seconds)
        for event in stream:
            obj = event.get("raw_object") or {}
            if (obj.get("metadata") or {}).get("name") == name and event.get("type") != "ADDED":
                return
    except ClusterError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise translate(exc, target=conn.target, action=f"watching {first}") from None
    finally:
        if stream is not None:
            stream.close()


# --- status -----------------------------------------------------------------------------

@dataclass
class ObjectStatus:
    ref: ObjectRef
    present: bool
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

    Without manifests, everything labelled as kmwizard's (MachineConfigs and Modules).
    """
    if not manifests:
        live = managed_objects(conn)
        objects = [ObjectStatus(ref_of(o), True, True) for o in live]
        return StatusReport(objects, snapshot(conn, live))
    objects = []
    plan_report = plan(conn, manifests)
    for r in plan_report.results:
        if r.action == FAILED:
            objects.append(ObjectStatus(r.ref, r.live is not None, is_managed(r.live), None,
                                        note=r.error.message if r.error else ""))
        elif r.action == NOT_APPLIED:
            objects.append(ObjectStatus(r.ref, False, False, None, note="not checked (an earlier object failed)"))
        else:
            objects.append(ObjectStatus(r.ref, r.live is not None, is_managed(r.live),
                                        r.action == UNCHANGED, note=r.note))
    present = [m for m, o in zip(apply_order(manifests), objects) if o.present]
    return StatusReport(objects, snapshot(conn, present))


# --- verify -------------------------------------------------------------------------------

VERIFY_NAMESPACE = "kmwizard-verify"
VERIFY_IMAGE = "registry.access.redhat.com/ubi9/ubi-minimal:latest"
# Reads the host's loaded modules as the docs do by hand (`chroot /host lsmod`), then writes one
# "loaded|missing <module>" line per module to the termination message, which the pod's status
# carries back: no log access needed.  Plain sh, so a minimal image with chroot suffices.
VERIFY_SCRIPT = """set -u
chroot /host lsmod > /tmp/lsmod || { echo "lsmod failed on the host" > /dev/termination-log; exit 2; }
for m in "$@"; do
  state=missing
  while read -r name rest; do [ "$name" = "$m" ] && state=loaded; done < /tmp/lsmod
  echo "$state $m"
done > /dev/termination-log
"""


@dataclass
class NodeCheck:
    node: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and not self.missing and bool(self.loaded)


def parse_verify_message(message: str) -> tuple[list[str], list[str], str]:
    """(loaded, missing, error) from a verify pod's termination message."""
    loaded, missing, other = [], [], []
    for line in (message or "").splitlines():
        state, _, module = line.strip().partition(" ")
        if state == "loaded" and module:
            loaded.append(module)
        elif state == "missing" and module:
            missing.append(module)
        elif line.strip():
            other.append(line.strip())
    return loaded, missing, "; ".join(other)


def verify_targets(conn: Connection, manifests: list[dict], modules: list[str] | None = None
                   ) -> tuple[dict[str, str], list[str]]:
    """(label selector as dict, kernel module names) for the nodes to check."""
    selector: dict[str, str] = {}
    names = list(modules or [])
    for m in manifests:
        if m.get("kind") == "Module":
            selector = dict((m.get("spec") or {}).get("selector") or {})
            modprobe = ((((m.get("spec") or {}).get("moduleLoader") or {}).get("container") or {}).get("modprobe")
                        or {})
            if not modules:
                # the module and the ones it loads first (soft dependencies)
                names.extend(n for n in [modprobe.get("moduleName"), *(modprobe.get("modulesLoadingOrder") or [])]
                             if n)
        elif m.get("kind") == "MachineConfig" and not selector:
            pool = pool_of(m) or "worker"
            mcp = _get_or_none(conn, conn.resource("machineconfiguration.openshift.io/v1", "MachineConfigPool"), pool)
            selector = dict((((mcp or {}).get("spec") or {}).get("nodeSelector") or {}).get("matchLabels") or {}) \
                or {f"node-role.kubernetes.io/{pool}": ""}
    # lsmod shows module names with '_' where the file name has '-'.
    return selector, sorted({n.replace("-", "_") for n in names})


def verify_pod(node: str, modules: list[str], run_id: str, *, image: str, lifetime: int) -> dict:
    safe = "".join(c if c.isalnum() or c == "-" else "-" for c in node.lower())[:40].strip("-")
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"kmwizard-verify-{safe}-{run_id}", "namespace": VERIFY_NAMESPACE,
                     "labels": {MANAGED_BY: FIELD_MANAGER, "kmwizard.io/verify-run": run_id},
                     "annotations": {"kmwizard.io/purpose": "reads the host's loaded kernel modules (lsmod)"}},
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never",
            "activeDeadlineSeconds": lifetime,        # the kubelet kills it even if kmwizard dies
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,
            "tolerations": [{"operator": "Exists"}],  # also tainted nodes (masters, drained ones)
            "volumes": [{"name": "host", "hostPath": {"path": "/", "type": "Directory"}}],
            "containers": [{
                "name": "lsmod",
                "image": image,
                "command": ["/bin/sh", "-c", VERIFY_SCRIPT, "verify", *modules],
                "securityContext": {"privileged": True, "runAsUser": 0},
                "volumeMounts": [{"name": "host", "mountPath": "/host", "readOnly": True}],
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
            }],
        },
    }


VERIFY_NAMESPACE_MANIFEST = {
    "apiVersion": "v1", "kind": "Namespace",
    "metadata": {"name": VERIFY_NAMESPACE,
                 "labels": {MANAGED_BY: FIELD_MANAGER,
                            # privileged pods must be admitted here and nowhere else
                            "pod-security.kubernetes.io/enforce": "privileged",
                            "pod-security.kubernetes.io/audit": "privileged",
                            "pod-security.kubernetes.io/warn": "privileged",
                            "security.openshift.io/scc.podSecurityLabelSync": "false"},
                 # no project-wide node selector: the pods must reach every node, as `oc debug node` does
                 "annotations": {"openshift.io/node-selector": ""}},
}


def verify(conn: Connection, manifests: list[dict], *, modules: list[str] | None = None,
           nodes: list[str] | None = None, image: str = VERIFY_IMAGE, timeout: float = 120.0,
           poll: float = 1.0, progress: Optional[Callable[[str], None]] = None) -> list[NodeCheck]:
    """Check on each node of the pool (or the Module's selector) that the kernel modules are loaded.

    Creates one short-lived privileged pod per node in namespace ``kmwizard-verify``, reads the
    result from the pods' status, and deletes the pods (and the namespace, when this run made it)
    in every case: success, failure, timeout or Ctrl-C.
    """
    import secrets as _secrets

    say = progress or (lambda _msg: None)
    selector, names = verify_targets(conn, manifests, modules)
    if not names:
        raise UsageError("no kernel module name to look for", "pass --module NAME (the name lsmod shows)")
    node_res = conn.resource("v1", "Node")
    if nodes is None:
        label = ",".join(f"{k}={v}" if v else k for k, v in sorted(selector.items()))
        items = conn.call(node_res.get, label_selector=label or None, action="listing nodes").to_dict()
        nodes = sorted((n.get("metadata") or {}).get("name") for n in items.get("items") or [])
        if not nodes:
            raise ClusterError(f"no node matches {label or 'the selector'}",
                               "check the role / Module selector against `oc get nodes --show-labels`")
    run_id = _secrets.token_hex(3)
    lifetime = max(30, int(timeout) + 30)
    ns_res, pod_res = conn.resource("v1", "Namespace"), conn.resource("v1", "Pod")
    created_ns = False
    created: list[str] = []
    checks = {n: NodeCheck(n) for n in nodes}
    try:
        if _get_or_none(conn, ns_res, VERIFY_NAMESPACE) is None:
            conn.call(ns_res.server_side_apply, body=VERIFY_NAMESPACE_MANIFEST, name=VERIFY_NAMESPACE,
                      field_manager=FIELD_MANAGER, action="creating namespace", ref=ref_of(VERIFY_NAMESPACE_MANIFEST))
            created_ns = True
        for node in nodes:
            pod = verify_pod(node, names, run_id, image=image, lifetime=lifetime)
            conn.call(pod_res.create, body=pod, namespace=VERIFY_NAMESPACE, action="creating verify pod",
                      ref=ref_of(pod))
            created.append(pod["metadata"]["name"])
            say(f"created pod {VERIFY_NAMESPACE}/{pod['metadata']['name']} on node {node}")
        deadline = time.time() + timeout
        pending = set(nodes)
        while pending:
            items = conn.call(pod_res.get, namespace=VERIFY_NAMESPACE, label_selector=f"kmwizard.io/verify-run={run_id}",
                              action="reading verify pods").to_dict().get("items") or []
            for pod in items:
                node = (pod.get("spec") or {}).get("nodeName")
                if node in pending and _pod_finished(pod, checks[node]):
                    pending.discard(node)
                    say(f"node {node}: " + ("ok" if checks[node].ok else "not ok"))
            if not pending:
                break
            if time.time() >= deadline:
                for node in pending:
                    checks[node].error = (f"no result within {timeout:.0f} s (pod still pending: image pull, "
                                          "scheduling or admission; see `oc -n kmwizard-verify get events`)")
                break
            time.sleep(poll)
    finally:
        _cleanup_verify(conn, pod_res, ns_res, created, created_ns, say)
    return [checks[n] for n in nodes]


def _pod_finished(pod: dict, check: NodeCheck) -> bool:
    status = pod.get("status") or {}
    phase = status.get("phase")
    if phase not in ("Succeeded", "Failed"):
        return False
    terminated = {}
    for cs in status.get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated") or {}
    check.loaded, check.missing, other = parse_verify_message(terminated.get("message", ""))
    if phase == "Failed" or terminated.get("exitCode", 0):
        check.error = other or status.get("message") or status.get("reason") or "the verify pod failed"
    elif not check.loaded and not check.missing:
        check.error = other or "the verify pod reported nothing"
    return True


def _cleanup_verify(conn, pod_res, ns_res, created, created_ns, say) -> None:
    """Delete the verify pods (and the namespace this run created); runs even on Ctrl-C."""
    import signal
    import threading

    # A second Ctrl-C must not leave privileged pods behind: ignore it while cleaning up
    # (only the main thread may touch signal handlers; a TUI worker thread is not interrupted anyway).
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        _delete_verify_objects(conn, pod_res, ns_res, created, created_ns, say)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)


def _delete_verify_objects(conn, pod_res, ns_res, created, created_ns, say) -> None:
    for name in created:
        try:
            conn.call(pod_res.delete, name=name, namespace=VERIFY_NAMESPACE, grace_period_seconds=0,
                      action="deleting verify pod")
            say(f"deleted pod {VERIFY_NAMESPACE}/{name}")
        except E.Missing:
            pass
        except ClusterError as exc:
            say(f"warning: could not delete pod {VERIFY_NAMESPACE}/{name}: {exc.message} (its "
                f"activeDeadlineSeconds ends it; remove it with `oc -n {VERIFY_NAMESPACE} delete pod {name}`)")
    if created_ns:
        try:
            conn.call(ns_res.delete, name=VERIFY_NAMESPACE, action="deleting namespace")
            say(f"deleted namespace {VERIFY_NAMESPACE}")
        except ClusterError as exc:
            if not isinstance(exc, E.Missing):
                say(f"warning: could not delete namespace {VERIFY_NAMESPACE}: {exc.message}")
