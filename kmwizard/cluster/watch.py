"""Following a rollout on the cluster: read pool and Module state, wait for the next change.

The judgement of a snapshot (done, failed, pending) is pure and lives in ``rollout``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from kmwizard.findings import ClusterError

from . import errors as E
from .connection import Connection, get_or_none
from .errors import translate
from .objects import pool_of, ref_of
from .rollout import READY_LABEL, Progress, module_progress, pool_progress

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


@dataclass
class Baseline:
    """What the cluster looked like before an apply, so a wait can tell the new rollout from the old one.

    ``renders``: pool -> the rendered config the pool targeted (``spec.configuration.name``) before.
    ``changed``: names (MachineConfig name, or "namespace/name" of a Module) whose spec the apply changed.
    """

    renders: dict[str, str] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)


MCP_API = "machineconfiguration.openshift.io/v1"
NMC_API = "kmm.sigs.x-k8s.io/v1beta1"


def baseline(conn: Connection, manifests: list[dict]) -> Baseline:
    """Read, before an apply, the rendered config each MachineConfig's pool targets."""
    out = Baseline()
    for pool in sorted({pool_of(m) for m in manifests if m.get("kind") == "MachineConfig"} - {None, ""}):
        try:
            mcp = get_or_none(conn, conn.resource(MCP_API, "MachineConfigPool"), pool)
        except ClusterError:
            continue   # the wait will say what it cannot read
        name = ((((mcp or {}).get("spec") or {}).get("configuration") or {}).get("name"))
        if name:
            out.renders[pool] = name
    return out


def note_changes(base: Baseline, results) -> Baseline:
    """Record which MachineConfigs and Modules the apply changed beyond metadata (a new spec to roll out).
    A new Module is not an update: KMM's counts are about its only spec."""
    for r in results:
        if r.ref.kind not in ("MachineConfig", "Module") or r.action not in ("created", "configured"):
            continue
        if r.ref.kind == "Module" and r.live is None:
            continue
        before, after = (r.live or {}).get("spec"), (r.result or {}).get("spec")
        if r.live is None or before != after:
            base.changed.add(f"{r.ref.namespace}/{r.ref.name}" if r.ref.namespace else r.ref.name)
    return base


def snapshot(conn: Connection, manifests: list[dict], *, removed: bool = False,
             since: float | None = None, base: Baseline | None = None) -> list[Progress]:
    """The rollout state of every MachineConfig pool and Module in the manifests, read once."""
    out = []
    seen_pools = set()
    base = base or Baseline()
    nodes_readable = True
    for m in manifests:
        ref = ref_of(m)
        if m.get("kind") == "MachineConfig":
            pool = pool_of(m)
            if not pool or pool in seen_pools:
                continue
            seen_pools.add(pool)
            mcp = get_or_none(conn, conn.resource(MCP_API, "MachineConfigPool"), pool)
            if mcp is None:
                out.append(Progress(target=f"MachineConfigPool {pool}", failed=f"MachineConfigPool {pool} does not "
                                    "exist: the MachineConfig's role selects no pool"))
            else:
                # A MachineConfig the pool already had: only a newer rendered config carries the change.
                previous = base.renders.get(pool) if ref.name in base.changed else None
                out.append(pool_progress(mcp, ref.name, removed=removed, previous_render=previous))
        elif m.get("kind") == "Module":
            target = f"Module {ref.namespace}/{ref.name}"
            module = get_or_none(conn, conn.resource(ref.api_version, "Module"), ref.name, ref.namespace, ref=ref)
            ready = _ready_nodes(conn, ref) if nodes_readable else None
            nodes_readable = ready is not None
            if removed:
                # KMM unloads the module and removes the ready label from each node before the Module goes.
                prog = Progress(target=target, done=module is None and not ready,
                                detail=f"{target}: " + ("deleted" if module is None else "being deleted")
                                + (f", {len(ready)} node(s) still labelled ready" if ready is not None else ""))
                if ready:
                    prog.pending.append(f"KMM has not unloaded the module from {', '.join(ready)} yet")
                out.append(prog)
            elif module is None:
                out.append(Progress(target=target, detail=f"{target}: absent", failed=f"{target} does not exist"))
            else:
                update, nmcs, problem = None, None, ""
                if f"{ref.namespace}/{ref.name}" in base.changed:
                    update = m
                    nmcs, problem = _node_modules_configs(conn)
                events = _events_for(conn, ref.namespace, "Module", ref.name, since)
                prog = module_progress(module, ready if ready is not None else [], events, update=update, nmcs=nmcs,
                                       nmc_problem=problem, labels_checked=ready is not None)
                out.append(prog)
    return out


