"""``status --explain``: "why isn't my module loaded?", answered by walking the chain to the first broken link.

KMM (internal/controllers of the operator): the Module, its status counts, the selected nodes and
their kernels against the kernel mappings (no mapping: KMM skips the node silently), the
ModuleImagesConfig (image Exists / DoesNotExist / NeedsBuilding / NeedsSigning) with the pull, build
and sign pods, each node's NodeModulesConfig (spec = what KMM asks for, status = what the worker
pod loaded), the worker pods, and the node label ``kmm.node.kubernetes.io/<ns>.<name>.ready``.

KVC (the Machine Config Operator): the MachineConfig, the pool's target rendered config
(``spec.configuration.source`` lists it), the pool's conditions (RenderDegraded, NodeDegraded,
Degraded with their reasons), each node's MCD annotations (``state``, ``reason``, current vs desired
config), and on request the kmods-via-containers service journal through a short-lived pod.

Read-only (the journal pod aside, which is asked for), and bounded by a deadline: what could not be
read in time or with the user's rights is a link marked "could not check".
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from kmwizard.findings import ClusterError

from .connection import Connection, get_or_none
from .objects import pool_of, ref_of
from .rollout import READY_LABEL

MCD = "machineconfiguration.openshift.io/"
KMM_API = "kmm.sigs.x-k8s.io/v1beta1"


@dataclass
class Link:
    what: str                 # "Module drivers/demo", "node worker-1 kernel", ...
    ok: bool | None           # None: could not check
    detail: str
    evidence: list[str] = field(default_factory=list)   # events, log tails, conditions


@dataclass
class Explanation:
    target: str
    links: list[Link] = field(default_factory=list)

    @property
    def broken(self) -> Link | None:
        return next((link for link in self.links if link.ok is False), None)


class _Budget:
    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds

    def left(self) -> bool:
        return time.monotonic() < self.deadline


def explain(conn: Connection, manifests: list[dict], *, timeout: float = 120.0, journal: bool = False,
            progress: Optional[Callable[[str], None]] = None) -> list[Explanation]:
    """One Explanation per Module and MachineConfig in the manifests."""
    budget = _Budget(timeout)
    out = []
    for m in manifests:
        if m.get("kind") == "Module":
            out.append(_explain_module(conn, m, budget))
        elif m.get("kind") == "MachineConfig":
            out.append(_explain_machineconfig(conn, m, budget, journal=journal, progress=progress))
    return out


def _read(conn, what: str, fn):
    """(value, None) or (None, a Link that says why it could not be read)."""
    try:
        return fn(), None
    except ClusterError as exc:
        return None, Link(what, None, f"could not read: {exc.message}")


def _list(conn: Connection, api_version: str, kind: str, **kwargs) -> list[dict]:
    res = conn.resource(api_version, kind)
    return conn.call(res.get, action=f"listing {kind}s", **kwargs).to_dict().get("items") or []


def _events(conn: Connection, namespace: str, kind: str, name: str) -> list[str]:
    try:
        items = _list(conn, "v1", "Event", namespace=namespace,
                      field_selector=f"involvedObject.kind={kind},involvedObject.name={name}")
    except ClusterError:
        return []
    items.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return [f"event {e.get('type', '')} {e.get('reason', '')}: {e.get('message', '')}".strip() for e in items[-5:]]


def _log_tail(conn: Connection, namespace: str, pod: str, lines: int = 10) -> list[str]:
    from kubernetes import client as k8s  # only here: a connection exists, so kubernetes is loaded anyway

    try:
        text = conn.call(k8s.CoreV1Api(conn.api_client).read_namespaced_pod_log, pod, namespace,
                         tail_lines=lines, action=f"reading the log of pod {namespace}/{pod}")
    except ClusterError:
        return []
    return [f"log: {line}" for line in str(text or "").splitlines()[-lines:]]


def _pod_state(pod: dict) -> tuple[bool | None, str]:
    """(ok, one line) for a pod: Succeeded/Running ok, Failed or a waiting container with a reason not."""
    status = pod.get("status") or {}
    phase = status.get("phase", "?")
    name = (pod.get("metadata") or {}).get("name", "?")
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "CreateContainerError",
                                     "InvalidImageName"):
            return False, f"pod {name}: container {cs.get('name')} {waiting['reason']}: {waiting.get('message', '')}"
        term = (cs.get("state") or {}).get("terminated") or {}
        if term.get("exitCode"):
            return False, (f"pod {name}: container {cs.get('name')} exited {term['exitCode']} "
                           f"({term.get('reason', '')}) {term.get('message', '')}").strip()
    if phase == "Failed":
        return False, f"pod {name} failed: {status.get('reason', '')} {status.get('message', '')}".strip()
    return (True if phase in ("Succeeded", "Running") else None), f"pod {name}: {phase}"


# --- KMM --------------------------------------------------------------------------------------------

def _explain_module(conn: Connection, manifest: dict, budget: _Budget) -> Explanation:
    from kmwizard.kmm.kernel_match import match_kernel

    ref = ref_of(manifest)
    ns, name = ref.namespace, ref.name
    ex = Explanation(f"Module {ns}/{name}")
    module, problem = _read(conn, f"Module {ns}/{name}",
                            lambda: get_or_none(conn, conn.resource(ref.api_version, "Module"), name, ns, ref=ref))
    if problem:
        ex.links.append(problem)
        return ex
    if module is None:
        ex.links.append(Link(f"Module {ns}/{name}", False, "the Module does not exist: it was not applied "
                             "(`kmwizard apply`) or was deleted"))
        return ex
    loader = (module.get("status") or {}).get("moduleLoader") or {}
    matching, desired = loader.get("nodesMatchingSelectorNumber"), loader.get("desiredNumber")
    available = loader.get("availableNumber", 0) or 0
    events = _events(conn, ns, "Module", name)
    if matching is None:
        ex.links.append(Link("Module status", False, "KMM has written no status for the Module: the operator is not "
                             "running or does not watch this namespace (`oc -n openshift-kmm get pods`)", events))
        return ex
    # The counts are a symptom: the links below say why a node lacks the module.  Only "no node
    # selected" breaks the chain here.
    ex.links.append(Link("Module status", matching > 0,
                         f"{matching} node(s) match the selector, {desired} should load the module, {available} "
                         "have it loaded" + ("" if matching else ": spec.selector matches no node"), events))
    selector = (module.get("spec") or {}).get("selector") or {}
    label = ",".join(f"{k}={v}" if v else k for k, v in sorted(selector.items()))
    nodes, problem = _read(conn, "selected nodes", lambda: _list(conn, "v1", "Node", label_selector=label or None))
    if problem:
        problem.detail += " (without node access the kernels and ready labels are not checked)"
        ex.links.append(problem)
        nodes = []
    elif not nodes:
        ex.links.append(Link("selected nodes", False, f"no node has the labels {label or '(none)'} of "
                             "spec.selector: KMM loads the module nowhere", []))
        return ex
    ready_label = READY_LABEL.format(namespace=ns, name=name)
    nmcs = {}
    nmc_list, problem = _read(conn, "NodeModulesConfigs", lambda: _list(conn, KMM_API, "NodeModulesConfig"))
    if problem is None:
        nmcs = {(n.get("metadata") or {}).get("name"): n for n in nmc_list}
    # Kernels against the mappings, per node: a node without a mapping is skipped silently by KMM.
    unmapped, unmapped_nodes = [], set()
    for node in nodes:
        node_name = (node.get("metadata") or {}).get("name", "?")
        kernel = ((node.get("status") or {}).get("nodeInfo") or {}).get("kernelVersion", "")
        match = match_kernel(manifest, kernel) if kernel else None
        if match is not None and not match.matched:
            unmapped_nodes.add(node_name)
            unmapped.append(f"node {node_name}: kernel {kernel} matches no kernelMapping"
                            + (f" ({'; '.join(match.problems)})" if match.problems else ""))
    if nodes:
        ex.links.append(Link("kernel mappings", not unmapped, "every selected node's kernel has a mapping" if not unmapped
                             else "KMM skips these nodes silently (no error, no event)", unmapped))
    _explain_images(conn, ex, module, ns, name, budget)
    if problem is not None:
        ex.links.append(problem)
    for node in nodes:
        if not budget.left():
            ex.links.append(Link("time", None, "stopped: the --timeout for --explain ran out"))
            break
        node_name = (node.get("metadata") or {}).get("name", "?")
        _explain_node_module(conn, ex, node, nmcs.get(node_name) if problem is None else None, ns, name, ready_label,
                             nmc_known=problem is None, mapped=node_name not in unmapped_nodes)
    return ex


def _explain_images(conn: Connection, ex: Explanation, module: dict, ns: str, name: str, budget: _Budget) -> None:
    mic, problem = _read(conn, "ModuleImagesConfig",
                         lambda: get_or_none(conn, conn.resource(KMM_API, "ModuleImagesConfig"), name, ns))
    if problem:
        if "does not serve" not in problem.detail:
            ex.links.append(problem)
        return
    if mic is None:
        ex.links.append(Link("ModuleImagesConfig", None, f"no ModuleImagesConfig {ns}/{name} yet (KMM makes one per "
                             "Module once it knows the nodes' kernels)"))
        return
    known = {s.get("image"): s.get("status") for s in (mic.get("status") or {}).get("imagesStates") or []}
    # An image without a state is still being checked by a pull pod (internal/controllers/mic_reconciler.go).
    states = [{"image": i.get("image"), "status": known.get(i.get("image")) or ""}
              for i in (mic.get("spec") or {}).get("images") or []]
    bad = [f"image {s['image']}: {s['status'] or 'not checked yet (pull pod)'}" for s in states
           if s["status"] != "Exists"]
    evidence = list(bad)
    if bad and budget.left():
        # The pods that check (pull), build and sign the images, with what they said.
        pods = []
        for selector in (f"kmm.node.kubernetes.io/module.name={name}", f"kmm.node.kubernetes.io/image-owner={name}"):
            try:
                pods += [p for p in _list(conn, "v1", "Pod", namespace=ns, label_selector=selector)
                         if (p.get("metadata") or {}).get("labels", {}).get("app.kubernetes.io/component") != "worker"]
            except ClusterError:
                pass
        for pod in pods:
            ok, line = _pod_state(pod)
            evidence.append(line)
            if ok is False:
                pod_name = (pod.get("metadata") or {}).get("name", "")
                evidence += _events(conn, ns, "Pod", pod_name) + _log_tail(conn, ns, pod_name)
    missing = [s for s in states if s.get("status") == "DoesNotExist"]
    failed_pods = any(line.startswith("pod ") and ("failed" in line or "exited" in line or "BackOff" in line)
                      for line in evidence)
    detail = ("every image exists" if not bad else
              "the image does not exist and KMM has no build for it: the registry lacks it (check the tag, the "
              "pull secret, the registry)" if missing else
              "a pull, build or sign pod failed (below)" if failed_pods else
              "images are being checked, built or signed")
    ok = True if not bad else (False if missing or failed_pods else None)
    ex.links.append(Link("module images", ok, detail, evidence))


def _explain_node_module(conn: Connection, ex: Explanation, node: dict, nmc: dict | None, ns: str, name: str,
                         ready_label: str, *, nmc_known: bool, mapped: bool = True) -> None:
    node_name = (node.get("metadata") or {}).get("name", "?")
    what = f"node {node_name}"
    labels = (node.get("metadata") or {}).get("labels") or {}
    spec = next((m for m in ((nmc or {}).get("spec") or {}).get("modules") or []
                 if m.get("namespace") == ns and m.get("name") == name), None)
    status = next((m for m in ((nmc or {}).get("status") or {}).get("modules") or []
                   if m.get("namespace") == ns and m.get("name") == name), None)
    evidence = []
    if nmc_known:
        if spec is None:
            kernel = ((node.get("status") or {}).get("nodeInfo") or {}).get("kernelVersion", "?")
            ex.links.append(Link(what, False, "KMM does not ask this node to load the module (no entry in its "
                                 "NodeModulesConfig): " + (f"kernel {kernel} has no mapping" if not mapped else
                                                           f"the image for kernel {kernel} is not ready yet "
                                                           "(see module images)")))
            return
        if status is None or (status.get("config") or {}) != (spec.get("config") or {}):
            worker = f"kmm-worker-{node_name}-{name}"
            pod, _ = _read(conn, "worker pod", lambda: get_or_none(conn, conn.resource("v1", "Pod"), worker, ns))
            if pod is not None:
                ok, line = _pod_state(pod)
                evidence.append(line)
                evidence += _events(conn, ns, "Pod", worker) + (_log_tail(conn, ns, worker) if ok is False else [])
            else:
                evidence.append(f"no worker pod {ns}/{worker}")
            ex.links.append(Link(what, False, f"the worker pod has not loaded {(spec.get('config') or {}).get('containerImage')} "
                                 "here (NodeModulesConfig status differs from its spec)", evidence))
            return
    if ready_label not in labels:
        ex.links.append(Link(what, False, f"the module is loaded but the node lacks the label {ready_label} "
                             "(KMM's node labeler has not caught up)" if nmc_known else
                             f"the node lacks the label {ready_label}: KMM has not loaded the module here"))
        return
    ex.links.append(Link(what, True, "module loaded (NodeModulesConfig status matches its spec, node labelled ready)"
                         if nmc_known else f"labelled {ready_label}"))


# --- KVC (MachineConfig) ---------------------------------------------------------------------------

def _explain_machineconfig(conn: Connection, manifest: dict, budget: _Budget, *, journal: bool,
                           progress: Optional[Callable[[str], None]]) -> Explanation:
    ref = ref_of(manifest)
    ex = Explanation(f"MachineConfig {ref.name}")
    mc, problem = _read(conn, f"MachineConfig {ref.name}",
                        lambda: get_or_none(conn, conn.resource(ref.api_version, "MachineConfig"), ref.name, ref=ref))
    if problem or mc is None:
        ex.links.append(problem or Link(f"MachineConfig {ref.name}", False, "the MachineConfig does not exist: it was "
                                        "not applied (`kmwizard apply`) or was deleted"))
        return ex
    ex.links.append(Link(f"MachineConfig {ref.name}", True, "exists"))
    pool_name = pool_of(mc) or "?"
    pool, problem = _read(conn, f"MachineConfigPool {pool_name}", lambda: get_or_none(
        conn, conn.resource("machineconfiguration.openshift.io/v1", "MachineConfigPool"), pool_name))
    if problem or pool is None:
        ex.links.append(problem or Link(f"MachineConfigPool {pool_name}", False, f"no pool {pool_name}: the "
                                        "MachineConfig's role label selects no pool, so no node gets it"))
        return ex
    status = pool.get("status") or {}
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    target = (pool.get("spec") or {}).get("configuration") or {}
    sources = [s.get("name") for s in target.get("source") or []]
    render = conds.get("RenderDegraded") or {}
    if ref.name not in sources:
        ex.links.append(Link(f"pool {pool_name} rendered config", False, f"{target.get('name') or 'the target config'} "
                             f"does not contain {ref.name}" + (f": RenderDegraded: {render.get('message')}"
                                                              if render.get("status") == "True" else
                                                              " yet (the MCO renders within seconds; is it running?)")))
        return ex
    ex.links.append(Link(f"pool {pool_name} rendered config", True, f"{target.get('name')} contains {ref.name}"))
    degraded = [f"{t}: {c.get('reason') or ''} {c.get('message') or ''}".strip()
                for t, c in conds.items() if t.endswith("Degraded") and c.get("status") == "True"]
    updated = status.get("updatedMachineCount", 0)
    total = status.get("machineCount")
    ex.links.append(Link(f"pool {pool_name} rollout", not degraded and (status.get("configuration") or {}).get("name")
                         == target.get("name"), f"{updated}/{total} machines run {target.get('name')}"
                         + (f"; pool is degraded" if degraded else ""), degraded))
    selector = ((pool.get("spec") or {}).get("nodeSelector") or {}).get("matchLabels") or {}
    label = ",".join(f"{k}={v}" if v else k for k, v in sorted(selector.items()))
    nodes, problem = _read(conn, f"nodes of pool {pool_name}",
                           lambda: _list(conn, "v1", "Node", label_selector=label or None))
    if problem:
        ex.links.append(problem)
        return ex
    for node in nodes:
        ann = (node.get("metadata") or {}).get("annotations") or {}
        node_name = (node.get("metadata") or {}).get("name", "?")
        state, reason = ann.get(MCD + "state", "?"), ann.get(MCD + "reason", "")
        current, desired = ann.get(MCD + "currentConfig"), ann.get(MCD + "desiredConfig")
        ok = state == "Done" and current == target.get("name")
        detail = f"MCD state {state}, runs {current}" + (f", should run {desired}" if desired != current else "")
        ex.links.append(Link(f"node {node_name}", ok if state != "?" else None, detail,
                             [f"reason: {reason}"] if reason else []))
    if journal and budget.left() and nodes:
        from .journal import journal_link

        ex.links.append(journal_link(conn, manifest, nodes[0], budget.deadline - time.monotonic(), progress))
    return ex


def format_explanation(ex: Explanation) -> list[str]:
    """Lines for a terminal: each link, then the first broken one named."""
    lines = [f"{ex.target}:"]
    for link in ex.links:
        mark = {True: "ok", False: "BROKEN", None: "unknown"}[link.ok]
        lines.append(f"  [{mark}] {link.what}: {link.detail}")
        lines += [f"      {line}" for line in link.evidence[:12]]
    broken = ex.broken
    lines.append(f"  first broken link: {broken.what}: {broken.detail}" if broken else
                 "  no broken link found" + (" (some links could not be checked)" if any(
                     link.ok is None for link in ex.links) else ""))
    return lines

