"""Following a rollout on the cluster: read pool and Module state, wait for the next change.

The judgement of a snapshot (done, failed, pending) is pure and lives in ``rollout``.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

from kmwizard.findings import ClusterError

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
            mcp = get_or_none(conn, conn.resource("machineconfiguration.openshift.io/v1", "MachineConfigPool"),
                               pool)
            if mcp is None:
                out.append(Progress(target=f"MachineConfigPool {pool}", failed=f"MachineConfigPool {pool} does not "
                                    "exist: the MachineConfig's role selects no pool"))
            else:
                out.append(pool_progress(mcp, ref.name, removed=removed))
        elif m.get("kind") == "Module":
            target = f"Module {ref.namespace}/{ref.name}"
            module = get_or_none(conn, conn.resource(ref.api_version, "Module"), ref.name, ref.namespace)
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