def _ready_nodes(conn: Connection, ref) -> list[str] | None:
    """Nodes KMM labelled ready for this Module; None when this user may not list nodes."""
    label = READY_LABEL.format(namespace=ref.namespace, name=ref.name)
    try:
        nodes = conn.call(conn.resource("v1", "Node").get, label_selector=label,
                          action=f"listing nodes labelled {label}").to_dict().get("items") or []
    except E.Forbidden:
        return None
    return sorted((n.get("metadata") or {}).get("name", "") for n in nodes)


def _node_modules_configs(conn: Connection) -> tuple[list[dict] | None, str]:
    """KMM's per-node NodeModulesConfigs, or (None, why not)."""
    try:
        res = conn.resource(NMC_API, "NodeModulesConfig")
        return conn.call(res.get, action="listing NodeModulesConfigs").to_dict().get("items") or [], ""
    except E.NotInstalled:
        return None, "this KMM has no NodeModulesConfig"
    except E.Forbidden as exc:
        return None, f"no right to list NodeModulesConfigs ({exc.user or 'you'} may not list them)"


# What a restarting or overloaded API server answers; the rollout goes on meanwhile.
RESUMABLE = (E.Unreachable, E.Retryable, E.ServerError)


def watch_rollout(conn: Connection, manifests: list[dict], *, progress: ProgressCallback = None,
                  timeout: float = 1800.0, poll: int = 5, removed: bool = False,
                  base: Baseline | None = None, notify: Optional[Callable[[str], None]] = None) -> list[Progress]:
    """Follow the rollout until every pool/Module is done, one fails, or ``timeout`` passes.

    Reads the state, then waits for the next change with a watch on the pool or Module
    (``timeoutSeconds=poll``, so node labels and events are re-read at least that often).  A watch
    that ends in an ERROR event (e.g. "Too large resource version" after a restart) is simply
    followed by a fresh read and a new watch.  When the API server goes away (masters reboot during
    a master-pool rollout) the wait keeps trying, with backoff, until ``timeout``; ``notify`` hears
    about it.  Returns the last snapshot; the caller tells done / failed / still pending from it.
    """
    started = time.time()
    deadline = started + timeout
    watched = [m for m in manifests if m.get("kind") in ("MachineConfig", "Module")]
    state: list[Progress] = []
    lost_since: float | None = None
    pause = 0.5
    while True:
        try:
            state = snapshot(conn, watched, removed=removed, since=started, base=base)
        except RESUMABLE as exc:
            lost_since = lost_since or time.time()
            if notify:
                notify(f"{exc.message}; trying again in {pause:.0f} s (the rollout goes on in the cluster)")
            if time.time() + pause >= deadline:
                return _lost(state, watched, exc, lost_since)
            time.sleep(pause)
            pause = min(pause * 2, 10.0)
            continue
        if lost_since is not None and notify:
            notify(f"the API server answers again after {time.time() - lost_since:.0f} s")
        lost_since, pause = None, 0.5
        if progress:
            for p in state:
                progress(p)
        if all(p.done for p in state) or any(p.failed for p in state) or time.time() >= deadline:
            return state
        remaining = deadline - time.time()
        try:
            _wait_for_change(conn, watched, [p for p in state if not p.done],
                             max(1, min(poll, int(remaining + 0.999))))
        except RESUMABLE:
            pass   # the next read says whether the server is gone


def _lost(state: list[Progress], watched: list[dict], exc: ClusterError, since: float) -> list[Progress]:
    """The state to report when the API server stopped answering until the deadline."""
    why = (f"lost contact with the API server {time.time() - since:.0f} s before the deadline and did not get "
           f"it back: {exc.message}")
    if not state:
        return [Progress(target="rollout", pending=[why])]
    for p in state:
        if not p.done:
            p.pending.append(why)
    return state


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
        err = translate(exc, target=conn.target, action=f"watching {first}")
        if getattr(exc, "status", None) in (410, 504) or isinstance(err, E.Retryable):
            # An ERROR event ended the watch ("too old" / "Too large resource version"): read afresh.
            return
        raise err from None
    finally:
        if stream is not None:
            stream.close()
