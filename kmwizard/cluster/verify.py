"""``verify``: check with ``lsmod`` on each node, through short-lived privileged pods, that
the kernel modules are loaded."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from kmwizard.findings import ClusterError, UsageError

from . import errors as E
from .connection import Connection, get_or_none
from .objects import FIELD_MANAGER, MANAGED_BY, pool_of, ref_of

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
            mcp = get_or_none(conn, conn.resource("machineconfiguration.openshift.io/v1", "MachineConfigPool"), pool)
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
    node_objs = _target_nodes(conn, selector, nodes)
    nodes = sorted(node_objs)
    run_id = _secrets.token_hex(3)
    lifetime = max(30, int(timeout) + 30)
    ns_res, pod_res = conn.resource("v1", "Namespace"), conn.resource("v1", "Pod")
    created_ns = False
    created: list[str] = []
    checks = {n: NodeCheck(n) for n in nodes}
    for node, obj in node_objs.items():
        why = node_not_ready(obj)
        if why:
            # The kubelet of a NotReady/Unknown node does not start pods: say so now, not after the timeout.
            checks[node].error = f"could not check: {why}"
    started = time.time()
    try:
        created_ns = ensure_namespace(conn, ns_res, started + timeout, poll, say)
        for node in (n for n in nodes if not checks[n].error):
            pod = verify_pod(node, names, run_id, image=image, lifetime=lifetime)
            conn.call(pod_res.create, body=pod, namespace=VERIFY_NAMESPACE, action="creating verify pod",
                      ref=ref_of(pod), once=True)
            created.append(pod["metadata"]["name"])
            say(f"created pod {VERIFY_NAMESPACE}/{pod['metadata']['name']} on node {node}")
        deadline = started + timeout
        pending = {n for n in nodes if not checks[n].error}
        while pending:
            items = conn.call(pod_res.get, namespace=VERIFY_NAMESPACE, label_selector=f"kmwizard.io/verify-run={run_id}",
                              action="reading verify pods").to_dict().get("items") or []
            last = {}
            for pod in items:
                node = (pod.get("spec") or {}).get("nodeName")
                last[node] = pod
                if node in pending and _pod_finished(pod, checks[node]):
                    pending.discard(node)
                    say(f"node {node}: " + ("ok" if checks[node].ok else "not ok"))
            if not pending:
                break
            if time.time() >= deadline:
                for node in pending:
                    checks[node].error = f"could not check: no result within {timeout:.0f} s " + _why_pending(
                        conn, node, last.get(node))
                break
            time.sleep(poll)
    finally:
        cleanup_pods(conn, pod_res, ns_res, created, created_ns, say)
    return [checks[n] for n in nodes]


def _target_nodes(conn: Connection, selector: dict, names: list[str] | None) -> dict[str, dict | None]:
    """name -> Node object (None when unreadable) of the nodes to check; unknown --node names are an error."""
    node_res = conn.resource("v1", "Node")
    if names is None:
        label = ",".join(f"{k}={v}" if v else k for k, v in sorted(selector.items()))
        items = conn.call(node_res.get, label_selector=label or None, action="listing nodes").to_dict()
        found = {(n.get("metadata") or {}).get("name"): n for n in items.get("items") or []}
        if not found:
            raise ClusterError(f"no node matches {label or 'the selector'}",
                               "check the role / Module selector against `oc get nodes --show-labels`")
        return found
    found, missing = {}, []
    for name in dict.fromkeys(names):
        try:
            node = get_or_none(conn, node_res, name)
        except E.Forbidden:
            node = {}   # may not read nodes: the pod's scheduling will tell
        if node is None:
            missing.append(name)
        else:
            found[name] = node or None
    if missing:
        raise UsageError(f"--node {', '.join(missing)}: no such node in this cluster",
                         "name nodes as `oc get nodes` lists them, or leave --node out to check the pool's nodes")
    return found


def node_not_ready(node: dict | None) -> str:
    """Why a node cannot run the check pod (its Ready condition), or "" when it can (or is unknown)."""
    if not node:
        return ""
    name = (node.get("metadata") or {}).get("name", "?")
    ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None or ready.get("status") == "True":
        return ""
    state = "NotReady" if ready.get("status") == "False" else "Unknown (its kubelet stopped reporting)"
    detail = ": ".join(x for x in (ready.get("reason"), ready.get("message")) if x)
    since = ready.get("lastTransitionTime")
    return (f"node {name} is {state}" + (f" since {since}" if since else "") + (f" ({detail})" if detail else "")
            + ", so no pod starts there")


def _why_pending(conn: Connection, node: str, pod: dict | None) -> str:
    """Why a check pod gave no result: the node's Ready condition, else the pod's own conditions."""
    try:
        why = node_not_ready(get_or_none(conn, conn.resource("v1", "Node"), node))
    except ClusterError:
        why = ""
    if why:
        return f"({why})"
    for cond in ((pod or {}).get("status") or {}).get("conditions") or []:
        if cond.get("status") == "False" and cond.get("message"):
            return f"(pod {cond.get('type')}: {cond.get('reason', '')} {cond['message']})".replace("  ", " ")
    return ("(pod still pending: image pull, scheduling or admission; see "
            f"`oc -n {VERIFY_NAMESPACE} get events`)")


def ensure_namespace(conn: Connection, ns_res, deadline: float, poll: float, say) -> bool:
    """Make namespace kmwizard-verify unless it exists (after waiting out a Terminating one);
    True when this run made it (and so removes it afterwards)."""
    ns = get_or_none(conn, ns_res, VERIFY_NAMESPACE)
    if ns is not None and (ns.get("metadata") or {}).get("deletionTimestamp"):
        say(f"namespace {VERIFY_NAMESPACE} is being deleted (Terminating, e.g. by an earlier verify); "
            "waiting until it is gone")
        ns = _wait_gone(conn, ns_res, deadline, poll)
    if ns is not None:
        return False
    conn.call(ns_res.server_side_apply, body=VERIFY_NAMESPACE_MANIFEST, name=VERIFY_NAMESPACE,
              field_manager=FIELD_MANAGER, action="creating namespace", ref=ref_of(VERIFY_NAMESPACE_MANIFEST))
    return True


def _wait_gone(conn: Connection, res, deadline: float, poll: float):
    """Wait for a Terminating namespace to go; its object if it is still there at the deadline."""
    while True:
        ns = get_or_none(conn, res, VERIFY_NAMESPACE)
        if ns is None:
            return None
        if time.time() >= deadline:
            raise E.NamespaceTerminating(
                f"namespace {VERIFY_NAMESPACE} is still being deleted (Terminating) after waiting: the server accepts "
                "no pods in it until it is gone", f"wait until `oc get namespace {VERIFY_NAMESPACE}` answers "
                "NotFound (`oc get namespace kmwizard-verify -o yaml` shows what holds it), then run verify again",
                namespace=VERIFY_NAMESPACE)
        time.sleep(poll)


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


def cleanup_pods(conn, pod_res, ns_res, created, created_ns, say) -> None:
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
